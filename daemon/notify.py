"""systemd readiness and watchdog notifications, over a plain datagram socket.

The protocol is one datagram of ``KEY=VALUE`` lines to the socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace), so a dozen lines of
``socket`` replace a dependency on libsystemd. Outside systemd the variable is unset and
every call is a cheap no-op.

The watchdog is the point of ``Type=notify``: systemd restarts the service when pings
stop. Pings are therefore sent only while ``healthy()`` says the pipeline is making
progress; a wedged stage (a hung fetch, a dead scheduler) stops them and systemd
restarts the daemon, which resumes every queue from the database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages; a no-op when not started by systemd."""

    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_interval = _watchdog_seconds(env)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send one message (``send(READY=1, STATUS="...")``); False when not sent."""
        if self.address is None:
            return False
        payload = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(payload)
        except OSError as exc:
            # systemd going away must not take the daemon down with it
            log.warning("sd_notify failed: %s", exc, extra={"notify_socket": str(self.address)})
            return False
        return True

    def ready(self, status: str = "serving") -> bool:
        return self.send(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING=1, STATUS=status)

    def ping(self) -> bool:
        return self.send(WATCHDOG=1)

    def start_watchdog(self, healthy: Callable[[], bool]) -> None:
        """Ping at half the watchdog interval, skipping a ping whenever ``healthy()`` is
        false or raises. Does nothing when systemd set no watchdog."""
        if self.watchdog_interval is None or self.address is None or self._thread:
            return
        period = self.watchdog_interval / 2

        def loop() -> None:
            while not self._stop.wait(period):
                try:
                    ok = bool(healthy())
                except Exception:  # a failing health check is unhealthy, not a crash
                    log.exception("health check raised")
                    ok = False
                if ok:
                    self.ping()
                else:
                    log.warning("pipeline unhealthy: watchdog ping withheld")

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop_watchdog(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # abstract namespace socket
        return b"\0" + value[1:].encode()
    return value


def _watchdog_seconds(env: dict[str, str] | os._Environ[str]) -> float | None:
    """WATCHDOG_USEC as seconds, honouring WATCHDOG_PID (meant for another process)."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    return value / 1e6 if value > 0 else None
