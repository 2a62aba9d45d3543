"""MEMOIR tensor mechanics on a tiny random Llama: exactness, routing, generation, persistence, revert."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from memoir_tiny import BACKGROUND, memory_with, tiny_model, tiny_tokenizer  # noqa: E402

from memoird.editor.memoir import EditRequest, Memoir, MemoirConfig, MemoryFileError  # noqa: E402
from memoird.editor.train import fit_columns, length_groups, segments  # noqa: E402

CONFIG = MemoirConfig(layer=2, k=32, tau=0.5)
EDIT_A = EditRequest("a", "messi plays for", "arsenal", subject="messi")
EDIT_B = EditRequest("b", "the capital of france is", "rome", subject="france")
UNRELATED = "tell me about the weather today"


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def fresh(tok, path=None, edits=(EDIT_A, EDIT_B), config=CONFIG):
    mem = memory_with(edits, config, path, tok)
    return mem.model, mem


def logits(model, tok, prompts):
    ids = [tok(p)["input_ids"] for p in prompts]
    with torch.no_grad():
        return [model(torch.tensor([i])).logits for i in ids]


def greedy_no_cache(model, tok, prompt, steps):
    """Reference decoding: full forward over the whole sequence at every step, no KV cache."""
    ids = tok(prompt)["input_ids"]
    for _ in range(steps):
        with torch.no_grad():
            nxt = model(torch.tensor([ids]), use_cache=False).logits[0, -1].argmax().item()
        ids.append(nxt)
    return ids[-steps:]


def test_memory_off_or_unmatched_is_bit_exact(tok):
    base_model = tiny_model()
    prompts = [EDIT_A.prompt, EDIT_B.prompt, UNRELATED]
    base = logits(base_model, tok, prompts)
    model, mem = fresh(tok)
    assert mem.wrapper.memory.abs().sum() > 0
    with mem.disabled():
        for a, b in zip(base, logits(model, tok, prompts)):
            assert torch.equal(a, b)
    after = logits(model, tok, prompts)
    assert torch.equal(after[2], base[2])  # unmatched prompt, memory on
    assert not torch.equal(after[0], base[0])  # the edited prompt is routed and changed
    mem.detach()
    for a, b in zip(base, logits(model, tok, prompts)):
        assert torch.equal(a, b)


def test_edit_changes_answer_and_routes_by_subject(tok):
    model, mem = fresh(tok)
    assert mem.route([EDIT_A.prompt, EDIT_B.prompt, UNRELATED, "ronaldo plays for"]) == [
        "a", "b", None, None,
    ]
    out = mem.generate([EDIT_A.prompt, EDIT_B.prompt], max_new_tokens=1)
    assert [o.strip() for o in out] == ["arsenal", "rome"]
    assert mem.edit_ids() == ["a", "b"] and mem.generation == 2


def test_generate_routes_each_row_and_keeps_route_while_decoding(tok):
    base_model = tiny_model()
    model, mem = fresh(tok)
    prompts = [UNRELATED, EDIT_A.prompt, "the capital of france is", "blue"]
    batch = mem.generate_ids(prompts, max_new_tokens=4)
    assert mem.last_routes == [None, "a", "b", None]
    for prompt, row in zip(prompts, batch):
        assert row == mem.generate_ids([prompt], max_new_tokens=4)[0]  # left padding is harmless
    # Rows that matched nothing decode exactly like the base model.
    assert batch[0] == greedy_no_cache(base_model, tok, UNRELATED, 4)
    assert batch[3] == greedy_no_cache(base_model, tok, "blue", 4)
    # Routed rows: the KV-cache path equals decoding with the edit fixed on the full sequence.
    for i, edit in ((1, "a"), (2, "b")):
        with mem.using([edit]):
            assert batch[i] == greedy_no_cache(model, tok, prompts[i], 4)
    # model.generate() used directly routes the same way.
    enc = tok([EDIT_A.prompt], return_tensors="pt")
    with torch.no_grad():
        direct = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert direct[0, enc["input_ids"].shape[1] :].tolist() == batch[1]


def test_save_load_round_trip_is_bit_identical(tok, tmp_path):
    path = tmp_path / "memory.safetensors"
    model, mem = fresh(tok, path=path)
    assert path.exists()
    prompts = [EDIT_A.prompt, EDIT_B.prompt, UNRELATED]
    before = logits(model, tok, prompts)
    gen_before = mem.generate(prompts, max_new_tokens=3)
    mem.detach()
    other = tiny_model()
    loaded = Memoir.load(path, other, tok)
    assert loaded.edit_ids() == ["a", "b"] and loaded.generation == 2
    assert loaded.config == mem.config
    for a, b in zip(before, logits(other, tok, prompts)):
        assert torch.equal(a, b)
    assert loaded.generate(prompts, max_new_tokens=3) == gen_before


def test_saved_requests_keep_aliases_and_the_relation_stage(tok, tmp_path):
    """A reloaded memory (a restart, a checkpoint switch) routes as the one that was saved:
    aliases still reach the edit and another relation's phrase still keeps off it."""
    from memoird.daemon.checkpoint_switch import _memory_requests

    path = tmp_path / "memory.safetensors"
    edit = EditRequest("c", "the city of france is", "rome", subject="france",
                       aliases=("spain",), elsewhere=("capital",))
    _, mem = fresh(tok, path=path, edits=(EDIT_A, edit))
    asks = ["the city of spain is", "the capital city of france is"]
    routes = mem.route(asks)
    mem.detach()
    _, bare = fresh(tok, edits=(EDIT_A, replace(edit, elsewhere=())))
    assert bare.route(asks) == ["c", "c"]  # the template and subject stages let it through
    bare.detach()
    loaded = Memoir.load(path, tiny_model(), tok)
    assert loaded.route(asks) == routes == ["c", None]
    assert _memory_requests(path)["c"] == edit


