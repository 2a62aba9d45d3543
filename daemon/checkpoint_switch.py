"""Checkpoint switching and rollback: which weights serve, with which memory.

Kept apart from the job because activation after a distillation, a manual activation and a
rollback are one operation (``switch_checkpoint``) with one invariant: the served knowledge
(weights + memory) must not change, so the target's memory holds exactly the applied edits
its weights lack, and one database transaction moves every edit's status. A target that
differs from the active checkpoint only in the memory layer's ``down_proj`` (a memory-layer
fold, ``editor/nullspace.py``) gets the active memory carried over without re-fitting: the
layer's inputs, which the memory reads, are the same on both.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from memoird.store import checkpoints as registry
from memoird.store import edits as edit_log
from memoird.store.db import write_transaction
from memoird.store.errors import InvalidValue
from memoird.store.records import Checkpoint, EditStatus

log = logging.getLogger(__name__)

ACTOR = "distill"


class DistillJobError(RuntimeError):
    """The job cannot run: no active checkpoint, no memory file... (the message says)."""


# ---------------------------------------------------------------------- switching


def switch_checkpoint(runtime, target_id: int, *, engine=None, actor: str = ACTOR,
                      reason: str = "checkpoint switch", allow_failed_gate: bool = True) -> dict:
    """Make ``target_id`` the active checkpoint with a memory that holds what it lacks.

    Used for activation after distillation, manual activation and rollback alike. The
    knowledge the served model has now is the current memory's applied edits plus the
    edits absorbed along the active checkpoint's lineage; the target absorbed the edits
    along its own lineage; its memory gets the difference. Absorbed edits become
    ``distilled`` (checkpoint_id = the checkpoint that absorbed them), the others
    ``applied`` with checkpoint_id = the target, each with an event saying why.
    """
    from memoird.daemon.engine import memory_config, memory_path
    from memoird.editor.model import load_base

    db = runtime.db()
    target = registry.get_checkpoint(db, target_id)
    active = registry.active_checkpoint(db)
    if active is None:
        raise DistillJobError("no active checkpoint to switch from")
    if not (Path(target.path) / "config.json").exists():
        raise InvalidValue(f"checkpoint {target.id}: folder {target.path} is gone (deleted by "
                           "retention?); it cannot be activated")
    if target.id == active.id:
        return {"checkpoint_id": target.id, "kept": [], "absorbed": [], "unchanged": True}
    lock = engine.lock if engine is not None else _NullLock()

    def plan_now():
        current = _memory_requests(memory_path(runtime.paths.memory, active))
        known = list(current)
        for e in edit_log.list_edits(db, status=EditStatus.DISTILLED, limit=1_000_000):
            if e.checkpoint_id in {c.id for c in registry.lineage(db, active.id)}:
                known.append(str(e.id))
        absorbed_by = _absorbed_by(db, target.id)
        keep = [i for i in dict.fromkeys(known) if int(i) not in absorbed_by]
        return current, known, absorbed_by, keep

    current, known, absorbed_by, keep = plan_now()
    config = runtime.config
    loaded = load_base(target.path, runtime.paths.root, config.model.device, config.model.dtype)
    path = memory_path(runtime.paths.memory, target)
    carry = memory_path(runtime.paths.memory, active) if _folded_from(target, active) else None
    mem = _target_memory(path, loaded, memory_config(config.memory), carry)
    try:
        _sync_memory(mem, keep, current, db)
        with lock:  # edits applied meanwhile by the live engine are carried over here
            current, known, absorbed_by, keep = plan_now()
            _sync_memory(mem, keep, current, db)
            mem.save(path)
            with write_transaction(db):
                registry.activate_checkpoint(db, target.id)
                for edit_id in known:
                    _move_edit(db, int(edit_id), target, absorbed_by, mem.generation, actor, reason)
            if engine is not None:  # the live engine serves the target from now on
                engine.switch(loaded, mem, registry.get_checkpoint(db, target.id))
                mem = None  # now the engine's
    finally:
        if mem is not None:
            mem.detach()
    log.info("checkpoint %s is active (was %s); memory holds %d edits", target.id, active.id,
             len(keep))
    return {"checkpoint_id": target.id, "previous_id": active.id, "kept": [int(i) for i in keep],
            "absorbed": sorted(i for i in absorbed_by if str(i) in known), "unchanged": False}


def _absorbed_by(db, checkpoint_id: int) -> dict[int, int]:
    """edit id -> the checkpoint of this lineage that absorbed it (nearest first wins)."""
    out: dict[int, int] = {}
    for c in registry.lineage(db, checkpoint_id):
        for edit_id in c.edits_distilled:
            out.setdefault(edit_id, c.id)
    return out


def _memory_requests(path: Path) -> dict[str, Any]:
    """Edit id -> EditRequest of what a memory file holds (empty when there is none)."""
    from memoird.editor.memoir import EditRequest
    from memoird.editor.memory_io import read_memory

    if not path.exists():
        return {}
    _, meta = read_memory(path)
    return {e["edit_id"]: EditRequest.from_meta(e) for e in meta["edits"]}


def _target_memory(path: Path, loaded, config, carry: Path | None = None):
    """The target's memory file if it has one for these weights; else the active memory
    carried over as it is (``carry``: the target is a memory-layer fold of the active
    checkpoint); else a fresh memory whose background mean is fitted on the target's weights.
    The result always commits to ``path``, never to the file it was read from."""
    from memoird.editor.memoir import Memoir
    from memoird.editor.memory_io import MemoryFileError

    if path.exists():
        try:
            return Memoir.load(path, loaded.model, loaded.tokenizer)
        except MemoryFileError as exc:
            log.warning("rebuilding memory %s: %s", path, exc)
    if carry is not None and carry.exists():
        mem = Memoir.load(carry, loaded.model, loaded.tokenizer, rebase=True)
        mem.path = path
        log.info("memory %s carried over to %s without re-fitting (memory-layer fold)", carry, path)
        return mem
    mem = Memoir.attach(loaded.model, loaded.tokenizer, config)
    mem.fit_background()
    return mem


def _folded_from(target: Checkpoint, active: Checkpoint) -> bool:
    """Is ``target`` the active checkpoint with only its memory layer's ``down_proj`` changed?

    Then the memory's inputs are the same on both and its file can be carried over. Told
    by the fold's record on the target and checked on the weights themselves (every other
    tensor of the two folders equal), so a hand-made or corrupted folder is re-fitted."""
    fold = (target.gate_metrics or {}).get("fold") or {}
    tensor = fold.get("tensor")
    if target.parent_id != active.id or not tensor:
        return False
    try:
        return changed_tensors(active.path, target.path) <= {tensor}
    except (OSError, ValueError) as exc:
        log.warning("cannot compare %s with %s (%s): the memory is re-fitted", target.path,
                    active.path, exc)
        return False


def changed_tensors(a: str | Path, b: str | Path) -> set[str]:
    """Names of the tensors that differ between two safetensors checkpoint folders (a
    tensor present in one only counts as changed)."""
    import torch
    from safetensors import safe_open

    def tensors(folder: str | Path) -> dict[str, tuple[Path, str]]:
        out = {}
        for f in sorted(Path(folder).glob("*.safetensors")):
            with safe_open(str(f), "pt") as h:
                out.update({k: (f, k) for k in h.keys()})
        if not out:
            raise ValueError(f"{folder} holds no safetensors weights")
        return out

    ta, tb = tensors(a), tensors(b)
    changed = set(ta) ^ set(tb)
    for name in set(ta) & set(tb):
        with safe_open(str(ta[name][0]), "pt") as ha, safe_open(str(tb[name][0]), "pt") as hb:
            if not torch.equal(ha.get_tensor(name), hb.get_tensor(name)):
                changed.add(name)
    return changed


def _sync_memory(mem, keep: Sequence[str], current: dict, db) -> None:
    """Revert what ``mem`` holds beyond ``keep``; train what it lacks, in log order."""
    from memoird.daemon.engine import edit_request

    wanted = set(keep)
    for edit_id in [i for i in mem.edit_ids() if i not in wanted]:
        mem.revert(edit_id)
    have = set(mem.edit_ids())
    for edit_id in keep:
        if edit_id in have:
            continue
        request = current.get(edit_id)
        if request is None:  # absorbed earlier, now back in a memory (rollback)
            e = edit_log.get_edit(db, int(edit_id))
            request = edit_request(e, tokenizer=mem.tokenizer)
        mem.edit(request)


def _move_edit(db, edit_id: int, target: Checkpoint, absorbed_by: dict[int, int],
               generation: int, actor: str, reason: str) -> None:
    edit = edit_log.get_edit(db, edit_id)
    if edit_id in absorbed_by:
        where = absorbed_by[edit_id]
        text = f"{reason}: absorbed into the weights of checkpoint {where}"
        if edit.status == EditStatus.APPLIED:
            edit_log.transition(db, edit_id, EditStatus.DISTILLED, actor, text, checkpoint_id=where,
                                details={"checkpoint_id": where, "active": target.id})
        elif edit.checkpoint_id != where:
            edit_log.annotate(db, edit_id, actor, text, checkpoint_id=where,
                              details={"checkpoint_id": where, "active": target.id})
        return
    text = f"{reason}: held by the memory of checkpoint {target.id} (generation {generation})"
    details = {"checkpoint_id": target.id, "memory_generation": generation}
    if edit.status == EditStatus.DISTILLED:
        edit_log.transition(db, edit_id, EditStatus.APPLIED, actor, text, checkpoint_id=target.id,
                            memory_generation=generation, details=details)
    elif edit.status == EditStatus.APPLIED:
        edit_log.annotate(db, edit_id, actor, text, checkpoint_id=target.id,
                          memory_generation=generation, details=details)


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def rollback(runtime, to_id: int | None = None, *, engine=None, actor: str = "operator",
             reason: str | None = None) -> dict:
    """Activate ``to_id`` or, by default, the active checkpoint's parent."""
    db = runtime.db()
    active = registry.active_checkpoint(db)
    if active is None:
        raise DistillJobError(f"no active checkpoint in {runtime.paths.root} to roll back: "
                              "run `memoird init` first")
    if to_id is None:
        if active.parent_id is None:
            raise InvalidValue(f"checkpoint {active.id} is the original base: nothing to roll "
                               "back to")
        to_id = active.parent_id
    return switch_checkpoint(runtime, to_id, engine=engine, actor=actor,
                             reason=reason or f"rollback from checkpoint {active.id}")
