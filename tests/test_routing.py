"""The two-stage router on synthetic activations: template overlap first, then the subject."""

from __future__ import annotations

import pytest
import torch

from memoird.editor.residual import index_mask, prompt_mean, tophash
from memoird.editor.routing import (Router, RoutingBank, calibrate_tau, elsewhere_pattern,
                                    subject_pattern)

N, K = 16, 4


def test_subject_pattern_is_casefolded_word_bounded_and_space_tolerant():
    p = subject_pattern("Lionel  Messi")
    assert p.search("where does lionel messi play?".casefold())
    assert p.search("LIONEL\nMESSI's club".casefold())
    assert not p.search("lionel messier plays".casefold())
    assert not p.search("messi plays for".casefold())
    with pytest.raises(ValueError):
        subject_pattern("   ")


def test_tophash_uses_the_permutation_and_ignores_padding():
    perm = torch.arange(N).flip(0)
    a = torch.zeros(1, 3, N)
    a[0, 1:, :K] = 5.0  # real tokens light up features 0..3
    a[0, 0, K:] = 100.0  # a padding token that must not count
    valid = torch.tensor([[False, True, True]])
    idx = tophash(prompt_mean(a, valid), K, perm)
    assert idx.tolist() == [[12, 13, 14, 15]]


def make_router(strategy, subjects, texts, tau=0.5, elsewhere=()):
    perm = torch.arange(N)
    keys = torch.tensor([[0, 1, 2, 3], [0, 1, 2, 4], [8, 9, 10, 11]])  # edits 0, 1 share a template
    bank = RoutingBank(N, K, index_mask(keys, N), [0, 1, 2],
                       [subject_pattern(s) if s else None for s in subjects],
                       [elsewhere_pattern(e) for e in elsewhere])
    return Router(strategy, tau, K, perm, torch.zeros(N), bank, index_mask(keys, N),
                  lambda row: texts[row])


def acts(*feature_sets):
    a = torch.zeros(len(feature_sets), 2, N)
    for row, feats in enumerate(feature_sets):
        a[row, :, feats] = torch.arange(len(feats), 0, -1, dtype=torch.float)  # a clear top-k
    return a, torch.ones(a.shape[:2], dtype=torch.bool)


def test_subject_stage_separates_template_neighbours():
    texts = ["messi plays for", "kane plays for", "ronaldo plays for", "the weather today"]
    router = make_router("subject", ["Messi", "Ronaldo", "Paris"], texts)
    a, valid = acts([0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 4], [5, 6, 7, 12])
    assert router.choose(router.query_indices(a, valid), router.text) == [0, None, 1, None]
    routes = router(a, valid)
    assert routes.rows.tolist() == [0, 2]
    assert routes.masks[1].nonzero().flatten().tolist() == [0, 1, 2, 4]  # the edit's own mask


def test_relation_stage_keeps_the_subjects_other_facts_off_an_edit():
    texts = ["the president of india is", "the prime minister of india is",
             "who is india's prime-minister?", "who is the ceo of coach?",
             "who coaches india?"]
    router = make_router("subject", ["India", "Coach", "Paris"], texts,
                         elsewhere=[["prime minister", "capital"], ["coach", "head coach"], []])
    a, valid = acts([0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 4], [0, 1, 2, 3])
    # the head-of-state edit answers its own question, not the prime minister's (in
    # either spelling); a word of another relation inside the subject's name ("Coach")
    # does not count, and a phrasing no relation names still routes
    assert router.choose(router.query_indices(a, valid), router.text) == [0, None, None, 1, 0]
    assert elsewhere_pattern([]) is None and elsewhere_pattern(["  "]) is None


def test_mask_strategy_is_the_papers_best_overlap():
    router = make_router("mask", ["Messi", "Ronaldo", "Paris"], ["kane plays for"] * 2)
    a, valid = acts([0, 1, 2, 3], [5, 6, 7, 12])
    assert router.choose(router.query_indices(a, valid), router.text) == [0, None]  # the neighbour is routed: the fault we fix


def test_edit_without_subject_routes_on_template_alone():
    router = make_router("subject", [None, None, None], ["anything"])
    a, valid = acts([8, 9, 10, 11])
    assert router.choose(router.query_indices(a, valid), router.text) == [2]


def test_calibrate_tau_keeps_most_paraphrases():
    values = [0.3] + [0.6] * 99
    assert 0.3 <= calibrate_tau(values, 0.02) <= 0.6
    assert calibrate_tau(values, 0.0) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        calibrate_tau([])
