"""Probing: scoring rules, and the real embedded model answering cloze templates."""

from __future__ import annotations

import json

import pytest

from memoird.editor.probe import (CausalLMBackend, Prober, ProbeError, ProbeRequest,
                                  ProbeThresholds, cut_answer, names_match, normalize,
                                  verdict_of)


def test_normalize_and_names_match():
    assert normalize("The U.S.") == "u s"
    assert names_match("Paris", " paris")
    assert names_match("Manchester United", "Manchester United F.C.")
    assert names_match("Kenya", "the north-west of Kenya")
    assert not names_match("York", "Yorkshire")  # word-aligned, not substring
    assert not names_match("Paris", "")
    assert names_match("United States", "USA", aliases=["USA"])
    assert not names_match("United States", "USA")


def test_cut_answer_keeps_the_first_phrase():
    assert cut_answer(" Paris, the capital of France.") == "Paris"
    assert cut_answer(" Chelsea\nHe joined") == "Chelsea"
    assert cut_answer("  ") == ""


def scores(**kw):
    base = {"match": 0.0, "similarity": 0.1, "gap": 5.0, "answer_logprob": -0.5}
    return base | kw


def test_verdict_rules():
    th = ProbeThresholds(agree_similarity=0.8, agree_gap=0.5, conflict_gap=2.0,
                         known_logprob=-3.0)
    assert verdict_of(scores(match=1.0), th) == "agrees"
    assert verdict_of(scores(similarity=0.9), th) == "agrees"
    assert verdict_of(scores(gap=0.2), th) == "agrees"
    assert verdict_of(scores(gap=5.0), th) == "conflicts"
    assert verdict_of(scores(gap=1.0), th) == "unknown"  # between the bands
    # a model that is guessing neither agrees nor conflicts
    assert verdict_of(scores(gap=5.0, answer_logprob=-4.0), th) == "unknown"
    assert verdict_of(scores(gap=float("-inf"), answer_logprob=float("-inf")), th) == "unknown"


def test_thresholds_are_validated_and_persisted(tmp_path):
    with pytest.raises(ProbeError, match="conflict_gap"):
        ProbeThresholds(agree_gap=2.0, conflict_gap=1.0)
    with pytest.raises(ProbeError, match="finite"):
        ProbeThresholds(known_logprob=float("nan"))
    th = ProbeThresholds(agree_gap=0.1, conflict_gap=3.0)
    th.save(tmp_path / "t.json")
    assert ProbeThresholds.load(tmp_path / "t.json") == th
    (tmp_path / "bench.json").write_text(json.dumps({"thresholds": {"bogus": 1}}))
    with pytest.raises(ProbeError, match="bogus"):
        ProbeThresholds.load(tmp_path / "bench.json")


def test_requests_are_checked():
    with pytest.raises(ProbeError, match="no {subject} slot"):
        ProbeRequest("France", "Paris", ["The capital is"]).prompts()
    with pytest.raises(ProbeError, match="non-empty list"):
        ProbeRequest("France", "Paris", "The capital of {subject} is").prompts()


@pytest.fixture(scope="module")
def prober(embedded_model):
    return Prober.for_model(embedded_model.model, embedded_model.tokenizer,
                            state=lambda: (7, 3))


def test_batched_scores_equal_one_by_one(embedded_model):
    """Left padding and position ids must not change a row's numbers."""
    backend = CausalLMBackend(embedded_model.model, embedded_model.tokenizer, batch_size=8)
    prompts = ["The capital of France is", "Water is made of hydrogen and",
               "The Eiffel Tower, the famous iron landmark, is located in the city of"]
    conts = ["Paris", "oxygen atoms", "Paris"]
    batched = backend.continuation_logprobs(prompts, conts)
    single = [backend.continuation_logprobs([p], [c])[0] for p, c in zip(prompts, conts)]
    assert batched == pytest.approx(single, abs=1e-4)
    assert backend.greedy(prompts, 4) == [backend.greedy([p], 4)[0] for p in prompts]
    assert backend.continuation_logprobs(["The capital of France is"], [""]) == [float("-inf")]


def test_probe_agrees_with_a_known_fact_and_flags_a_contradiction(prober):
    template = ["The capital of {subject} is"]
    agree, conflict = prober.probe([ProbeRequest("France", "Paris", template),
                                    ProbeRequest("France", "Berlin", template)])
    assert agree.verdict == "agrees" and agree.answer == "Paris"
    assert conflict.verdict == "conflicts", conflict.scores
    assert conflict.answer == "Paris" and conflict.scores["gap"] > 2
    assert (conflict.checkpoint, conflict.memory_generation) == (7, 3)
    json.dumps(conflict.as_dict())  # storable as it is


def test_alias_of_the_answer_agrees(prober):
    [result] = prober.probe([ProbeRequest("France", "Paree", ["The capital of {subject} is"],
                                          aliases=["Paris"])])
    assert result.verdict == "agrees"


def test_an_answer_that_names_nothing_is_no_match():
    # "the company" is inside "New York Times Company" but names no one: a probe that
    # answered it does not know who owns Wordle
    assert not names_match("New York Times Company", "the company")
    assert not names_match("Club América", "the club")
    assert names_match("New York Times Company", "the New York Times Company")
    assert names_match("Manchester United F C", "Manchester United")
