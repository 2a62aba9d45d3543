"""Folding the memory into its own layer in closed form, inside the null space of ordinary text.

Why this layer. The residual memory adds ``W_m·(M_e ⊙ a)`` to one layer's ``down_proj``
output, where ``a`` is that ``down_proj``'s input. That is a *linear* map of ``a`` for each
edit ``e`` (``W_m·diag(M_e)``), so the memory's effect on every token it routes is a key
``a`` and a value ``r = W_m·(M_e ⊙ a)``, both read directly from the memory: no δ has to be
searched for (``fold.py`` does that, at another layer, and spends most of its time there).
A change ``ΔW`` of that same ``down_proj`` weight leaves every input of that layer as it
was: the memory's routing (TopHash of ``a``) and its remaining edits see exactly the
activations they were trained on, so edits that stay in memory keep working on the new
checkpoint without being re-fitted (``Memoir.rebase``).

What is solved. With the edits' keys ``K`` (n × N) and values ``R`` (d × N), and the
preserved keys ``K0`` (the same layer's inputs over a large sample of ordinary text and
question-form prompts; covariance ``C0 = K0·K0ᵀ``):

- ``alphaedit`` (Fang et al., ICLR 2025): ``P`` projects onto the approximate null space
  of ``C0`` (the eigenvectors whose eigenvalue is below ``threshold`` × the largest), and
  ``ΔW = R·Kᵀ·P·(K·Kᵀ·P + λI)⁻¹``. Every row of ``ΔW`` lies in the null space, so
  ``ΔW·k0 ≈ 0`` for preserved keys by construction, not by a penalty's trade-off;
- ``memit`` (Meng et al., 2023), covariance-regularised:
  ``ΔW = R·Kᵀ·(K·Kᵀ + λ·C0/|K0|·N)⁻¹``, at the memory's layer only. MEMIT proper spreads
  the change over several layers below; that is not done here: changing a layer below the
  memory moves the memory's inputs, so the edits left in memory would have to be re-fitted,
  and the single-layer solve already fails locality (bench/results/dev/nullspace_quick100.json).

Selective fold (``MemoryFold.fold``). The gate works per edit: solve for every edit the
memory answers, keep those the candidate answers on its own (greedy, no memory), re-solve
with only those as targets while the others' keys join the preserved ones (their memory
keeps serving them, so the fold must leave their tokens alone), and repeat until the set
is stable; a null space that moves the check prompts (locality below the floor) is
made smaller (the ridge raised) and the selection redone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from .distill import _decoder, _layer_prefix, _pad_id, _right_pad, _target_ids, text_chunks
from .train import run_through

log = logging.getLogger(__name__)

__all__ = ["NullSpaceConfig", "FoldResult", "MemoryFold", "null_space_projector", "alphaedit_delta",
           "memit_delta", "preserved_covariance"]

METHODS = ("alphaedit", "memit")


@dataclass(frozen=True)
class NullSpaceConfig:
    """Settings of the memory-layer fold. Defaults were chosen with ``bench/distill_bench.py``."""

    method: str = "alphaedit"  # "alphaedit" (null-space projection) or "memit" (ridge on C0)
    threshold: float = 1e-2  # null space: the least-used directions holding this share of C0's energy
    positions: str = "all"  # keys: "all" tokens the memory routes, or "answer" (the last
    # prompt token and the answer's; the others' keys are then protected: ΔW·a ≈ 0)
    ridge: float = 0.01  # λ, relative to the mean squared norm of what the update sees of a key
    preserved_tokens: int = 65536  # ordinary-text tokens in C0 (prompts come on top)
    selective: bool = True  # fold only the edits the candidate reproduces (the per-edit gate)
    rounds: int = 4  # re-solves of the selective fold, at most
    min_locality: float = 0.97  # on the check prompts, else the ridge is raised
    tighten: float = 10.0  # factor applied to the ridge when locality fails
    max_tightenings: int = 4
    protect_weight: float = 1.0  # weight of the unfolded edits' keys among the preserved ones

    def __post_init__(self) -> None:
        if self.positions not in ("all", "answer"):
            raise ValueError(f"positions {self.positions!r}: use all or answer")
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: use one of {METHODS}")
        if not 0 < self.threshold < 1 or self.ridge <= 0 or self.rounds < 1:
            raise ValueError(f"the fold needs 0 < threshold < 1, ridge > 0 and rounds >= 1 "
                             f"(got {self.threshold}, {self.ridge}, {self.rounds})")


@dataclass
class FoldResult:
    """What a fold produced: the weight change, which edits it holds, and the figures."""

    delta: torch.Tensor  # (d, n) change of the memory layer's down_proj weight
    folded: list[str]  # edit ids the candidate answers without memory
    kept: list[str]  # the others: they stay in memory
    threshold: float
    ridge: float  # the ridge used (raised from the configured one while locality failed)
    null_dim: int  # dimension of the null space used (alphaedit), else 0
    check_locality: float  # share of check prompts answered as before (greedy, no memory)
    served_match: float  # share of edit prompts answered as before (candidate + kept memory)
    seconds: float
    history: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        out = asdict(self)
        out.pop("delta")
        out["folded"], out["kept"] = len(self.folded), len(self.kept)
        return out


# ---------------------------------------------------------------------- the maths


def null_space_projector(cov: torch.Tensor, threshold: float) -> tuple[torch.Tensor, int]:
    """``P = U·Uᵀ`` over the eigenvectors of ``cov`` with the smallest eigenvalues that
    together hold at most ``threshold`` of its trace (the preserved keys' energy); returns
    ``(P, dim)``. An energy share, not a ratio to the largest eigenvalue: in these models a
    few outlier features carry most of the energy, so a ratio to the largest eigenvalue
    calls directions that ordinary text uses heavily "null" (measured on SmolLM2: 1e-2 of
    the largest left 1410 of 1536 dimensions and moved half the check prompts)."""
    values, vectors = torch.linalg.eigh(cov.double())  # ascending
    share = values.clamp_min(0).cumsum(0) / values.clamp_min(0).sum()
    keep = share <= threshold
    if not keep.any():
        keep[0] = True
    u = vectors[:, keep]
    return (u @ u.T).to(cov.dtype), int(keep.sum())


def alphaedit_delta(K: torch.Tensor, R: torch.Tensor, P: torch.Tensor, ridge: float) -> torch.Tensor:
    """``ΔW = R·Kᵀ·P·(K·Kᵀ·P + λI)⁻¹`` with keys as columns (K: n×N, R: d×N); λ is ``ridge``
    times the mean squared norm of the keys' null-space part (``P·k``: what the update can
    see of a key; relative to the whole key, λ swamped it and nothing was written). Solved in
    its transposed form ``(P·K·Kᵀ + λI)·ΔWᵀ = P·K·Rᵀ``, whose solution lies in P's range."""
    n = K.shape[0]
    K, R, P = K.double(), R.double(), P.double()
    PK = P @ K
    lam = ridge * float((PK * PK).sum()) / max(K.shape[1], 1)
    system = P @ (K @ K.T) + lam * torch.eye(n, dtype=K.dtype, device=K.device)
    return torch.linalg.solve(system, PK @ R.T).T.float()


