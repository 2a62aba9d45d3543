"""The residual memory module that replaces one layer's ``mlp.down_proj``, and TopHash.

``ResidualDownProj`` computes ``W0·a`` exactly as the original ``nn.Linear`` does and then
adds ``W_m·(M ⊙ a)`` only to the batch rows that routing chose, with the mask ``M`` of the
edit each row matched. Rows that matched nothing are returned untouched, so their logits are
bit-for-bit the base model's (no ``+ 0.0`` that could change a rounding).

Routing is decided once per request: when a prefill starts (the decoder stack is called
with no or an empty KV cache) the module is told so by a forward pre-hook, routes every row
from the prompt's own activations at this layer, and keeps those row masks for every later
decoding step of the same generation. Nothing global is patched: the module is swapped into
``layer.mlp.down_proj`` and swapped back out by ``Memoir.detach``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class RowRoutes:
    """The routing of one batch: which rows use the memory, with which column mask."""

    rows: torch.Tensor  # (R,) long, indices of routed rows
    masks: torch.Tensor  # (R, n_in) 0/1 in the activation dtype
    edit_index: list[int | None]  # per row of the batch, index into the bank or None
    batch: int  # batch size the routing was decided for

    @classmethod
    def none(cls, batch: int, n_in: int, device, dtype) -> "RowRoutes":
        return cls(
            rows=torch.zeros(0, dtype=torch.long, device=device),
            masks=torch.zeros(0, n_in, dtype=dtype, device=device),
            edit_index=[None] * batch,
            batch=batch,
        )


# A router maps (a: (B, S, n_in) down_proj input, valid: (B, S) bool) to RowRoutes.
Router = Callable[[torch.Tensor, torch.Tensor], RowRoutes]


class ResidualDownProj(nn.Module):
    """``down_proj`` with MEMOIR's zero-initialised residual memory beside it."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base = base
        # Shaped like down_proj (out_features, in_features); never trained by autograd at
        # inference, and the editor trains its own leaf copy of the masked columns.
        self.memory = nn.Parameter(torch.zeros_like(base.weight), requires_grad=False)
        self.enabled = True
        self.router: Router | None = None
        self.routes: RowRoutes | None = None
        self._pending_valid: torch.Tensor | None = None
        self._prefill_pending = False

    @property
    def in_features(self) -> int:
        return self.base.in_features

    def transient_state(self) -> tuple:
        """What one generation in progress has set (on/off, its routes, a prefill about
        to be routed), to put aside while another caller uses the model."""
        return (self.enabled, self.routes, self._pending_valid, self._prefill_pending)

    def restore_state(self, state: tuple | None = None) -> None:
        """Put back a ``transient_state()``; None: the resting state (on, nothing routed)."""
        (self.enabled, self.routes, self._pending_valid,
         self._prefill_pending) = state or (True, None, None, False)

    def begin_prefill(self, attention_mask: torch.Tensor | None) -> None:
        """Called by the decoder pre-hook: the next call sees a whole prompt; route it."""
        self._prefill_pending = True
        self._pending_valid = attention_mask

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        out = self.base(a)
        if not self.enabled:
            return out
        if self._prefill_pending:
            self._prefill_pending = False
            valid = _valid_tokens(self._pending_valid, a)
            self._pending_valid = None
            self.routes = (
                self.router(a, valid)
                if self.router is not None
                else RowRoutes.none(a.shape[0], a.shape[-1], a.device, a.dtype)
            )
        routes = self.routes
        if routes is None or routes.rows.numel() == 0:
            return out
        rows, masks = routes.rows, routes.masks
        if a.shape[0] != routes.batch:
            # generate() with num_return_sequences/beams expanded after routing: repeat rows.
            if a.shape[0] % routes.batch:
                raise RuntimeError(
                    f"batch of {a.shape[0]} rows does not match the {routes.batch} routed rows"
                )
            rep = a.shape[0] // routes.batch
            rows = (rows[:, None] * rep + torch.arange(rep, device=rows.device)).reshape(-1)
            masks = masks.repeat_interleave(rep, dim=0)
        sel = a.index_select(0, rows) * masks.to(a.dtype)[:, None, :]
        delta = F.linear(sel, self.memory.to(a.dtype))
        return out.index_add(0, rows, delta)



def _valid_tokens(attention_mask: torch.Tensor | None, a: torch.Tensor) -> torch.Tensor:
    batch, seq = a.shape[0], a.shape[1]
    if attention_mask is None or attention_mask.dim() != 2:
        return torch.ones(batch, seq, dtype=torch.bool, device=a.device)
    # The 2-D mask covers past + current tokens; at prefill they are the same tokens.
    return attention_mask[:, -seq:].to(device=a.device, dtype=torch.bool)


def prompt_mean(a: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of the down_proj input over each row's real (non-padding) prompt tokens."""
    w = valid.to(a.dtype)[..., None]
    return (a * w).sum(1) / w.sum(1).clamp_min(1.0)


def tophash(feature: torch.Tensor, k: int, permutation: torch.Tensor) -> torch.Tensor:
    """TopHash column indices (B, k): top-k |feature| positions mapped through a permutation.

    The permutation spreads edits over columns that are not simply the most active
    features, so a few dominant features do not carry every edit.
    """
    idx = feature.abs().topk(k, dim=-1).indices
    return permutation.to(idx.device)[idx].sort(dim=-1).values


def index_mask(indices: torch.Tensor, n: int, dtype=torch.float32) -> torch.Tensor:
    """0/1 mask (B, n) from column indices (B, k)."""
    mask = torch.zeros(indices.shape[0], n, dtype=dtype, device=indices.device)
    return mask.scatter_(1, indices, 1.0)
