"""The distillation job on a tiny random Llama: activation with a rebuilt memory, the edit
log, rollback, a failing gate, and a SIGKILL mid-run that leaves the live state untouched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from memoir_tiny import tiny_model, tiny_tokenizer

from memoird.daemon.config import load_config
from memoird.daemon.distill_job import rollback, run_distillation
from memoird.daemon.engine import memory_path
from memoird.daemon.runtime import Runtime
from memoird.daemon.stages.apply import apply_approved_edits
from memoird.editor.distill import DistillConfig
from memoird.store import checkpoints as registry
from memoird.store import edits as edit_log

EDITS = [("messi plays for", "arsenal", "messi"), ("the capital of france is", "rome", "france"),
         ("kane was born in", "madrid", "kane"), ("ronaldo writes a", "book", "ronaldo")]
LATE = ("who is the capital of italy ?", "london", "italy")
TRAIN = dict(layers=(2, 3), lr=3e-3, batch_size=4, replay_tokens=64, replay_batch=32,
             max_epochs=40, stop_accuracy=1.0)
LOOSE = {"MEMOIRD_DISTILL_METHOD": "student",  # the student: these tests train it
         "MEMOIRD_DISTILL_MIN_RELIABILITY": "0.5", "MEMOIRD_DISTILL_MIN_LOCALITY": "0.0",
         "MEMOIRD_DISTILL_MAX_PPL_DRIFT": "1000"}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-base") / "tiny"
    tiny_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def _env(data_dir: Path, base: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"MEMOIRD_DAEMON_DATA_DIR": str(data_dir), "MEMOIRD_MODEL_BASE": str(base),
            "MEMOIRD_MODEL_DEVICE": "cpu"} | LOOSE | (extra or {})


def _runtime(data_dir: Path, base: Path, extra: dict[str, str] | None = None) -> Runtime:
    return Runtime(load_config(None, env=_env(data_dir, base, extra)))


def _apply(rt: Runtime, items) -> list[int]:
    db = rt.db()
    ids = [edit_log.create_edit(db, subject=s, prompt=p, target=t, actor="test",
                                reason="test edit", status="approved").id for p, t, s in items]
    report = apply_approved_edits(db, rt.engine)
    assert report.applied == len(items), report
    return ids


def _answers(rt: Runtime, items) -> list[str]:
    return [a.strip() for a in rt.engine.generate([p for p, _, _ in items], max_new_tokens=1)]


def _served(rt: Runtime) -> str:
    """What `memoird status` says the daemon serves (computed without loading the model)."""
    from memoird.daemon.status import collect_status

    return collect_status(rt)["model"]["serving"]


def _init(rt: Runtime, base: Path, monkeypatch, capsys) -> str:
    """What `memoird init` prints for the data directory as it is now."""
    from memoird.daemon.cli import main

    for key, value in _env(rt.paths.root, base).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(rt.paths.root)
    capsys.readouterr()
    assert main(["init"]) == 0
    return capsys.readouterr().out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rt(tmp_path, tiny_base):
    runtime = _runtime(tmp_path / "data", tiny_base)
    yield runtime
    runtime.engine.close()
    runtime.close()


def test_activation_rebuilds_memory_logs_every_edit_and_rolls_back(rt, tiny_base, monkeypatch,
                                                                  capsys):
    ids = _apply(rt, EDITS)
    db = rt.db()
    base = registry.active_checkpoint(db)
    old_memory = memory_path(rt.paths.memory, base)
    served = _answers(rt, EDITS)  # what base + memory answer (a tiny memory may miss one)
    held = [t for (_, t, _), a in zip(EDITS, served) if a == t]
    assert len(held) >= 3, served
    late: list[int] = []

    def edit_during_training() -> bool:  # the daemon keeps editing while the job trains
        if not late:
            late.extend(_apply(rt, [LATE]))
        return False

    outcome = run_distillation(rt, engine=rt.engine, force=True, progress=False,
                               stop=edit_during_training, train_config=DistillConfig(**TRAIN))
    assert outcome.status == "activated", outcome
    new = registry.active_checkpoint(db)
    assert new.id == outcome.checkpoint_id and new.parent_id == base.id
    assert registry.get_checkpoint(db, base.id).status == "retired"
    assert new.gate_metrics["passed"] and new.gate_metrics["reliability"] >= 0.5
    absorbed = set(new.edits_distilled)
    assert absorbed and absorbed <= set(ids) and late[0] not in absorbed
    # The live engine serves the new weights with a memory of only what they lack, under
    # the new checkpoint's id (never the base model's name), and so does a restart.
    assert rt.engine.checkpoint.id == new.id
    assert (rt.engine.name, rt.engine.is_base) == (f"checkpoint-{new.id}", False)
    assert _served(rt) == f"checkpoint-{new.id}"
    assert f"checkpoint      {new.id}, distilled from checkpoint {base.id}: {new.path}  (" in \
        _init(rt, tiny_base, monkeypatch, capsys)
    restarted = _runtime(rt.paths.root, tiny_base)
    try:
        assert (restarted.engine.name, restarted.engine.checkpoint.id) == (
            f"checkpoint-{new.id}", new.id)
    finally:
        restarted.engine.close()
        restarted.close()
    assert set(rt.engine.edit_ids()) == {str(i) for i in set(ids + late) - absorbed}
    assert memory_path(rt.paths.memory, new).exists() and old_memory.exists()
    now = _answers(rt, EDITS + [LATE])
    assert [a for a, (_, t, _) in zip(now, EDITS) if t in held] == held and now[-1] == LATE[1]
    with rt.engine.without_memory():  # absorbed edits answer from the weights alone
        got = _answers(rt, EDITS)
    assert [g for g, i in zip(got, ids) if i in absorbed] == [
        t for (_, t, _), i in zip(EDITS, ids) if i in absorbed]
    for i in ids + late:
        e = edit_log.get_edit(db, i)
        if i in absorbed:
            assert (e.status, e.checkpoint_id) == ("distilled", new.id)
        else:
            assert (e.status, e.checkpoint_id) == ("applied", new.id)
            assert "held by the memory of checkpoint" in edit_log.edit_events(db, i)[-1].reason
    assert not (rt.paths.runs / f"distill-from-{base.id}").exists()

    back = rollback(rt, engine=rt.engine)
    assert back["checkpoint_id"] == base.id == registry.active_checkpoint(db).id
    assert rt.engine.checkpoint.id == base.id
    assert (rt.engine.name, rt.engine.is_base) == (tiny_base.name, True) == (_served(rt), True)
    assert f"base model      {tiny_base.name}  (checkpoint {base.id}: {base.path}; loaded in " in \
        _init(rt, tiny_base, monkeypatch, capsys)
    assert set(rt.engine.edit_ids()) == {str(i) for i in ids + late}
    for i in ids + late:
        e = edit_log.get_edit(db, i)
        assert (e.status, e.checkpoint_id) == ("applied", base.id)
    assert _answers(rt, EDITS + [LATE]) == served + [LATE[1]]  # as before distillation


def test_failing_gate_keeps_candidate_and_live_state(tmp_path, tiny_base):
    rt = _runtime(tmp_path / "data", tiny_base, {"MEMOIRD_DISTILL_MIN_RELIABILITY": "1.0"})
    try:
        ids = _apply(rt, EDITS)
        db = rt.db()
        base = registry.active_checkpoint(db)
        mem_file = memory_path(rt.paths.memory, base)
        before = _sha(mem_file)
        weak = DistillConfig(**(TRAIN | {"lr": 1e-7, "max_epochs": 1}))
        outcome = run_distillation(rt, engine=rt.engine, force=True, progress=False,
                                   train_config=weak)
        assert outcome.status == "candidate" and "reliability" in outcome.reason
        cand = registry.get_checkpoint(db, outcome.checkpoint_id)
        assert cand.status == "candidate" and cand.gate_metrics["passed"] is False
        assert cand.gate_metrics["reasons"] and cand.parent_id == base.id
        assert registry.active_checkpoint(db).id == base.id == rt.engine.checkpoint.id
        assert _sha(mem_file) == before
        assert all(edit_log.get_edit(db, i).status == "applied" for i in ids)
        again = run_distillation(rt, force=False, progress=False, train_config=weak)
        assert again.status == "skipped" and "already distilled" in again.reason
    finally:
        rt.engine.close()
        rt.close()


KILLED_RUN = """
import sys
from memoird.daemon.config import load_config
from memoird.daemon.distill_job import run_distillation
from memoird.daemon.runtime import Runtime
from memoird.editor.distill import DistillConfig
rt = Runtime(load_config(None))
cfg = DistillConfig(**(%r | {"max_epochs": 100000, "stop_accuracy": 2.0, "save_every_s": 0.0}))
run_distillation(rt, force=True, progress=False, train_config=cfg)
"""


def test_sigkill_mid_run_leaves_live_state_and_rerun_resumes(rt, tiny_base):
    ids = _apply(rt, EDITS)
    db = rt.db()
    base = registry.active_checkpoint(db)
    mem_file = memory_path(rt.paths.memory, base)
    before = _sha(mem_file)
    state = rt.paths.runs / f"distill-from-{base.id}" / "train-state.pt"
    env = dict(os.environ) | _env(rt.paths.root, tiny_base)
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN % (TRAIN,)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not state.exists() or state.stat().st_size == 0:
            assert child.poll() is None, child.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the child never saved a training state"
            time.sleep(0.2)
        time.sleep(1.0)  # let it train (and rewrite the state) a little longer
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert registry.active_checkpoint(db).id == base.id
    assert [c.id for c in registry.list_checkpoints(db)] == [base.id]
    assert _sha(mem_file) == before
    assert all(edit_log.get_edit(db, i).status == "applied" for i in ids)
    assert not list(rt.paths.checkpoints.glob("distilled-*"))

    outcome = run_distillation(rt, engine=rt.engine, force=True, progress=False,
                               train_config=DistillConfig(**TRAIN))
    assert outcome.resumed and outcome.training["resumed_from_step"] > 0, outcome
    assert outcome.status == "activated"
    assert registry.active_checkpoint(db).id == outcome.checkpoint_id != base.id


def test_fold_that_holds_no_edit_writes_no_candidate(tmp_path, tiny_base, monkeypatch):
    """A memory-layer fold whose candidate answers none of the edits on its own is a copy
    of the active weights: the job must end without writing or registering a folder."""
    from memoird.editor.nullspace import MemoryFold

    # the candidate reproduces no edit, whatever the solve wrote (on the tiny random model
    # what the fold holds is chance; the selection around it is the real code path)
    monkeypatch.setattr(MemoryFold, "reproduced", lambda self, delta, ids: [])
    rt = _runtime(tmp_path / "data", tiny_base, {"MEMOIRD_DISTILL_METHOD": "alphaedit"})
    try:
        ids = _apply(rt, EDITS)
        db = rt.db()
        base = registry.active_checkpoint(db)
        outcome = run_distillation(rt, engine=rt.engine, force=True, progress=False)
        assert outcome.status == "skipped" and "holds none" in outcome.reason, outcome
        assert outcome.checkpoint_id is None and sorted(outcome.kept) == sorted(ids)
        assert not list(rt.paths.checkpoints.glob("distilled-*"))
        assert [c.id for c in registry.list_checkpoints(db)] == [base.id]
        assert registry.active_checkpoint(db).id == base.id == rt.engine.checkpoint.id
        assert all(edit_log.get_edit(db, i).status == "applied" for i in ids)
        again = run_distillation(rt, progress=False)
        assert again.status == "skipped" and "held no edit" in again.reason, again
    finally:
        rt.engine.close()
        rt.close()
