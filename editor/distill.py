"""Folding the residual memory into the base weights: teacher–student distillation.

The teacher is the base model with its MEMOIR memory, the student a copy of the base in
which only a few MLP layers are trained. The student learns, on every edit's prompts (its
prompt, its paraphrases and the memory's context-prefixed variants), the continuation the
teacher gives (cross-entropy on the teacher's greedy tokens: the teacher was itself
trained to one target sequence, so its soft distribution adds nothing but a 49k-wide
tensor per token). To keep everything else as it was, each trained MLP must also give
the base MLP's output on replayed unrelated text (a relative squared error on the base's
own activations, the gradient form of MEMIT's covariance constraint). That constraint is
local to each trained layer, so it costs one small matrix product per layer and step, and
thousands of replay tokens fit in every step where a KL through the upper layers and the
49k-word head would afford a few dozen.

Only the layers from the lowest trained one upwards run during training: the decoder's
state at that layer's input, and the keyword arguments (rotary tables, causal mask) it
passes to each layer above, are captured once per batch, as ``train.py`` does for edits.

A run is resumable: ``Distiller.train`` writes its state (trained tensors, optimizer, the
position in the epoch) atomically to ``<run_dir>/train-state.pt`` every ``save_every_s``
seconds and at the end of each epoch, and a new ``Distiller`` on the same examples picks
it up. The state is keyed by a signature of the inputs, so a run folder is never resumed
with other edits or another base.

The result is a plain Hugging Face folder (``save_pretrained`` + tokenizer) that
transformers and vLLM load as they are (``write_checkpoint``), plus the metrics a gate
needs: greedy exact match without memory, agreement with a reference model on unrelated
prompts, and perplexity on held-out text.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Sequence

import torch
import torch.nn.functional as F
import torch.nn.utils.parametrize
from torch import nn

from .memory_io import atomic_write_bytes
from .train import run_through

log = logging.getLogger(__name__)

__all__ = [
    "DistillConfig", "Example", "Distiller", "DistillInterrupted", "TrainReport",
    "teacher_examples", "swapped_subject_prompts", "default_layers", "write_checkpoint", "greedy_em", "token_agreement",
    "greedy_ids", "perplexity", "text_chunks",
]

STATE_FILE = "train-state.pt"
_NOT_SHAPING = ("max_epochs", "stop_accuracy", "save_every_s")


@dataclass(frozen=True)
class DistillConfig:
    """Student training settings. Defaults were chosen with ``bench/distill_bench.py``."""

    layers: tuple[int, ...] | None = None  # MLP layers trained; None: default_layers()
    modules: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")
    lora_rank: int = 0  # 0: train the weights; r > 0: a rank-r update merged at the end
    pull: float = 0.0  # per-step decay of the trained weights towards the base's
    optimizer: str = "adam"  # "sgd" (momentum 0.9) keeps each update in the span of the
    # gradients' inputs, so prompts unlike the edits move less; Adam rescales every weight
    lr: float = 5e-4
    max_epochs: int = 12
    batch_size: int = 16
    replay_weight: float = 1.0
    replay_tokens: int = 8192  # unrelated tokens whose MLP outputs must not move
    replay_batch: int = 256  # of them per step and layer
    anchor_weight: float = 1.0  # KL to the base at the answer position of anchor prompts
    anchor_prompts: int = 1024  # at most this many anchor prompts are used
    stop_accuracy: float = 1.0  # stop once this share of examples is right in an epoch
    save_every_s: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"distillation needs lr > 0, max_epochs >= 1 and batch_size >= 1 "
                f"(got {self.lr}, {self.max_epochs}, {self.batch_size})"
            )
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer {self.optimizer!r}: use adam or sgd")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")
        if not self.modules or any(m not in ("gate_proj", "up_proj", "down_proj") for m in self.modules):
            raise ValueError(f"modules {self.modules!r}: use gate_proj, up_proj and/or down_proj")


@dataclass(frozen=True)
class Example:
    """One training sequence: a prompt and the continuation the teacher gives."""

    key: str  # the edit it teaches (memory edit id)
    prompt_ids: tuple[int, ...]
    target_ids: tuple[int, ...]


@dataclass
class TrainReport:
    epochs: int
    steps: int
    seconds: float
    resumed_from_step: int
    loss: float
    train_accuracy: float  # share of examples right (greedy) in the last epoch
    history: list[dict] = field(default_factory=list)


class DistillInterrupted(RuntimeError):
    """``stop()`` asked the training to end early; its state is saved and a rerun resumes."""


def default_layers(n_layers: int, memory_layer: int | None = None) -> tuple[int, ...]:
    """The memory's layer and the three below it (≈0.7–0.8 of depth when none is given).

    The memory changes one layer's MLP output; the student reproduces that change where
    it happened and spreads it over the layers just below, which hold more capacity than
    one matrix without touching the layers that shape the output distribution.
    """
    top = memory_layer if memory_layer is not None else round(0.8 * n_layers)
    top = max(0, min(n_layers - 1, top))
    return tuple(range(max(0, top - 3), top + 1))


# ---------------------------------------------------------------------- teacher


def teacher_examples(memoir, prefixes: int | None = None, batch_size: int = 32,
                     edit_ids: Sequence[str] | None = None) -> tuple[list[Example], dict[str, str]]:
    """What the teacher (base + memory, routed as it serves) says on each edit's prompts.

    Each edit contributes its prompt, its paraphrases and ``prefixes`` context-prefixed
    copies of the prompt (the memory's own prefixes; default: as many as the memory was
    trained with). Only edits the teacher answers with their exact target on
    the main prompt are taught: distilling a memory that does not hold an edit would
    teach the student a wrong answer. The others come back as ``misses`` with a reason
    and stay in the memory.
    """
    tokenizer = memoir.tokenizer
    wanted = set(edit_ids) if edit_ids is not None else None
    requests = [r for r in memoir.requests() if wanted is None or r.edit_id in wanted]
    n_prefix = prefixes if prefixes is not None else memoir.config.prefixes
    prefix_texts = list(memoir.prefix_texts[:n_prefix])
    rows: list[tuple[str, list[int], list[int], bool]] = []  # key, prompt, target, main
    for r in requests:
        target = _target_ids(tokenizer, r.prompt, r.target)
        prompts = [r.prompt, *r.paraphrases, *(f"{p}. {r.prompt}" for p in prefix_texts)]
        for j, prompt in enumerate(prompts):
            rows.append((r.edit_id, list(tokenizer(prompt)["input_ids"]), target, j == 0))
    misses: dict[str, str] = {}
    examples: list[Example] = []
    # Group by target length so each generate call has one max_new_tokens.
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][2]))
    answers: dict[int, list[int]] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(rows[i][2]) for i in chunk)
        got = memoir.generate_ids([rows[i][1] for i in chunk], max_new_tokens=width)
        for i, ids in zip(chunk, got):
            answers[i] = ids[: len(rows[i][2])]
    for i, (key, prompt, target, main) in enumerate(rows):
        if main and answers[i] != target:
            misses[key] = "the memory does not answer the edit's prompt with its target"
    for i, (key, prompt, target, _main) in enumerate(rows):
        if key in misses:
            continue
        # Paraphrases the memory does not route are taught the edit's target all the
        # same: the operator asked for the fact, not for the router's recall.
        examples.append(Example(key, tuple(prompt), tuple(target)))
    return examples, misses


def swapped_subject_prompts(edits: Sequence[tuple[str, str]], other_subjects: Sequence[str],
                            per_edit: int = 1, seed: int = 0) -> list[str]:
    """Each edit's prompt with its subject replaced by unrelated subjects.

    These are the anchors that matter most: the student must learn that the *subject*
    changes the answer, not the question's wording, so the same template with another
    subject has to keep the base model's answer. ``edits`` are (prompt, subject) pairs;
    an edit whose subject is not in its prompt gives nothing.
    """
    import random
    import re

    if not other_subjects:
        return []
    rng = random.Random(seed)
    out = []
    for prompt, subject in edits:
        if not subject or subject.casefold() not in prompt.casefold():
            continue
        pattern = re.compile(re.escape(subject), re.IGNORECASE)
        for other in rng.sample(list(other_subjects), min(per_edit, len(other_subjects))):
            out.append(pattern.sub(lambda _m: other, prompt, count=1))
    return out


def _target_ids(tokenizer, prompt: str, target: str) -> list[int]:
    from .train import target_ids

    return target_ids(tokenizer, prompt, target)


# ---------------------------------------------------------------------- training


@dataclass
class _Batch:
    h0: torch.Tensor  # (B, S, d) input of the lowest trained layer
    kwargs: list[dict]  # per layer from the lowest trained one upwards
    rows: torch.Tensor  # (N,) row of each target token
    positions: torch.Tensor  # (N,) position whose logits predict it
    targets: torch.Tensor  # (N,)
    example_of: torch.Tensor  # (N,) index of the example (for per-example accuracy)
    examples: list[int]


@dataclass
class _AnchorBatch:
    h0: torch.Tensor
    kwargs: list[dict]
    rows: torch.Tensor
    positions: torch.Tensor  # the last prompt token of each row
    base_hidden: torch.Tensor  # (B, d) the base model's final normed hidden state there


class Distiller:
    """Trains the student's MLP layers on teacher examples and replayed unrelated text.

    ``model`` is the base model *without* memory attached (float32); it is not changed:
    the student is a deep copy of the layers from the lowest trained one upwards.
    """

    def __init__(self, model: nn.Module, tokenizer, examples: Sequence[Example],
                 replay_texts: Sequence[str], config: DistillConfig | None = None,
                 run_dir: str | Path | None = None, memory_layer: int | None = None,
                 anchors: Sequence[str] = ()):
        if not examples:
            raise ValueError("nothing to distil: no teacher examples")
        self.model = model
        self.tokenizer = tokenizer
        self.decoder = _decoder(model)
        n_layers = len(self.decoder.layers)
        cfg = config or DistillConfig()
        layers = tuple(sorted(set(cfg.layers or default_layers(n_layers, memory_layer))))
        if not layers or layers[0] < 0 or layers[-1] >= n_layers:
            raise ValueError(f"layers {layers} are outside the model's {n_layers} layers")
        self.config = DistillConfig(**{**asdict(cfg), "layers": layers})
        self.layers = layers
        self.low = layers[0]
        for i in range(self.low, n_layers):
            if type(self.decoder.layers[i].mlp.down_proj).__name__ == "ResidualDownProj":
                raise RuntimeError(f"layer {i} carries a memory: detach it before distilling")
        self.device = next(model.parameters()).device
        self.examples = list(examples)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.student = copy.deepcopy(self.decoder.layers[self.low :]).float()
        self.student.requires_grad_(False)
        self.params: dict[str, nn.Parameter] = {}  # what the optimizer trains
        self._weights: dict[str, nn.Linear] = {}  # state-dict name -> module whose weight changes
        prefix = _layer_prefix(model, self.decoder)
        gen = torch.Generator().manual_seed(self.config.seed)
        for i in layers:
            mlp = self.student[i - self.low].mlp
            for name in self.config.modules:
                linear = getattr(mlp, name)
                key = f"{prefix}{i}.mlp.{name}.weight"
                self._weights[key] = linear
                if self.config.lora_rank:
                    delta = _LowRank(linear.weight.shape, self.config.lora_rank, gen).to(self.device)
                    torch.nn.utils.parametrize.register_parametrization(linear, "weight", delta)
                    self.params[f"{key}.lora_a"] = delta.a
                    self.params[f"{key}.lora_b"] = delta.b
                else:
                    linear.weight.requires_grad_(True)
                    self.params[key] = linear.weight
        self._initial = {n: p.detach().clone() for n, p in self.params.items()}
        self.replay_texts = list(replay_texts)
        self.anchors = [a for a in anchors if a.strip()][: self.config.anchor_prompts]
        self.signature = self._signature()
        self._batches: list[_Batch] | None = None
        self._replay: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    # ------------------------------------------------------------------ inputs
    def _signature(self) -> str:
        h = hashlib.sha256()
        # Only what shapes the trajectory: a rerun may stop at another epoch count.
        shaping = {k: v for k, v in asdict(self.config).items() if k not in _NOT_SHAPING}
        h.update(json.dumps(shaping, sort_keys=True, default=list).encode())
        for e in self.examples:
            h.update(f"{e.key}|{e.prompt_ids}|{e.target_ids};".encode())
        for t in [*self.replay_texts, "\0", *self.anchors]:
            h.update(hashlib.sha256(t.encode()).digest())
        with torch.no_grad():
            for name, m in self._weights.items():  # the base weights the run starts from
                h.update(name.encode())
                h.update(m.weight.float().cpu().flatten()[:4096].numpy().tobytes())
        return h.hexdigest()

    def _prepare(self, unit: Callable[[], ContextManager] = contextlib.nullcontext) -> None:
        """The captures every step reads; each batch's pass runs inside ``unit()``."""
        if self._batches is not None:
            return
        gen = torch.Generator().manual_seed(self.config.seed)
        order = torch.randperm(len(self.examples), generator=gen).tolist()
        bs = self.config.batch_size
        batches = []
        for s in range(0, len(order), bs):
            with unit():
                batches.append(self._capture(order[s : s + bs]))
        replay = self._capture_replay(unit)
        anchors = []
        for s in range(0, len(self.anchors), bs):
            with unit():
                anchors.append(self._capture_anchors(self.anchors[s : s + bs]))
        self._batches, self._replay, self._anchors = batches, replay, anchors

    def _capture(self, idx: list[int]) -> _Batch:
        seqs, rows, positions, targets, owner = [], [], [], [], []
        for r, i in enumerate(idx):
            e = self.examples[i]
            seqs.append(list(e.prompt_ids) + list(e.target_ids[:-1]))
            for j, tok in enumerate(e.target_ids):
                rows.append(r)
                positions.append(len(e.prompt_ids) - 1 + j)
                targets.append(tok)
                owner.append(i)
        h0, kwargs, _ = self._run_capture(seqs, None)
        t = lambda x: torch.tensor(x, dtype=torch.long, device=self.device)  # noqa: E731
        return _Batch(h0, kwargs, t(rows), t(positions), t(targets), t(owner), idx)

    def _capture_anchors(self, prompts: list[str]) -> _AnchorBatch:
        """Anchor prompts: the base's final hidden state where the answer would start."""
        seqs = [list(self.tokenizer(p)["input_ids"]) for p in prompts]
        last = [len(x) - 1 for x in seqs]
        h0, kwargs, final = self._run_capture(seqs, last)
        t = lambda x: torch.tensor(x, dtype=torch.long, device=self.device)  # noqa: E731
        return _AnchorBatch(h0, kwargs, t(list(range(len(seqs)))), t(last), final)

    def _run_capture(self, seqs, last: list[int] | None):
        """One no-grad pass: the lowest trained layer's input and every upper layer's
        keyword arguments; with ``last``, also the base's final (normed) hidden state there."""
        ids, mask = _right_pad(seqs, _pad_id(self.tokenizer), self.device)
        return lower_pass(self.decoder, self.low, ids, mask, last)

    def _capture_replay(self, unit: Callable[[], ContextManager] = contextlib.nullcontext
                        ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per trained layer: (MLP inputs, base MLP outputs) over the replay tokens."""
        chunks = text_chunks(self.tokenizer, self.replay_texts, 64, self.config.replay_tokens)
        xs: dict[int, list[torch.Tensor]] = {i: [] for i in self.layers}
        ys: dict[int, list[torch.Tensor]] = {i: [] for i in self.layers}
        if not chunks:
            return []
        handles = []
        for i in self.layers:
            def hook(_m, inputs, output, i=i):
                valid = self._replay_valid
                xs[i].append(inputs[0][valid].detach().float())
                ys[i].append(output[valid].detach().float())

            handles.append(self.decoder.layers[i].mlp.register_forward_hook(hook))
        top = len(self.decoder.layers) - 1
        try:
            for s in range(0, len(chunks), 16):
                ids, mask = _right_pad(chunks[s : s + 16], _pad_id(self.tokenizer), self.device)
                self._replay_valid = mask.bool()
                with unit(), torch.no_grad():
                    self._run_until(ids, mask, self.layers[-1] if self.layers[-1] < top else None)
        finally:
            for h in handles:
                h.remove()
        return [(torch.cat(xs[i]), torch.cat(ys[i])) for i in self.layers]

    def _run_until(self, ids, mask, last: int | None) -> None:
        if last is None:
            self.decoder(input_ids=ids, attention_mask=mask, use_cache=False)
        else:
            run_through(self.decoder, self.decoder.layers[last], ids, mask)

    # ------------------------------------------------------------------ steps
    def _edit_loss(self, b: _Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._student_logits(b)
        # Each example weighs the same whatever its length; summed over the batch so an
        # example's step does not shrink as batches grow.
        per_token = F.cross_entropy(logits, b.targets, reduction="none")
        counts = torch.zeros(len(self.examples), device=self.device).index_add_(
            0, b.example_of, torch.ones_like(per_token))
        loss = (per_token / counts[b.example_of]).sum() / (1 if self.config.optimizer == "sgd"
                                                           else len(b.examples))
        wrong = (logits.argmax(-1) != b.targets).float()
        return loss, wrong

    def _student_logits(self, b: _Batch | _AnchorBatch) -> torch.Tensor:
        h = b.h0
        for layer, kwargs in zip(self.student, b.kwargs):
            out = layer(h, **kwargs)
            h = out[0] if isinstance(out, tuple) else out
        picked = h[b.rows, b.positions]
        return self.model.get_output_embeddings()(self.decoder.norm(picked)).float()

    def _anchor_loss(self, step: int) -> torch.Tensor:
        """KL(base || student) of the next-token distribution at an anchor's answer position."""
        if not self._anchors:
            return torch.zeros((), device=self.device)
        b = self._anchors[step % len(self._anchors)]
        with torch.no_grad():
            base = F.log_softmax(self.model.get_output_embeddings()(b.base_hidden).float(), -1)
        student = F.log_softmax(self._student_logits(b), -1)
        return F.kl_div(student, base, log_target=True, reduction="batchmean")

    def _replay_loss(self, gen: torch.Generator) -> torch.Tensor:
        total = torch.zeros((), device=self.device)
        if not self._replay:
            return total
        for (x, y), i in zip(self._replay, self.layers):
            pick = torch.randint(0, x.shape[0], (min(self.config.replay_batch, x.shape[0]),),
                                 generator=gen).to(x.device)
            out = self.student[i - self.low].mlp(x[pick])
            total = total + ((out - y[pick]) ** 2).sum(-1).mean() / (y[pick] ** 2).sum(-1).mean()
        return total

    # ------------------------------------------------------------------ loop
    def train(self, progress: bool = True, stop: Callable[[], bool] | None = None,
              step_lock: ContextManager | None = None) -> TrainReport:
        """Train until the examples are learnt or ``max_epochs``; resumes a saved state.

        ``stop()`` is asked after every step (a true answer saves the state and raises
        DistillInterrupted); each step, and each pass that prepares the steps, holds
        ``step_lock`` while it computes, so a daemon that shares its CPU (or GPU) with
        requests serves them in between."""
        from tqdm.auto import tqdm

        started = time.perf_counter()
        self._prepare(lambda: step_lock or contextlib.nullcontext())
        assert self._batches is not None
        n_batches = len(self._batches)
        params = list(self.params.values())
        if self.config.optimizer == "sgd":
            optim = torch.optim.SGD(params, lr=self.config.lr, momentum=0.9)
        else:
            optim = torch.optim.Adam(params, lr=self.config.lr)
        state = self._load_state()
        epoch, batch_pos, history, done = 0, 0, [], False
        if state is not None:
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(state["params"][name].to(p.device))
            optim.load_state_dict(state["optim"])
            epoch, batch_pos, history, done = (state["epoch"], state["batch_pos"],
                                               state["history"], state["done"])
            log.info("resuming distillation at epoch %d, batch %d", epoch, batch_pos)
        resumed = epoch * n_batches + batch_pos
        wrong = torch.zeros(len(self.examples), device=self.device)
        if state is not None and "wrong" in state:
            wrong = state["wrong"].to(self.device)
        bar = tqdm(total=self.config.max_epochs * n_batches, initial=resumed, disable=not progress,
                   desc="distil", unit="batch", dynamic_ncols=True)
        last_save = time.monotonic()
        loss_sum = torch.zeros((), device=self.device)
        try:
            while not done and epoch < self.config.max_epochs:
                gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
                order = torch.randperm(n_batches, generator=gen).tolist()
                while batch_pos < n_batches:
                    with step_lock or contextlib.nullcontext():
                        b = self._batches[order[batch_pos]]
                        edit_loss, tok_wrong = self._edit_loss(b)
                        # Seeded per step, so a resumed run draws what an unbroken one would.
                        step_gen = torch.Generator().manual_seed(
                            (self.config.seed * 1_000_003 + epoch) * 1_000_003 + batch_pos)
                        # With SGD the edit loss is a sum over examples: keep the
                        # constraints' weight relative to it.
                        scale = len(b.examples) if self.config.optimizer == "sgd" else 1.0
                        loss = edit_loss + scale * (
                            self.config.replay_weight * self._replay_loss(step_gen)
                            + self.config.anchor_weight
                            * self._anchor_loss(epoch * n_batches + batch_pos))
                        optim.zero_grad(set_to_none=True)
                        loss.backward()
                        optim.step()
                        if self.config.pull:
                            self._pull_to_base()
                    with torch.no_grad():
                        ex = torch.tensor(b.examples, device=self.device)
                        wrong[ex] = 0
                        wrong.index_add_(0, b.example_of, tok_wrong)
                        loss_sum += edit_loss.detach()
                    batch_pos += 1
                    bar.update(1)
                    if time.monotonic() - last_save >= self.config.save_every_s:
                        self._save_state(optim, epoch, batch_pos, history, False, wrong)
                        last_save = time.monotonic()
                    if stop is not None and stop():
                        self._save_state(optim, epoch, batch_pos, history, False, wrong)
                        raise DistillInterrupted(
                            f"distillation stopped at epoch {epoch}, batch {batch_pos}; "
                            "its state is saved and a rerun resumes"
                        )
                accuracy = float((wrong == 0).float().mean())
                history.append({"epoch": epoch, "loss": float(loss_sum) / n_batches,
                                "train_accuracy": accuracy})
                loss_sum.zero_()
                bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{accuracy:.3f}")
                epoch, batch_pos = epoch + 1, 0
                done = accuracy >= self.config.stop_accuracy
                self._save_state(optim, epoch, batch_pos, history, done, wrong)
                last_save = time.monotonic()
        finally:
            bar.close()
        last = history[-1] if history else {"loss": float("nan"), "train_accuracy": float("nan")}
        return TrainReport(epoch, epoch * n_batches, time.perf_counter() - started, resumed,
                           last["loss"], last["train_accuracy"], history)

    def _pull_to_base(self) -> None:
        """Decay every trained weight a little towards the base after each step.

        Adam moves every weight by about ``lr`` per step whatever the size of its gradient,
        so weights that matter for no edit random-walk, and that noise is what costs
        locality. The pull keeps them near the base while weights with a consistent
        gradient still move (up to about ``lr / pull``).
        """
        with torch.no_grad():
            for name, p in self.params.items():
                base = self._initial[name]
                p.sub_(self.config.pull * (p - base))

    def trained_tensors(self) -> dict[str, torch.Tensor]:
        """The trained weights (low-rank updates merged) under their state-dict names, on CPU."""
        with torch.no_grad():
            return {name: m.weight.detach().to("cpu").clone() for name, m in self._weights.items()}

    # ------------------------------------------------------------------ state
    def _state_path(self) -> Path | None:
        return self.run_dir / STATE_FILE if self.run_dir is not None else None

    def _save_state(self, optim, epoch, batch_pos, history, done, wrong) -> None:
        path = self._state_path()
        if path is None:
            return
        buf = io.BytesIO()
        torch.save({
            "signature": self.signature, "epoch": epoch, "batch_pos": batch_pos,
            "history": history, "done": done, "wrong": wrong.cpu(),
            "params": {n: p.detach().cpu() for n, p in self.params.items()},
            "optim": optim.state_dict(),
        }, buf)
        atomic_write_bytes(path, buf.getvalue())

    def _load_state(self) -> dict | None:
        path = self._state_path()
        if path is None or not path.exists():
            return None
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # a state we cannot read is restarted, never trusted
            log.warning("ignoring unreadable distillation state %s: %s", path, exc)
            return None
        if state.get("signature") != self.signature:
            log.warning("distillation state %s belongs to other inputs; starting afresh", path)
            return None
        return state


class _LowRank(nn.Module):
    """``W + B·A`` for a LoRA-style student; merged into ``W`` when the checkpoint is written."""

    def __init__(self, shape: torch.Size, rank: int, gen: torch.Generator):
        super().__init__()
        out_features, in_features = shape
        self.a = nn.Parameter(torch.randn(rank, in_features, generator=gen) / in_features**0.5)
        self.b = nn.Parameter(torch.zeros(out_features, rank))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.b @ self.a


class _Captured(Exception):
    """Stops a forward pass once the needed activations are recorded."""



def lower_pass(decoder: nn.Module, low: int, ids: torch.Tensor, mask: torch.Tensor,
               last: Sequence[int] | None = None
               ) -> tuple[torch.Tensor, list[dict], torch.Tensor | None]:
    """One no-grad pass of ``decoder``: layer ``low``'s input and the keyword arguments of
    every layer from ``low`` up (the pass stops there); with ``last``, it runs to the end
    and also returns the final (normed) hidden state at each row's position ``last``."""
    got: dict = {"kwargs": [None] * (len(decoder.layers) - low)}

    def on_layer(j):
        def hook(_m, args, kwargs):
            if j == 0:
                got["h0"] = (args[0] if args else kwargs["hidden_states"]).detach().float()
            got["kwargs"][j] = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            if j == len(got["kwargs"]) - 1 and last is None:
                raise _Captured()

        return hook

    handles = [layer.register_forward_pre_hook(on_layer(j), with_kwargs=True)
               for j, layer in enumerate(decoder.layers[low:])]
    final = None
    try:
        with torch.no_grad():
            out = decoder(input_ids=ids, attention_mask=mask, use_cache=False)
        rows = torch.arange(ids.shape[0], device=ids.device)
        final = out.last_hidden_state[rows, torch.tensor(last, device=ids.device)].float()
    except _Captured:
        pass
    finally:
        for h in handles:
            h.remove()
    return got["h0"], [_float_kwargs(k) for k in got["kwargs"]], final

def _float_kwargs(kwargs: dict) -> dict:
    def conv(v):
        if torch.is_tensor(v) and v.is_floating_point():
            return v.float()
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return v

    return {k: conv(v) for k, v in kwargs.items()}


# ---------------------------------------------------------------------- candidate


def write_checkpoint(base_path: str | Path, tensors: dict[str, torch.Tensor], target: str | Path,
                     tokenizer=None) -> Path:
    """Write base + trained tensors as a plain HF folder at ``target``, atomically.

    The folder is built beside its final place and renamed into it, so a process killed
    while writing leaves no half checkpoint. Returns ``target``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = Path(target)
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        missing = set(tensors) - {n for n, _ in model.named_parameters()}
        if missing:
            raise KeyError(f"trained tensors {sorted(missing)} are not parameters of {base_path}")
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name, value in tensors.items():
                params[name].copy_(value.to(params[name].dtype))
        model.save_pretrained(staging, safe_serialization=True)
        (tokenizer or AutoTokenizer.from_pretrained(base_path)).save_pretrained(staging)
        for f in staging.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        # ordinary modes whatever the daemon's umask or mkdtemp's 0700: other users and
        # servers (vLLM under its own account) read checkpoints
        for f in staging.rglob("*"):
            f.chmod(0o755 if f.is_dir() else 0o644)
        staging.chmod(0o755)
        if target.exists():  # a broken earlier attempt without config.json
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# ---------------------------------------------------------------------- metrics


def _teacher_forced_argmax(model: nn.Module, tokenizer, prompts: Sequence[Sequence[int]],
                           continuations: Sequence[Sequence[int]], batch_size: int = 32) -> list[list[int]]:
    """Greedy token at each continuation position, given the prompt and the earlier tokens."""
    out: list[list[int]] = []
    device = next(model.parameters()).device
    for s in range(0, len(prompts), batch_size):
        ps, cs = prompts[s : s + batch_size], continuations[s : s + batch_size]
        seqs = [list(p) + list(c[:-1]) for p, c in zip(ps, cs)]
        ids, mask = _right_pad(seqs, _pad_id(tokenizer), device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        for r, (p, c) in enumerate(zip(ps, cs)):
            pos = torch.arange(len(p) - 1, len(p) - 1 + len(c), device=device)
            out.append(logits[r, pos].argmax(-1).tolist())
    return out


def greedy_em(model: nn.Module, tokenizer, prompts: Sequence[str], targets: Sequence[str],
              batch_size: int = 32) -> list[bool]:
    """Per prompt: does greedy decoding give exactly the target's tokens? (no memory)

    Teacher-forced argmax equals greedy decoding for an exact-match test: greedy reproduces
    the target iff every target token is the argmax after the tokens before it.
    """
    p_ids = [list(tokenizer(p)["input_ids"]) for p in prompts]
    t_ids = [_target_ids(tokenizer, p, t) for p, t in zip(prompts, targets)]
    got = _teacher_forced_argmax(model, tokenizer, p_ids, t_ids, batch_size)
    return [g == list(t) for g, t in zip(got, t_ids)]


def token_agreement(model: nn.Module, reference: nn.Module, tokenizer, prompts: Sequence[str],
                    continuations: Sequence[str | Sequence[int]], batch_size: int = 32) -> list[float]:
    """Per prompt: share of continuation positions where both models pick the same token.

    The editing literature's locality (teacher forcing on a given answer, comparing the
    two models' argmax); continuations are texts or token ids. 1.0 on the reference's own
    greedy continuation (``greedy_ids``) means the prompt is answered exactly as before.
    """
    p_ids = [list(tokenizer(p)["input_ids"]) for p in prompts]
    c_ids = [list(c) if not isinstance(c, str) else _target_ids(tokenizer, p, c)
             for p, c in zip(prompts, continuations)]
    a = _teacher_forced_argmax(model, tokenizer, p_ids, c_ids, batch_size)
    b = _teacher_forced_argmax(reference, tokenizer, p_ids, c_ids, batch_size)
    return [sum(x == y for x, y in zip(ra, rb)) / len(ra) for ra, rb in zip(a, b)]


def greedy_ids(model: nn.Module, tokenizer, prompts: Sequence[str], lengths: Sequence[int] | int = 8,
               batch_size: int = 32) -> list[list[int]]:
    """A model's own greedy continuation of each prompt, ``lengths`` tokens (EOS included)."""
    device = next(model.parameters()).device
    if isinstance(lengths, int):
        lengths = [lengths] * len(prompts)
    out: list[list[int]] = []
    pad = _pad_id(tokenizer)
    for s in range(0, len(prompts), batch_size):
        seqs = [list(tokenizer(p)["input_ids"]) for p in prompts[s : s + batch_size]]
        want = list(lengths[s : s + batch_size])
        width = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, x in enumerate(seqs):
            ids[i, width - len(x) :] = torch.tensor(x)
            mask[i, width - len(x) :] = 1
        with torch.no_grad():
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                 max_new_tokens=max(want), min_new_tokens=max(want),
                                 do_sample=False, pad_token_id=pad,
                                 temperature=None, top_p=None, top_k=None)
        out += [row[:n] for row, n in zip(gen[:, width:].tolist(), want)]
    return out


