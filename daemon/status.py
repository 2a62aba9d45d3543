"""`memoird status`: the queues and the live model at a glance, without loading the model.

Everything comes from the database and the files in the data directory, so status answers in
well under a second even while the daemon is busy editing.
"""

from __future__ import annotations

from typing import Any

from memoird.editor.builtin_models import checkpoint_name
from memoird.store import checkpoints, db as store_db
from memoird.store.records import ARTICLE_STATUSES, EDIT_STATUSES, FACT_STATUSES, FEED_STATUSES


def _counts(db, table: str, statuses: tuple[str, ...]) -> dict[str, int]:
    rows = dict(db.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall())
    return {s: int(rows.get(s, 0)) for s in statuses}


def collect_status(rt) -> dict[str, dict[str, Any]]:
    db = rt.db()
    active = checkpoints.active_checkpoint(db)
    memory_files = sorted(rt.paths.memory.glob("**/*")) if rt.paths.memory.exists() else []
    return {
        "daemon": {
            "data_dir": str(rt.paths.root),
            "config": str(rt.config_path) if rt.config_path else "(defaults + environment)",
            "schema": ", ".join(store_db.schema_version(db)[-1:]) or "-",
        },
        "model": {
            "base": rt.config.model.base,
            "active_checkpoint": f"{active.id}: {active.path}" if active else "(none yet: run init)",
            # what the daemon serves it as: the base's name only for the base's own folder
            "serving": checkpoint_name(rt.config.model.base, rt.paths.root, active.id,
                                       active.path) if active else "-",
            "device": rt.config.model.device,
            "memory_bytes": sum(p.stat().st_size for p in memory_files if p.is_file()),
        },
        "feeds": _counts(db, "feeds", FEED_STATUSES),
        "articles": _counts(db, "articles", ARTICLE_STATUSES),
        "facts": _counts(db, "facts", FACT_STATUSES),
        "edits": _counts(db, "edits", EDIT_STATUSES),
    }
