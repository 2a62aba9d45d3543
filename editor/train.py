"""Training one edit into the masked columns of the residual memory, fast.

The base model is frozen and the memory only acts at one layer, so everything up to that
layer's ``down_proj`` input ``a`` is the same at every optimisation step. ``capture`` runs
the model once (memory off) and keeps ``a``, the layer's base output and the arguments the
decoder passes to each layer above; ``fit_columns`` then runs only the layers above, and
the LM head only at the target positions, for every step. The edit's columns
``W_m[:, cols]`` are the only trainable tensor, so no other column moves and nothing
decays (the reference code's weight decay over all of ``W_m`` eroded old edits).

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
    """One no-grad pass of the decoder (memory off) that records the edited layer's state."""
    layers = decoder.layers
    got: dict = {"kwargs": [None] * (len(layers) - layer_idx - 1)}

    def on_down(_m, inputs, output):
        got["a"], got["down"] = inputs[0].detach(), output.detach()

    def on_layer(_m, _inputs, output):
        got["out"] = (output[0] if isinstance(output, tuple) else output).detach()

    def on_upper(i):
        def hook(_m, _args, kwargs):
            got["kwargs"][i] = dict(kwargs)

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
    finally:
        for h in handles:
            h.remove()
        if was_enabled is not None:
            down_proj.enabled = was_enabled
    return LayerCache(got["a"], got["down"], got["out"], got["kwargs"])


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
    cache: LayerCache,
    batch: EditBatch,
    init: torch.Tensor,
    cols: torch.Tensor,
    steps: int,
    lr: float,
    stop_loss: float,
    optimizer: str = "sgd",
    memory: torch.Tensor | None = None,
    replay_masks: torch.Tensor | None = None,
    pause: Callable[[], None] | None = None,
) -> FitResult:
    """Optimise W_m[:, cols] with cross-entropy on the target tokens only; early stop.

    Training stops once the mean loss is under ``stop_loss`` *and* every target token of
    the new edit is the argmax: a low mean alone let a rare multi-token name ("Nusantara")
    stop with one token still wrong, so greedy decoding spelled another word.

    With ``replay_masks`` (R, n), the batch's last R rows are earlier edits, run with
    their own masks over ``memory`` (whose ``cols`` are the trained ones), so the new
    edit is learned without breaking the edits that share its columns most.

    ``optimizer`` is "sgd" (the paper: lr ≈ 1.0) or "adam" (lr ≈ 0.05), which reached the
    stopping loss in 2.5–4 steps on SmolLM2 where SGD needed ≈ 29 (6 zsRE/CounterFact edits).

    ``pause`` is called before every step: the daemon lets a waiting request use the
    model there (only the upper layers run, on this function's own tensors), or stops.
    """
    init = init.detach()
    own = batch.input_ids.shape[0] - (0 if replay_masks is None else replay_masks.shape[0])
    a_cols = cache.a[:own, :, cols]
    param = init.clone().requires_grad_(True)
    opt = _optimizer(optimizer, param, lr)

    def delta_of() -> torch.Tensor:
        delta = a_cols @ param.T
        if replay_masks is None:
            return delta
        # Earlier edits replayed with their own masks; they read the columns being trained.
        full = memory.index_copy(1, cols, param)
        old = (cache.a[own:] * replay_masks[:, None, :].to(cache.a.dtype)) @ full.T
        return torch.cat([delta, old])

    own_tokens = batch.rows < own
    first = last = float("nan")
    done = 0
    for step in range(steps + 1):
        if pause is not None:
            pause()
        logits = upper_logits(model, decoder, layer_idx, cache, batch, delta_of())
        loss = F.cross_entropy(logits.float(), batch.targets)
        last = loss.item()
        if step == 0:
            first = last
        if step == steps:
            break
        if last < stop_loss and bool((logits.argmax(-1) == batch.targets)[own_tokens].all()):
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