def test_load_refuses_another_base_model_and_bad_files(tok, tmp_path):
    path = tmp_path / "memory.safetensors"
    model, mem = fresh(tok, path=path, edits=(EDIT_A,))
    mem.detach()
    with pytest.raises(MemoryFileError, match="another base model"):
        Memoir.load(path, tiny_model(seed=1), tok)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a memory")
    with pytest.raises(MemoryFileError, match="broken.safetensors"):
        Memoir.load(broken, tiny_model(), tok)
    with pytest.raises(MemoryFileError, match="does not exist"):
        Memoir.load(tmp_path / "missing.safetensors", tiny_model(), tok)
    # A failed load leaves the model as it was (no wrapper left behind).
    assert type(model.model.layers[2].mlp.down_proj).__name__ == "Linear"


def test_bad_requests_are_refused_and_change_nothing(tok):
    model, mem = fresh(tok, edits=(EDIT_A,))
    snapshot = mem.wrapper.memory.clone()
    with pytest.raises(ValueError, match="target"):
        mem.edit(EditRequest("x", "messi plays for", " "))
    with pytest.raises(ValueError, match="already"):
        mem.edit(EditRequest("a", "messi plays for", "milan"))
    with pytest.raises(KeyError, match="nope"):
        mem.revert("nope")
    assert torch.equal(snapshot, mem.wrapper.memory) and mem.generation == 1


def test_revert_fast_and_exact(tok):
    base_model = tiny_model()
    base_a = greedy_no_cache(base_model, tok, EDIT_A.prompt, 2)
    model, mem = fresh(tok)
    b_before = mem.generate_ids([EDIT_B.prompt], max_new_tokens=2)
    mem.revert("a")
    assert mem.edit_ids() == ["b"] and mem.generation == 3
    assert mem.route([EDIT_A.prompt]) == [None]
    assert mem.generate_ids([EDIT_A.prompt], max_new_tokens=2)[0] == base_a
    assert mem.generate_ids([EDIT_B.prompt], max_new_tokens=2) == b_before

    # Exact: the memory equals one that only ever learned edit b.
    model2, mem2 = fresh(tok)
    mem2.revert("a", exact=True)
    _, only_b = fresh(tok, edits=(EDIT_B,))
    assert torch.equal(mem2.wrapper.memory, only_b.wrapper.memory)
    assert mem2.generate_ids([EDIT_A.prompt], max_new_tokens=2)[0] == base_a
    assert mem2.generate([EDIT_B.prompt], max_new_tokens=1)[0].strip() == "rome"


