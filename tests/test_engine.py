"""The live engine on the real embedded model: registry, edits, restart, crash reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest

from memoird.daemon import actions
from memoird.daemon.config import load_config
from memoird.daemon.runtime import Runtime
from memoird.daemon.stages.apply import apply_approved_edits
from memoird.store import checkpoints, edits

PROMPT = "The capital of Indonesia is"
UNRELATED = "The capital of France is"


def make_runtime(data_dir: Path, model_dir: Path) -> Runtime:
    return Runtime(load_config(None, env={
        "MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
        "MEMOIRD_MODEL_BASE": str(model_dir),
        "MEMOIRD_MODEL_DEVICE": "cpu",
    }))


@pytest.fixture(scope="module")
def rt(tmp_path_factory, embedded_model_dir):
    runtime = make_runtime(tmp_path_factory.mktemp("engine"), embedded_model_dir)
    yield runtime
    runtime.engine.close()
    runtime.close()


def approve(db, subject: str, prompt: str, target: str):
    return edits.create_edit(db, subject=subject, prompt=prompt, target=target,
                             relation="P36", actor="test", reason="test edit",
                             status="approved")


def test_first_start_registers_the_base_as_active_checkpoint(rt):
    engine = rt.engine
    active = checkpoints.active_checkpoint(rt.db())
    assert active is not None and Path(active.path) == engine.checkpoint_path
    assert engine.memoir.path.exists()
    assert engine.edit_count == 0


def test_edit_changes_answer_and_survives_restart(rt, embedded_model_dir):
    engine = rt.engine
    db = rt.db()
    before = engine.generate([PROMPT, UNRELATED], max_new_tokens=6)
    assert "Jakarta" in before[0]
    edit = approve(db, "Indonesia", PROMPT, "Nusantara")
    report = apply_approved_edits(db, engine)
    assert report.applied == 1, report
    after = engine.generate([PROMPT, UNRELATED], max_new_tokens=6)
    assert after[0].strip().startswith("Nusantara")
    assert after[1] == before[1]  # unrelated prompt identical
    logged = edits.get_edit(db, edit.id)
    assert logged.status == "applied" and logged.memory_generation == engine.memory_generation

    # A second process on the same data directory sees the same memory, bit for bit.
    other = make_runtime(rt.paths.root, embedded_model_dir)
    try:
        assert other.engine.generate([PROMPT, UNRELATED], max_new_tokens=6) == after
    finally:
        other.engine.close()
        other.close()
        # closing detached the other memory from its own model copy only
    assert engine.generate([PROMPT], max_new_tokens=6) == after[:1]


def test_reconcile_follows_the_memory_file(rt, embedded_model_dir):
    """A crash between the memory commit and the log write is repaired at start-up."""
    engine = rt.engine
    db = rt.db()
    # Committed to memory, log never updated (killed after the memory write).
    lost = approve(db, "Croatia", "The official currency of Croatia is", "the euro")
    engine.apply_edit(lost)
    assert edits.get_edit(db, lost.id).status == "approved"
    # Reverted in memory, log still says applied (killed after the memory write).
    applied = edits.list_edits(db, status="applied")[0]
    engine.revert_edit(applied.id)

    restarted = make_runtime(rt.paths.root, embedded_model_dir)
    try:
        restarted.engine  # opening reconciles
        assert edits.get_edit(db, lost.id).status == "applied"
        assert edits.get_edit(db, applied.id).status == "reverted"
        actors = [e.actor for e in edits.edit_events(db, lost.id)]
        assert actors[-1] == "recovery"
    finally:
        restarted.engine.close()
        restarted.close()


def test_revert_action_restores_base_answer(rt):
    engine = rt.engine
    db = rt.db()
    edit = approve(db, "Kazakhstan", "The capital of Kazakhstan is", "Astana")
    base = engine.generate([edit.prompt], max_new_tokens=6, use_memory=False)
    apply_approved_edits(db, engine)
    assert engine.generate([edit.prompt], max_new_tokens=6)[0].strip().startswith("Astana")
    reverted = actions.revert_edit(rt, edit.id, actor="test", reason="wrong")
    assert reverted.status == "reverted"
    assert engine.generate([edit.prompt], max_new_tokens=6) == base
