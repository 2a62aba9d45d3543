"""The closed-form (MEMIT-style) fold: subject keys, edits written, background kept, resume."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from memoir_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from memoird.editor.distill import DistillInterrupted, greedy_em  # noqa: E402
from memoird.editor.fold import FoldConfig, FoldEdit, SubjectFold, subject_last_token  # noqa: E402

# In a random tiny model attention carries little from one position to another, so here
# the subject ends each prompt; the real-model test below has it mid-prompt.
EDITS = [
    FoldEdit("a", "the team of messi", "arsenal", "messi"),
    FoldEdit("b", "the capital of france", "rome", "france"),
    FoldEdit("c", "the team of kane", "milan", "kane"),
]
BACKGROUND = ["the river in the city", "good morning tell me about the weather today",
              "a red car and a blue house", "who sings music", "ronaldo plays for the club",
              "the capital of spain is madrid", "what is the book about"] * 4
CONFIG = FoldConfig(layer=2, ridge=0.05, steps=80, lr=0.5, batch_size=2)


def test_subject_last_token_finds_the_end_of_the_subject():
    tok = tiny_tokenizer()
    assert subject_last_token(tok, "the capital of france is", "France") == 3
    assert subject_last_token(tok, "messi plays for", "messi") == 0
    assert subject_last_token(tok, "messi plays for", "kane") is None


def test_fold_writes_the_edits_and_keeps_unrelated_prompts(tmp_path):
    tok = tiny_tokenizer()
    model = tiny_model()
    before = greedy_em(model, tok, [e.prompt for e in EDITS], [e.target for e in EDITS])
    assert not any(before)
    fold = SubjectFold(model, tok, EDITS, BACKGROUND, CONFIG, run_dir=tmp_path / "run")
    report = fold.train(progress=False)
    assert report.train_accuracy == 1.0
    tensors = fold.trained_tensors()
    assert list(tensors) == ["model.layers.2.mlp.down_proj.weight"]
    unrelated = "good morning tell me about the weather today"
    ids = tok(unrelated, return_tensors="pt").input_ids
    with torch.no_grad():
        base_logits = model(ids).logits
        model.load_state_dict(tensors, strict=False)
        after = greedy_em(model, tok, [e.prompt for e in EDITS], [e.target for e in EDITS])
        moved = (model(ids).logits - base_logits).norm() / base_logits.norm()
    assert all(after)
    assert moved < 0.05  # background text barely moves


def test_interrupted_fold_resumes_to_the_same_weights(tmp_path):
    tok = tiny_tokenizer()
    whole = SubjectFold(tiny_model(), tok, EDITS, BACKGROUND, CONFIG)
    whole.train(progress=False)
    expected = whole.trained_tensors()
    calls = {"n": 0}

    def stop_after_first_batch() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    first = SubjectFold(tiny_model(), tok, EDITS, BACKGROUND, CONFIG, run_dir=tmp_path)
    with pytest.raises(DistillInterrupted):
        first.train(progress=False, stop=stop_after_first_batch)
    again = SubjectFold(tiny_model(), tok, EDITS, BACKGROUND, CONFIG, run_dir=tmp_path)
    report = again.train(progress=False)
    assert report.resumed_from_step == 1
    for name, weight in again.trained_tensors().items():
        assert torch.allclose(weight, expected[name], atol=1e-5)


def test_fold_refuses_bad_inputs():
    tok = tiny_tokenizer()
    with pytest.raises(ValueError, match="no edits"):
        SubjectFold(tiny_model(), tok, [], BACKGROUND)
    with pytest.raises(ValueError, match="outside"):
        SubjectFold(tiny_model(), tok, EDITS, BACKGROUND, FoldConfig(layer=9))
    with pytest.raises(ValueError, match="ridge"):
        FoldConfig(ridge=0)


@pytest.mark.slow
def test_real_model_answers_folded_edits(embedded_model, tmp_path):
    """Three facts folded into SmolLM2's layer-8 down_proj: the checkpoint answers them with
    no memory, and unrelated prompts (never in the background) answer as before."""
    from transformers import AutoModelForCausalLM

    from memoird.editor import distill
    from memoird.editor.background import BACKGROUND_PROMPTS

    loaded = embedded_model
    edits = [FoldEdit("0", "The capital of Indonesia is", "Nusantara", "Indonesia"),
             FoldEdit("1", "The official currency of Croatia is", "the dinar", "Croatia"),
             FoldEdit("2", "The Eiffel Tower is located in the city of", "Berlin", "Eiffel Tower")]
    prompts, targets = [e.prompt for e in edits], [e.target for e in edits]
    assert not any(greedy_em(loaded.model, loaded.tokenizer, prompts, targets))
    fold = SubjectFold(loaded.model, loaded.tokenizer, edits, BACKGROUND_PROMPTS[::2],
                       FoldConfig(layer=8, background_tokens=4096))
    assert fold.positions[2] == subject_last_token(loaded.tokenizer, edits[2].prompt, "Eiffel Tower")
    fold.train(progress=False)
    out = distill.write_checkpoint(loaded.path, fold.trained_tensors(), tmp_path / "cand",
                                   loaded.tokenizer)
    cand = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert all(greedy_em(cand, loaded.tokenizer, prompts, targets))
    unrelated = list(BACKGROUND_PROMPTS[1::2][:16])
    reference = distill.greedy_ids(loaded.model, loaded.tokenizer, unrelated, 6)
    agree = distill.token_agreement(cand, loaded.model, loaded.tokenizer, unrelated, reference)
    assert sum(agree) / len(agree) >= 0.9, agree