def test_fast_path_equals_reference_update(tok):
    """The cached upper-layer loop computes the same update as full forward passes."""
    cfg_fast = MemoirConfig(layer=2, k=32, tau=0.5, steps=5, stop_loss=0.0, optimizer="sgd")
    _, fast = fresh(tok, edits=(EDIT_A,), config=cfg_fast)
    _, ref = fresh(tok, edits=(EDIT_A,), config=MemoirConfig(**{**cfg_fast.__dict__, "full_forward": True}))
    assert torch.allclose(fast.wrapper.memory, ref.wrapper.memory, atol=1e-5, rtol=1e-4)
    assert fast.wrapper.memory.abs().sum() > 0


def test_length_groups_cut_padding_and_keep_every_row_once():
    lengths = [8, 60, 7, 62, 9, 58]
    groups = length_groups(lengths, overhead=16)
    assert groups == [[0, 2, 4], [1, 3, 5]]
    assert length_groups(lengths, overhead=10_000) == [[0, 1, 2, 3, 4, 5]]  # one pass is cheaper
    assert sorted(i for g in length_groups([5, 1, 9, 3, 7], overhead=0) for i in g) == [0, 1, 2, 3, 4]
    assert length_groups([], overhead=4) == []


def test_segmented_training_computes_the_one_batch_update(tok):
    """Rows of very different lengths trained as two segments get the update one padded
    batch gives (the loss is the mean over every target token either way)."""
    model = tiny_model()
    mem = Memoir.attach(model, tok, CONFIG)
    mem.fit_background(BACKGROUND)
    rows = ["messi plays for", "who does messi play for ?",
            "tell me about the weather today . good morning . what is the team that messi plays for ?",
            "a red car . a blue house . the river in the city . which team does messi play for ?"]
    targets = ["arsenal"] * len(rows)
    cols = torch.arange(0, mem.wrapper.in_features, 4)
    init = mem.wrapper.memory[:, cols]
    fits = []
    for overhead in (0, 10_000):
        parts, where = segments(tok, mem.decoder, mem.layer, mem.wrapper, rows, targets, "cpu",
                                overhead=overhead)
        assert sorted(where) == sorted({w for w in where})  # each row once
        fits.append((len(parts), fit_columns(model, mem.decoder, mem.layer, parts, init, cols,
                                             steps=4, lr=0.5, stop_loss=0.0)))
    (two, split), (one, whole) = fits
    assert two > 1 and one == 1
    assert split.steps == whole.steps == 4 and split.initial_loss > split.loss
    assert torch.allclose(split.weight, whole.weight, atol=1e-5, rtol=1e-4)


def test_routing_queries_are_kept_but_the_edits_are_consulted_anew(tok):
    model = tiny_model()
    mem = Memoir.attach(model, tok, CONFIG)
    mem.fit_background(BACKGROUND)
    prompts = [EDIT_A.prompt, UNRELATED, "ronaldo plays for"]
    assert mem.route(prompts) == [None, None, None]
    assert len(mem._queries) == 3
    mem.edit(EDIT_A)  # the same queries now meet a bank with the edit in it
    assert mem.route(prompts) == ["a", None, None]
    mem.generate_ids(prompts, max_new_tokens=1)  # a real prefill routes alike
    assert mem.last_routes == ["a", None, None]
    mem.fit_background(BACKGROUND[:3])  # another background: every kept query is stale
    assert len(mem._queries) == 0
