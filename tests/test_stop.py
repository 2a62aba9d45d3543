"""SIGTERM stops `memoird run` within 5 s at any point, and nothing is lost or done twice.

A real daemon (subprocess, embedded model, loopback) is stopped while it extracts the
bundled sample news, while it trains an edit, and while it distils; each time the process
must be gone within 5 s with exit status 0, having cancelled the work between two steps
(daemon/priority.py). A second start then finishes what the first left: every article
read once, the edit trained and logged once, the distillation resumed from its saved
state into one candidate checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import httpx
import pytest

from feedserver import FeedServer
from service_support import free_port, wait_on_daemon
from memoird.store import edits, open_db

TOKEN = "stop-test-token"
EXIT_WITHIN_S = 5.0
READY_TIMEOUT = 900  # a first start fits the memory's background on 2 shared cores


class Daemon:
    """`memoird run` on ``data_dir`` with JSON logs; ``extra`` is more TOML."""

    def __init__(self, data_dir: Path, model_dir: Path, extra: str = ""):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = data_dir / "memoird.toml"
        config.write_text(f"""
[daemon]
data_dir = "{data_dir}"
log_format = "json"
[model]
base = "{model_dir}"
device = "cpu"
[feeds]
allow_networks = ["127.0.0.0/8"]
[policy]
mode = "manual"
[api]
host = "127.0.0.1"
port = {self.port}
{extra}""")
        self.log = data_dir / "daemon.log"
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        env = dict(os.environ, MEMOIRD_API_TOKEN=TOKEN, HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        memoird = Path(sys.executable).with_name("memoird")
        with open(self.log, "ab") as stderr:
            self.proc = subprocess.Popen([str(memoird), "-c", str(config), "run"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=stderr)
        self.wait("/readyz", lambda: self._get("/readyz").status_code == 200, READY_TIMEOUT)

    def _get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)

    def records(self) -> list[dict]:
        out = []
        with open(self.log, "rb") as log:
            log.seek(self.log_start)
            for line in log.read().decode(errors="replace").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def tail(self) -> str:
        return "\n".join(json.dumps(r)[:400] for r in self.records()[-30:])

    def wait(self, what: str, predicate, timeout: float, every: float = 0.05):
        return wait_on_daemon(self.proc, what, predicate, timeout, every, self.tail)

    def running(self, job: str) -> bool:
        jobs = (self._get("/api/status").json().get("scheduler") or {}).get("jobs") or {}
        return bool(jobs.get(job, {}).get("running"))

    def sigterm(self) -> tuple[float, bool | None]:
        """SIGTERM; (seconds until the process was gone, whether it stopped cleanly)."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running 60 s after SIGTERM:\n{self.tail()}")
        exit_s = time.monotonic() - sent
        assert code == 0, self.tail()
        stopped = [r for r in self.records() if r.get("msg") == "stopped"]
        assert stopped, self.tail()
        return exit_s, stopped[-1].get("clean")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemons():
    started: list[Daemon] = []

    def start(*args, **kwargs) -> Daemon:
        started.append(Daemon(*args, **kwargs))
        return started[-1]

    yield start
    for daemon in started:
        daemon.close()


def _stopped_in_time(daemon: Daemon, stage: str) -> None:
    exit_s, clean = daemon.sigterm()
    assert exit_s <= EXIT_WITHIN_S, f"{stage}: {exit_s:.1f} s to exit\n{daemon.tail()}"
    print(f"SIGTERM during {stage}: gone in {exit_s:.2f} s, clean={clean}")