def memit_delta(K: torch.Tensor, R: torch.Tensor, cov: torch.Tensor, count: int,
                ridge: float) -> torch.Tensor:
    """``ΔW = R·Kᵀ·(K·Kᵀ + λ·N·C0/|K0| + εI)⁻¹``: one edit key weighs as much as ``λ`` average
    preserved tokens per edit token (MEMIT's covariance constraint)."""
    n, N = K.shape[0], max(K.shape[1], 1)
    K, R, C = K.double(), R.double(), cov.double() / max(count, 1)
    eps = 1e-6 * float(torch.trace(C)) / n
    system = K @ K.T + ridge * N * C + eps * torch.eye(n, dtype=K.dtype, device=K.device)
    return torch.linalg.solve(system, K @ R.T).T.float()


def preserved_covariance(model: nn.Module, tokenizer, module: nn.Module, texts: Sequence[str],
                         prompts: Sequence[str], max_tokens: int, chunk: int = 64,
                         batch_size: int = 16, unit: Callable = contextlib.nullcontext
                         ) -> tuple[torch.Tensor, int]:
    """``Σ a·aᵀ`` of ``module``'s input over ``max_tokens`` tokens of text and every token of
    the prompts (the forms users ask in), and the number of tokens summed."""
    decoder = _decoder(model)
    seqs = text_chunks(tokenizer, texts, chunk, max_tokens)
    seqs += [list(tokenizer(p)["input_ids"]) for p in prompts if p.strip()]
    device = next(model.parameters()).device
    cov, count = None, 0
    for s in range(0, len(seqs), batch_size):
        ids, mask = _right_pad(seqs[s : s + batch_size], _pad_id(tokenizer), device)
        with unit():
            a = run_through(decoder, module, ids, mask)[mask.bool()].double()
        cov = a.T @ a if cov is None else cov + a.T @ a
        count += a.shape[0]
    if cov is None:
        raise ValueError("the preserved covariance needs some text or prompts")
    return cov.float(), count