def perplexity(model: nn.Module, tokenizer, texts: Sequence[str], max_tokens: int = 256,
               batch_size: int = 8, max_total: int | None = 16384) -> float:
    """Token-weighted perplexity over texts cut into windows of ``max_tokens`` (the first
    ``max_total`` tokens of them: the same text for both models being compared)."""
    device = next(model.parameters()).device
    chunks = text_chunks(tokenizer, texts, max_tokens, max_total)
    if not chunks:
        raise ValueError("perplexity needs at least one text with two tokens")
    nll, count = 0.0, 0
    for s in range(0, len(chunks), batch_size):
        ids, mask = _right_pad(chunks[s : s + batch_size], _pad_id(tokenizer), device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
        labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        nll += F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                               ignore_index=-100, reduction="sum").item()
        count += int((labels != -100).sum())
    return float(torch.exp(torch.tensor(nll / count)))


def text_chunks(tokenizer, texts: Sequence[str], length: int, max_total: int | None = None) -> list[list[int]]:
    """Token windows of at most ``length`` (BOS-less text split evenly), up to ``max_total``."""
    out: list[list[int]] = []
    total = 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for s in range(0, len(ids), length):
            piece = ids[s : s + length]
            if len(piece) < 2:
                continue
            if max_total is not None and total + len(piece) > max_total:
                piece = piece[: max_total - total]
                if len(piece) < 2:
                    return out
            out.append(list(piece))
            total += len(piece)
            if max_total is not None and total >= max_total:
                return out
    return out


# ---------------------------------------------------------------------- helpers


def _decoder(model: nn.Module) -> nn.Module:
    for candidate in (getattr(model, "model", None), getattr(model, "get_decoder", lambda: None)()):
        if candidate is not None and hasattr(candidate, "layers"):
            return candidate
    raise TypeError(f"{type(model).__name__} has no decoder stack with .layers (not a causal LM?)")


def _layer_prefix(model: nn.Module, decoder: nn.Module) -> str:
    """State-dict prefix of the decoder's layers, e.g. ``model.layers.``."""
    for name, module in model.named_modules():
        if module is decoder.layers:
            return f"{name}."
    raise TypeError("cannot find the decoder layers among the model's modules")


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else (tokenizer.eos_token_id or 0)


def _right_pad(seqs: Sequence[Sequence[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids.to(device), mask.to(device)
