"""Training one edit into the masked columns of the residual memory, fast.

The base model is frozen and the memory only acts at one layer, so everything up to that
layer's ``down_proj`` input ``a`` is the same at every optimisation step. ``capture`` runs
the model once (memory off) and keeps ``a``, the layer's base output and the arguments the
decoder passes to each layer above; ``fit_columns`` then runs only the layers above, and
the LM head only at the target positions, for every step. The edit's columns
``W_m[:, cols]`` are the only trainable tensor, so no other column moves and nothing
decays (the reference code's weight decay over all of ``W_m`` eroded old edits).

An edit's rows differ in length by an order of magnitude (a cloze of 8 tokens, the same
question inside a chat template of 60), so one right-padded batch spent most of every step
on padding. ``segments`` groups the rows by length and each group is captured and run as
its own ``Segment``; the loss is taken over all of them at once, so the update is the one
the single batch gave.

``fit_reference`` is the paper's procedure (a full forward and backward pass per step)
kept for the benchmark's baseline and for checking that both give the same update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class EditBatch:
    """Right-padded training sequences ``prompt + target[:-1]`` and where the target sits."""

    input_ids: torch.Tensor  # (B, S)
    attention_mask: torch.Tensor  # (B, S)
    rows: torch.Tensor  # (N,) batch row of each target token
    positions: torch.Tensor  # (N,) position whose logits predict it
    targets: torch.Tensor  # (N,) target token ids
    prompt_lengths: list[int]


def target_ids(tokenizer, prompt: str, target: str) -> list[int]:
    """Target tokens as they follow the prompt: a space joins them unless one is there."""
    text = target.strip()
    if not prompt.endswith((" ", "\n")):
        text = " " + text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"target {target!r} has no tokens")
    return list(ids)


def build_batch(tokenizer, prompts: Sequence[str], target: str | Sequence[str], device) -> EditBatch:
    """One row per prompt; ``target`` is shared by all rows or given per row."""
    targets_in = [target] * len(prompts) if isinstance(target, str) else list(target)
    seqs, rows, positions, targets, lengths = [], [], [], [], []
    for row, (prompt, tgt) in enumerate(zip(prompts, targets_in)):
        p_ids = list(tokenizer(prompt)["input_ids"])
        t_ids = target_ids(tokenizer, prompt, tgt)
        seqs.append(p_ids + t_ids[:-1])
        lengths.append(len(p_ids))
        for j, tok in enumerate(t_ids):
            rows.append(row)
            positions.append(len(p_ids) - 1 + j)
            targets.append(tok)
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    as_t = lambda x: torch.tensor(x, dtype=torch.long, device=device)  # noqa: E731
    return EditBatch(
        ids.to(device), mask.to(device), as_t(rows), as_t(positions), as_t(targets), lengths
    )


def length_groups(lengths: Sequence[int], overhead: int = 64) -> list[list[int]]:
    """Row indices grouped by length so that the padded size of all groups, plus
    ``overhead`` token slots per group (a group's fixed cost of kernel launches), is least.

    Rows are sorted by length and cut into contiguous runs (an exact dynamic programme
    over the cut points); each group lists its rows in their original order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: least cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # rows order[i:j] as one group, padded to the longest, order[j-1]
            cost = best[i] + overhead + (j - i) * lengths[order[j - 1]]
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(sorted(order[cut[j] : j]))
        j = cut[j]
    return groups[::-1]


@dataclass
class Segment:
    """One length group of an edit's rows: its batch, what ``capture`` recorded for it, and
    the masks of the earlier edits replayed in its last rows (None: no replayed row)."""

    batch: EditBatch
    cache: "LayerCache"
    replay_masks: torch.Tensor | None = None

    @property
    def own(self) -> int:
        """Rows of the new edit (they come first)."""
        replayed = 0 if self.replay_masks is None else self.replay_masks.shape[0]
        return self.batch.input_ids.shape[0] - replayed


class _Reached(Exception):
    """Ends a forward pass once the module asked for has run."""


def run_through(decoder: nn.Module, module: nn.Module, ids: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
    """``module``'s first input in a no-grad pass of ``decoder`` that stops right after it.

    Editing, routing and distillation only need activations up to one layer; running
    the layers above (and the LM head) would double the cost of every such pass.
    """
    got: dict = {}

    def reached(_m, inputs, _output):
        got["input"] = inputs[0]
        raise _Reached()

    handle = module.register_forward_hook(reached)
    try:
        with torch.no_grad():
            decoder(input_ids=ids, attention_mask=mask, use_cache=False)
    except _Reached:
        pass
    finally:
        handle.remove()
    return got["input"]


@dataclass
class LayerCache:
    """What the frozen model computes up to the edited layer, for one EditBatch."""

    a: torch.Tensor  # (B, S, n) down_proj input
    down_out: torch.Tensor  # (B, S, d) W0·a
    layer_out: torch.Tensor  # (B, S, d) the edited layer's output with the memory off
    upper_kwargs: list[dict]  # keyword arguments the decoder gave each layer above


def capture(decoder: nn.Module, layer_idx: int, down_proj: nn.Module, batch: EditBatch) -> LayerCache:
    """One no-grad pass of the decoder (memory off) that records the edited layer's state.

    The pass stops at the first layer above the edited one when every layer above is of
    one kind (Llama, Qwen: the decoder gives them all the same arguments); a model that
    mixes kinds (Gemma 3's sliding and global attention layers) runs to the end."""
    layers = decoder.layers
    upper = len(layers) - layer_idx - 1
    kinds = getattr(getattr(decoder, "config", None), "layer_types", None)
    alike = kinds is None or len(set(kinds[layer_idx + 1 :])) <= 1
    got: dict = {"kwargs": [None] * upper}

    def on_down(_m, inputs, output):
        got["a"], got["down"] = inputs[0].detach(), output.detach()

    def on_layer(_m, _inputs, output):
        got["out"] = (output[0] if isinstance(output, tuple) else output).detach()

    def on_upper(i):
        def hook(_m, _args, kwargs):
            got["kwargs"][i] = dict(kwargs)
            if alike:
                got["kwargs"] = [dict(kwargs) for _ in range(upper)]
                raise _Reached()

        return hook

    base = getattr(down_proj, "base", down_proj)
    handles = [base.register_forward_hook(on_down), layers[layer_idx].register_forward_hook(on_layer)]
    for i, layer in enumerate(layers[layer_idx + 1 :]):
        handles.append(layer.register_forward_pre_hook(on_upper(i), with_kwargs=True))
    was_enabled = getattr(down_proj, "enabled", None)
    try:
        if was_enabled is not None:
            down_proj.enabled = False
        with torch.no_grad():
            decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    except _Reached:
        pass
    finally:
        for h in handles:
            h.remove()
        if was_enabled is not None:
            down_proj.enabled = was_enabled
    return LayerCache(got["a"], got["down"], got["out"], got["kwargs"])


def segments(tokenizer, decoder: nn.Module, layer_idx: int, down_proj: nn.Module,
             prompts: Sequence[str], targets: Sequence[str], device,
             replay_masks: torch.Tensor | None = None, overhead: int = 64
             ) -> tuple[list[Segment], list[tuple[int, int]]]:
    """The rows ``prompts``/``targets`` (the new edit's first, then one per row of
    ``replay_masks``) grouped by length and captured; also where each row went, as
    (segment, row in it)."""
    replayed = 0 if replay_masks is None else replay_masks.shape[0]
    own = len(prompts) - replayed
    lengths = [len(tokenizer(p)["input_ids"]) + len(target_ids(tokenizer, p, t)) - 1
               for p, t in zip(prompts, targets)]
    out: list[Segment] = []
    where: list[tuple[int, int]] = [(0, 0)] * len(prompts)
    for k, rows in enumerate(length_groups(lengths, overhead)):  # own rows come first in each group
        batch = build_batch(tokenizer, [prompts[i] for i in rows], [targets[i] for i in rows], device)
        mine = [i - own for i in rows if i >= own]
        masks = replay_masks[mine] if mine else None
        out.append(Segment(batch, capture(decoder, layer_idx, down_proj, batch), masks))
        for r, i in enumerate(rows):
            where[i] = (k, r)
    return out, where


@dataclass
class FitResult:
    weight: torch.Tensor  # (d, len(cols)) trained columns
    steps: int
    loss: float
    initial_loss: float


def upper_logits(
    model: nn.Module, decoder: nn.Module, layer_idx: int, cache: LayerCache, batch: EditBatch,
    delta: torch.Tensor,
) -> torch.Tensor:
    layer = decoder.layers[layer_idx]
    post = getattr(layer, "post_feedforward_layernorm", None)
    if post is None:  # Llama, Mistral, Qwen: the MLP output is added to the residual as is
        hidden = cache.layer_out + delta
    else:  # Gemma: the MLP output is normalised before the residual add
        hidden = cache.layer_out - post(cache.down_out) + post(cache.down_out + delta)
    for layer, kwargs in zip(decoder.layers[layer_idx + 1 :], cache.upper_kwargs):
        out = layer(hidden, **kwargs)
        hidden = out[0] if isinstance(out, tuple) else out
    picked = hidden[batch.rows, batch.positions]  # only the positions that predict targets
    return model.get_output_embeddings()(decoder.norm(picked))


def fit_columns(
    model: nn.Module,
    decoder: nn.Module,
    layer_idx: int,
    segments: Sequence[Segment],
    init: torch.Tensor,
    cols: torch.Tensor,
    steps: int,
    lr: float,
    stop_loss: float,
    optimizer: str = "sgd",
    memory: torch.Tensor | None = None,
    pause: Callable[[], None] | None = None,
) -> FitResult:
    """Optimise W_m[:, cols] with cross-entropy on the target tokens only; early stop.

    Training stops once the mean loss is under ``stop_loss`` *and* every target token of
    the new edit is the argmax: a low mean alone let a rare multi-token name ("Nusantara")
    stop with one token still wrong, so greedy decoding spelled another word.

    A segment with ``replay_masks`` (R, n) ends in R rows of earlier edits, run with
    their own masks over ``memory`` (whose ``cols`` are the trained ones), so the new
    edit is learned without breaking the edits that share its columns most. The loss is
    the mean over every target token of every segment.

    ``optimizer`` is "sgd" (the paper: lr ≈ 1.0) or "adam" (lr ≈ 0.1), which reached the
    stopping loss in 1–2 steps on SmolLM2 where SGD needed ≈ 20 (zsRE/CounterFact edits).

    ``pause`` is called before every step: the daemon lets a waiting request use the
    model there (only the upper layers run, on this function's own tensors), or stops.
    """
    init = init.detach()
    param = init.clone().requires_grad_(True)
    opt = _optimizer(optimizer, param, lr)

    def delta_of(seg: Segment) -> torch.Tensor:
        delta = seg.cache.a[: seg.own, :, cols] @ param.T
        if seg.replay_masks is None:
            return delta
        # Earlier edits replayed with their own masks; they read the columns being trained.
        full = memory.index_copy(1, cols, param)
        old = (seg.cache.a[seg.own :] * seg.replay_masks[:, None, :].to(seg.cache.a.dtype)) @ full.T
        return torch.cat([delta, old])

    count = sum(int(seg.batch.targets.numel()) for seg in segments)
    first = last = float("nan")
    done = 0
    for step in range(steps + 1):
        if pause is not None:
            pause()
        loss = torch.zeros((), device=init.device)
        right = True
        for seg in segments:
            logits = upper_logits(model, decoder, layer_idx, seg.cache, seg.batch, delta_of(seg))
            loss = loss + F.cross_entropy(logits.float(), seg.batch.targets, reduction="sum")
            own_tokens = seg.batch.rows < seg.own
            right = right and bool((logits.argmax(-1) == seg.batch.targets)[own_tokens].all())
        loss = loss / count
        last = loss.item()
        if step == 0:
            first = last
        if step == steps:
            break
        if last < stop_loss and right:
            break
        (param.grad,) = torch.autograd.grad(loss, param)
        opt.step()
        done += 1
    return FitResult(param.detach(), done, last, first)


OPTIMIZERS = ("sgd", "adam")


def _optimizer(name: str, weight: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD([weight], lr=lr)
    if name == "adam":
        return torch.optim.Adam([weight], lr=lr)
    raise ValueError(f"unknown optimizer {name!r}: use one of {OPTIMIZERS}")


def fit_reference(
    model: nn.Module,
    down_proj: nn.Module,
    batch: EditBatch,
    cols: torch.Tensor,
    steps: int,
    lr: float,
    stop_loss: float,
) -> FitResult:
    """The paper's loop: full forward + backward through the model at every step.

    ``down_proj`` is a ``ResidualDownProj`` whose routes the caller has fixed to this
    edit's mask for every row; its memory is trained in place on ``cols`` only.
    """
    memory = down_proj.memory
    keep = torch.zeros(memory.shape[1], dtype=torch.bool, device=memory.device)
    keep[cols] = True
    memory.requires_grad_(True)
    first = last = float("nan")
    done = 0
    try:
        for step in range(steps + 1):
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            loss = F.cross_entropy(logits[batch.rows, batch.positions].float(), batch.targets)
            last = loss.item()
            if step == 0:
                first = last
            if last < stop_loss or step == steps:
                break
            (grad,) = torch.autograd.grad(loss, memory)
            with torch.no_grad():
                memory[:, keep] -= lr * grad[:, keep]
            done += 1
    finally:
        memory.requires_grad_(False)
    return FitResult(memory.detach()[:, cols].clone(), done, last, first)
