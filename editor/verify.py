"""Verification after each edit: did it take, and did it touch anything else?

Three checks, on the live model right after the edit was trained:

- **efficacy**: the edit's prompt answers the new object, and so do most of its other
  templates and paraphrases (``min_paraphrase_share``);
- **canaries**: a fixed set of unrelated prompts continues *exactly* as before, token
  for token (MEMOIR's promise: a prompt no edit routes to gets the base model's output);
- **neighbours**: the same templates with other subjects ("Y plays for" after editing
  "X plays for") continue exactly as before: the hard locality case of a news editor;
  and the subject's other relations ("The Prime Minister of India is" after editing
  India's president), which routing sends nowhere when its relation stage works.

"Before" is captured with ``capture`` before the edit is trained. When it was not (a
caller that only verifies afterwards), canaries are compared with the memory switched
off, which is exact because a canary must never be routed, and neighbours likewise
when they route to no edit or to this one; a neighbour routed to an earlier edit cannot
be judged after the fact and is reported as skipped.

A failing edit is reverted by the caller (the apply stage) and marked ``failed`` with
``VerifyReport.reason``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .forms import terminated
from .probe import CausalLMBackend, cut_answer, names_match
from .routing import subject_pattern

#: tokens compared per canary/neighbour: enough to see a changed answer, cheap on CPU
COMPARE_TOKENS = 8

#: unrelated prompts whose continuations must never change: general knowledge, chat,
#: arithmetic and code, so an edit that leaks broadly is caught whatever its subject
CANARY_PROMPTS: tuple[str, ...] = (
    "The capital of France is",
    "Water is made of hydrogen and",
    "The largest planet in the solar system is",
    "William Shakespeare wrote the play",
    "The chemical symbol for gold is",
    "Two plus two equals",
    "The first president of the United States was",
    "In Python, a list is created with",
    "The Eiffel Tower is located in",
    "Photosynthesis takes place in the",
    "Mount Everest is the highest mountain in",
    "The author of Pride and Prejudice is",
    "What is the boiling point of water?",
    "Translate 'thank you' into Spanish:",
    "The Great Wall is in",
    "Albert Einstein developed the theory of",
)

#: subjects for neighbour prompts when the caller knows none of the same relation
FALLBACK_SUBJECTS: tuple[str, ...] = ("Albert Einstein", "Microsoft", "the Amazon River",
                                      "Tokyo")


@dataclass(frozen=True)
class Expectation:
    """A prompt and its greedy continuation at some moment (before an edit)."""

    prompt: str
    continuation: str


@dataclass(frozen=True)
class VerifyReport:
    passed: bool
    scores: dict[str, Any]
    reason: str  # "" when passed; otherwise why, for the edit log


@dataclass(frozen=True)
class VerifyThresholds:
    """How strict verification is; exact locality by default (MEMOIR guarantees it)."""

    min_paraphrase_share: float = 0.5  # of the other prompts that must answer the target
    max_canary_changes: int = 0
    max_neighbour_changes: int = 0


def edit_prompts(request: Any) -> list[str]:
    """The prompt first, then templates/paraphrases, from an ``EditRequest`` or a
    logged ``Edit`` (``prompts``)."""
    prompts = [request.prompt, *(getattr(request, "paraphrases", None) or ()),
               *(getattr(request, "prompts", None) or ())]
    return list(dict.fromkeys(p for p in prompts if p and p.strip()))


def neighbour_prompts(prompts: Sequence[str], subject: str | None,
                      others: Sequence[str], aliases: Sequence[str] = ()) -> list[str]:
    """The edit's prompts with its subject replaced by each other subject.

    A subject whose name contains the edit's subject or one of its aliases ("Brighton &
    Hove Albion" for "Brighton") is no neighbour: routing sends its prompts to the edit by
    design (the subject stage matches the name inside it), so its answer is meant to move."""
    if not subject:
        return []
    pattern = re.compile(re.escape(subject), re.IGNORECASE)
    inside = subject_pattern(subject, *[a for a in aliases if a.split()])
    out = []
    for other in others:
        if other.strip().casefold() == subject.strip().casefold() or inside.search(other.casefold()):
            continue
        out += [pattern.sub(lambda _m: other, p) for p in prompts if pattern.search(p)]
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class VerifyTarget:
    """What verification runs on, named by its caller: the model and tokenizer, the
    memory attached to that model (None: none, so bare canaries cannot be compared), the
    lock that keeps other users of the model out while a check decodes, and the pause
    point called between its decoding steps (see ``CausalLMBackend``)."""

    model: Any
    tokenizer: Any
    memoir: Any = None
    lock: Any = None
    pause: Any = None


class _Target:
    """A VerifyTarget, a Memoir (its model, tokenizer and itself), a CausalLMBackend, or
    a model and tokenizer (as a tuple or two arguments)."""

    def __init__(self, target: Any, tokenizer: Any = None):
        self.memoir = None
        self.lock = contextlib.nullcontext()
        if isinstance(target, VerifyTarget):
            self.memoir = target.memoir
            self.lock = target.lock or contextlib.nullcontext()
            self.backend = CausalLMBackend(target.model, target.tokenizer, pause=target.pause)
        elif hasattr(target, "disabled") and hasattr(target, "route"):
            self.memoir = target  # a Memoir: its model and tokenizer
            self.backend = CausalLMBackend(target.model, target.tokenizer)
        elif isinstance(target, CausalLMBackend):
            self.backend = target
        elif isinstance(target, tuple):
            self.backend = CausalLMBackend(*target)
        else:
            if tokenizer is None:
                raise TypeError("verify: pass a VerifyTarget, a Memoir, a CausalLMBackend, "
                                "or (model, tokenizer)")
            self.backend = CausalLMBackend(target, tokenizer)

    def continuations(self, prompts: Sequence[str], memory: bool = True,
                      tokens: int = COMPARE_TOKENS) -> list[str]:
        if not prompts:
            return []
        with self.lock:
            if memory or self.memoir is None:
                return self.backend.greedy(list(prompts), tokens)
            with self.memoir.disabled():
                return self.backend.greedy(list(prompts), tokens)

    def begins_with(self, prompts: Sequence[str], answer: str) -> list[bool]:
        """Per prompt: does greedy decoding (memory on) begin with ``answer``'s tokens?

        One teacher-forced pass, exact: greedy emits those tokens iff each is the argmax
        after the ones before it. Without a memory to route the rows, nothing is known
        (all False) and the caller decodes."""
        if self.memoir is None or not prompts:
            return [False] * len(prompts)
        with self.lock:
            scored = self.memoir.score(list(prompts), [answer] * len(prompts))
        return [s.predicted == s.target for s in scored]

    def tokens_for(self, answer: str) -> int:
        """Tokens to decode so that ``answer`` fits whole ("Netumbo Nandi-Ndaitwah" is 9
        tokens; cut at 8 it never matches)."""
        return max(COMPARE_TOKENS, len(self.backend.tokenizer(" " + answer,
                                                              add_special_tokens=False)
                                       ["input_ids"]) + 2)

    def route(self, prompts: Sequence[str]) -> list[str | None]:
        if self.memoir is None or not prompts:
            return [None] * len(prompts)
        with self.lock:
            return self.memoir.route(list(prompts))


def capture(model: Any, prompts: Sequence[str]) -> list[Expectation]:
    """Greedy continuations of ``prompts`` now (call before training an edit); ``model``
    is anything ``_Target`` takes (a VerifyTarget, a Memoir, a backend...)."""
    target = _Target(model)
    return [Expectation(p, c) for p, c in zip(prompts, target.continuations(prompts))]


def verify_edit(model: Any, request: Any,
                canaries: Sequence[Expectation | str] = CANARY_PROMPTS,
                neighbours: Sequence[Expectation | str] = (),
                thresholds: VerifyThresholds = VerifyThresholds()) -> VerifyReport:
    """Run the three checks on the model as it is now (after the edit).

    ``canaries`` and ``neighbours`` are ``Expectation``s captured before the edit, or
    bare prompts, which are then compared with the memory switched off (see module doc).
    ``model`` is a VerifyTarget, a Memoir, a CausalLMBackend or (model, tokenizer).
    """
    target = _Target(model)
    edit_id = str(getattr(request, "edit_id", getattr(request, "id", "")))
    scores: dict[str, Any] = {}
    reasons: list[str] = []

    prompts = edit_prompts(request)
    answers = _answers(target, prompts, request.target)
    hits = [names_match(request.target, a) for a in answers]
    others = hits[1:]
    share = sum(others) / len(others) if others else 1.0
    scores["efficacy"] = {"prompt": prompts[0], "answer": answers[0], "hit": hits[0],
                          "paraphrase_share": round(share, 4),
                          "answers": dict(zip(prompts, answers))}
    if not hits[0]:
        reasons.append(f"the edit prompt {prompts[0]!r} answers {answers[0]!r}, "
                       f"not {request.target!r}")
    if share < thresholds.min_paraphrase_share:
        reasons.append(f"only {sum(others)}/{len(others)} templates/paraphrases answer "
                       f"{request.target!r} (need {thresholds.min_paraphrase_share:.0%})")

    for name, items, limit in (("canaries", canaries, thresholds.max_canary_changes),
                               ("neighbours", neighbours, thresholds.max_neighbour_changes)):
        result = _compare(target, items, edit_id)
        scores[name] = result
        if len(result["changed"]) > limit:
            first = result["changed"][0]
            reasons.append(f"{len(result['changed'])}/{result['checked']} {name} changed, "
                           f"e.g. {first['prompt']!r}: {first['before']!r} -> "
                           f"{first['after']!r}")
    return VerifyReport(passed=not reasons, scores=scores, reason="; ".join(reasons))


def _answers(target: _Target, prompts: Sequence[str], obj: str) -> list[str]:
    """The answer each prompt gives, as ``cut_answer`` of its greedy continuation.

    Decoding every prompt token by token was most of a verification; a prompt whose
    greedy continuation provably begins with the finished object ("Astana.", as the edit
    was trained) has the answer ``cut_answer`` of that, since the cut falls inside it. Only
    the other prompts are decoded."""
    finished = terminated(obj)
    known = target.begins_with(prompts, finished)
    rest = [p for p, k in zip(prompts, known) if not k]
    decoded = dict(zip(rest, (cut_answer(c) for c in target.continuations(
        rest, tokens=target.tokens_for(obj)))))
    return [cut_answer(finished) if k else decoded[p] for p, k in zip(prompts, known)]


def _compare(target: _Target, items: Sequence[Expectation | str], edit_id: str) -> dict:
    expected = [i for i in items if isinstance(i, Expectation)]
    bare = [i for i in items if isinstance(i, str)]
    skipped: list[str] = []
    unrouted = 0
    if bare and target.memoir is None:
        skipped = list(bare)  # no memory to switch off: nothing to compare them with
    elif bare:
        # A prompt that routes to no edit runs with the memory off, which is the base
        # model bit for bit (residual.ResidualDownProj returns the base output for it):
        # unchanged without decoding it twice. Only prompts routed to this edit decode.
        routes = target.route(bare)
        unrouted = sum(r is None for r in routes)
        mine = [p for p, r in zip(bare, routes) if r == edit_id]
        skipped = [p for p, r in zip(bare, routes) if not (r is None or r == edit_id)]
        expected += [Expectation(p, c) for p, c in
                     zip(mine, target.continuations(mine, memory=False))]
    after = target.continuations([e.prompt for e in expected])
    changed = [{"prompt": e.prompt, "before": e.continuation, "after": a}
               for e, a in zip(expected, after) if a != e.continuation]
    return {"checked": len(expected) + unrouted, "unrouted": unrouted, "changed": changed,
            "skipped": skipped}


@dataclass
class EditVerifier:
    """The apply stage's verifier: ``before(target, edit)`` then ``(target, edit)``, where
    the target is the live model as a ``VerifyTarget`` (the daemon's engine makes one).

    ``neighbour_subjects(edit)`` names other subjects of the edit's relation (from the
    store); FALLBACK_SUBJECTS otherwise. ``sibling_prompts(edit)`` asks the subject's
    other relations; they are compared with the memory switched off (exact for a prompt
    routed nowhere or to this edit, so nothing is decoded before the edit). Calling it
    without ``before`` still works, with the memory-off comparison described in the
    module docstring.
    """

    neighbour_subjects: Callable[[Any], Sequence[str]] | None = None
    sibling_prompts: Callable[[Any], Sequence[str]] | None = None
    canary_prompts: Sequence[str] = CANARY_PROMPTS
    thresholds: VerifyThresholds = VerifyThresholds()
    _before: dict[str, tuple[list[Expectation], list[Expectation]]] = field(
        default_factory=dict)

    def neighbours(self, edit: Any) -> list[str]:
        subjects = list(self.neighbour_subjects(edit)) if self.neighbour_subjects else []
        return neighbour_prompts(edit_prompts(edit), edit.subject,
                                 subjects or FALLBACK_SUBJECTS,
                                 getattr(edit, "subject_aliases", None) or ())

    def before(self, target: Any, edit: Any) -> None:
        self._before[str(edit.id)] = (capture(target, self.canary_prompts),
                                      capture(target, self.neighbours(edit)))

    def __call__(self, target: Any, edit: Any) -> tuple[bool, dict[str, Any], str]:
        canaries, neighbours = self._before.pop(
            str(edit.id), (list(self.canary_prompts), self.neighbours(edit)))
        request = _AsRequest(str(edit.id), edit.prompt, edit.target,
                             tuple(getattr(edit, "prompts", ()) or ()))
        siblings = list(self.sibling_prompts(edit)) if self.sibling_prompts else []
        report = verify_edit(target, request, canaries, [*neighbours, *siblings],
                             self.thresholds)
        return report.passed, report.scores, report.reason


@dataclass(frozen=True)
class _AsRequest:
    edit_id: str
    prompt: str
    target: str
    paraphrases: tuple[str, ...]
