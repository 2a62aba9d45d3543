"""Folding the memory by KL distillation to the teacher over a broad mix of text and prompts.

Why KL to the teacher. The teacher is the served model: base + memory, routed per request
as it serves. Wherever the memory does not route (ordinary text, questions about other
facts) the teacher *is* the base, so matching its next-token distribution there is the
locality constraint itself, measured where it matters (the output) rather than through a
proxy such as a layer's output (``distill.py``'s replay loss) or a covariance of keys
(``nullspace.py``). On the edit prompts the teacher's distribution carries the edit. Both
are one loss: KL(teacher ‖ student) at every position of every sequence.

What is trained. Few parameters, by default only the memory layer's ``down_proj``: the
memory itself is a change of that matrix, so it is where the fold has the right shape, and
a change of it leaves the memory's inputs (TopHash routes on ``down_proj``'s input) exactly
as they were, so edits that are not folded keep serving on the new checkpoint without a
re-fit. ``modules`` may add the layer's gate and up projections (the non-linearity a
per-subject change needs) at the price of that guarantee, and ``layers`` the layers above,
which never touch the memory's inputs.

Cost. Everything below the lowest trained layer is frozen, so its output (and the keyword
arguments each upper layer receives) is captured once per batch; a step runs the layers
from the lowest trained one up and the LM head, only at real (non-padding) positions. The
teacher's distribution is kept as its ``top_k`` log-probabilities per position plus the
rest of the mass as one bin (the KL of that coarse-grained distribution, a lower bound of
the full one that is exact where the teacher is confident); a 49k-wide float per position
would not fit in memory for tens of thousands of positions.

Per-edit selection happens after training: the gate folds the edits the candidate answers
on its own, and the others stay in memory (``teacher_examples`` already leaves out edits the
memory itself does not answer).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .distill import (Example, _decoder, _layer_prefix, _pad_id, _right_pad, lower_pass,
                      text_chunks)
from .memory_io import atomic_write_bytes

log = logging.getLogger(__name__)

__all__ = ["KLConfig", "KLReport", "KLDistiller", "Sequence_", "mix_sequences", "coarse_kl"]


@dataclass(frozen=True)
class KLConfig:
    """Settings of the KL fold. Defaults were chosen with ``bench/distill_bench.py --method kl``."""

    layers: tuple[int, ...] | None = None  # trained MLP layers; None: the memory's layer only
    # down_proj alone: the memory's inputs (its routing key is down_proj's input) stay
    # exactly as they were, so the edits left in memory keep serving. Training the layer's
    # gate and up projections as well moved those inputs: at T=998 the candidate + the
    # carried-over memory answered only 37% of the edit prompts as before (T=100: 0.99)
    modules: tuple[str, ...] = ("down_proj",)
    lr: float = 1e-3  # Adam (1e-4: no edit learnt in an epoch at T=100)
    epochs: int = 4
    batch_size: int = 16  # sequences per step, for the edits and the mix each
    text_tokens: int = 8192  # ordinary-text tokens in the mix, as 64-token windows
    mix_prompts: int = 1024  # question-form prompts in the mix, at most (a seeded sample)
    answer_tokens: int = 8  # the teacher's greedy continuation appended to each mix prompt
    top_k: int = 32  # teacher log-probabilities kept per position (+ the rest as one bin)
    edit_weight: float = 1.0  # the edits' loss against the mix's
    answer_weight: float = 4.0  # an answer position of an edit against one of its prompt's
    stop_accuracy: float = 1.0  # stop once this share of edits is reproduced in an epoch
    margin: float = 1.0  # an answer position stops counting once the student gives the
    # teacher's token this probability (1.0: never): the teacher is near-certain of an
    # edit's target, and pushing the student there moves the weights further than
    # answering it needs, which is what costs locality
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.top_k < 1:
            raise ValueError(f"the KL fold needs lr > 0 and epochs, batch_size, top_k >= 1 "
                             f"(got {self.lr}, {self.epochs}, {self.batch_size}, {self.top_k})")
        if not self.modules or any(m not in ("gate_proj", "up_proj", "down_proj") for m in self.modules):
            raise ValueError(f"modules {self.modules!r}: use gate_proj, up_proj and/or down_proj")


@dataclass
class Sequence_:
    """One training sequence: token ids, how many of them are the prompt, and whose it is
    (an edit id, or None for the mix)."""

    ids: list[int]
    prompt_len: int
    key: str | None = None


@dataclass
class _Teacher:
    """The teacher's coarse distribution at every position of one batch (flattened)."""

    logp: torch.Tensor  # (N, K) top-k log-probabilities
    index: torch.Tensor  # (N, K) their token ids
    rest: torch.Tensor  # (N,) log of the remaining mass


