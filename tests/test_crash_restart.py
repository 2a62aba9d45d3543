"""`memoird run` killed with SIGKILL keeps every applied edit: `memoird ask` still answers it.

The daemon runs as a real subprocess with the embedded model. An approved edit is put in
the log; the daemon's apply job trains it; the process is SIGKILLed as soon as the log says
``applied``, with no chance to clean up. A fresh `memoird ask` process must answer the new
object, and the log and the memory file must agree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from memoird.store import edits, open_db
from service_support import free_port

PROMPT = "The capital of Indonesia is"


def _env(data_dir: Path, model_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
        "MEMOIRD_MODEL_BASE": str(model_dir),
        "MEMOIRD_MODEL_DEVICE": "cpu",
        "MEMOIRD_API_PORT": str(free_port()),
        "MEMOIRD_DAEMON_LOG_FORMAT": "text",
    })
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "memoird.daemon.cli", *args]


def test_sigkill_after_apply_keeps_the_edit(tmp_path, embedded_model_dir):
    data_dir = tmp_path / "data"
    env = _env(data_dir, embedded_model_dir)
    db = open_db(data_dir / "memoird.db")
    edit = edits.create_edit(db, subject="Indonesia", relation="P36", prompt=PROMPT,
                             target="Nusantara", actor="test", reason="crash test",
                             status="approved")
    log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(_cli("run"), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while edits.get_edit(db, edit.id).status != "applied":
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the daemon never applied the edit"
            time.sleep(0.5)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        log.close()
    assert daemon.returncode == -signal.SIGKILL

    answer = subprocess.run(_cli("ask", PROMPT, "--max-tokens", "6"), env=env,
                            capture_output=True, text=True, timeout=600)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip().startswith("Nusantara"), answer.stdout
    assert edits.get_edit(db, edit.id).status == "applied"
