"""The memory-layer fold (editor/nullspace.py): the null-space projection and the updates on
random matrices, and the fold's mechanics on a tiny random Llama with a MEMOIR memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from memoir_tiny import memory_with, three_edit_requests, tiny_model  # noqa: E402

from memoird.editor.memoir import Memoir  # noqa: E402
from memoird.editor.nullspace import (  # noqa: E402
    MemoryFold, NullSpaceConfig, alphaedit_delta, memit_delta, null_space_projector,
)
from memoird.editor.train import run_through  # noqa: E402


def _subspaces(n: int = 32, used: int = 20, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))[0].float()
    return basis[:, :used], basis[:, used:], gen


def test_projector_spans_the_directions_preserved_keys_do_not_use():
    used, free, gen = _subspaces()
    K0 = used @ torch.randn(used.shape[1], 500, generator=gen)  # ordinary keys: 20 of 32 dims
    P, dim = null_space_projector(K0 @ K0.T, 1e-6)
    assert dim == free.shape[1]
    assert torch.allclose(P, P.T, atol=1e-5) and torch.allclose(P @ P, P, atol=1e-5)
    assert (P @ K0).norm() < 1e-4 * K0.norm()  # preserved keys project to nothing
    assert torch.allclose(P @ free, free, atol=1e-4)  # the unused directions pass unchanged


def test_projector_threshold_is_a_share_of_the_preserved_energy():
    gen = torch.Generator().manual_seed(1)
    scales = torch.tensor([100.0] * 4 + [1.0] * 12 + [0.01] * 16)  # an outlier-heavy spectrum
    K0 = scales[:, None] * torch.randn(32, 2000, generator=gen)
    _, tight = null_space_projector(K0 @ K0.T, 1e-5)
    _, loose = null_space_projector(K0 @ K0.T, 1e-2)
    assert tight == 16 and loose == 28  # the 16 quiet directions; then the 12 ordinary ones


def test_alphaedit_update_writes_the_edits_and_leaves_preserved_keys_exactly_alone():
    used, free, gen = _subspaces()
    K0 = used @ torch.randn(used.shape[1], 500, generator=gen)
    P, _ = null_space_projector(K0 @ K0.T, 1e-6)
    # edit keys share the preserved directions but also reach into the free ones
    K = used @ torch.randn(used.shape[1], 5, generator=gen) + free @ torch.randn(
        free.shape[1], 5, generator=gen)
    R = torch.randn(8, 5, generator=gen)
    delta = alphaedit_delta(K, R, P, ridge=1e-6)
    assert delta.shape == (8, 32)
    assert (delta @ K0).norm() < 1e-4 * delta.norm() * K0.norm()
    assert torch.allclose(delta @ K, R, atol=1e-3)
    # a larger ridge writes less: the trade-off the selective fold's gate then measures
    assert (alphaedit_delta(K, R, P, ridge=10.0) @ K - R).norm() > 0.1 * R.norm()


def test_memit_update_fits_the_edits_and_moves_preserved_keys_less_than_plain_least_squares():
    used, free, gen = _subspaces()
    K0 = used @ torch.randn(used.shape[1], 500, generator=gen)
    K = used @ torch.randn(used.shape[1], 5, generator=gen) + 0.3 * free @ torch.randn(
        free.shape[1], 5, generator=gen)
    R = torch.randn(8, 5, generator=gen)
    cov = K0 @ K0.T
    regularised = memit_delta(K, R, cov, 500, ridge=1.0)
    plain = R @ torch.linalg.pinv(K)  # the minimum-norm exact fit, blind to K0
    assert (regularised @ K - R).norm() < 0.05 * R.norm()
    assert (regularised @ K0).norm() < 0.5 * (plain @ K0).norm()


EDITS = three_edit_requests()
TEXTS = ["the weather today is good . the river is blue and the mountain is green .",
         "a good book about music . who writes a book ? the city of london .",
         "the house of the player is in the city . the car is red ."] * 4
PROMPTS = ["what is the weather today ?", "who sings ?", "tell me about the river",
           "the team of ronaldo is", "the capital of italy is", "the city of berlin is"]
CHECK = ["tell me about music", "good morning", "the capital of spain is", "who writes a book ?"]


@pytest.fixture(scope="module")
def memory():
    mem = memory_with(EDITS)
    yield mem
    mem.detach()


def test_fold_keeps_the_memory_layers_inputs_and_routing_and_reports_its_edits(memory):
    mem = memory
    fold = MemoryFold(mem, TEXTS, PROMPTS, CHECK, NullSpaceConfig(threshold=0.2, ridge=0.01,
                                                                  min_locality=0.0))
    fold.prepare()
    assert set(fold.keys) == {"a", "b", "c"}
    assert all(e.keys.shape[1] == 128 and e.values.shape[1] == 64 for e in fold.keys.values())
    # the values are what the memory adds: W_m·(M ⊙ a) at every routed token
    e = fold.keys["a"]
    cols = next(x.cols for x in mem._edits if x.request.edit_id == "a")
    assert torch.allclose(e.values, e.keys[:, cols] @ mem.wrapper.memory[:, cols].T, atol=1e-5)
    result = fold.fold()
    assert set(result.folded) | set(result.kept) == {"a", "b", "c"}
    assert not set(result.folded) & set(result.kept)
    assert result.delta.shape == mem.wrapper.base.weight.shape
    prompts = [r.prompt for r in EDITS] + CHECK
    ids = mem.tokenizer(prompts, return_tensors="pt", padding=True)
    before = run_through(mem.decoder, mem.wrapper.base, ids["input_ids"], ids["attention_mask"])
    routes = mem.route(prompts)
    with fold.candidate(result.delta):
        after = run_through(mem.decoder, mem.wrapper.base, ids["input_ids"], ids["attention_mask"])
        assert mem.route(prompts) == routes  # the memory reads the same inputs
    assert torch.equal(before, after)
    # what it folded, the candidate answers without memory
    assert fold.reproduced(result.delta, result.folded) == result.folded
    assert 0.0 <= result.served_match <= 1.0 and 0.0 <= result.check_locality <= 1.0
    tensors = fold.trained_tensors(result.delta)
    assert list(tensors) == ["model.layers.2.mlp.down_proj.weight"]


def test_memory_carries_over_to_weights_changed_only_at_its_layer(memory, tmp_path):
    from memoird.editor.memory_io import MemoryFileError

    mem = memory
    path = tmp_path / "m.memoir"
    mem.save(path)
    model = tiny_model()
    with torch.no_grad():
        model.model.layers[2].mlp.down_proj.weight.add_(0.01)
    with pytest.raises(MemoryFileError):
        Memoir.load(path, model, mem.tokenizer)
    carried = Memoir.load(path, model, mem.tokenizer, rebase=True)
    try:
        assert carried.edit_ids() == mem.edit_ids()
        assert carried.route([r.prompt for r in EDITS]) == ["a", "b", "c"]
    finally:
        carried.detach()
