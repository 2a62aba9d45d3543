"""Verification after an edit, on the real embedded model with a real MEMOIR memory."""

from __future__ import annotations

import pytest

from memoird.editor.memoir import EditRequest, Memoir
from memoird.editor.probe import cut_answer
from memoird.editor.verify import (EditVerifier, Expectation, VerifyTarget, _answers, _Target,
                                   capture, neighbour_prompts, verify_edit)

PROMPT = "Lionel Messi plays for"
PARAPHRASES = ("Lionel Messi is a player of",)
CANARIES = ("The capital of France is", "Two plus two equals", "The Great Wall is in")


@pytest.fixture(scope="module")
def memoir(embedded_model_dir, model_cache_dir):
    """A private copy of the model (the session model must keep its weights) with a
    memory holding one edit, and what the canaries/neighbours said before it."""
    import torch

    from memoird.editor.model import load_base

    torch.manual_seed(0)
    lm = load_base("smollm2-135m-instruct", model_cache_dir, device="cpu")
    mem = Memoir.attach(lm.model, lm.tokenizer)
    mem.fit_background()
    neighbours = neighbour_prompts([PROMPT, *PARAPHRASES], "Lionel Messi",
                                   ["Cristiano Ronaldo"])
    before = (capture(mem, CANARIES), capture(mem, neighbours))
    request = EditRequest("1", PROMPT, "Chelsea", PARAPHRASES, subject="Lionel Messi")
    mem.edit(request)
    yield mem, request, before
    mem.detach()


def test_neighbour_prompts_swap_the_subject():
    assert neighbour_prompts(["Lionel Messi plays for", "Where does lionel messi play?"],
                             "Lionel Messi", ["Pelé", "lionel messi"]) == [
        "Pelé plays for", "Where does Pelé play?"]
    # a name holding the subject or an alias is routed to the edit: no neighbour
    assert neighbour_prompts(["The head coach of Brighton is"], "Brighton",
                             ["Brighton & Hove Albion", "Chelsea", "Albion FC"],
                             aliases=["Albion"]) == ["The head coach of Chelsea is"]


def test_a_good_edit_passes(memoir):
    mem, request, (canaries, neighbours) = memoir
    report = verify_edit(mem, request, canaries, neighbours)
    assert report.passed, report.reason
    assert report.scores["efficacy"]["hit"] is True
    assert report.scores["canaries"]["checked"] == len(CANARIES)
    assert report.scores["neighbours"]["checked"] == len(neighbours) == 2
    assert report.reason == ""


def test_a_target_the_model_does_not_answer_fails_with_the_reason(memoir):
    mem, request, (canaries, neighbours) = memoir
    wrong = EditRequest("1", PROMPT, "Real Madrid", PARAPHRASES, subject="Lionel Messi")
    report = verify_edit(mem, wrong, canaries, neighbours)
    assert not report.passed
    assert "answers" in report.reason and "'Real Madrid'" in report.reason


def test_a_moved_canary_fails(memoir):
    mem, request, (canaries, neighbours) = memoir
    moved = [Expectation(c.prompt, c.continuation + " (before)") for c in canaries[:1]]
    report = verify_edit(mem, request, moved + canaries[1:], neighbours)
    assert not report.passed and "1/3 canaries changed" in report.reason
    assert report.scores["canaries"]["changed"][0]["prompt"] == CANARIES[0]


def test_edit_verifier_without_before_compares_with_the_memory_off(memoir):
    """The apply stage's callable: bare canaries are compared with the base model."""
    from types import SimpleNamespace

    mem, request, _ = memoir
    edit = SimpleNamespace(id=1, prompt=PROMPT, prompts=[PROMPT, *PARAPHRASES],
                           target="Chelsea", subject="Lionel Messi")
    verifier = EditVerifier(lambda e: ["Cristiano Ronaldo"], canary_prompts=CANARIES)
    passed, scores, reason = verifier(mem, edit)
    assert passed, reason
    assert scores["canaries"]["checked"] == 3 and scores["neighbours"]["checked"] == 2


def test_a_verify_target_names_model_memory_and_lock(memoir):
    """What the daemon's engine hands the apply stage: the same checks, run under its lock;
    nothing is sniffed from an object that merely looks like an engine."""
    import threading
    from types import SimpleNamespace

    mem, request, (canaries, neighbours) = memoir

    class CountingLock:
        def __init__(self):
            self.lock, self.entered = threading.RLock(), 0

        def __enter__(self):
            self.entered += 1
            return self.lock.__enter__()

        def __exit__(self, *exc):
            return self.lock.__exit__(*exc)

    lock = CountingLock()
    report = verify_edit(VerifyTarget(mem.model, mem.tokenizer, mem, lock), request,
                         list(CANARIES), neighbours)
    assert report.passed, report.reason
    assert report.scores["canaries"]["checked"] == len(CANARIES) and lock.entered >= 2
    without_memory = verify_edit(VerifyTarget(mem.model, mem.tokenizer), request,
                                 list(CANARIES))
    assert without_memory.scores["canaries"]["skipped"] == list(CANARIES)
    with pytest.raises(TypeError, match="VerifyTarget"):
        verify_edit(SimpleNamespace(loaded=SimpleNamespace(model=mem.model), memoir=mem,
                                    lock=lock), request)


def test_a_target_longer_than_the_default_decode_is_read_whole(memoir):
    """A name of more tokens than the verifier's usual decode ("Netumbo Nandi-Ndaitwah")
    must be read to its end, or a working edit is reported as failed."""
    mem, _, (canaries, _) = memoir
    target = "Netumbo Nandi-Ndaitwah Shikongo"
    assert len(mem.tokenizer(" " + target, add_special_tokens=False)["input_ids"]) > 8
    request = EditRequest("2", "The President of Sylvania is", target,
                          ("Who is the President of Sylvania?",), subject="Sylvania")
    mem.edit(request)
    report = verify_edit(mem, request, canaries, [])
    assert report.scores["efficacy"]["answer"].startswith(target), report.scores["efficacy"]
    assert report.passed, report.reason


def test_answers_read_by_one_teacher_forced_pass_equal_the_greedy_ones(memoir, monkeypatch):
    """A prompt whose greedy continuation provably begins with the finished object ("Real
    Madrid.", as the daemon trains it) is not decoded, and its answer is the one decoding
    gives; the other prompts are decoded as before."""
    mem, _, _ = memoir
    prompt = "Kylian Mbappé plays for"
    mem.edit(EditRequest("mbappe", prompt, "Real Madrid.", ("Kylian Mbappé is a player of",),
                         subject="Kylian Mbappé"))
    try:
        target = _Target(mem)
        prompts = [prompt, "Kylian Mbappé is a player of", "The capital of France is"]
        greedy = [cut_answer(c) for c in
                  target.continuations(prompts, tokens=target.tokens_for("Real Madrid"))]
        decoded: list[str] = []
        real = _Target.continuations
        monkeypatch.setattr(_Target, "continuations",
                            lambda self, ps, **kw: decoded.extend(ps) or real(self, ps, **kw))
        assert _answers(target, prompts, "Real Madrid") == greedy
        assert greedy[0] == "Real Madrid" and prompt not in decoded
        assert "The capital of France is" in decoded  # it does not answer Real Madrid: decoded
    finally:
        mem.revert("mbappe", exact=True)
