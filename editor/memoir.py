"""MEMOIR residual memory on a Hugging Face causal LM: edit, route, generate, persist, revert.

Public API (everything else in ``memoird.editor`` is internal to the editor)::

    mem = Memoir.open(path, model, tokenizer, MemoirConfig())   # load, or attach a new one
    res = mem.edit(EditRequest("e1", "Lionel Messi plays for", "Chelsea",
                               subject="Lionel Messi"))         # EditResult; committed to path
    mem.route(["Which club does Lionel Messi play for?"])        # -> ["e1"]
    mem.generate(["Lionel Messi plays for"], max_new_tokens=5)   # -> [" Chelsea ..."]
    with mem.disabled(): ...                                    # the base model, bit for bit
    with mem.using(["e1", None]): model(...)                    # fixed routes (teacher forcing)
    mem.score(prompts, answers)   # teacher-forced argmax / log-probs, routed by the prompt
    mem.tophash(prompts)          # TopHash columns, e.g. to calibrate tau
    mem.revert("e1")              # fast: unroutes it, zeroes its unshared columns
    mem.revert("e1", exact=True)  # replays the remaining edits from their requests
    mem.edit_ids(); mem.generation; mem.save(); mem.detach()

How it works. ``attach`` swaps one layer's ``mlp.down_proj`` for ``ResidualDownProj``
(``W0·a + W_m·(M ⊙ a)``, ``W_m`` zero-initialised) and puts a forward pre-hook on the decoder
stack that tells it when a prefill starts. At prefill each batch row is routed from its own
prompt (``routing.Router``: TopHash overlap ≥ τ, then the edit's subject must appear in the
prompt); the row keeps that edit's mask for every token decoded from the KV cache, and rows
that matched nothing get the base model's output untouched. ``edit`` trains only the edit's
TopHash columns, running only the layers above the edited one (``train.py``), then commits
the whole memory atomically to ``path`` (``memory_io.py``): the file is the commit point,
and ``generation`` counts commits so a caller's edit log can be reconciled with it after a
crash (``edit_ids()`` is what the file holds).

Calls are serialised by a lock: the routing state lives in the wrapped module, so two
generations must not interleave on one model.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
import logging
import random
import threading
import time
import zlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from .background import BACKGROUND_PROMPTS
from .memory_io import MemoryFileError, read_memory, remove_stale_temps, write_memory
from .residual import ResidualDownProj, RowRoutes, index_mask, prompt_mean, tophash
from .routing import STRATEGIES, Router, RoutingBank, elsewhere_pattern, subject_pattern
from .train import (
    OPTIMIZERS, EditBatch, build_batch, fit_columns, fit_reference, run_through, segments, target_ids,
)

log = logging.getLogger(__name__)

__all__ = ["EditRequest", "EditResult", "Memoir", "MemoirConfig", "MemoryFileError", "Scored"]

# Seeds for the context prefixes the model writes itself (the paper's augmentation).
#: token sequences whose routing query ``_prefill_routes`` keeps (int16 indices, ~1 KB each)
QUERY_CACHE = 4096
_PREFIX_SEEDS = ("The", "Therefore", "Because", "I", "You", "However", "In", "It", "When", "This")


@dataclass(frozen=True)
class MemoirConfig:
    """Memory and editing settings; ``None`` layer/k are filled in per model at attach.

    Defaults were chosen with ``bench/edit_bench.py`` on SmolLM2-135M (see README).
    """

    layer: int | None = None  # default: round(0.8 * number of layers)
    k: int | None = None  # default: a quarter of the intermediate size
    tau: float = 0.4  # template-stage TopHash overlap threshold
    strategy: str = "subject"  # routing: "subject" (memoird), "mask" (paper), "always"
    steps: int = 30  # at most; Adam stops after ≈2 on SmolLM2
    optimizer: str = "adam"  # "adam", or "sgd" as in the paper
    # 0.1: a third fewer steps than 0.05 at equal or better answers (edit_bench T=100:
    # zsRE gen_em 0.89 both, CounterFact 0.29 vs 0.21, locality 1.0 both; news dev: 111
    # steps instead of 169 for the same 44 edits; bench/results/dev/edit_lr*.json)
    adam_lr: float = 0.1
    lr: float = 1.0  # SGD's learning rate (the paper's), used when optimizer == "sgd"
    stop_loss: float = 0.05
    prefixes: int = 0  # context prefixes per edit (the paper uses ~10)
    replay: int = 4  # earlier edits (most overlapping) kept right while training a new one
    variants: int = 0  # extra copies of the prompt with one non-subject word dropped
    seed: int = 0  # TopHash permutation seed
    full_forward: bool = False  # train like the reference code (benchmark baseline only)

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown routing strategy {self.strategy!r}: use one of {STRATEGIES}")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}: use one of {OPTIMIZERS}")
        if self.steps < 0 or self.lr <= 0 or self.adam_lr <= 0:
            raise ValueError(f"steps must be >= 0 and learning rates > 0 (got {self.steps}, "
                             f"{self.lr}, {self.adam_lr})")

    @property
    def step_size(self) -> float:
        return self.adam_lr if self.optimizer == "adam" else self.lr


@dataclass(frozen=True)
class EditRequest:
    edit_id: str
    prompt: str
    target: str
    paraphrases: tuple[str, ...] = ()
    subject: str | None = None
    aliases: tuple[str, ...] = ()  # other names of the subject; routing accepts any of them
    # phrases naming the subject's other relations: a prompt using one is not routed here
    elsewhere: tuple[str, ...] = ()

    @classmethod
    def from_meta(cls, e: dict) -> "EditRequest":
        """The request as a memory file's metadata keeps it (older files lack the last
        fields)."""
        return cls(e["edit_id"], e["prompt"], e["target"], tuple(e["paraphrases"]),
                   e["subject"], tuple(e.get("aliases", ())), tuple(e.get("elsewhere", ())))

    def validate(self) -> None:
        for name in ("edit_id", "prompt", "target"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"edit request field {name!r} must be a non-empty string, got {value!r}")
        if self.subject is not None and not self.subject.strip():
            raise ValueError(f"edit {self.edit_id!r}: subject is an empty string")
        if any(not p.strip() for p in self.paraphrases):
            raise ValueError(f"edit {self.edit_id!r}: a paraphrase is empty")


@dataclass(frozen=True)
class EditResult:
    edit_id: str
    steps: int
    final_loss: float
    initial_loss: float
    seconds: float
    generation: int
    subject_found: bool  # False: the subject is not in the prompt, routing ignores it


@dataclass(frozen=True)
class Scored:
    """One teacher-forced continuation: its tokens, the argmax at each, their log-probs."""

    target: list[int]
    predicted: list[int]
    logprobs: list[float]
    edit_id: str | None  # the edit the prompt was routed to

    @property
    def token_accuracy(self) -> float:
        return sum(p == t for p, t in zip(self.predicted, self.target)) / len(self.target)

    @property
    def exact(self) -> bool:
        """All argmax tokens right: what greedy decoding would produce."""
        return self.predicted == self.target


@dataclass
class _Edit:
    request: EditRequest
    cols: torch.Tensor  # (k,) weight mask column indices
    keys: torch.Tensor  # (P, k) routing key column indices, one row per prompt
    steps: int = 0
    loss: float = float("nan")
    seconds: float = 0.0


class Memoir:
    """A residual memory attached to one model. Create with ``attach``, ``load`` or ``open``."""

    def __init__(self, model: nn.Module, tokenizer, config: MemoirConfig, path: Path | None):
        self.model = model
        self.tokenizer = tokenizer
        self.decoder = _decoder(model)
        n_layers = len(self.decoder.layers)
        layer = config.layer if config.layer is not None else round(0.8 * n_layers)
        if not 0 <= layer < n_layers:
            raise ValueError(f"layer {layer} is outside the model's {n_layers} layers")
        mlp = self.decoder.layers[layer].mlp
        base = mlp.down_proj
        if isinstance(base, ResidualDownProj):
            raise RuntimeError(f"layer {layer} already carries a memory; detach it first")
        n = base.in_features
        k = config.k if config.k is not None else n // 4
        if not 0 < k < n:
            raise ValueError(f"k must be in (0, {n}), got {k}")
        self.config = replace(config, layer=layer, k=k)
        self.path = Path(path) if path is not None else None
        self.wrapper = ResidualDownProj(base)
        mlp.down_proj = self.wrapper
        self.device = base.weight.device
        gen = torch.Generator().manual_seed(config.seed)
        self.permutation = torch.randperm(n, generator=gen).to(self.device)
        self.background: torch.Tensor | None = None
        self.prefix_texts: list[str] = []
        self.fingerprint = _fingerprint(model, layer, base)
        self.generation = 0
        self._edits: list[_Edit] = []
        self._lock = threading.RLock()
        self._fixed = False
        self._prefill_ids: torch.Tensor | None = None
        self._prefill_valid: torch.Tensor | None = None
        self.last_routes: list[str | None] = []
        self._turn = user_turn_markers(tokenizer)
        self._queries: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()  # see _prefill_routes
        self._hook = self.decoder.register_forward_pre_hook(self._on_decoder_call, with_kwargs=True)
        self._rebuild_router()

    # ----------------------------------------------------------------- construction
    @classmethod
    def attach(cls, model: nn.Module, tokenizer, config: MemoirConfig | None = None,
               path: str | Path | None = None) -> "Memoir":
        """Attach an empty memory; with ``path`` every change is committed there."""
        return cls(model, tokenizer, config or MemoirConfig(), path)

    @classmethod
    def load(cls, path: str | Path, model: nn.Module, tokenizer, rebase: bool = False) -> "Memoir":
        """Attach the memory stored at ``path``; refuses a file made for another base model.

        ``rebase=True`` accepts weights that differ from the file's base *only above the
        memory layer's input* (the memory layer's own ``down_proj``, as a memory-layer
        fold changes it): the memory reads and routes on that input, which is unchanged,
        so every edit works as it did. The caller vouches for that; the memory is stamped
        with the new weights' fingerprint when it is next saved."""
        remove_stale_temps(Path(path))
        tensors, meta = read_memory(Path(path))
        config = MemoirConfig(**meta["config"])
        mem = cls(model, tokenizer, config, path)
        try:
            if meta["fingerprint"] != mem.fingerprint and not rebase:
                raise MemoryFileError(
                    f"memory file {path} was made for another base model "
                    f"(fingerprint {meta['fingerprint'][:12]}, this model {mem.fingerprint[:12]})"
                )
            mem._restore(tensors, meta)
        except BaseException:
            mem.detach()
            raise
        return mem

    @classmethod
    def open(cls, path: str | Path, model: nn.Module, tokenizer,
             config: MemoirConfig | None = None) -> "Memoir":
        """``load`` if the file exists, else ``attach`` a new memory that will be saved there."""
        if Path(path).exists():
            return cls.load(path, model, tokenizer)
        return cls.attach(model, tokenizer, config, path)

    def detach(self) -> None:
        """Put the original ``down_proj`` back and remove the hook; the model is the base again."""
        with self._lock:
            self._hook.remove()
            mlp = self.decoder.layers[self.config.layer].mlp
            if mlp.down_proj is self.wrapper:
                mlp.down_proj = self.wrapper.base

    # ----------------------------------------------------------------- state
    def use_lock(self, lock: Any) -> None:
        """Guard the memory with its owner's lock (reentrant, a context manager) instead of
        its own: whoever holds the owner's lock then holds the memory too, and an owner
        that lends its lock between two steps of its work (daemon/priority.py) lends the
        memory with it. Call it while no other thread uses the memory."""
        self._lock = lock

    @contextlib.contextmanager
    def set_aside(self) -> Iterator[None]:
        """Let another caller use the model between two steps of this caller's work.

        The transient state of the work in progress (memory switched off, routes fixed
        or decided at its last prefill) is kept aside and the memory is as a new caller
        expects it (on, routing at its next prefill); on exit the state is put back, so
        the paused work decodes its next token with the routes it had.
        """
        saved = (self._fixed, self._prefill_ids, self._prefill_valid, self.last_routes,
                 self.wrapper.transient_state())
        self._fixed, self._prefill_ids, self._prefill_valid = False, None, None
        self.wrapper.restore_state()
        try:
            yield
        finally:
            (self._fixed, self._prefill_ids, self._prefill_valid, self.last_routes,
             wrapper_state) = saved
            self.wrapper.restore_state(wrapper_state)

    def edit_ids(self) -> list[str]:
        return [e.request.edit_id for e in self._edits]

    def requests(self) -> list[EditRequest]:
        return [e.request for e in self._edits]

    def __len__(self) -> int:
        return len(self._edits)

    @property
    def layer(self) -> int:
        return self.config.layer

    # ----------------------------------------------------------------- background
    def fit_background(self, prompts: Sequence[str] = BACKGROUND_PROMPTS, batch_size: int = 16) -> None:
        """Mean prompt activation at the edited layer over unrelated prompts (once per base).

        """
        if len(prompts) == 0:
            raise ValueError("fit_background needs at least one prompt")
        with self._lock, self.disabled():
            total = torch.zeros(self.wrapper.in_features, dtype=torch.float64, device=self.device)
            for start in range(0, len(prompts), batch_size):
                chunk = list(prompts[start : start + batch_size])
                ids, mask = self._left_pad([self._encode(p) for p in chunk])
                a = self._down_input(ids, mask)
                total += prompt_mean(a.float(), mask.bool()).double().sum(0)
            self.background = (total / len(prompts)).float()
            self._queries.clear()
            self.prefix_texts = []
            self._rebuild_router()

    def _prefixes(self, count: int) -> list[str]:
        """The model's own short continuations of fixed seeds, written once when first needed."""
        if count and not self.prefix_texts:
            with self.disabled():
                seeds = [self._encode(s) for s in _PREFIX_SEEDS]
                self.prefix_texts = [
                    " ".join(self.tokenizer.decode(s + new, skip_special_tokens=True).split())
                    for s, new in zip(seeds, self.generate_ids(seeds, 8))
                ]
        return self.prefix_texts[:count]

    def _ensure_background(self) -> None:
        if self.background is None:
            self.fit_background()

    # ----------------------------------------------------------------- editing
    def edit(self, request: EditRequest, pause: Callable[[], None] | None = None) -> EditResult:
        """Train one edit into its masked columns and commit the memory (if it has a path).

        ``pause`` is called between training steps (see ``fit_columns``); the memory
        itself changes only once training is done, so an exception it raises leaves the
        memory as it was."""
        request.validate()
        with self._lock:
            if request.edit_id in self.edit_ids():
                raise ValueError(f"edit id {request.edit_id!r} is already in the memory")
            self._ensure_background()
            record, result, weight = self._train(request, pause)
            old_cols = self.wrapper.memory[:, record.cols].clone()
            self.wrapper.memory[:, record.cols] = weight
            self._edits.append(record)
            self.generation += 1
            try:
                self._rebuild_router()
                self._commit()
            except BaseException:
                self.wrapper.memory[:, record.cols] = old_cols
                self._edits.pop()
                self.generation -= 1
                self._rebuild_router()
                raise
            return replace(result, generation=self.generation)

    def _train(self, request: EditRequest, pause: Callable[[], None] | None = None
               ) -> tuple[_Edit, EditResult, torch.Tensor]:
        started = time.perf_counter()
        prompts = [request.prompt, *request.paraphrases]
        prefixes = self._prefixes(self.config.prefixes)
        train_prompts = (prompts + [f"{p}. {request.prompt}" for p in prefixes]
                         + word_dropout(request.prompt, request.subject, self.config.variants))
        replay = self._replay_candidates(request.prompt) if self.config.replay else []
        rows = train_prompts + [e.request.prompt for e in replay]
        targets = [request.target] * len(train_prompts) + [e.request.target for e in replay]
        n = self.wrapper.in_features
        masks = index_mask(torch.stack([e.cols for e in replay]), n) if replay else None
        parts, where = segments(self.tokenizer, self.decoder, self.config.layer, self.wrapper,
                                rows, targets, self.device, masks)

        queries = []
        for i in range(len(prompts)):  # each prompt's routing query, from its segment
            seg, r = parts[where[i][0]], where[i][1]
            ids = seg.batch.input_ids[r : r + 1, : seg.batch.prompt_lengths[r]]
            query = self._tophash(seg.cache.a[r : r + 1, : ids.shape[1]], self._route_valid(ids, None))
            self._queries[tuple(ids[0].tolist())] = query[0].to(torch.int16)  # verification routes them
            queries.append(query)
        keys = torch.cat(queries)
        cols = subject_columns(keys[0], request.subject, n)
        if self.config.full_forward:
            fit = self._fit_reference(build_batch(self.tokenizer, rows, targets, self.device), cols)
        else:
            fit = fit_columns(
                self.model, self.decoder, self.config.layer, parts,
                self.wrapper.memory[:, cols], cols, self.config.steps, self.config.step_size,
                self.config.stop_loss, self.config.optimizer,
                memory=self.wrapper.memory.detach() if replay else None, pause=pause,
            )
        seconds = time.perf_counter() - started
        found = request.subject is None or bool(
            subject_pattern(request.subject).search(request.prompt.casefold())
        )
        record = _Edit(request, cols, keys, fit.steps, fit.loss, seconds)
        result = EditResult(request.edit_id, fit.steps, fit.loss, fit.initial_loss, seconds, 0, found)
        return record, result, fit.weight.to(self.wrapper.memory.dtype)

    def _replay_candidates(self, prompt: str) -> list[_Edit]:
        """The earlier edits whose routing keys overlap this prompt's TopHash the most.

        Same-template edits share most columns and have similar activations, so they are
        the ones a new edit would overwrite; replaying them while training protects them.
        """
        bank = self.wrapper.router.bank if self.wrapper.router is not None else None
        if bank is None or bank.key_masks.shape[0] == 0:
            return []
        q = index_mask(self.tophash([prompt]), self.wrapper.in_features)
        overlap = (q @ bank.key_masks.T)[0]
        chosen: list[int] = []
        for key in overlap.argsort(descending=True).tolist():
            edit = bank.key_edit[key]
            if edit not in chosen:
                chosen.append(edit)
            if len(chosen) == self.config.replay:
                break
        return [self._edits[i] for i in chosen]

    def _fit_reference(self, batch: EditBatch, cols: torch.Tensor):
        mask = index_mask(cols[None], self.wrapper.in_features, self.wrapper.memory.dtype)
        rows = torch.arange(batch.input_ids.shape[0], device=self.device)
        routes = RowRoutes(rows, mask.expand(len(rows), -1), [0] * len(rows), len(rows))
        saved = self.wrapper.memory[:, cols].clone()
        with self._fixed_routes(routes):
            fit = fit_reference(self.model, self.wrapper, batch, cols, self.config.steps,
                                self.config.lr, self.config.stop_loss)
        self.wrapper.memory[:, cols] = saved  # edit() writes the trained columns itself
        return fit

    def revert(self, edit_id: str, exact: bool = False) -> None:
        """Remove one edit; its prompts get the base model's answer again.

        Fast path: the edit stops being routed to (its prompts then read the base model
        bit for bit) and its columns that no other live edit uses are zeroed; what it
        wrote into columns it shares stays as a small perturbation of those edits.
        ``exact=True`` rebuilds ``W_m`` from zero by replaying the remaining edits'
        requests in their original order, as if the reverted edit never happened.
        """
        with self._lock:
            ids = self.edit_ids()
            if edit_id not in ids:
                raise KeyError(f"edit id {edit_id!r} is not in the memory")
            position = ids.index(edit_id)
            old_memory = self.wrapper.memory.detach().clone()
            old_edits = list(self._edits)
            old_generation = self.generation
            try:
                if exact:
                    self._replay([e for i, e in enumerate(old_edits) if i != position])
                else:
                    gone = old_edits[position]
                    self._edits = [e for i, e in enumerate(old_edits) if i != position]
                    used = torch.zeros(self.wrapper.in_features, dtype=torch.bool, device=self.device)
                    for e in self._edits:
                        used[e.cols] = True
                    exclusive = gone.cols[~used[gone.cols]]
                    self.wrapper.memory[:, exclusive] = 0
                self.generation += 1
                self._rebuild_router()
                self._commit()
            except BaseException:
                self.wrapper.memory.copy_(old_memory)
                self._edits = old_edits
                self.generation = old_generation
                self._rebuild_router()
                raise

    def _replay(self, edits: list[_Edit]) -> None:
        self.wrapper.memory.zero_()
        self._edits = []
        self._rebuild_router()  # replay candidates must come from the rebuilt memory only
        for old in edits:
            record, _, weight = self._train(old.request)
            self.wrapper.memory[:, record.cols] = weight
            self._edits.append(record)
            self._rebuild_router()

    # ----------------------------------------------------------------- routing
    def _rebuild_router(self) -> None:
        n, k = self.wrapper.in_features, self.config.k
        key_rows, key_edit, patterns, elsewhere, masks = [], [], [], [], []
        for i, e in enumerate(self._edits):
            key_rows.append(e.keys)
            key_edit += [i] * e.keys.shape[0]
            subject = e.request.subject
            patterns.append(subject_pattern(subject, *e.request.aliases) if subject else None)
            elsewhere.append(elsewhere_pattern(e.request.elsewhere))
            masks.append(e.cols)
        if key_rows:
            key_masks = index_mask(torch.cat(key_rows).to(self.device), n)
            edit_masks = index_mask(torch.stack(masks).to(self.device), n)
        else:
            key_masks = torch.zeros(0, n, device=self.device)
            edit_masks = torch.zeros(0, n, device=self.device)
        bank = RoutingBank(n, k, key_masks, key_edit, patterns, elsewhere)
        background = self.background if self.background is not None else torch.zeros(n, device=self.device)
        self.wrapper.router = Router(
            self.config.strategy, self.config.tau, k, self.permutation, background, bank,
            edit_masks, self._prefill_text,
        ) if self.background is not None else None

    def _prefill_text(self, row: int) -> str | None:
        ids = self._prefill_ids
        if ids is None:
            return None
        row_ids = ids[row]
        if self._prefill_valid is not None:
            row_ids = row_ids[self._prefill_valid[row, -ids.shape[1]:].bool()]
        return self.tokenizer.decode(row_ids.tolist(), skip_special_tokens=True)

    def _on_decoder_call(self, _module, args, kwargs):
        if self._fixed or not self.wrapper.enabled:
            return None
        # transformers >= 5.25 names the KV cache ``cache``; earlier versions ``past_key_values``.
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None and _cache_length(cache) > 0:
            return None  # a decoding step: keep the routes decided at prefill
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        self._prefill_ids = ids
        valid = mask if mask is not None and mask.dim() == 2 else None
        self._prefill_valid = self._route_valid(ids, valid) if ids is not None else valid
        self.wrapper.begin_prefill(self._prefill_valid)
        return None

    def route(self, prompts: Sequence[str | Sequence[int]], batch_size: int = 32) -> list[str | None]:
        """The edit each prompt would use (None: base model), without running the upper layers.

        ``"*"`` marks a row that uses the memory with its own mask (strategy "always").
        """
        out: list[str | None] = []
        with self._lock:
            for start in range(0, len(prompts), batch_size):
                routes = self._prefill_routes([self._encode(p) for p in prompts[start : start + batch_size]])
                out += self._route_names(routes)
        return out

    def _prefill_routes(self, seqs: list[list[int]]) -> RowRoutes:
        """Route a batch as a prefill would, from each prompt's TopHash query.

        A prompt's query depends only on the frozen layers below the memory, the
        background and the permutation, never on the edits, so it is kept per token
        sequence (``_queries``): verifying an edit routes the same canaries and neighbours
        again and again, and each pass through the lower layers cost as much as a forward.
        Only the edits' bank is consulted anew."""
        router = self.wrapper.router
        n = self.wrapper.in_features
        if not self.wrapper.enabled or router is None:
            return RowRoutes.none(len(seqs), n, self.device, torch.float32)
        keys = [tuple(s) for s in seqs]
        for k in keys:
            if k in self._queries:
                self._queries.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in self._queries))
        for start in range(0, len(missing), 32):
            chunk = missing[start : start + 32]
            ids, mask = self._left_pad([list(k) for k in chunk])
            with self.disabled():
                a = self._down_input(ids, mask)
            for key, q in zip(chunk, router.query_indices(a, self._route_valid(ids, mask))):
                self._queries[key] = q.to(torch.int16)
        while len(self._queries) > QUERY_CACHE:
            self._queries.popitem(last=False)
        q_idx = torch.stack([self._queries[k] for k in keys]).long()

        def text(row: int) -> str:
            ids = torch.tensor([seqs[row]], device=self.device)
            valid = self._route_valid(ids, None)[0].tolist()
            return self.tokenizer.decode([t for t, v in zip(seqs[row], valid) if v],
                                         skip_special_tokens=True)

        return router.routes(q_idx, router.choose(q_idx, text), n, self.device, torch.float32)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Scored]:
        """Teacher-forced continuation scores, each row routed from its prompt alone.

        What a probe needs (log-likelihood of an answer) and what the edit benchmark's
        token accuracy is computed from. The continuation follows the prompt as an edit
        target does (joined by a space).
        """
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        if not prompts:
            return []
        with self._lock:
            p_ids = [self._encode(p) for p in prompts]
            c_ids = [target_ids(self.tokenizer, p, c) for p, c in zip(prompts, continuations)]
            routes = self._prefill_routes(p_ids)
            names = self._route_names(routes) or [None] * len(prompts)
            seqs = [p + c[:-1] for p, c in zip(p_ids, c_ids)]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), self._pad_id(), dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for i, seq in enumerate(seqs):
                ids[i, : len(seq)] = torch.tensor(seq)
                mask[i, : len(seq)] = 1
            with self._fixed_routes(routes), torch.no_grad():
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            out = []
            for i, (p, c) in enumerate(zip(p_ids, c_ids)):
                rows = logits[i, len(p) - 1 : len(p) - 1 + len(c)].float().log_softmax(-1)
                target = torch.tensor(c, device=rows.device)
                out.append(Scored(
                    target=c,
                    predicted=rows.argmax(-1).tolist(),
                    logprobs=rows.gather(1, target[:, None])[:, 0].tolist(),
                    edit_id=names[i],
                ))
            return out

    def tophash(self, prompts: Sequence[str | Sequence[int]]) -> torch.Tensor:
        """TopHash column indices (B, k) of prompts, as routing computes them (for calibration)."""
        self._ensure_background()
        with self._lock, self.disabled():
            ids, mask = self._left_pad([self._encode(p) for p in prompts])
            a = self._down_input(ids, mask)
            feature = prompt_mean(a.float(), self._route_valid(ids, mask)) - self.background
            return tophash(feature, self.config.k, self.permutation)

    def _route_names(self, routes: RowRoutes | None) -> list[str | None]:
        if routes is None:
            return []
        names = []
        for e in routes.edit_index:
            names.append(None if e is None else ("*" if e < 0 else self._edits[e].request.edit_id))
        return names

    @contextlib.contextmanager
    def _fixed_routes(self, routes: RowRoutes) -> Iterator[None]:
        previous = (self._fixed, self.wrapper.routes)
        self._fixed, self.wrapper.routes = True, routes
        try:
            yield
        finally:
            self._fixed, self.wrapper.routes = previous

    @contextlib.contextmanager
    def using(self, edit_ids: Sequence[str | None]) -> Iterator[None]:
        """Run the model with fixed per-row routes (e.g. teacher forcing prompt + answer).

        Row i uses edit ``edit_ids[i]`` (None: the base model) for every forward pass in
        the block, whatever the tokens; ``route()`` gives the ids a prompt would get.
        """
        index = {e.request.edit_id: i for i, e in enumerate(self._edits)}
        missing = [e for e in edit_ids if e is not None and e not in index]
        if missing:
            raise KeyError(f"unknown edit ids {missing}")
        rows = [i for i, e in enumerate(edit_ids) if e is not None]
        n = self.wrapper.in_features
        if rows:
            cols = torch.stack([self._edits[index[edit_ids[i]]].cols for i in rows])
            masks = index_mask(cols.to(self.device), n, self.wrapper.memory.dtype)
        else:
            masks = torch.zeros(0, n, device=self.device)
        routes = RowRoutes(torch.tensor(rows, dtype=torch.long, device=self.device), masks,
                           [index.get(e) if e else None for e in edit_ids], len(edit_ids))
        with self._lock, self._fixed_routes(routes):
            yield

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """The memory is off inside the block: outputs are the base model's, bit for bit."""
        with self._lock:
            previous = self.wrapper.enabled
            self.wrapper.enabled = False
            try:
                yield
            finally:
                self.wrapper.enabled = previous

    # ----------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[str | Sequence[int]], max_new_tokens: int = 32,
                 **generate_kwargs) -> list[str]:
        """Greedy (by default) continuations, each row routed from its own prompt."""
        return [
            self.tokenizer.decode(ids, skip_special_tokens=True)
            for ids in self.generate_ids(prompts, max_new_tokens, **generate_kwargs)
        ]

    def generate_ids(self, prompts: Sequence[str | Sequence[int]], max_new_tokens: int = 32,
                     **generate_kwargs) -> list[list[int]]:
        """New token ids per prompt (left-padded batch, KV cache, routes kept from prefill)."""
        if isinstance(prompts, (str, bytes)):
            raise TypeError("prompts must be a list of strings or of token-id lists")
        if not prompts:
            return []
        with self._lock:
            ids, mask = self._left_pad([self._encode(p) for p in prompts])
            kwargs = {"do_sample": False, "pad_token_id": self._pad_id()}
            if not generate_kwargs.get("do_sample"):
                kwargs.update(temperature=None, top_p=None, top_k=None)
            kwargs.update(generate_kwargs)
            with torch.no_grad():
                out = self.model.generate(input_ids=ids, attention_mask=mask,
                                          max_new_tokens=max_new_tokens, **kwargs)
            self.last_routes = self._route_names(self.wrapper.routes) if self.wrapper.enabled else [None] * len(prompts)
            new = out[:, ids.shape[1] :].tolist()
            eos = eos_ids(self.model, self.tokenizer)
            return [_cut(row, eos) for row in new]

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path | None = None) -> int:
        """Commit the whole memory atomically; returns the file size in bytes."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this memory has no path: pass one to save()")
        with self._lock:
            return write_memory(target, *self._state())

    def _commit(self) -> None:
        if self.path is not None:
            write_memory(self.path, *self._state())

    def _state(self) -> tuple[dict[str, torch.Tensor], dict]:
        n, k = self.wrapper.in_features, self.config.k
        index = torch.int16 if n <= 2**15 else torch.int32  # column indices: 2 bytes each when they fit
        tensors = {
            "memory": self.wrapper.memory.detach(),
            "permutation": self.permutation,
            "cols": torch.stack([e.cols for e in self._edits]).to(index) if self._edits else torch.zeros(0, k, dtype=index),
            "keys": torch.cat([e.keys for e in self._edits]).to(index) if self._edits else torch.zeros(0, k, dtype=index),
        }
        if self.background is not None:
            tensors["background"] = self.background
        meta = {
            "config": asdict(self.config),
            "fingerprint": self.fingerprint,
            "generation": self.generation,
            "prefixes": self.prefix_texts,
            "n": n,
            "edits": [
                {**asdict(e.request), "keys": int(e.keys.shape[0]), "steps": e.steps,
                 "loss": e.loss, "seconds": e.seconds}
                for e in self._edits
            ],
        }
        return tensors, meta

    def _restore(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        memory = tensors["memory"]
        if tuple(memory.shape) != tuple(self.wrapper.memory.shape):
            raise MemoryFileError(f"memory shape {tuple(memory.shape)} does not fit this layer")
        with torch.no_grad():
            self.wrapper.memory.copy_(memory.to(self.device))
        self.permutation = tensors["permutation"].long().to(self.device)
        background = tensors.get("background")
        self.background = background.to(self.device) if background is not None else None
        self._queries.clear()
        self.prefix_texts = list(meta.get("prefixes", []))
        self.generation = int(meta["generation"])
        cols, keys = tensors["cols"].long().to(self.device), tensors["keys"].long().to(self.device)
        self._edits, at = [], 0
        for i, e in enumerate(meta["edits"]):
            request = EditRequest.from_meta(e)
            self._edits.append(_Edit(request, cols[i], keys[at : at + e["keys"]], e["steps"], e["loss"], e["seconds"]))
            at += e["keys"]
        self._rebuild_router()

    # ----------------------------------------------------------------- helpers
    def _route_valid(self, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The tokens routing looks at: in a chat prompt, the last user turn's text only
        (a system prompt or earlier turns would drown the question in the mean); in
        plain text, every real token."""
        valid = (mask.bool() if mask is not None
                 else torch.ones(ids.shape, dtype=torch.bool, device=ids.device))
        if self._turn is None:
            return valid
        header, footers = self._turn
        out = valid.clone()
        for row in range(ids.shape[0]):
            span = last_user_span(ids[row].tolist(), header, footers)
            if span is not None:
                out[row] = False
                out[row, span[0]:span[1]] = valid[row, span[0]:span[1]]
        return out

    def _tophash(self, a: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        if valid is None:
            valid = torch.ones(a.shape[:2], dtype=torch.bool, device=a.device)
        return tophash(prompt_mean(a.float(), valid) - self.background, self.config.k, self.permutation)

    def _down_input(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The edited layer's down_proj input; the layers above are not run."""
        return run_through(self.decoder, self.wrapper.base, ids, mask)

    def _encode(self, prompt: str | Sequence[int]) -> list[int]:
        if isinstance(prompt, str):
            ids = list(self.tokenizer(prompt)["input_ids"])
        else:
            ids = [int(t) for t in prompt]
        if not ids:
            raise ValueError(f"prompt {prompt!r} has no tokens")
        return ids

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    def _left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._pad_id(), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s) :] = torch.tensor(s, dtype=torch.long)
            mask[i, width - len(s) :] = 1
        return ids.to(self.device), mask.to(self.device)


