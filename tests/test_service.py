"""The daemon process around the model: start-up failures and stopping before it is ready.

These run ``memoird run`` as a real subprocess but never wait for the model; the full
life of a daemon (ready, pipeline, edit, revert, SIGTERM) is test_service_e2e.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from memoird.daemon.config import load_config
from memoird.daemon.service import scheduler_settings

MEMOIRD = str(Path(sys.executable).with_name("memoird"))


def _config(tmp_path: Path, port: int, model: str) -> Path:
    path = tmp_path / "memoird.toml"
    path.write_text(f"""
[daemon]
data_dir = "{tmp_path / 'state'}"
[model]
base = "{model}"
device = "cpu"
[distill]
schedule = "0 3 * * 0"
[api]
port = {port}
""")
    return path


def _start(config: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([MEMOIRD, "-c", str(config), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ, **env))


def _logs(stderr: bytes) -> list[dict]:
    return [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]


def test_scheduler_settings_come_from_the_config(tmp_path):
    config = load_config(_config(tmp_path, 8077, "smollm2-135m-instruct"))
    settings = scheduler_settings(config)
    assert settings.distill_cron == "0 3 * * 0"
    assert settings.stages == ("extract", "probe", "decide", "apply")


def test_sigterm_while_the_model_loads_exits_cleanly(tmp_path, embedded_model_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(_config(tmp_path, port, str(embedded_model_dir)))
    try:
        deadline = time.monotonic() + 120
        while True:  # /healthz answers before the model is loaded; /readyz does not
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["checks"]["model"] == "loading"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    messages = [r["msg"] for r in _logs(stderr)]
    assert "received SIGTERM, stopping" in messages
    assert "stopped while the model was loading" in messages


def test_a_taken_port_fails_the_start_with_a_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _start(_config(tmp_path, port, "smollm2-135m-instruct"))
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    errors = [r for r in _logs(stderr) if r["level"] == "error"]
    assert any(f"127.0.0.1:{port}" in r["msg"] for r in errors), stderr.decode()[-2000:]


def test_a_bad_config_fails_before_anything_starts(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[api]\nport = 0\n")
    proc = subprocess.run([MEMOIRD, "-c", str(config), "run"], capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert "api.port" in proc.stderr.decode() and str(config) in proc.stderr.decode()