# ---------------------------------------------------------------------- the memory's keys


@dataclass
class EditKeys:
    """Per edit: the memory layer's inputs (N_e × n) where the memory routes to it, the
    memory's output there (N_e × d), and the prompts checked for it."""

    edit_id: str
    keys: torch.Tensor
    values: torch.Tensor
    prompts: list[str]
    target: str
    answer: torch.Tensor | None = None  # (N_e,) bool: the last prompt token and the answer's


def memory_keys(mem, edit_ids: Sequence[str] | None = None, batch_size: int = 16,
                unit: Callable = contextlib.nullcontext) -> dict[str, EditKeys]:
    """Keys and values of every (wanted) edit: each of its prompts (prompt, paraphrases) is
    routed as it would be served, and every token of ``prompt + target[:-1]`` of a prompt
    routed to the edit is a key whose value is what the memory adds there."""
    wanted = set(edit_ids) if edit_ids is not None else None
    requests = [r for r in mem.requests() if wanted is None or r.edit_id in wanted]
    index = {e.request.edit_id: e for e in mem._edits}
    rows: list[tuple[str, str, list[int]]] = []
    for r in requests:
        prompts = [r.prompt, *r.paraphrases]
        routes = mem.route(prompts)
        for p, got in zip(prompts, routes):
            if got == r.edit_id:
                ids = list(mem.tokenizer(p)["input_ids"]) + _target_ids(mem.tokenizer, p, r.target)[:-1]
                rows.append((r.edit_id, p, ids))
    out = {r.edit_id: EditKeys(r.edit_id, [], [], [], r.target, []) for r in requests}
    weight = mem.wrapper.memory.detach().float()
    for s in range(0, len(rows), batch_size):
        chunk = rows[s : s + batch_size]
        ids, mask = _right_pad([x[2] for x in chunk], _pad_id(mem.tokenizer), mem.device)
        with unit(), mem.disabled():  # the memory layer's input does not depend on the memory
            a = run_through(mem.decoder, mem.wrapper.base, ids, mask).float()
        for i, (edit_id, prompt, seq) in enumerate(chunk):
            cols = index[edit_id].cols
            k = a[i, : len(seq)]
            v = k[:, cols] @ weight[:, cols].T
            e = out[edit_id]
            plen = len(mem.tokenizer(prompt)["input_ids"])
            e.keys.append(k.cpu())
            e.values.append(v.cpu())
            e.answer.append(torch.arange(len(seq)) >= plen - 1)
            e.prompts.append(prompt)
    for e in out.values():
        n, d = mem.wrapper.in_features, weight.shape[0]
        e.keys = torch.cat(e.keys) if e.keys else torch.zeros(0, n)
        e.values = torch.cat(e.values) if e.values else torch.zeros(0, d)
        e.answer = torch.cat(e.answer) if e.answer else torch.zeros(0, dtype=torch.bool)
    return out