@dataclass
class _Batch:
    h0: torch.Tensor  # (B, S, d) input of the lowest trained layer
    kwargs: list[dict]  # per layer from the lowest trained one upwards
    valid: torch.Tensor  # (B, S) bool: real positions (whose next token is predicted)
    teacher: _Teacher
    answer: torch.Tensor  # (N,) bool: an edit's answer position
    owner: torch.Tensor  # (N,) index of the edit (−1: mix)


@dataclass
class KLReport:
    epochs: int
    steps: int
    seconds: float
    loss: float
    edit_accuracy: float  # share of edits whose answer argmax equals the teacher's everywhere
    history: list[dict] = field(default_factory=list)


def mix_sequences(memoir, texts: Sequence[str], prompts: Sequence[str], config: KLConfig,
                  batch_size: int = 32) -> list[Sequence_]:
    """The mix: ``text_tokens`` of ordinary text in 64-token windows, and up to
    ``mix_prompts`` question-form prompts, each followed by the teacher's own greedy
    continuation (``answer_tokens``), so the answer positions users read are constrained
    as well as the prompt's."""
    tok = memoir.tokenizer
    out = [Sequence_(ids, 0) for ids in text_chunks(tok, texts, 64, config.text_tokens)]
    picked = [p for p in prompts if p.strip()]
    if len(picked) > config.mix_prompts:
        picked = random.Random(config.seed).sample(picked, config.mix_prompts)
    for s in range(0, len(picked), batch_size):
        chunk = picked[s : s + batch_size]
        got = memoir.generate_ids(chunk, max_new_tokens=config.answer_tokens)
        for p, g in zip(chunk, got):
            ids = list(tok(p)["input_ids"])
            out.append(Sequence_(ids + list(g[: config.answer_tokens]), len(ids)))
    return out


def edit_sequences(examples: Sequence[Example]) -> list[Sequence_]:
    """Each teacher example as prompt + the teacher's answer (the last token is only a label)."""
    return [Sequence_(list(e.prompt_ids) + list(e.target_ids), len(e.prompt_ids), e.key)
            for e in examples]


def coarse_kl(student_logits: torch.Tensor, teacher: _Teacher) -> torch.Tensor:
    """Per position KL(teacher ‖ student) over the teacher's top-k tokens and one bin for the
    rest of the vocabulary; (N, V) logits in, (N,) out."""
    logq = F.log_softmax(student_logits.float(), -1)
    logq_top = logq.gather(1, teacher.index)
    q_top = logq_top.exp().sum(-1).clamp(max=1 - 1e-6)
    logq_rest = torch.log1p(-q_top)
    p_top = teacher.logp.exp()
    p_rest = teacher.rest.exp()
    return (p_top * (teacher.logp - logq_top)).sum(-1) + p_rest * (teacher.rest - logq_rest)


