"""The checkpoint registry: one active checkpoint, lineage, rollback."""

from __future__ import annotations

import sqlite3

import pytest

from memoird.store import Duplicate, InvalidValue, NotFound
from memoird.store import checkpoints


def test_first_active_then_activation_retires_the_previous(store_db):
    assert checkpoints.active_checkpoint(store_db) is None
    base = checkpoints.register_checkpoint(store_db, "/data/checkpoints/smollm2",
                                           status="active", size_bytes=270_000_000)
    cand = checkpoints.register_checkpoint(store_db, "/data/checkpoints/d1", parent_id=base.id,
                                           edits_distilled=[1, 2, 3])
    assert cand.status == "candidate" and cand.edits_distilled == [1, 2, 3]
    assert checkpoints.active_checkpoint(store_db) == base
    checkpoints.update_checkpoint(store_db, cand.id, gate_metrics={"rel": 0.93, "ppl_drift": 0.01})
    now_active = checkpoints.activate_checkpoint(store_db, cand.id)
    assert now_active.status == "active" and now_active.gate_metrics["rel"] == 0.93
    assert checkpoints.get_checkpoint(store_db, base.id).status == "retired"
    # rollback = activate the old one again
    checkpoints.activate_checkpoint(store_db, base.id)
    assert checkpoints.active_checkpoint(store_db).id == base.id
    assert [c.status for c in checkpoints.list_checkpoints(store_db)] == ["retired", "active"]
    assert checkpoints.list_checkpoints(store_db, status="active") == [
        checkpoints.get_checkpoint(store_db, base.id)]


def test_the_database_itself_refuses_two_active(store_db):
    checkpoints.register_checkpoint(store_db, "/a", status="active")
    other = checkpoints.register_checkpoint(store_db, "/b")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store_db.execute("UPDATE checkpoints SET status = 'active' WHERE id = ?", [other.id])


def test_lineage_walks_to_the_root(store_db):
    a = checkpoints.register_checkpoint(store_db, "/a", status="active")
    b = checkpoints.register_checkpoint(store_db, "/b", parent_id=a.id)
    c = checkpoints.register_checkpoint(store_db, "/c", parent_id=b.id)
    checkpoints.register_checkpoint(store_db, "/sibling", parent_id=a.id)
    assert [x.id for x in checkpoints.lineage(store_db, c.id)] == [c.id, b.id, a.id]
    assert [x.id for x in checkpoints.lineage(store_db, a.id)] == [a.id]


def test_bad_input_is_refused(store_db):
    a = checkpoints.register_checkpoint(store_db, "/a", status="active")
    with pytest.raises(Duplicate, match="'/a'"):
        checkpoints.register_checkpoint(store_db, "/a")
    with pytest.raises(NotFound, match="checkpoint 9"):
        checkpoints.register_checkpoint(store_db, "/x", parent_id=9)
    with pytest.raises(InvalidValue, match="retired"):
        checkpoints.register_checkpoint(store_db, "/y", status="retired")
    with pytest.raises(InvalidValue, match="active"):
        checkpoints.retire_checkpoint(store_db, a.id)
    with pytest.raises(InvalidValue, match="path"):
        checkpoints.update_checkpoint(store_db, a.id, path="/elsewhere")
    with pytest.raises(InvalidValue, match="size_bytes"):
        checkpoints.update_checkpoint(store_db, a.id, size_bytes=-5)
    with pytest.raises(NotFound, match="checkpoint 42"):
        checkpoints.activate_checkpoint(store_db, 42)
    assert checkpoints.list_checkpoints(store_db) == [a]
    assert checkpoints.get_checkpoint_by_path(store_db, "/a") == a
    cand = checkpoints.register_checkpoint(store_db, "/b", parent_id=a.id)
    retired = checkpoints.retire_checkpoint(store_db, cand.id, note="failed gate; folder deleted")
    assert retired.status == "retired" and retired.note.startswith("failed gate")
