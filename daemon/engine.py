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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlite_utils import Database

from memoird.editor.forms import chat_forms, is_question
from memoird.editor.memoir import EditRequest, EditResult, Memoir, MemoirConfig
from memoird.editor.model import LoadedModel, load_base
from memoird.store import checkpoints
from memoird.store import edits as edit_log
from memoird.store.records import Checkpoint, Edit

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
    def _generate_kwargs(self, temperature: float) -> dict[str, Any]:
        if temperature and temperature > 0:
            return {"do_sample": True, "temperature": float(temperature)}
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

    def stream(self, prompt: str, max_new_tokens: int = 32, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        """Text pieces as they are decoded (for SSE); routing is decided at prefill."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True,
                                        skip_special_tokens=True)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with self.lock:
                    self.memoir.generate([prompt], max_new_tokens, streamer=streamer,
                                         **self._generate_kwargs(temperature))
                    self._count_routes(self.memoir.last_routes)
            except BaseException as exc:  # surfaced to the reader below
                errors.append(exc)
                streamer.on_finalized_text("", stream_end=True)

        thread = threading.Thread(target=work, name="memoird-stream", daemon=True)
        thread.start()
        text, emitted = "", 0
        for piece in streamer:
            text += piece
            cut = cut_at_stop(text, stop)
            if len(cut) > emitted:
                yield cut[emitted:]
                emitted = len(cut)
            if cut != text:
                break  # the rest is decoded but not sent, as with OpenAI's stop
        thread.join()
        if errors:
            raise errors[0]

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
        for edit in edit_log.list_edits(db, status=["approved", "applied"], limit=1_000_000):
            if edit.checkpoint_id not in (None, self.checkpoint.id):
                continue  # lives in another checkpoint's memory
            if edit.status == "approved" and edit.id in held:
                edit_log.transition(
                    db, edit.id, "applied", RECOVERY_ACTOR,
                    "the memory file committed this edit before the process stopped",
                    memory_generation=self.memoir.generation, checkpoint_id=self.checkpoint.id)
                changed.append(edit.id)
            elif edit.status == "applied" and edit.id not in held:
                edit_log.transition(
                    db, edit.id, "reverted", RECOVERY_ACTOR,
                    "the memory file no longer holds this edit (a revert committed to the "
                    "memory before the process stopped)",
                    memory_generation=self.memoir.generation)
                changed.append(edit.id)
        for edit_id in held:
            try:
                status = edit_log.get_edit(db, edit_id).status
            except LookupError:
                status = None
            if status in ("reverted", "rejected", "failed", None):
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


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut a completion at the first stop string, as the OpenAI API does."""
    if not stop:
        return text
    cuts = [text.find(s) for s in stop if s]
    cuts = [c for c in cuts if c >= 0]
    return text[: min(cuts)] if cuts else text


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