class KLDistiller:
    """Trains the student's layers to match the teacher on edit and mix sequences.

    ``memoir`` is a loaded ``Memoir`` on the base model (float32); it serves as the teacher
    while the batches are prepared (``prepare``) and is not changed. The student is a deep
    copy of the decoder layers from the lowest trained one upwards, so ``memoir.detach()``
    may be called after ``prepare`` and the base model is never modified.
    """

    def __init__(self, memoir, examples: Sequence[Example], mix: Sequence[Sequence_],
                 config: KLConfig | None = None):
        if not examples:
            raise ValueError("nothing to distil: no teacher examples")
        self.memoir = memoir
        self.model = memoir.model
        self.tokenizer = memoir.tokenizer
        self.decoder = _decoder(self.model)
        n_layers = len(self.decoder.layers)
        cfg = config or KLConfig()
        layers = tuple(sorted(set(cfg.layers or (memoir.layer,))))
        if layers[0] < 0 or layers[-1] >= n_layers:
            raise ValueError(f"layers {layers} are outside the model's {n_layers} layers")
        self.config = KLConfig(**{**asdict(cfg), "layers": layers})
        self.layers, self.low = layers, layers[0]
        self.device = next(self.model.parameters()).device
        self.examples = list(examples)
        self.edit_keys = sorted({e.key for e in self.examples})
        self.edits = edit_sequences(self.examples)
        self.mix = list(mix)
        self.student = _copy_without_memory(self.decoder.layers[self.low :]).float()
        self.student.requires_grad_(False)
        self.params: dict[str, nn.Parameter] = {}
        prefix = _layer_prefix(self.model, self.decoder)
        for i in layers:
            mlp = self.student[i - self.low].mlp
            for name in self.config.modules:
                linear = getattr(mlp, name)
                linear.weight.requires_grad_(True)
                self.params[f"{prefix}{i}.mlp.{name}.weight"] = linear.weight
        self._edit_batches: list[_Batch] | None = None
        self._mix_batches: list[_Batch] | None = None

    # ------------------------------------------------------------------ inputs
    def signature(self) -> str:
        """What the prepared batches depend on: the sequences, the teacher's memory, the
        lowest trained layer and the batching (not the training settings)."""
        h = hashlib.sha256()
        cfg = self.config
        h.update(json.dumps([self.low, cfg.top_k, cfg.batch_size, cfg.seed]).encode())
        for s in [*self.edits, None, *self.mix]:
            h.update(b"|" if s is None else f"{s.key}:{s.prompt_len}:{s.ids};".encode())
        with torch.no_grad():
            h.update(self.memoir.wrapper.memory.detach().float().cpu().numpy().tobytes())
            h.update(self.memoir.wrapper.base.weight.detach().float().cpu().numpy().tobytes())
        h.update(",".join(self.memoir.edit_ids()).encode())
        return h.hexdigest()

    def prepare(self, progress: Callable[[str], None] | None = None,
                cache: str | Path | None = None) -> None:
        """Teacher distributions and the frozen lower layers' outputs, batch by batch.

        With ``cache`` (a file), they are read from it when it was written for the same
        inputs (``signature``), else computed and written there: the teacher passes cost
        more than a few epochs of training, and reruns that change only the training
        settings need none of them."""
        if self._edit_batches is not None:
            return
        path = Path(cache) if cache is not None else None
        if path is not None and path.exists():
            stored = torch.load(path, map_location=self.device, weights_only=False)
            if stored.get("signature") == self.signature():
                self._edit_batches, self._mix_batches = stored["edits"], stored["mix"]
                if progress:
                    progress(f"teacher: read from {path}")
                return
            log.warning("prepared batches in %s belong to other inputs; recomputing", path)
        self._compute(progress)
        if path is not None:
            buf = io.BytesIO()
            torch.save({"signature": self.signature(), "edits": self._edit_batches,
                        "mix": self._mix_batches}, buf)
            atomic_write_bytes(path, buf.getvalue())

    def _compute(self, progress: Callable[[str], None] | None) -> None:
        bs = self.config.batch_size
        gen = random.Random(self.config.seed)
        index = {k: i for i, k in enumerate(self.edit_keys)}
        edits = list(self.edits)
        gen.shuffle(edits)
        self._edit_batches = [self._capture(edits[s : s + bs], index) for s in range(0, len(edits), bs)]
        if progress:
            progress(f"teacher: {len(edits)} edit sequences")
        mix = list(self.mix)
        gen.shuffle(mix)
        self._mix_batches = [self._capture(mix[s : s + bs], index) for s in range(0, len(mix), bs)]
        if progress:
            progress(f"teacher: {len(mix)} mix sequences")

    def _capture(self, seqs: list[Sequence_], index: dict[str, int]) -> _Batch:
        """One teacher pass (memory routed from each row's prompt, or from the whole window
        for text) and one base pass up to the lowest trained layer."""
        mem = self.memoir
        inputs = [s.ids[:-1] for s in seqs]  # the last token is only predicted
        ids, mask = _right_pad(inputs, _pad_id(self.tokenizer), self.device)
        route_on = [s.ids[: s.prompt_len] if s.prompt_len else s.ids[:-1] for s in seqs]
        routes = mem._prefill_routes(route_on)
        with torch.no_grad(), mem._fixed_routes(routes):
            logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        valid = mask.bool()
        logp = F.log_softmax(logits[valid].float(), -1)
        top, top_i = logp.topk(self.config.top_k, -1)
        rest = torch.log1p(-top.exp().sum(-1).clamp(max=1 - 1e-6))
        teacher = _Teacher(top.half().float(), top_i, rest)
        answer, owner = [], []
        for s, row in zip(seqs, inputs):
            for p in range(len(row)):
                answer.append(s.key is not None and p >= s.prompt_len - 1)
                owner.append(index[s.key] if s.key is not None else -1)
        with mem.disabled():
            h0, kwargs, _ = lower_pass(self.decoder, self.low, ids, mask)
        t = lambda x, dt: torch.tensor(x, dtype=dt, device=self.device)  # noqa: E731
        return _Batch(h0, kwargs, valid, teacher, t(answer, torch.bool), t(owner, torch.long))

    # ------------------------------------------------------------------ steps
    def _logits(self, b: _Batch) -> torch.Tensor:
        h = b.h0
        for layer, kwargs in zip(self.student, b.kwargs):
            out = layer(h, **kwargs)
            h = out[0] if isinstance(out, tuple) else out
        return self.model.get_output_embeddings()(self.decoder.norm(h[b.valid]))

    def _loss(self, b: _Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted mean KL over the batch's positions, and per position: is the student's
        argmax the teacher's?"""
        logits = self._logits(b)
        kl = coarse_kl(logits, b.teacher)
        same = logits.argmax(-1) == b.teacher.index[:, 0]
        weight = torch.where(b.answer, self.config.answer_weight, 1.0)
        if self.config.margin < 1.0:
            with torch.no_grad():
                p_top = F.softmax(logits.float(), -1).gather(1, b.teacher.index[:, :1])[:, 0]
                weight = torch.where(b.answer & same & (p_top >= self.config.margin), 0.0, weight)
        return (kl * weight).sum() / weight.sum(), same

    def train(self, progress: Callable[[str], None] | None = None,
              cache: str | Path | None = None) -> KLReport:
        """Adam over the trained weights: one edit batch and one mix batch per step, until
        every edit's answer is reproduced or ``epochs`` passes over the larger stream."""
        started = time.perf_counter()
        self.prepare(progress, cache)
        assert self._edit_batches is not None and self._mix_batches is not None
        cfg = self.config
        optim = torch.optim.Adam(list(self.params.values()), lr=cfg.lr)
        n_steps = max(len(self._edit_batches), len(self._mix_batches))
        history: list[dict] = []
        steps, epoch = 0, 0
        for epoch in range(1, cfg.epochs + 1):
            wrong = torch.zeros(len(self.edit_keys), device=self.device)
            edit_sum, mix_sum = 0.0, 0.0
            for step in range(n_steps):
                eb = self._edit_batches[step % len(self._edit_batches)]
                loss = torch.zeros((), device=self.device)
                edit_loss, same = self._loss(eb)
                if step < len(self._edit_batches):  # each edit counted once per epoch
                    bad = (~same & eb.answer).float()
                    wrong.index_add_(0, eb.owner.clamp_min(0), bad * (eb.owner >= 0))
                loss = cfg.edit_weight * edit_loss
                if self._mix_batches:
                    mix_loss, _ = self._loss(self._mix_batches[step % len(self._mix_batches)])
                    loss = loss + mix_loss
                    mix_sum += float(mix_loss.detach())
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                edit_sum += float(edit_loss.detach())
                steps += 1
            accuracy = float((wrong == 0).float().mean())
            history.append({"epoch": epoch, "edit_kl": edit_sum / n_steps, "mix_kl": mix_sum / n_steps,
                            "edit_accuracy": accuracy, "seconds": time.perf_counter() - started})
            if progress:
                progress(f"epoch {epoch}: edit KL {history[-1]['edit_kl']:.4f}, mix KL "
                         f"{history[-1]['mix_kl']:.5f}, edits reproduced {accuracy:.3f}")
            if accuracy >= cfg.stop_accuracy:
                break
        last = history[-1]
        return KLReport(epoch, steps, time.perf_counter() - started,
                        last["edit_kl"] + last["mix_kl"], last["edit_accuracy"], history)

    def trained_tensors(self) -> dict[str, torch.Tensor]:
        """The trained weights under their state-dict names, on CPU."""
        with torch.no_grad():
            return {name: p.detach().to("cpu").clone() for name, p in self.params.items()}


def _copy_without_memory(layers: nn.Module) -> nn.Module:
    """A deep copy of ``layers`` in which the memory's wrapper is replaced by a copy of the
    plain base ``down_proj`` it wraps: the fold is a change of the base weight, and the
    wrapper (its router holds a lock) neither copies nor belongs in the student."""
    memo: dict[int, nn.Module] = {}
    for module in layers.modules():
        if type(module).__name__ == "ResidualDownProj":
            memo[id(module)] = copy.deepcopy(module.base)
    return copy.deepcopy(layers, memo)