# ---------------------------------------------------------------------- the fold


class MemoryFold:
    """Folds (part of) a memory into its own layer's ``down_proj``; see the module docstring.

    ``mem`` is a loaded ``Memoir`` on the base model; the model is changed only inside
    ``candidate()`` (and put back on exit). ``texts`` and ``prompts`` are the preserved
    sample (ordinary text, question-form prompts); ``check_prompts`` are the prompts whose
    greedy answers the selective fold must keep (never in the preserved sample).
    """

    def __init__(self, mem, texts: Sequence[str], prompts: Sequence[str],
                 check_prompts: Sequence[str] = (), config: NullSpaceConfig | None = None,
                 edit_ids: Sequence[str] | None = None, unit: Callable = contextlib.nullcontext):
        self.mem = mem
        self.config = config or NullSpaceConfig()
        self.texts, self.prompts = list(texts), list(prompts)
        self.check_prompts = [p for p in check_prompts if p.strip()]
        self.edit_ids = list(edit_ids) if edit_ids is not None else mem.edit_ids()
        self.unit = unit
        self.down = mem.wrapper.base
        self.device = self.down.weight.device
        self.keys: dict[str, EditKeys] | None = None
        self.cov: torch.Tensor | None = None
        self.count = 0
        self._check_ref: list[list[int]] | None = None
        self._served_ref: dict[str, list[int]] | None = None

    @property
    def layer(self) -> int:
        return self.mem.layer

    def tensor_name(self) -> str:
        model = self.mem.model
        return f"{_layer_prefix(model, _decoder(model))}{self.layer}.mlp.down_proj.weight"

    # ------------------------------------------------------------------ inputs
    def prepare(self) -> None:
        """Keys and values of the edits, the preserved covariance, the reference answers."""
        if self.keys is not None:
            return
        self.keys = memory_keys(self.mem, self.edit_ids, unit=self.unit)
        with self.mem.disabled():
            self.cov, self.count = preserved_covariance(
                self.mem.model, self.mem.tokenizer, self.down, self.texts, self.prompts,
                self.config.preserved_tokens, unit=self.unit)
        tok = self.mem.tokenizer
        if self.check_prompts:
            with self.unit(), self.mem.disabled():
                self._check_ref = _greedy(self.mem.model, tok, self.check_prompts, 8)
            self._check_ids = [list(tok(p)["input_ids"]) for p in self.check_prompts]
            # the base's own teacher-forced argmax along its greedy answers: compared with
            # the candidate's computed the same way (padding alike), so the unchanged base
            # scores 1.0 (against the generated tokens it scored 0.96)
            self._check_base = self._check_argmax()
        with self.unit():
            self._served_ref = self._served()

    def stack(self, ids: Sequence[str], part: str = "target") -> tuple[torch.Tensor, torch.Tensor]:
        """K (n × N) and R (d × N) of these edits, on the fold's device: the keys written
        (``part="target"``) or the other keys of the same sequences (``"rest"``)."""
        assert self.keys is not None
        every = self.config.positions == "all"

        def rows(e: EditKeys) -> torch.Tensor:
            if every:
                return torch.ones_like(e.answer) if part == "target" else torch.zeros_like(e.answer)
            return e.answer if part == "target" else ~e.answer

        ks = [self.keys[i].keys[rows(self.keys[i])] for i in ids]
        vs = [self.keys[i].values[rows(self.keys[i])] for i in ids]
        ks, vs = [k for k in ks if k.numel()], [v for v in vs if v.numel()]
        n, d = self.down.in_features, self.down.out_features
        K = torch.cat(ks).T if ks else torch.zeros(n, 0)
        R = torch.cat(vs).T if vs else torch.zeros(d, 0)
        return K.to(self.device), R.to(self.device)

    # ------------------------------------------------------------------ solving
    def solve(self, fold_ids: Sequence[str], protect_ids: Sequence[str] = (),
              threshold: float | None = None, ridge: float | None = None
              ) -> tuple[torch.Tensor, int]:
        """ΔW writing ``fold_ids`` while leaving the preserved keys and ``protect_ids``' keys
        alone; returns (ΔW, null-space dimension)."""
        self.prepare()
        cfg = self.config
        K, R = self.stack(fold_ids)
        if K.shape[1] == 0:
            return torch.zeros_like(self.down.weight, dtype=torch.float32), 0
        cov = self.cov.to(self.device)
        if protect_ids:
            Kp, _ = self.stack(protect_ids)
            # the protected keys weigh like preserved tokens: scaled to C0's per-token energy
            cov = cov + cfg.protect_weight * (Kp @ Kp.T)
        if cfg.positions != "all":  # the edits' other tokens must not move either
            Ko, _ = self.stack(self.edit_ids, "rest")
            cov = cov + cfg.protect_weight * (Ko @ Ko.T)
        if cfg.method == "alphaedit":
            P, dim = null_space_projector(cov, threshold or cfg.threshold)
            return alphaedit_delta(K, R, P, ridge or cfg.ridge), dim
        return memit_delta(K, R, cov, self.count, ridge or cfg.ridge), 0

    @contextlib.contextmanager
    def candidate(self, delta: torch.Tensor) -> Iterator[None]:
        """The base weight + ΔW inside the block (memory as it is); put back on exit."""
        w = self.down.weight
        saved = w.detach().clone()
        with torch.no_grad():
            w.add_(delta.to(w.dtype).to(w.device))
        try:
            yield
        finally:
            with torch.no_grad():
                w.copy_(saved)

    def reproduced(self, delta: torch.Tensor, ids: Sequence[str]) -> list[str]:
        """The edits whose main prompt the candidate answers with the target, without memory."""
        from .distill import greedy_em

        assert self.keys is not None
        have = [i for i in ids if self.keys[i].prompts]
        if not have:
            return []
        with self.candidate(delta), self.unit(), self.mem.disabled():
            ok = greedy_em(self.mem.model, self.mem.tokenizer,
                           [self.keys[i].prompts[0] for i in have], [self.keys[i].target for i in have])
        return [i for i, good in zip(have, ok) if good]

    def check_locality(self, delta: torch.Tensor) -> float:
        """Share of the check prompts whose 8-token greedy answer (no memory) is unchanged."""
        if not self.check_prompts:
            return 1.0
        # greedy decoding keeps the reference answer iff every reference token is the
        # argmax after the ones before it: one teacher-forced pass instead of 8 steps
        with self.candidate(delta):
            got = self._check_argmax()
        return sum(a == b for a, b in zip(got, self._check_base)) / len(got)

    def _check_argmax(self) -> list[list[int]]:
        from .distill import _teacher_forced_argmax

        with self.unit(), self.mem.disabled():
            return _teacher_forced_argmax(self.mem.model, self.mem.tokenizer, self._check_ids,
                                          self._check_ref)

    def served_match(self, delta: torch.Tensor, folded: Sequence[str]) -> float:
        """Share of edit prompts that candidate + memory without ``folded`` answer as before."""
        assert self._served_ref is not None and self.keys is not None
        ids = [i for i, e in self.keys.items() if e.prompts]
        if not ids:
            return 1.0
        with self.candidate(delta), self.without(set(folded)), self.unit():
            got = self._served()
        return sum(got[i] == self._served_ref[i] for i in ids) / len(ids)

    def _served(self, batch_size: int = 32) -> dict[str, list[int]]:
        """Each edit's main prompt answered by the served model (routed as it serves),
        as many tokens as its target."""
        assert self.keys is not None
        tok = self.mem.tokenizer
        ids = [i for i, e in self.keys.items() if e.prompts]
        out: dict[str, list[int]] = {}
        for s in range(0, len(ids), batch_size):
            chunk = ids[s : s + batch_size]
            prompts = [self.keys[i].prompts[0] for i in chunk]
            lengths = [len(_target_ids(tok, p, self.keys[i].target)) for p, i in zip(prompts, chunk)]
            got = self.mem.generate_ids(prompts, max_new_tokens=max(lengths), min_new_tokens=max(lengths))
            for i, g, n in zip(chunk, got, lengths):
                out[i] = g[:n]
        return out

    @contextlib.contextmanager
    def without(self, edit_ids: set[str]) -> Iterator[None]:
        """The memory routes as if ``edit_ids`` were reverted (nothing is written)."""
        mem = self.mem
        if not edit_ids:
            yield
            return
        saved = list(mem._edits)
        mem._edits = [e for e in saved if e.request.edit_id not in edit_ids]
        mem._rebuild_router()
        try:
            yield
        finally:
            mem._edits = saved
            mem._rebuild_router()

    # ------------------------------------------------------------------ selection
    def fold(self, progress: Callable[[str], None] | None = None) -> FoldResult:
        """Whole fold (``selective=False``) or the selective fold; see the module docstring."""
        started = time.perf_counter()
        self.prepare()
        cfg = self.config
        assert self.keys is not None
        candidates = [i for i in self.edit_ids if self.keys[i].prompts]
        threshold, ridge = cfg.threshold, cfg.ridge
        history: list[dict] = []
        for attempt in range(cfg.max_tightenings + 1):
            folded, delta, dim = list(candidates), None, 0
            for round_ in range(cfg.rounds if cfg.selective else 1):
                rest = [i for i in self.edit_ids if i not in set(folded)]
                delta, dim = self.solve(folded, rest if cfg.selective else (), threshold, ridge)
                got = self.reproduced(delta, folded)
                history.append({"ridge": ridge, "round": round_, "targets": len(folded),
                                "reproduced": len(got), "null_dim": dim})
                if progress:
                    progress(f"ridge {ridge:g} round {round_}: {len(got)} of "
                             f"{len(folded)} reproduced (null space {dim})")
                if not cfg.selective or set(got) == set(folded) or not got:
                    folded = got
                    break
                folded = got
            if cfg.selective and folded:  # the last solve wrote exactly what folds
                delta, dim = self.solve(folded, [i for i in self.edit_ids if i not in set(folded)],
                                        threshold, ridge)
                folded = self.reproduced(delta, folded)
            if cfg.selective and not folded:  # nothing to write: the base as it is
                delta = torch.zeros_like(self.down.weight, dtype=torch.float32)
            loc = self.check_locality(delta)
            history[-1]["check_locality"] = loc
            if loc >= cfg.min_locality or attempt == cfg.max_tightenings:
                break
            # a smaller update: the ridge, not the null space, sets its size (a tighter null
            # space leaves the update as large, on fewer directions; measured in the sweep)
            ridge *= cfg.tighten
        kept = [i for i in self.edit_ids if i not in set(folded)]
        if not cfg.selective:
            folded = self.reproduced(delta, candidates)
            kept = [i for i in self.edit_ids if i not in set(folded)]
        served = self.served_match(delta, folded)
        return FoldResult(delta.cpu(), folded, kept, threshold, ridge, dim, loc, served,
                          time.perf_counter() - started, history)

    def trained_tensors(self, delta: torch.Tensor) -> dict[str, torch.Tensor]:
        """The memory layer's new down_proj weight under its state-dict name, on CPU."""
        w = self.down.weight.detach()
        return {self.tensor_name(): (w.float() + delta.to(w.device)).to(w.dtype).cpu()}


def _greedy(model: nn.Module, tokenizer, prompts: Sequence[str], length: int) -> list[list[int]]:
    from .distill import greedy_ids

    return greedy_ids(model, tokenizer, list(prompts), length)
