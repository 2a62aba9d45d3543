"""Which edit, if any, a prompt should use: TopHash overlap, then subject and relation checks.

MEMOIR routes a query to the stored edit whose TopHash mask overlaps the query's mask the
most, if that overlap reaches τ. Mean-pooled masks capture the *question* ("what team does
X play for") far more than the *subject*, so a neighbour prompt with the same template and
another subject overlaps an edit as much as a true paraphrase does (measured on
SmolLM2-135M, layer 24, k = 384, τ = 0.4: 99.7% of CounterFact neighbour prompts were
routed to some edit).

memoird therefore routes in three stages:

1. **Template stage** — TopHash overlap ≥ ``tau`` with one of the edit's routing keys
   (its prompt and any paraphrases it was trained on). This keeps an edit about "X plays
   for" off "X was born in", and is what makes paraphrases find their edit.
2. **Subject stage** — the edit's subject must occur in the prompt text (case-folded, on
   word boundaries). Template neighbours name another subject, so they fail here.
3. **Relation stage** — the prompt must not name another relation of the subject and so
   ask about another of its facts: "The Prime Minister of India is" overlaps a head-of-
   state edit's "The President of India is" above τ and names India, so without this
   stage the president's name answered it (measured on the news set dev33). The edit
   carries the phrases that name its subject's other relations (``elsewhere``, from the
   schema); they are looked for outside the subject's own name ("Coach" the company).

On 300 items per data set this took CounterFact neighbour routing from 99.7% to 1.3% and
kept paraphrase routing at 100% (zsRE) / 100% (CounterFact, τ = 0.35); a key over the
subject tokens' activations (cosine of the last subject token at the same layer) separated
the two far worse (14–45% neighbours routed at the τ that kept 80% of paraphrases), so
the lexical check won. An edit without a subject is routed by the template stage alone.

The router runs inside the prefill forward pass (see ``residual.ResidualDownProj``), so it
costs one small matrix product per request and no extra pass over the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .residual import RowRoutes, index_mask, prompt_mean, tophash

# Routing strategies. "subject" is memoird's; "mask" is the paper's (best overlap ≥ τ);
# "always" applies the memory to every row with the row's own TopHash mask (the
# no-routing ablation).
STRATEGIES = ("subject", "mask", "always")


def subject_pattern(subject: str, *aliases: str) -> re.Pattern[str]:
    """Case-folded, whitespace-tolerant, word-bounded pattern for a subject and any of its
    other names ("United Kingdom", "Britain", "the UK")."""
    if not subject.split():
        raise ValueError("subject is empty")
    return _names_pattern((subject, *aliases), r"\s+")


def elsewhere_pattern(phrases: Sequence[str]) -> re.Pattern[str] | None:
    """Pattern for the phrases that name a subject's other relations ("prime minister"
    also as "Prime-Minister"); None when there are none."""
    return _names_pattern(phrases, r"[\s-]+") if any(p.split() for p in phrases) else None


def _names_pattern(names: Sequence[str], gap: str) -> re.Pattern[str]:
    bodies = [gap.join(re.escape(w) for w in name.casefold().split())
              for name in names if name.split()]
    return re.compile(r"(?<!\w)(?:" + "|".join(bodies) + r")(?!\w)")


@dataclass
class RoutingBank:
    """The routing keys of all live edits, kept as tensors for one matrix product."""

    n: int
    k: int
    key_masks: torch.Tensor  # (K, n) 0/1 float, one row per routing key
    key_edit: list[int] = field(default_factory=list)  # key row -> edit position
    patterns: list[re.Pattern[str] | None] = field(default_factory=list)  # per edit
    elsewhere: list[re.Pattern[str] | None] = field(default_factory=list)  # per edit

    @classmethod
    def empty(cls, n: int, k: int, device) -> "RoutingBank":
        return cls(n=n, k=k, key_masks=torch.zeros(0, n, device=device))


@dataclass
class Router:
    """Routes a batch from the down_proj input at prefill. Built by ``Memoir`` per change."""

    strategy: str
    tau: float
    k: int
    permutation: torch.Tensor
    background: torch.Tensor
    bank: RoutingBank
    edit_masks: torch.Tensor  # (E, n) 0/1 weight mask of each edit
    text: Callable[[int], str | None]  # prompt text of a batch row, decoded only on demand

    def query_indices(self, a: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        feature = prompt_mean(a.float(), valid) - self.background.to(a.device)
        return tophash(feature, self.k, self.permutation)

    def choose(self, q_idx: torch.Tensor, text: Callable[[int], str | None]) -> list[int | None]:
        """Per row of TopHash query indices: the position of the edit to apply, or None;
        ``text(row)`` is the row's routed text, read only when a subject must be checked."""
        if self.strategy == "always":
            return [-1] * q_idx.shape[0]  # -1: the row's own mask, see routes()
        if self.bank.key_masks.shape[0] == 0:
            return [None] * q_idx.shape[0]
        q_mask = index_mask(q_idx, self.bank.n, dtype=torch.float32)
        overlap = (q_mask @ self.bank.key_masks.to(q_mask.device).T) / self.k  # (B, K)
        return [self._choose_row(overlap[row], row, text) for row in range(q_idx.shape[0])]

    def _choose_row(self, overlap: torch.Tensor, row: int,
                    text: Callable[[int], str | None]) -> int | None:
        passing = torch.nonzero(overlap >= self.tau).flatten()
        if passing.numel() == 0:
            return None
        order = passing[overlap[passing].argsort(descending=True)].tolist()
        if self.strategy == "mask":
            return self.bank.key_edit[order[0]]
        folded: str | None = None
        for key in order:
            edit = self.bank.key_edit[key]
            pattern = self.bank.patterns[edit]
            if pattern is None:
                return edit  # no subject recorded: template stage alone
            if folded is None:
                got = text(row)
                folded = got.casefold() if got is not None else ""
            if not pattern.search(folded):
                continue
            other = self.bank.elsewhere[edit] if self.bank.elsewhere else None
            if other is None or not other.search(pattern.sub(" ", folded)):
                return edit
        return None

    def routes(self, q_idx: torch.Tensor, chosen: list[int | None], n: int, device,
               dtype: torch.dtype) -> RowRoutes:
        """The routes of a batch whose rows chose ``chosen`` (see ``choose``)."""
        rows = [i for i, e in enumerate(chosen) if e is not None]
        if not rows:
            return RowRoutes.none(len(chosen), n, device, dtype)
        if self.strategy == "always":
            masks = index_mask(q_idx.to(device), n, dtype=dtype)
        else:
            masks = self.edit_masks.to(device, dtype)[[chosen[i] for i in rows]]
        return RowRoutes(
            rows=torch.tensor(rows, dtype=torch.long, device=device),
            masks=masks,
            edit_index=chosen,
            batch=len(chosen),
        )

    def __call__(self, a: torch.Tensor, valid: torch.Tensor) -> RowRoutes:
        q_idx = self.query_indices(a, valid)
        return self.routes(q_idx, self.choose(q_idx, self.text), a.shape[-1], a.device, a.dtype)


def calibrate_tau(positive: Sequence[float], quantile: float = 0.02) -> float:
    """τ from paraphrase overlaps measured on a calibration split: keep (1-q) of them.

    The subject stage carries locality, so the template stage only has to admit true
    paraphrases while staying above the overlap of unrelated prompts (≈ k/n by chance).
    """
    if not positive:
        raise ValueError("no paraphrase overlaps to calibrate on")
    values = torch.tensor(sorted(positive), dtype=torch.float64)
    return float(torch.quantile(values, quantile))