def subject_columns(cols: torch.Tensor, subject: str | None, n: int) -> torch.Tensor:
    """The columns an edit trains: its prompt's TopHash columns mapped through a
    permutation seeded by its subject.

    TopHash depends on the template far more than on the subject, so edits of one
    relation ("Who is the President of X?") would all train the same columns and each
    would overwrite the last (on the news dev set, Brazil's edit answered Portugal's
    prime minister). Routing still finds an edit by its TopHash keys and subject; at
    inference the matched edit's own columns are used, so they can be any fixed set:
    seeded by the subject, same-relation edits overlap only as much as random sets do.
    """
    if not subject:
        return cols
    seed = int.from_bytes(hashlib.sha256(subject.casefold().encode()).digest()[:8], "little")
    permutation = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return permutation.to(cols.device)[cols]


def user_turn_markers(tokenizer) -> tuple[list[int], set[int]] | None:
    """Token ids that open a user turn ("<|im_start|>user") and those that close one, read
    off the tokenizer's own chat template; None for a tokenizer without one."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    sentinel = "QXZQXZ"
    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": sentinel}],
                                             tokenize=False, add_generation_prompt=True)
    except Exception:  # a template that refuses a lone user turn: route on all tokens
        return None
    if sentinel not in text:
        return None
    before, after = text.split(sentinel, 1)
    specials = [t for t in tokenizer.all_special_tokens if t]
    starts = [before.rfind(t) for t in specials if t in before]
    if not starts:
        return None
    header = before[max(starts):].rstrip()
    header_ids = tokenizer(header, add_special_tokens=False)["input_ids"]
    closing = [t for t in specials if t in after]
    if not header_ids or not closing:
        return None
    first = min(closing, key=after.find)
    footer_ids = set(tokenizer(first, add_special_tokens=False)["input_ids"][:1])
    return list(header_ids), footer_ids


def last_user_span(ids: Sequence[int], header: Sequence[int], footers: set[int]
                   ) -> tuple[int, int] | None:
    """(start, end) of the last user turn's content in a token row, or None."""
    n = len(header)
    for start in range(len(ids) - n, -1, -1):
        if list(ids[start:start + n]) == list(header):
            begin = start + n
            end = next((j for j in range(begin, len(ids)) if ids[j] in footers), len(ids))
            return (begin, end) if end > begin else None
    return None


