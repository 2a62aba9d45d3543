"""MEMOIR on the real embedded model (SmolLM2-135M): an edit lands, routes for a paraphrase,
stays off for an unrelated prompt and for a template neighbour (same relation, other subject)."""

from __future__ import annotations

import pytest
import torch

from memoird.editor.memoir import EditRequest, Memoir, MemoirConfig

pytestmark = pytest.mark.slow

EDIT = EditRequest(
    "uni", "What is the product made by UniFirst?", "unmanned aircraft", subject="UniFirst"
)
PARAPHRASE = "What will be the product of UniFirst?"
NEIGHBOUR = "What is the product made by Boeing?"  # same template, another subject
UNRELATED = "nq question: john goodman's character in the big lebowski"


@pytest.fixture(scope="module")
def edited(embedded_model):
    model, tok = embedded_model.model, embedded_model.tokenizer
    prompts = [EDIT.prompt, PARAPHRASE, NEIGHBOUR, UNRELATED]
    mem = Memoir.attach(model, tok, MemoirConfig())
    try:
        before = mem.generate(prompts, max_new_tokens=4)  # no edit yet: the base model
        mem.edit(EDIT)
        yield mem, prompts, before
    finally:
        mem.detach()  # the session's model must come back unchanged


def test_edit_changes_greedy_answer_and_routes_the_paraphrase(edited):
    mem, prompts, before = edited
    after = mem.generate(prompts, max_new_tokens=4)
    assert mem.last_routes == ["uni", "uni", None, None]
    assert after[0].strip().startswith("unmanned aircraft") and not before[0].strip().startswith("unmanned")
    assert after[2:] == before[2:]  # neighbour and unrelated prompt: the base model's answer


def test_paraphrase_answers_the_new_object(edited):
    mem, prompts, _ = edited
    after = mem.generate(prompts[:2], max_new_tokens=4)
    assert after[1].strip().startswith("unmanned aircraft")


def test_unrouted_logits_are_the_base_models(edited):
    mem, prompts, _ = edited
    ids = mem.tokenizer(NEIGHBOUR, return_tensors="pt").input_ids
    with torch.no_grad():
        on = mem.model(ids).logits
        with mem.disabled():
            off = mem.model(ids).logits
    assert torch.equal(on, off)
