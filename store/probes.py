"""Probes: what the live model answered when asked about a fact.

A probe records which checkpoint and memory generation it asked, because the same
question gets a different answer after every edit and every distillation.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from ._rows import check_choice, check_text, encode, get_record, records
from .checkpoints import get_checkpoint
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .facts import get_fact
from .records import VERDICTS, Probe


def add_probe(db: Database, fact_id: int, *, template: str, answer: str | None,
              verdict: str, scores: dict[str, Any] | None = None,
              checkpoint_id: int | None = None, memory_generation: int | None = None,
              now: Moment | None = None) -> Probe:
    check_choice("probe verdict", verdict, VERDICTS)
    template = check_text("probe template", template)
    with write_transaction(db):
        get_fact(db, fact_id)
        if checkpoint_id is not None:
            get_checkpoint(db, checkpoint_id)
        row = encode(Probe, {
            "fact_id": fact_id, "checkpoint_id": checkpoint_id,
            "memory_generation": memory_generation, "template": template,
            "answer": answer, "scores": dict(scores or {}), "verdict": verdict,
            "created_at": maybe_iso(now, "now") or now_iso(),
        })
        probe_id = db["probes"].insert(row).last_pk
    return get_probe(db, probe_id)


def get_probe(db: Database, probe_id: int) -> Probe:
    return get_record(db, "probes", Probe, probe_id, "probe")


def probes_for_fact(db: Database, fact_id: int) -> list[Probe]:
    """Every probe of a fact, oldest first (the last one is the current belief)."""
    return records(db, Probe, "SELECT * FROM probes WHERE fact_id = ? ORDER BY id", [fact_id])
