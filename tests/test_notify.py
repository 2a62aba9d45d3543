"""sd_notify over a real AF_UNIX datagram socket, as systemd provides it."""

from __future__ import annotations

import os
import socket
import time

import pytest

from memoird.daemon.notify import Notifier


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def _recv(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.splitlines())


def test_ready_status_stopping_reach_the_socket(notify_socket):
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("serving on 127.0.0.1:8000")
    assert _recv(sock) == {"READY": "1", "STATUS": "serving on 127.0.0.1:8000"}
    notifier.status("polling 3 feeds")
    assert _recv(sock) == {"STATUS": "polling 3 feeds"}
    notifier.stopping()
    assert _recv(sock)["STOPPING"] == "1"


def test_abstract_namespace_socket():
    name = f"memoird-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ping()
        assert _recv(sock) == {"WATCHDOG": "1"}
    finally:
        sock.close()


def test_without_systemd_everything_is_a_no_op(tmp_path):
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready() is False
    notifier.start_watchdog(lambda: True)  # no WATCHDOG_USEC: no thread
    assert notifier._thread is None
    # a socket that vanished does not raise either
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert gone.ready() is False


def test_watchdog_pings_only_while_healthy(notify_socket):
    path, sock = notify_socket
    healthy = {"ok": True}
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000",
                         "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval == pytest.approx(0.2)
    notifier.start_watchdog(lambda: healthy["ok"])
    try:
        assert _recv(sock) == {"WATCHDOG": "1"}
        healthy["ok"] = False
        time.sleep(0.25)  # let a ping already in flight land
        sock.setblocking(False)
        while True:
            try:
                sock.recv(4096)
            except BlockingIOError:
                break
        time.sleep(0.5)  # five intervals of 0.1 s while unhealthy
        with pytest.raises(BlockingIOError):
            sock.recv(4096)
        healthy["ok"] = True
        sock.setblocking(True)
        sock.settimeout(5)
        assert _recv(sock) == {"WATCHDOG": "1"}
    finally:
        notifier.stop_watchdog()


def test_watchdog_for_another_pid_is_ignored():
    notifier = Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000",
                         "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_interval is None