def test_sigterm_during_extraction(tmp_path, embedded_model_dir, daemons):
    www = tmp_path / "www"
    www.mkdir()
    sample = resources.files("memoird.daemon") / "sample_feed" / "adriatic-wire.xml"
    shutil.copyfile(str(sample), www / "wire.xml")
    data_dir = tmp_path / "data"
    with FeedServer(www) as server:
        daemon = daemons(data_dir, embedded_model_dir)
        httpx.post(f"{daemon.url}/api/feeds", json={"url": server.url("/wire.xml")},
                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).raise_for_status()
        db = open_db(data_dir / "memoird.db")
        daemon.wait("articles", lambda: db["articles"].count, 60)
        daemon.wait("extraction", lambda: daemon.running("extract"), 60)
        time.sleep(1.0)  # reading
        _stopped_in_time(daemon, "extraction")
        left = db["articles"].count_where("status = 'new'")
        assert left > 0  # stopped before the batch was stored: it is read again

        daemon = daemons(data_dir, embedded_model_dir)
        daemon.wait("every article read", lambda: not db["articles"].count_where(
            "status = 'new'") and not daemon.running("extract"), 900, every=0.5)
        daemon.sigterm()
    statuses = [r[0] for r in db.execute("SELECT status FROM articles")]
    assert len(statuses) == 4 and set(statuses) <= {"extracted", "skipped"}
    facts = db.execute("SELECT article_id, subject, relation, object FROM facts").fetchall()
    assert facts and len(facts) == len(set(facts))  # none stored twice


def _approved_edit(data_dir: Path):
    db = open_db(data_dir / "memoird.db")
    edit = edits.create_edit(db, subject="Indonesia", relation="P36",
                             prompt="The capital of Indonesia is", target="Nusantara",
                             actor="test", reason="stop test", status="approved")
    return db, edit


def _applied_once(db, edit_id: int, data_dir: Path) -> None:
    from memoird.editor.memory_io import read_memory

    events = [e.to_status for e in edits.edit_events(db, edit_id)]
    assert events.count("applied") == 1, events
    [memory] = (data_dir / "memory").glob("checkpoint-*.memoir")
    held = [e["edit_id"] for e in read_memory(memory)[1]["edits"]]
    assert held == [str(edit_id)], held


def test_sigterm_during_an_edit(tmp_path, embedded_model_dir, daemons):
    data_dir = tmp_path / "data"
    db, edit = _approved_edit(data_dir)
    daemon = daemons(data_dir, embedded_model_dir)
    daemon.wait("the edit's training", lambda: daemon.running("apply"), 120, every=0.02)
    time.sleep(0.5)
    _stopped_in_time(daemon, "an edit")
    status = edits.get_edit(db, edit.id).status
    assert status in ("approved", "applied"), status

    daemon = daemons(data_dir, embedded_model_dir)
    daemon.wait("the edit applied", lambda: edits.get_edit(db, edit.id).status == "applied",
                600, every=0.5)
    daemon.sigterm()
    _applied_once(db, edit.id, data_dir)


DISTILL = """[distill]
schedule = "0 0 1 1 *"
min_edits = 1
method = "student"
"""  # the trained student: its steps are what SIGTERM must cut


def test_sigterm_during_distillation(tmp_path, embedded_model_dir, daemons):
    from memoird.store import checkpoints

    data_dir = tmp_path / "data"
    db, edit = _approved_edit(data_dir)
    daemon = daemons(data_dir, embedded_model_dir, DISTILL)
    daemon.wait("the edit applied", lambda: edits.get_edit(db, edit.id).status == "applied",
                600, every=0.5)
    run = data_dir / "runs" / "distill-from-1"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{daemon.url}/api/distill", headers=auth, timeout=30).raise_for_status()
    # the state is saved at the end of each epoch: training steps are running
    daemon.wait("distillation training", lambda: (run / "train-state.pt").exists(), 600,
                every=0.02)
    _stopped_in_time(daemon, "distillation")
    assert checkpoints.active_checkpoint(db).id == 1  # nothing switched
    assert json.loads((run / "plan.json").read_text())["finished"] is False

    daemon = daemons(data_dir, embedded_model_dir, DISTILL)
    httpx.post(f"{daemon.url}/api/distill", headers=auth, timeout=30).raise_for_status()

    def finished() -> bool:  # activated (its run folder removed) or a candidate kept
        plan = run / "plan.json"
        try:
            return not run.exists() or json.loads(plan.read_text()).get("finished") is True
        except FileNotFoundError:  # the folder went between the two looks: activated
            return True

    daemon.wait("the distillation", finished, 900, every=0.5)
    daemon.wait("the job's end", lambda: not daemon.running("distill"), 120)
    daemon.sigterm()
    rows = checkpoints.list_checkpoints(db)
    assert len(rows) == 2 and rows[0].parent_id == 1, rows  # one candidate, not two
    if checkpoints.active_checkpoint(db).id == rows[0].id:
        assert edits.get_edit(db, edit.id).status in ("distilled", "applied")
