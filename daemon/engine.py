"""The live model: the active base checkpoint plus its MEMOIR memory, shared by every stage.

The API answers completions with it, the probe stage asks it what it believes, the apply
stage writes edits into it. It is opened from the checkpoint registry (the active
checkpoint; on first start the configured base model, registered as the first
checkpoint) and the memory file that belongs to that checkpoint.

Crash safety rests on one rule: the memory file is the commit point for weights, and the
edit log follows it. ``Memoir`` rewrites the file atomically after every edit and revert,
so a process killed at any instant leaves either the old or the new memory on disk. At
start ``reconcile`` makes the log agree with the file: an edit the file holds but the log
still calls ``approved`` was committed (→ ``applied``); an edit the log calls ``applied``
that the file does not hold was reverted, or never committed (→ ``reverted`` or back to
``approved`` to be trained again, by what its last event asked for).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlite_utils import Database

from memoird.daemon.completion import (Completion, Delta, OnDelta, Recorder, TokenTable,
                                       cut_at_stop)
from memoird.editor.forms import chat_forms, is_question
from memoird.editor.memoir import EditRequest, EditResult, Memoir, MemoirConfig, eos_ids
from memoird.editor.model import LoadedModel, load_base
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


class Engine:
    def __init__(self, loaded: LoadedModel, memoir: Memoir, checkpoint: Checkpoint):
        self.loaded = loaded
        self.memoir = memoir
        self.checkpoint = checkpoint
        self.lock = threading.RLock()
        self.routed_requests = 0
        self.total_requests = 0
        self._token_table: TokenTable | None = None

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
            loaded.name = _base_name(model_cfg.base, loaded.name)
        path = memory_path(paths.memory, active)
        path.parent.mkdir(parents=True, exist_ok=True)
        memoir = Memoir.open(path, loaded.model, loaded.tokenizer, memory_config(config.memory))
        if not path.exists():
            memoir.fit_background()
            memoir.save()
        engine = cls(loaded, memoir, active)
        engine.reconcile(db)
        return engine

    # ------------------------------------------------------------------ facts about it
    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def load_seconds(self) -> float:
        return self.loaded.load_seconds

    @property
    def converted(self) -> bool:
        return self.loaded.converted

    @property
    def context_length(self) -> int | None:
        """The longest prompt + completion the model takes, in tokens (None: unknown)."""
        config = getattr(self.loaded.model, "config", None)
        value = getattr(config, "max_position_embeddings", None)
        return int(value) if isinstance(value, int) and value > 0 else None

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint.path)

    @property
    def memory_layer(self) -> int:
        return self.memoir.layer

    @property
    def edit_count(self) -> int:
        return len(self.memoir)

    def memory_stats(self) -> dict[str, Any]:
        path = self.memoir.path
        return {
            "edits": len(self.memoir),
            "generation": self.memoir.generation,
            "layer": self.memoir.layer,
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
        with self.lock:
            if use_memory:
                texts = self.memoir.generate(list(prompts), max_new_tokens,
                                             **self._generate_kwargs(temperature))
                self._count_routes(self.memoir.last_routes)
            else:
                with self.memoir.disabled():
                    texts = self.memoir.generate(list(prompts), max_new_tokens,
                                                 **self._generate_kwargs(temperature))
        return [cut_at_stop(t, stop) for t in texts]

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
                            max_new_tokens, stop, eos_ids(self.loaded.model, tokenizer),
                            table, on_delta)
        step = _DecodingStep(recorder, logprobs, cancel)
        with self.lock:
            recorder.memory_generation = self.memoir.generation
            model = self.loaded.model
            hook = model.register_forward_hook(step.capture) if logprobs is not None else None
            try:
                self.memoir.generate_ids(prompts, max_new_tokens,
                                         stopping_criteria=StoppingCriteriaList([step]),
                                         **self._generate_kwargs(temperature, top_p))
                self._count_routes(self.memoir.last_routes)
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
        with self.lock:
            return self.memoir.route(list(prompts))

    def _count_routes(self, routes: Sequence[str | None]) -> None:
        self.total_requests += len(routes)
        self.routed_requests += sum(r is not None for r in routes)

    def prober(self):
        """What the probe stage asks: this engine, with its checkpoint and memory generation."""
        return self

    @property
    def memory_generation(self) -> int:
        return self.memoir.generation

    # ------------------------------------------------------------------ editing
    def apply_edit(self, edit: Edit, paraphrases: Sequence[str] = ()) -> AppliedEdit:
        """Train one logged edit into the memory and commit the memory file."""
        with self.lock:
            result = self.memoir.edit(edit_request(edit, paraphrases, self.tokenizer))
        return AppliedEdit(result, result.generation)

    def revert_edit(self, edit_id: int | str, exact: bool = False) -> dict[str, Any]:
        with self.lock:
            started = time.perf_counter()
            self.memoir.revert(str(edit_id), exact=exact)
            return {"memory_generation": self.memoir.generation,
                    "exact": exact, "seconds": round(time.perf_counter() - started, 3)}

    def holds(self, edit_id: int | str) -> bool:
        return str(edit_id) in self.memoir.edit_ids()

    # ------------------------------------------------------------------ recovery
    def reconcile(self, db: Database) -> list[int]:
        """Make the edit log agree with the memory file after a crash; returns changed ids."""
        held = {int(i) for i in self.memoir.edit_ids() if i.isdigit()}
        changed: list[int] = []
        for edit in edit_log.list_edits(db, status=[EditStatus.APPROVED, EditStatus.APPLIED],
                                        limit=1_000_000):
            if edit.checkpoint_id not in (None, self.checkpoint.id):
                continue  # lives in another checkpoint's memory
            if edit.status == EditStatus.APPROVED and edit.id in held:
                edit_log.transition(
                    db, edit.id, EditStatus.APPLIED, RECOVERY_ACTOR,
                    "the memory file committed this edit before the process stopped",
                    memory_generation=self.memoir.generation, checkpoint_id=self.checkpoint.id)
                changed.append(edit.id)
            elif edit.status == EditStatus.APPLIED and edit.id not in held:
                edit_log.transition(
                    db, edit.id, EditStatus.REVERTED, RECOVERY_ACTOR,
                    "the memory file no longer holds this edit (a revert committed to the "
                    "memory before the process stopped)",
                    memory_generation=self.memoir.generation)
                changed.append(edit.id)
        for edit_id in held:
            try:
                status = edit_log.get_edit(db, edit_id).status
            except LookupError:
                status = None
            if status in (EditStatus.REVERTED, EditStatus.REJECTED, EditStatus.FAILED, None):
                log.warning("memory holds edit %s whose log status is %s: removing it",
                            edit_id, status)
                self.memoir.revert(str(edit_id))
                changed.append(edit_id)
        if changed:
            log.info("reconciled edit log with memory generation %s: %s",
                     self.memoir.generation, changed)
        return changed

    def close(self) -> None:
        self.memoir.detach()


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
    )


def terminated(target: str) -> str:
    """The target as a finished statement ("Astana" -> "Astana.").

    Training only the object's tokens leaves the token after them free, and a small model
    then runs on ("Astanaat"); ending the cloze with a full stop, as the news sentence
    did, teaches it where the object ends.
    """
    target = target.strip()
    return target if target[-1:] in ".!?" else f"{target}."


def _base_name(spec: str, folder_name: str) -> str:
    return spec if not Path(spec).exists() else folder_name


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
