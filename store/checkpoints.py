"""The checkpoint registry: which base weights exist, where they came from, which is live.

Exactly one checkpoint is ``active`` once any is (a partial UNIQUE index enforces it);
activation retires the previous one in the same transaction, so a reader never sees
zero or two. Rollback is activation of an older checkpoint. Rows are never deleted:
retention removes folders from disk but keeps the row (``note`` says so), so lineage
stays complete.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ._rows import check_choice, check_fields, encode, get_record, records
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .errors import Duplicate, InvalidValue, NotFound
from .records import CHECKPOINT_STATUSES, Checkpoint

#: what update_checkpoint may change; path, parent and status have their own functions
SETTABLE = ("edits_distilled", "gate_metrics", "size_bytes", "note")


def register_checkpoint(db: Database, path: str | Path, *, parent_id: int | None = None,
                        status: str = "candidate", edits_distilled: Sequence[int] = (),
                        gate_metrics: dict[str, Any] | None = None,
                        size_bytes: int | None = None, note: str | None = None,
                        now: Moment | None = None) -> Checkpoint:
    """Record a checkpoint folder; ``status="active"`` also activates it (first base)."""
    check_choice("initial checkpoint status", status, ("candidate", "active"))
    path = str(path)
    if not path.strip():
        raise InvalidValue("checkpoint path: must not be empty")
    fields = _checked({"edits_distilled": edits_distilled, "gate_metrics": gate_metrics or {},
                       "size_bytes": size_bytes, "note": note})
    with write_transaction(db):
        if parent_id is not None:
            get_checkpoint(db, parent_id)
        try:
            checkpoint_id = db["checkpoints"].insert(encode(Checkpoint, fields | {
                "path": path, "parent_id": parent_id, "status": "candidate",
                "created_at": maybe_iso(now, "now") or now_iso(),
            })).last_pk
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            raise Duplicate("checkpoint", "path", path,
                            get_checkpoint_by_path(db, path).id) from None
        if status == "active":
            activate_checkpoint(db, checkpoint_id)
    return get_checkpoint(db, checkpoint_id)


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    if "edits_distilled" in fields:
        ids = fields["edits_distilled"]
        if isinstance(ids, (str, bytes)) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidValue(f"edits_distilled: {ids!r} must be a list of edit ids")
        fields["edits_distilled"] = list(ids)
    if "gate_metrics" in fields and not isinstance(fields["gate_metrics"], dict):
        raise InvalidValue(f"gate_metrics: {fields['gate_metrics']!r} is not a dict")
    size = fields.get("size_bytes")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidValue(f"size_bytes: {size!r} is not a non-negative integer")
    return fields


def get_checkpoint(db: Database, checkpoint_id: int) -> Checkpoint:
    return get_record(db, "checkpoints", Checkpoint, checkpoint_id, "checkpoint")


def get_checkpoint_by_path(db: Database, path: str | Path) -> Checkpoint:
    rows = records(db, Checkpoint, "SELECT * FROM checkpoints WHERE path = ?", [str(path)])
    if not rows:
        raise NotFound("checkpoint with path", str(path))
    return rows[0]


def list_checkpoints(db: Database, status: str | None = None) -> list[Checkpoint]:
    """Checkpoints newest first, optionally with one status."""
    if status is None:
        return records(db, Checkpoint, "SELECT * FROM checkpoints ORDER BY id DESC")
    check_choice("checkpoint status", status, CHECKPOINT_STATUSES)
    return records(db, Checkpoint,
                   "SELECT * FROM checkpoints WHERE status = ? ORDER BY id DESC", [status])


def active_checkpoint(db: Database) -> Checkpoint | None:
    """The live base checkpoint, or None before the first one is registered."""
    rows = records(db, Checkpoint, "SELECT * FROM checkpoints WHERE status = 'active'")
    return rows[0] if rows else None


def activate_checkpoint(db: Database, checkpoint_id: int) -> Checkpoint:
    """Make this checkpoint the active one and retire the previous, atomically."""
    with write_transaction(db):
        target = get_checkpoint(db, checkpoint_id)
        if target.status != "active":
            db.execute("UPDATE checkpoints SET status = 'retired' WHERE status = 'active'")
            db.execute("UPDATE checkpoints SET status = 'active' WHERE id = ?", [checkpoint_id])
    return get_checkpoint(db, checkpoint_id)


def retire_checkpoint(db: Database, checkpoint_id: int, note: str | None = None) -> Checkpoint:
    """Mark a candidate or old checkpoint retired (before deleting its folder)."""
    with write_transaction(db):
        current = get_checkpoint(db, checkpoint_id)
        if current.status == "active":
            raise InvalidValue(f"checkpoint {checkpoint_id} is active; activate another "
                               "checkpoint before retiring it")
        fields: dict[str, Any] = {"status": "retired"}
        if note is not None:
            fields["note"] = note
        db["checkpoints"].update(checkpoint_id, fields)
    return get_checkpoint(db, checkpoint_id)


def update_checkpoint(db: Database, checkpoint_id: int, **fields: Any) -> Checkpoint:
    """Attach results to a checkpoint: gate report, size on disk, absorbed edits, note."""
    check_fields(f"checkpoint {checkpoint_id}", fields, SETTABLE)
    fields = _checked(dict(fields))
    with write_transaction(db):
        get_checkpoint(db, checkpoint_id)
        if fields:
            db["checkpoints"].update(checkpoint_id, encode(Checkpoint, fields))
    return get_checkpoint(db, checkpoint_id)


def lineage(db: Database, checkpoint_id: int) -> list[Checkpoint]:
    """The checkpoint, its parent, grandparent... up to the original base."""
    get_checkpoint(db, checkpoint_id)
    return records(db, Checkpoint, """
        WITH RECURSIVE chain(id, depth) AS (
            SELECT id, 0 FROM checkpoints WHERE id = ?
            UNION ALL
            SELECT c.parent_id, chain.depth + 1 FROM checkpoints c JOIN chain ON c.id = chain.id
            WHERE c.parent_id IS NOT NULL AND chain.depth < 10000)
        SELECT checkpoints.* FROM chain JOIN checkpoints USING (id) ORDER BY chain.depth""",
        [checkpoint_id])
