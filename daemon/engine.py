"""The live model: the active base checkpoint plus its MEMOIR memory, shared by every stage.

The API answers completions with it, the probe stage asks it what it believes, the apply
stage writes edits into it. It is opened from the checkpoint registry (the active
checkpoint; on first start the configured base model, registered as the first
checkpoint) and the memory file that belongs to that checkpoint.

Crash safety rests on one rule: the memory file is the commit point for weights, and the
edit log follows it. ``Memoir`` rewrites the file atomically after every edit and revert,
so a process killed at any instant leaves either the old or the new memory on disk. At
start ``reconcile`` makes the log agree with the file: an edit the file holds but the log
still calls ``approved`` was trained and committed but never verified, so it stays
``approved`` and the apply stage verifies it (``applied``, or reverted and ``failed``)
without training it again; an edit the log calls ``applied`` that the file does not hold
was reverted (→ ``reverted``); an edit the file holds that the log calls reverted,
rejected or failed is taken out of the memory.

The Engine owns the loaded model and its memory: nothing outside this module touches
them. What other parts need, they ask it for: ``prober()`` (the probe stage),
``base_chat()`` (local extraction, memory off), ``verify_target()`` (the apply stage's
checks), ``without_memory()`` (answers from the weights alone). ``switch()`` hands it
another checkpoint's weights and memory (distillation, activation, rollback) and drops
every prober and chat backend built on the old ones, so the next one asks the new model.

Requests come first (daemon/priority.py). ``complete`` takes the engine's lock as a
request. The reading (``base_chat()``) runs on its own view of the weights, without the
memory, beside the requests: it only takes the background turn. Everything else the
background stages do takes the lock as background work and calls ``pause()`` between its
units (decoding steps of a probe or verification batch, training steps of an edit), where
a waiting request is served; at every pause point a stopping daemon cancels the work.
The memory shares the engine's lock, so lending one lends the other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlite_utils import Database

from memoird.daemon.completion import (Completion, Delta, OnDelta, Recorder, TokenTable,
                                       cut_at_stop)
from memoird.daemon.priority import BackgroundCancelled, ModelLock
from memoird.editor.builtin_models import checkpoint_name, is_base_folder
from memoird.editor.forms import chat_forms, is_question, terminated
from memoird.editor.memoir import EditRequest, EditResult, Memoir, MemoirConfig, eos_ids
from memoird.editor.model import LoadedModel, load_base, shared_view
from memoird.editor.probe import CausalLMBackend, Prober, ProbeThresholds, default_similarity
from memoird.editor.routing import elsewhere_pattern
from memoird.editor.verify import VerifyTarget
from memoird.extractors.schema import RelationSchema
from memoird.store import checkpoints
from memoird.store import edits as edit_log
from memoird.store.records import Checkpoint, Edit, EditStatus

log = logging.getLogger(__name__)

RECOVERY_ACTOR = "recovery"


def memory_config(section) -> MemoirConfig:
    """MemoirConfig from the [memory] section; -1/0 leave layer/k to the per-model default."""
    return MemoirConfig(
        layer=None if section.layer < 0 else section.layer,
        k=None if section.k <= 0 else section.k,
        tau=section.tau,
        steps=section.max_steps,
        lr=section.lr,
    )


def memory_path(memory_dir: Path, checkpoint: Checkpoint) -> Path:
    """Each checkpoint has its own memory: W_m, masks and background belong to one base."""
    return memory_dir / f"checkpoint-{checkpoint.id}.memoir"


@dataclass
class AppliedEdit:
    result: EditResult
    memory_generation: int


class EngineSwitched(RuntimeError):
    """A prober was used after the engine switched checkpoint: it was built on weights
    the engine no longer serves (ask ``engine.prober()`` for a new one)."""


class Engine:
    """The live model: the active checkpoint's weights and their MEMOIR memory.

    ``base`` is the configured base model as (``[model] base``, data directory): while
    its folder is the checkpoint served the engine goes by the base's name, otherwise by
    ``checkpoint-<id>`` (a distilled checkpoint is never labelled as the base). Without
    it the engine goes by the loaded folder's name.
    """

    def __init__(self, loaded: LoadedModel, memoir: Memoir, checkpoint: Checkpoint,
                 base: tuple[str, Path] | None = None):
        self._loaded = loaded
        self._memoir = memoir
        self._checkpoint = checkpoint
        self._base = base
        self._name = self._name_of(checkpoint)
        self.lock = ModelLock()
        memoir.use_lock(self.lock)
        self.routed_requests = 0
        self.total_requests = 0
        self._token_table: TokenTable | None = None
        self._probers: dict[ProbeThresholds | None, Prober] = {}
        self._chats: dict[tuple[int, int], Any] = {}

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, config, paths, db: Database) -> "Engine":
        active = checkpoints.active_checkpoint(db)
        model_cfg = config.model
        if active is None:
            loaded = load_base(model_cfg.base, paths.root, model_cfg.device, model_cfg.dtype)
            active = _register_base(db, loaded)
        else:
            loaded = load_base(active.path, paths.root, model_cfg.device, model_cfg.dtype)
        path = memory_path(paths.memory, active)
        path.parent.mkdir(parents=True, exist_ok=True)
        memoir = Memoir.open(path, loaded.model, loaded.tokenizer, memory_config(config.memory))
        if not path.exists():
            memoir.fit_background()
            memoir.save()
        engine = cls(loaded, memoir, active, base=(model_cfg.base, paths.root))
        engine.reconcile(db)
        return engine

    def switch(self, loaded: LoadedModel, memoir: Memoir, checkpoint: Checkpoint) -> None:
        """Serve ``checkpoint``'s weights (``loaded``) with ``memoir`` from now on.

        Takes the engine's lock, so no request, edit or probe batch is half on the old
        model; the old memory is detached, and the probers and chat backends built on the
        old weights are dropped (a prober still held by a caller raises EngineSwitched).
        """
        with self.lock:
            old = self._memoir
            memoir.use_lock(self.lock)
            self._loaded, self._memoir, self._checkpoint = loaded, memoir, checkpoint
            self._name = self._name_of(checkpoint)
            self._probers.clear()
            self._chats.clear()
            if old is not memoir:
                old.detach()

    # ------------------------------------------------------------------ facts about it
    @property
    def tokenizer(self):
        return self._loaded.tokenizer

    @property
    def name(self) -> str:
        """The base model's name while the base checkpoint is active, else
        ``checkpoint-<id>``."""
        return self._name

    @property
    def checkpoint(self) -> Checkpoint:
        """The registry's record of the checkpoint being served."""
        return self._checkpoint

    @property
    def is_base(self) -> bool:
        """Whether the checkpoint served is the configured base model itself."""
        return self._base is not None and is_base_folder(*self._base, self._checkpoint.path)

    def _name_of(self, checkpoint: Checkpoint) -> str:
        if self._base is None:
            return self._loaded.name
        return checkpoint_name(*self._base, checkpoint.id, checkpoint.path)

    @property
    def load_seconds(self) -> float:
        return self._loaded.load_seconds

    @property
    def converted(self) -> bool:
        return self._loaded.converted

    @property
    def context_length(self) -> int | None:
        """The longest prompt + completion the model takes, in tokens (None: unknown)."""
        config = getattr(self._loaded.model, "config", None)
        value = getattr(config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) and value > 0 else None

    @property
    def checkpoint_path(self) -> Path:
        return Path(self._checkpoint.path)

    @property
    def memory_layer(self) -> int:
        return self._memoir.layer

    @property
    def edit_count(self) -> int:
        return len(self._memoir)

    @property
    def memory_file(self) -> Path | None:
        """The file the memory commits to (None: a memory that is not saved)."""
        return self._memoir.path

    def edit_ids(self) -> list[str]:
        """The ids of the edits the memory holds."""
        with self.lock:
            return self._memoir.edit_ids()

    def memory_stats(self) -> dict[str, Any]:
        path = self._memoir.path
        return {
            "edits": len(self._memoir),
            "generation": self._memoir.generation,
            "layer": self._memoir.layer,
            "bytes": path.stat().st_size if path is not None and path.exists() else 0,
            "routed_requests": self.routed_requests,
            "requests": self.total_requests,
        }

    # ------------------------------------------------------------------ inference
    def _generate_kwargs(self, temperature: float, top_p: float | None = None) -> dict[str, Any]:
        if temperature and temperature > 0:
            kwargs: dict[str, Any] = {"do_sample": True, "temperature": float(temperature)}
            if top_p is not None and top_p < 1.0:
                kwargs["top_p"] = float(top_p)
            return kwargs
        return {}

    def generate(self, prompts: Sequence[str], max_new_tokens: int = 32,
                 temperature: float = 0.0, stop: Sequence[str] | None = None,
                 use_memory: bool = True) -> list[str]:
        """Continuations of each prompt, every row routed to its own edit (or none)."""
        with self.lock.request():
            if use_memory:
                texts = self._memoir.generate(list(prompts), max_new_tokens,
                                              **self._generate_kwargs(temperature))
                self._count_routes(self._memoir.last_routes)
            else:
                with self._memoir.disabled():
                    texts = self._memoir.generate(list(prompts), max_new_tokens,
                                                  **self._generate_kwargs(temperature))
        return [cut_at_stop(t, stop) for t in texts]

    # ------------------------------------------------------------------ background work
    def pause(self) -> None:
        """The background stages' pause point, called between two units of their work
        while they hold the lock: a waiting request is served now (the memory's
        transient state is set aside meanwhile and the work resumes where it was), and a
        stopping daemon ends the work here with BackgroundCancelled."""
        if self.lock.cancelled:
            raise BackgroundCancelled("the daemon is stopping")
        if self.lock.requests_waiting and self.lock.held():
            with self._memoir.set_aside():
                self.lock.lend()

    def cancel_background(self) -> None:
        """Make every pause point raise BackgroundCancelled from now on (stopping)."""
        self.lock.cancel()

    @property
    def background_cancelled(self) -> bool:
        return self.lock.cancelled

    @contextmanager
    def without_memory(self) -> Iterator[None]:
        """Everything the engine answers inside is the checkpoint's weights alone (holds
        the lock, so no request meanwhile gets an answer without its edit)."""
        with self.lock, self._memoir.disabled():
            yield

    def complete(self, prompts: Sequence[str | Sequence[int]], max_new_tokens: int = 16,
                 temperature: float = 0.0, stop: Sequence[str] | None = None,
                 logprobs: int | None = None, top_p: float | None = None,
                 on_delta: OnDelta | None = None,
                 cancel: threading.Event | None = None) -> list[Completion]:
        """What the OpenAI-compatible API serves: each prompt's completion (routed per row,
        like ``generate``) with its finish reason and token counts.

        Decoding stops as soon as every row has met EOS, a stop string or its budget.
        With ``logprobs`` (the number of alternatives to report, 0 for none) each token
        carries the log-probability that the forward pass which chose it gave it: the
        model's own distribution (temperature 1), whatever the sampling settings.
        ``on_delta(row, delta)`` receives text as it becomes final (streaming);
        ``cancel`` ends the decoding at the next step.
        """
        from transformers import StoppingCriteriaList

        prompts = list(prompts)
        tokenizer = self.tokenizer
        table = None
        if logprobs is not None:
            if self._token_table is None or self._token_table.tokenizer is not tokenizer:
                self._token_table = TokenTable(tokenizer)
            table = self._token_table
        recorder = Recorder(tokenizer, [len(_prompt_ids(tokenizer, p)) for p in prompts],
                            max_new_tokens, stop, eos_ids(self._loaded.model, tokenizer),
                            table, on_delta)
        step = _DecodingStep(recorder, logprobs, cancel)
        with self.lock.request():
            recorder.memory_generation = self._memoir.generation
            model = self._loaded.model
            hook = model.register_forward_hook(step.capture) if logprobs is not None else None
            try:
                self._memoir.generate_ids(prompts, max_new_tokens,
                                          stopping_criteria=StoppingCriteriaList([step]),
                                          **self._generate_kwargs(temperature, top_p))
                self._count_routes(self._memoir.last_routes)
            finally:
                if hook is not None:
                    hook.remove()
            recorder.end()
        return recorder.completions()

    def stream_completion(self, prompt: str | Sequence[int], max_new_tokens: int = 16,
                          temperature: float = 0.0, stop: Sequence[str] | None = None,
                          logprobs: int | None = None, top_p: float | None = None,
                          cancel: threading.Event | None = None) -> Iterator[Delta]:
        """``complete`` for one prompt, as deltas while it decodes (routing is decided at
        prefill). Closing the iterator early stops the decoding at the next step."""
        deltas: queue.Queue[Any] = queue.Queue()
        cancel = cancel or threading.Event()
        end = object()

        def work() -> None:
            try:
                self.complete([prompt], max_new_tokens, temperature, stop, logprobs, top_p,
                              on_delta=lambda _row, delta: deltas.put(delta), cancel=cancel)
            except BaseException as exc:  # surfaced to the reader below
                deltas.put(exc)
            finally:
                deltas.put(end)

        thread = threading.Thread(target=work, name="memoird-stream", daemon=True)
        thread.start()
        try:
            while (item := deltas.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()  # a reader that stops early frees the model at the next step

    def stream(self, prompt: str, max_new_tokens: int = 32, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Text pieces as they are decoded (for SSE); routing is decided at prefill."""
        for delta in self.stream_completion(prompt, max_new_tokens, temperature, stop):
            if delta.text:
                yield delta.text

    def route(self, prompts: Sequence[str]) -> list[str | None]:
        with self.lock.request():
            return self._memoir.route(list(prompts))

    def _count_routes(self, routes: Sequence[str | None]) -> None:
        self.total_requests += len(routes)
        self.routed_requests += sum(r is not None for r in routes)

    # ------------------------------------------------------------------ tools on the model
    def prober(self, thresholds: ProbeThresholds | None = None) -> Prober:
        """The probe stage's Prober on the live model (base + memory), one per checkpoint
        and thresholds: a switch drops it and the next call builds one on the new weights.

        Each probe records the checkpoint and memory generation of the model it asked;
        a Prober kept across a switch raises EngineSwitched instead of asking old weights.
        """
        similarity = default_similarity()  # loads once per process, outside the lock
        with self.lock:
            prober = self._probers.get(thresholds)
            if prober is None:
                loaded, memoir, checkpoint = self._loaded, self._memoir, self._checkpoint
                backend = _LockedBackend(self, CausalLMBackend(loaded.model, loaded.tokenizer,
                                                               pause=self.pause))
                prober = Prober(backend, thresholds=thresholds, similarity=similarity,
                                state=lambda: (checkpoint.id, memoir.generation))
                self._probers[thresholds] = prober
            return prober

    def base_chat(self, batch_size: int = 32, workers: int = 1) -> "BaseModelChat":
        """The local chat backend on the live weights without the memory.

        Extraction must read articles with the base model: an edit routed into an
        extraction prompt would make the model "see" its own edits in the news. It reads
        on a view of the weights that has no memory (``shared_view``: the same tensors,
        another module tree), so it runs beside the requests, which use the memory; each
        call takes the background turn and runs on the weights the engine serves then.
        """
        return BaseModelChat(self, batch_size, workers)

    def _local_chat(self, batch_size: int, workers: int):
        """The LocalChat over a memory-free view of the current weights (cached: it keeps
        the prefix caches of the extraction prompt; a switch drops it, since they were
        computed on old weights). Call with the background turn held."""
        from memoird.editor.residual import ResidualDownProj
        from memoird.extractors.chat import LocalChat

        key = (batch_size, workers)
        chat = self._chats.get(key)
        if chat is None:
            view = shared_view(self._loaded.model, lambda m: m.base if isinstance(
                m, ResidualDownProj) else m)
            chat = self._chats[key] = LocalChat(
                view, self._loaded.tokenizer, name=self.name, batch_size=batch_size,
                workers=workers, pause=self.pause)
        return chat

    def verify_target(self) -> VerifyTarget:
        """The live model as the apply stage's verification checks it (editor/verify.py):
        model, tokenizer, memory, the engine's lock and its pause point."""
        with self.lock:
            return VerifyTarget(self._loaded.model, self._loaded.tokenizer, self._memoir,
                                self.lock, self.pause)

    @property
    def memory_generation(self) -> int:
        return self._memoir.generation

    # ------------------------------------------------------------------ editing
    def apply_edit(self, edit: Edit, paraphrases: Sequence[str] = ()) -> AppliedEdit:
        """Train one logged edit into the memory and commit the memory file; a stop
        between training steps (BackgroundCancelled) leaves the memory as it was."""
        with self.lock:
            result = self._memoir.edit(edit_request(edit, paraphrases, self.tokenizer),
                                       pause=self.pause)
        return AppliedEdit(result, result.generation)

    def revert_edit(self, edit_id: int | str, exact: bool = False) -> dict[str, Any]:
        with self.lock:
            started = time.perf_counter()
            self._memoir.revert(str(edit_id), exact=exact)
            return {"memory_generation": self._memoir.generation,
                    "exact": exact, "seconds": round(time.perf_counter() - started, 3)}

    def holds(self, edit_id: int | str) -> bool:
        return str(edit_id) in self.edit_ids()

    # ------------------------------------------------------------------ recovery
    def reconcile(self, db: Database) -> list[int]:
        """Make the edit log agree with the memory file after a crash; returns changed ids."""
        held = {int(i) for i in self._memoir.edit_ids() if i.isdigit()}
        changed: list[int] = []
        for edit in edit_log.list_edits(db, status=[EditStatus.APPROVED, EditStatus.APPLIED],
                                        limit=1_000_000):
            if edit.checkpoint_id not in (None, self._checkpoint.id):
                continue  # lives in another checkpoint's memory
            if edit.status == EditStatus.APPROVED and edit.id in held:
                # trained and committed, then the process stopped before verifying it: it
                # stays approved, and the apply stage verifies it (without training it again)
                log.info("memory holds approved edit %s (committed before the process "
                         "stopped); the apply stage verifies it", edit.id,
                         extra={"edit_id": edit.id})
            elif edit.status == EditStatus.APPLIED and edit.id not in held:
                edit_log.transition(
                    db, edit.id, EditStatus.REVERTED, RECOVERY_ACTOR,
                    "the memory file no longer holds this edit (a revert committed to the "
                    "memory before the process stopped)",
                    memory_generation=self._memoir.generation)
                changed.append(edit.id)
        for edit_id in held:
            try:
                status = edit_log.get_edit(db, edit_id).status
            except LookupError:
                status = None
            if status in (EditStatus.REVERTED, EditStatus.REJECTED, EditStatus.FAILED, None):
                log.warning("memory holds edit %s whose log status is %s: removing it",
                            edit_id, status)
                self._memoir.revert(str(edit_id))
                changed.append(edit_id)
        if changed:
            log.info("reconciled edit log with memory generation %s: %s",
                     self._memoir.generation, changed)
        return changed

    def close(self) -> None:
        self._memoir.detach()


class _LockedBackend:
    """The prober's model access: the engine's lock per batch (no edit or request
    interleaves with routing), and only while the engine still serves these weights."""

    def __init__(self, engine: Engine, backend: CausalLMBackend):
        self.engine, self.backend = engine, backend

    @property
    def model(self):
        return self.backend.model

    def _check(self) -> None:
        if self.engine._loaded.model is not self.backend.model:
            raise EngineSwitched("the engine switched checkpoint since this prober was "
                                 "built; ask engine.prober() for one on the new weights")

    def greedy(self, prompts: Sequence[str]) -> list[str]:
        with self.engine.lock:
            self._check()
            return self.backend.greedy(prompts)

    def continuation_logprobs(self, prompts: Sequence[str], conts: Sequence[str]) -> list[float]:
        with self.engine.lock:
            self._check()
            return self.backend.continuation_logprobs(prompts, conts)


class BaseModelChat:
    """``engine.base_chat()``: chat completions from the live weights, memory off, on
    whichever checkpoint the engine serves when each batch runs."""

    def __init__(self, engine: Engine, batch_size: int, workers: int = 1):
        self.engine = engine
        self.batch_size = batch_size
        self.workers = workers

    @property
    def name(self) -> str:
        return self.engine.name

    def chat(self, batch, max_new_tokens: int, temperature: float = 0.0) -> list[str]:
        with self.engine.lock.turn:
            local = self.engine._local_chat(self.batch_size, self.workers)
            return local.chat(batch, max_new_tokens, temperature)


def edit_request(edit: Edit, paraphrases: Sequence[str] = (), tokenizer=None) -> EditRequest:
    """The memory's training request for a logged edit: the one way to make one, so a
    rebuild (rollback, distillation) trains exactly what the apply stage trained.

    Each question among the edit's prompts is also trained in the chat forms users send
    (editor/forms.py) when the tokenizer has a chat template, so the edit answers
    ``/v1/chat/completions`` as well as the cloze."""
    prompts = [p for p in (edit.prompts or []) if p != edit.prompt]
    chats = chat_forms(tokenizer, [p for p in [edit.prompt, *prompts] if is_question(p)]) \
        if tokenizer is not None else []
    return EditRequest(
        edit_id=str(edit.id),
        prompt=edit.prompt,
        target=terminated(edit.target),
        paraphrases=tuple(dict.fromkeys([*prompts, *paraphrases, *chats])),
        subject=edit.subject,
        aliases=tuple(a for a in (edit.subject_aliases or []) if a != edit.subject),
        elsewhere=elsewhere(edit),
    )


def elsewhere(edit: Edit) -> tuple[str, ...]:
    """The phrases that name the subject's other relations (editor/routing.py's relation
    stage), less any the edit's own prompts use: an edit is never kept off its own forms."""
    if not edit.relation:
        return ()
    own = " ".join([edit.prompt, *(edit.prompts or [])]).casefold()
    return tuple(p for p in RelationSchema.default().elsewhere(edit.relation)
                 if not elsewhere_pattern([p]).search(own))




def _register_base(db: Database, loaded: LoadedModel) -> Checkpoint:
    """The converted base is the registry's first checkpoint (its lineage root)."""
    try:
        existing = checkpoints.get_checkpoint_by_path(db, loaded.path)
    except LookupError:
        existing = None
    if existing is not None:
        return checkpoints.activate_checkpoint(db, existing.id)
    size = sum(p.stat().st_size for p in Path(loaded.path).glob("*") if p.is_file())
    return checkpoints.register_checkpoint(
        db, loaded.path, status="active", size_bytes=size,
        note=f"base model {loaded.name} (loaded in {loaded.load_seconds:.1f} s"
             f"{', converted from GGUF' if loaded.converted else ''})")


def _prompt_ids(tokenizer, prompt: str | Sequence[int]) -> list[int]:
    """The ids the memory's generate feeds the model for ``prompt`` (for usage counts)."""
    if isinstance(prompt, str):
        return list(tokenizer(prompt)["input_ids"])
    return [int(t) for t in prompt]


class _DecodingStep:
    """Sees every decoding step of one ``generate`` call (as a stopping criterion, which
    transformers calls once per step with the ids so far) and hands it to the recorder.

    With logprobs it also hooks the model's forward pass: the logits it captures are the
    ones the chosen token was picked from, read before any sampling setting touched them.
    Only the generating thread's forward passes count, so nothing else that may run on
    the shared model can slip its logits in.
    """

    def __init__(self, recorder: Recorder, top_n: int | None, cancel: threading.Event | None):
        self.recorder = recorder
        self.top_n = top_n
        self.cancel = cancel
        self.thread = threading.get_ident()
        self.logits = None

    def capture(self, module, args, output) -> None:
        if threading.get_ident() != self.thread:
            return
        logits = getattr(output, "logits", None)
        if logits is None and isinstance(output, (tuple, list)):
            logits = output[0]
        self.logits = logits[:, -1, :]

    def __call__(self, input_ids, scores=None, **kwargs):
        import torch

        tokens = input_ids[:, -1]
        chosen = top_ids = top_values = None
        if self.top_n is not None:
            if self.logits is None:
                raise RuntimeError("logprobs: no logits were captured for this decoding step")
            logprobs = torch.log_softmax(self.logits.float(), dim=-1)
            chosen = logprobs.gather(1, tokens.view(-1, 1).to(logprobs.device)).squeeze(1).tolist()
            if self.top_n > 0:
                values, ids = logprobs.topk(min(self.top_n, logprobs.shape[-1]), dim=-1)
                top_ids, top_values = ids.tolist(), values.tolist()
            self.logits = None
        self.recorder.step(tokens.tolist(), chosen, top_ids, top_values)
        if self.cancel is not None and self.cancel.is_set():
            self.recorder.cancel()
        return torch.tensor(self.recorder.done, dtype=torch.bool, device=input_ids.device)
