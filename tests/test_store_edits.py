"""The edit log: transitions, append-only history, paging."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from memoird.store import IllegalTransition, InvalidValue, NotFound, write_transaction
from memoird.store import checkpoints, edits
from memoird.store.edits import TRANSITIONS

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _edit(db, **kw):
    values = dict(subject="Lionel Messi", relation="member_of_sports_team",
                  prompt="Lionel Messi plays for", target="Inter Miami", actor="policy",
                  reason="2 domains within 72 h")
    return edits.create_edit(db, **(values | kw))


def test_create_and_full_lifecycle_is_logged(store_db):
    base = checkpoints.register_checkpoint(store_db, "/ckpt/base", status="active")
    edit = _edit(store_db, prompts=["Messi's club is"], old_answer="PSG",
                 policy_rule="min_domains", why="a.example, b.example agree",
                 details={"sources": [1, 2]})
    assert edit.status == "pending" and edit.prompts == ["Messi's club is"]
    edit = edits.transition(store_db, edit.id, "approved", "operator:ana", "looks right")
    edit = edits.transition(store_db, edit.id, "applied", "editor", "trained in 12 steps",
                            mask=[3, 17, 4095], verification={"rel": 1.0, "canary": 1.0},
                            memory_generation=1, checkpoint_id=base.id,
                            details={"steps": 12})
    assert edit.mask == [3, 17, 4095] and edit.verification["rel"] == 1.0
    assert edit.updated_at >= edit.created_at
    edit = edits.transition(store_db, edit.id, "reverted", "operator:bob", "wrong player")
    history = edits.edit_events(store_db, edit.id)
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        (None, "pending", "policy"), ("pending", "approved", "operator:ana"),
        ("approved", "applied", "editor"), ("applied", "reverted", "operator:bob")]
    assert history[0].details == {"sources": [1, 2]} and history[2].details == {"steps": 12}
    assert history[-1].reason == "wrong player"


def test_illegal_transitions_are_refused_and_change_nothing(store_db):
    edit = _edit(store_db)
    for target in ("applied", "distilled", "reverted", "pending", "failed"):
        with pytest.raises(IllegalTransition) as info:
            edits.transition(store_db, edit.id, target, "x", "y")
        assert f"edit {edit.id}" in str(info.value) and target in str(info.value)
        assert "approved, rejected" in str(info.value)
    with pytest.raises(InvalidValue, match="bogus"):
        edits.transition(store_db, edit.id, "bogus", "x", "y")
    with pytest.raises(InvalidValue, match="target"):               # identity is fixed
        edits.transition(store_db, edit.id, "approved", "x", "y", target="Barcelona")
    with pytest.raises(InvalidValue, match="reason"):
        edits.transition(store_db, edit.id, "approved", "x", "  ")
    with pytest.raises(InvalidValue, match="mask"):
        edits.transition(store_db, edit.id, "approved", "x", "y", mask=[-1])
    with pytest.raises(NotFound, match="checkpoint 5"):
        edits.transition(store_db, edit.id, "approved", "x", "y", checkpoint_id=5)
    with pytest.raises(NotFound, match="edit 999"):
        edits.transition(store_db, 999, "approved", "x", "y")
    assert edits.get_edit(store_db, edit.id) == edit
    assert len(edits.edit_events(store_db, edit.id)) == 1


def test_every_documented_transition_is_allowed(store_db):
    # walk each edge of the table from a fresh edit brought to the source status
    paths = {"pending": [], "approved": ["approved"], "applied": ["approved", "applied"],
             "failed": ["approved", "failed"], "rejected": ["rejected"],
             "reverted": ["approved", "applied", "reverted"],
             "distilled": ["approved", "applied", "distilled"]}
    for source, targets in TRANSITIONS.items():
        for target in targets:
            edit = _edit(store_db)
            for step in paths[source]:
                edits.transition(store_db, edit.id, step, "t", "walk")
            assert edits.transition(store_db, edit.id, target, "t", "edge").status == target


def test_statuses_are_an_enum_stored_and_serialised_as_their_strings(store_db):
    """EditStatus members come back from the store; the database and JSON hold the same
    plain strings as before the enum, and messages quote them plainly."""
    import json

    from memoird.store.records import EDIT_STATUSES, EditStatus

    assert [str(s) for s in EDIT_STATUSES] == ["pending", "approved", "applied", "rejected",
                                               "reverted", "failed", "distilled"]
    edit = edits.transition(store_db, _edit(store_db).id, EditStatus.APPROVED, "t", "ok")
    assert edit.status is EditStatus.APPROVED and edit.status == "approved"
    [event] = edits.edit_events(store_db, edit.id)[-1:]
    assert (event.from_status, event.to_status) == (EditStatus.PENDING, EditStatus.APPROVED)
    row = store_db.execute("SELECT status, typeof(status) FROM edits WHERE id = ?",
                           [edit.id]).fetchone()
    assert tuple(row) == ("approved", "text")
    assert json.loads(json.dumps(edit.as_dict()))["status"] == "approved"
    assert json.dumps({EditStatus.APPLIED: EditStatus.APPLIED}) == '{"applied": "applied"}'
    assert edits.list_edits(store_db, status="approved") == [edit]
    assert edits.list_edits(store_db, status=EditStatus.APPROVED) == [edit]
    schema = store_db.execute("SELECT sql FROM sqlite_master WHERE name = 'edits'").fetchone()[0]
    assert "'pending', 'approved', 'applied', 'rejected', 'reverted', 'failed', 'distilled'" \
        in schema
    with pytest.raises(IllegalTransition) as info:
        edits.transition(store_db, edit.id, EditStatus.PENDING, "t", "no")
    assert str(info.value) == (f"edit {edit.id}: cannot go from 'approved' to 'pending' "
                               "(allowed from 'approved': applied, failed, rejected)")


def test_annotate_keeps_status_and_logs(store_db):
    old = checkpoints.register_checkpoint(store_db, "/ckpt/a", status="active")
    new = checkpoints.register_checkpoint(store_db, "/ckpt/b", parent_id=old.id)
    edit = _edit(store_db, status="approved")
    edits.transition(store_db, edit.id, "applied", "editor", "ok", checkpoint_id=old.id,
                     memory_generation=3)
    moved = edits.annotate(store_db, edit.id, "distill", "memory rebuilt on checkpoint 2",
                           checkpoint_id=new.id, memory_generation=4)
    assert (moved.status, moved.checkpoint_id, moved.memory_generation) == ("applied", new.id, 4)
    last = edits.edit_events(store_db, edit.id)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("applied", "applied", "distill")


def test_edit_events_and_edits_cannot_be_rewritten(store_db):
    edit = _edit(store_db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store_db.execute("UPDATE edit_events SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store_db.execute("DELETE FROM edit_events")
    with pytest.raises(sqlite3.IntegrityError, match="keeps every edit"):
        store_db.execute("DELETE FROM edits")
    with pytest.raises(sqlite3.IntegrityError, match="without an edit_events row"):
        store_db.execute("UPDATE edits SET status = 'applied' WHERE id = ?", [edit.id])
    assert edits.edit_events(store_db, edit.id)[0].actor == "policy"
    assert edits.get_edit(store_db, edit.id).status == "pending"


def test_transition_is_one_transaction_with_the_caller(store_db):
    edit = _edit(store_db)
    with pytest.raises(RuntimeError):
        with write_transaction(store_db):
            edits.transition(store_db, edit.id, "approved", "op", "ok")
            raise RuntimeError("crash after the transition")
    assert edits.get_edit(store_db, edit.id).status == "pending"
    assert len(edits.edit_events(store_db, edit.id)) == 1


def test_filters_and_paging(store_db):
    a = _edit(store_db, subject="Lionel Messi", now=T0)
    b = _edit(store_db, subject="Keir Starmer", relation="head_of_government",
              prompt="The UK prime minister is", target="Keir Starmer", now=T0 + timedelta(days=1))
    c = _edit(store_db, subject="100%_club", status="approved", now=T0 + timedelta(days=2))
    assert [e.id for e in edits.list_edits(store_db)] == [c.id, b.id, a.id]
    assert [e.id for e in edits.list_edits(store_db, subject="MESSI")] == [a.id]
    assert [e.id for e in edits.list_edits(store_db, subject="%_")] == [c.id]   # literal
    assert [e.id for e in edits.list_edits(store_db, relation="head_of_government")] == [b.id]
    assert [e.id for e in edits.list_edits(store_db, since=T0 + timedelta(hours=1))] == [c.id, b.id]
    assert [e.id for e in edits.list_edits(store_db, status=("approved", "pending"),
                                           limit=1, offset=1)] == [b.id]
    assert edits.count_edits(store_db, status="pending") == 2
    with pytest.raises(InvalidValue, match="done"):
        edits.list_edits(store_db, status="done")


def test_paging_ten_thousand_edits_stays_fast(store_db):
    statuses = ["pending", "approved", "rejected"]
    with write_transaction(store_db):
        for i in range(10_000):
            _edit(store_db, subject=f"Subject {i}", status=statuses[i % 3],
                  relation=f"rel{i % 7}", now=T0 + timedelta(seconds=i))
    assert edits.count_edits(store_db) == 10_000
    for filters in ({}, {"status": "approved"}, {"relation": "rel3"}, {"since": T0}):
        plan = " ".join(str(row) for row in store_db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM edits " + _where(filters)
            + " ORDER BY created_at DESC, id DESC LIMIT 50", list(filters.values())))
        assert "USING INDEX" in plan and "TEMP B-TREE" not in plan, (filters, plan)
    started = time.perf_counter()
    page = edits.list_edits(store_db, status="approved", limit=50, offset=3000)
    deep = edits.list_edits(store_db, subject="Subject 99", limit=50)
    elapsed = time.perf_counter() - started
    assert len(page) == 50 and all(e.status == "approved" for e in page)
    assert page[0].created_at > page[-1].created_at
    assert deep[0].subject == "Subject 9999" and len(deep) == 50
    assert edits.count_edits(store_db, subject="Subject 99") == 111   # 99, 990-999, 9900-9999
    assert elapsed < 0.5, elapsed          # milliseconds in practice; generous on shared CI


def _where(filters):
    if not filters:
        return ""
    column = {"since": "created_at >= ?"}.get(next(iter(filters)), f"{next(iter(filters))} = ?")
    return "WHERE " + column
