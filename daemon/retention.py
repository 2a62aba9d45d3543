"""Retention of checkpoint folders: what stays on disk, and what it costs.

Kept apart because it deletes files: its rules (never the active checkpoint, its parent —
the rollback target — or the lineage root; only folders memoird created; rename first, so a
crash never leaves a half folder that looks like a checkpoint) are easier to review alone.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from memoird.store import checkpoints as registry


def folder_bytes(path: str | Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def apply_retention(runtime, keep: int) -> list[int]:
    """Delete the folders of checkpoints older than the ``keep`` newest; returns their ids.

    Never deleted: the active checkpoint, its parent (the rollback target), the lineage
    root (the original base) and any folder memoird did not create under
    ``<data>/checkpoints/``. Rows stay in the registry (lineage is history), retired, with
    a note; the checkpoint's memory file goes with its folder.
    """
    from memoird.daemon.engine import memory_path

    db = runtime.db()
    active = registry.active_checkpoint(db)
    protected = set()
    if active is not None:
        chain = registry.lineage(db, active.id)
        protected |= {active.id, chain[-1].id}
        if active.parent_id is not None:
            protected.add(active.parent_id)
    root = runtime.paths.checkpoints.resolve()
    on_disk = [c for c in registry.list_checkpoints(db) if Path(c.path).exists()]  # newest first
    kept = {c.id for c in on_disk[:keep]} | protected
    removed = []
    for c in (c for c in on_disk if c.id not in kept):
        folder = Path(c.path).resolve()
        if root not in folder.parents or not folder.name.startswith("distilled-"):
            continue
        if c.status != "retired":
            registry.retire_checkpoint(db, c.id)
        # Renamed first (atomic), so a crash mid-delete never leaves a half folder that
        # looks like a checkpoint; leftovers are removed on the next pass.
        os.replace(folder, folder.with_name(f".deleting-{folder.name}"))
        memory_path(runtime.paths.memory, c).unlink(missing_ok=True)
        registry.update_checkpoint(db, c.id, note=f"{c.note or ''} [folder deleted by retention "
                                                 f"at {time.strftime('%Y-%m-%d %H:%M:%S')}]".strip())
        removed.append(c.id)
    for leftover in root.glob(".deleting-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return removed


def disk_usage(runtime) -> dict[str, Any]:
    """Bytes per checkpoint folder and memory file, and what the file system has left."""
    from memoird.daemon.engine import memory_path

    db = runtime.db()
    rows = []
    for c in registry.list_checkpoints(db):
        mem = memory_path(runtime.paths.memory, c)
        rows.append({"id": c.id, "status": c.status, "folder_bytes": folder_bytes(c.path),
                     "memory_bytes": mem.stat().st_size if mem.exists() else 0,
                     "on_disk": Path(c.path).exists()})
    root = runtime.paths.root if runtime.paths.root.exists() else Path(".")
    usage = shutil.disk_usage(root)
    runs = folder_bytes(runtime.paths.runs)
    return {"checkpoints": rows,
            "total_bytes": sum(r["folder_bytes"] + r["memory_bytes"] for r in rows) + runs,
            "runs_bytes": runs, "free_bytes": usage.free, "disk_bytes": usage.total}