def word_dropout(prompt: str, subject: str | None, count: int) -> list[str]:
    """Up to ``count`` copies of the prompt, each missing one word that is not the subject's.

    Cheap stand-ins for paraphrases: the edit must hold when the wording around the subject
    moves. Deterministic (seeded by the prompt) so an exact rebuild reproduces the edit.
    """
    if count <= 0:
        return []
    words = prompt.split()
    keep = set(subject.casefold().split()) if subject else set()
    candidates = [i for i, w in enumerate(words) if w.casefold().strip("?.,!'\"") not in keep]
    rng = random.Random(zlib.crc32(prompt.encode()))
    rng.shuffle(candidates)
    return [" ".join(w for j, w in enumerate(words) if j != i) for i in candidates[:count]]


def _decoder(model: nn.Module) -> nn.Module:
    for candidate in (getattr(model, "model", None), getattr(model, "get_decoder", lambda: None)()):
        if candidate is not None and hasattr(candidate, "layers"):
            return candidate
    raise TypeError(f"{type(model).__name__} has no decoder stack with .layers (not a causal LM?)")


def _cache_length(cache) -> int:
    if hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length())
    try:  # legacy tuple of (key, value) per layer
        return int(cache[0][0].shape[-2])
    except (IndexError, TypeError):
        return 0


def _fingerprint(model: nn.Module, layer: int, down_proj: nn.Linear) -> str:
    """Identifies the base weights the memory was trained against (cheap: one layer + config)."""
    h = hashlib.sha256()
    cfg = getattr(model, "config", None)
    for attr in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"):
        h.update(f"{attr}={getattr(cfg, attr, None)};".encode())
    h.update(f"layer={layer};".encode())
    h.update(down_proj.weight.detach().float().cpu().contiguous().numpy().tobytes())
    emb = model.get_input_embeddings().weight.detach()[:64].float().cpu().contiguous()
    h.update(emb.numpy().tobytes())
    return h.hexdigest()


def eos_ids(model: nn.Module, tokenizer) -> set[int]:
    """The token ids that end a generation (the model's generation config, else the tokenizer's)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return set(eos) if isinstance(eos, (list, tuple)) else {int(eos)}


def _cut(row: list[int], eos: set[int]) -> list[int]:
    for i, t in enumerate(row):
        if t in eos:
            return row[:i]
    return row
