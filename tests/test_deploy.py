"""The shipped systemd unit starts: its ExecStart command line, run as systemd would run it.

``deploy/memoird.service`` is parsed, its ``ExecStart`` split into argv, the installed
binary (``/opt/memoird/bin/memoird``) replaced by this venv's ``memoird`` and the config
path by a config file in a temporary folder; everything else in the command line stays as
shipped. The environment is the unit's ``Environment=`` lines plus what systemd itself
sets (``STATE_DIRECTORY`` for ``StateDirectory=``, ``NOTIFY_SOCKET`` for ``Type=notify``).
Where ``systemd-analyze`` exists, the unit (with the same binary substituted) must verify
without a single warning.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from service_support import free_port

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "deploy" / "memoird.service"
MEMOIRD = Path(sys.executable).with_name("memoird")
INSTALLED = "/opt/memoird/bin/memoird"
CONFIG = "/etc/memoird/memoird.toml"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists (keys may repeat, as in systemd)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"unparsable unit line: {raw!r}"
        current.append((key.strip(), value.strip()))
    return sections


def service_value(unit: dict, key: str) -> list[str]:
    return [v for k, v in unit["Service"] if k == key]


def exec_start_argv(unit: dict) -> list[str]:
    (line,) = service_value(unit, "ExecStart")
    argv = shlex.split(line.lstrip("-@:+!"))   # systemd's optional prefixes
    return argv


def substituted_argv(config: Path) -> list[str]:
    """The unit's ExecStart with this venv's binary and ``config`` in place of /etc's."""
    argv = exec_start_argv(parse_unit(UNIT.read_text()))
    assert argv[0] == INSTALLED
    assert CONFIG in argv, f"ExecStart does not pass {CONFIG}: {argv}"
    return [str(MEMOIRD) if a == INSTALLED else str(config) if a == CONFIG else a
            for a in argv]


def unit_environment(tmp_path: Path) -> dict[str, str]:
    """The unit's Environment= assignments (paths under /var moved to tmp_path)."""
    env = {}
    for value in service_value(parse_unit(UNIT.read_text()), "Environment"):
        for assignment in shlex.split(value):
            name, _, val = assignment.partition("=")
            env[name] = val.replace("/var/cache/memoird", str(tmp_path / "cache"))
    return env


def test_exec_start_is_the_run_command_with_the_config_directory():
    unit = parse_unit(UNIT.read_text())
    argv = exec_start_argv(unit)
    assert argv[0] == INSTALLED and argv[-1] == "run"
    assert service_value(unit, "ConfigurationDirectory") == ["memoird"]
    assert service_value(unit, "Type") == ["notify"]
    # a config error exits 2, and the unit does not restart-loop on it
    assert "2" in service_value(unit, "RestartPreventExitStatus")[0].split()


def test_exec_start_command_line_parses_and_loads_the_config(tmp_path):
    """The same argv with ``check-config`` in place of ``run``: exit 0, nothing written."""
    config = tmp_path / "memoird.toml"
    config.write_text('[api]\nport = 18077\n')
    argv = substituted_argv(config)
    argv[argv.index("run")] = "check-config"
    env = dict(os.environ, **unit_environment(tmp_path), STATE_DIRECTORY=str(tmp_path / "state"))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"config ok: {config}" in done.stdout and str(tmp_path / "state") in done.stdout
    assert not (tmp_path / "state").exists()          # checking writes nothing


def test_exec_start_starts_the_daemon_and_stops_on_sigterm(tmp_path, embedded_model_dir):
    """ExecStart as shipped: /healthz answers, systemd hears from it, SIGTERM exits 0."""
    port = free_port()
    config = tmp_path / "memoird.toml"
    config.write_text(f'[model]\nbase = "{embedded_model_dir}"\ndevice = "cpu"\n'
                      f'[api]\nport = {port}\n')
    state = tmp_path / "state"
    state.mkdir()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60)
    env = dict(os.environ, **unit_environment(tmp_path), STATE_DIRECTORY=str(state),
               NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(substituted_argv(config), env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)
    try:
        deadline = time.monotonic() + 120
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                pass
            if healthy:
                break
            time.sleep(0.3)
        assert healthy, f"no /healthz (exit {proc.poll()}):\n{log.read_text()[-3000:]}"
        message = notify.recv(4096).decode()          # the daemon talks to systemd
        assert "STATUS=" in message or "READY=1" in message, message
        assert (state / "memoird.db").exists()         # STATE_DIRECTORY is the data dir
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
    assert "Traceback" not in log.read_text()


def test_unit_verifies_with_systemd_analyze(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    text = UNIT.read_text().replace(INSTALLED, str(MEMOIRD))
    unit = tmp_path / "memoird.service"
    unit.write_text(text)
    done = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr        # not even a warning


def test_cpu_and_cuda_install_paths_name_their_torch_builds():
    """One torch version; the CPU path asks for the +cpu build everywhere, CUDA for PyPI's."""
    import re
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    (cpu,) = extras["cpu"]
    (cuda,) = extras["cuda"]
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+\+cpu", cpu), cpu
    assert cuda == cpu.removesuffix("+cpu")            # same release, no local label
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^TORCH\s*\?=\s*{re.escape(cpu)}$", makefile, re.M)
    assert "download.pytorch.org/whl/cpu" in makefile
    assert cpu in (REPO / "deploy" / "Dockerfile").read_text()
    assert "'.[cuda]'" in (REPO / "deploy" / "Dockerfile.cuda").read_text()
