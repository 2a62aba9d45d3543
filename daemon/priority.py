"""Requests before background work: the lock every user of the live model takes.

The daemon has one model and one CPU (or GPU). The API's completions and the background
stages (reading articles through the local chat backend, probing, training and verifying
edits, distillation steps) take turns on it under this lock.

- A **request** (``with lock.request():``) waits only for the thread holding the lock.
- **Background work** (``with lock:``) also waits while any request waits, and it works
  in small units: between two of them (decoding steps, reading batches, training steps)
  it calls ``lend()``. When a request is waiting, ``lend()`` hands the lock over and takes
  it back once no request waits or holds it; the paused work then resumes where it was
  (its KV cache, optimiser and position are its own local state). While the lock is lent
  only requests may take it: no other background work can change the model (an edit, a
  checkpoint switch) under the paused one.
- ``cancel()`` asks background work to stop (the daemon is stopping): the engine's pause
  point then raises ``BackgroundCancelled`` between two units, and every stage leaves the
  record in hand with the status it had, to be redone at the next start.

So a request waits for at most one unit of background work (tens of milliseconds for a
decoding step of a reading batch on 2 cores) instead of a whole stage call (seconds: a
reading batch of 32 questions, a probe batch, an edit with its verification).

Why this and not the alternatives (bench/api_bench.py, 2 cores):

- Separate thread budgets (torch threads split between serving and background) make every
  request slower even when nothing else runs, and torch's thread count is process-wide.
- Continuous batching (requests joining a running batch) was not built: requests already
  share one forward pass through the micro-batcher (daemon/batching.py), and the
  background stages use other prompts, cache layouts and decoding loops than completions.

The lock is reentrant: the owner may take it again, in either mode (a request path that
calls the memory, which takes the same lock, holds it twice).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class BackgroundCancelled(BaseException):
    """Background work stopped between two units because the daemon is stopping.

    A BaseException, like ``asyncio.CancelledError``: the stages' ``except Exception``
    handlers (which mark a record failed, or retry it one by one) must let it through,
    so the record keeps its status and is redone at the next start.
    """


class ModelLock:
    """A reentrant lock on the live model that serves waiting requests first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._requests_waiting = 0
        self._lender: int | None = None
        self._cancelled = threading.Event()
        self.lent = 0  # how many times background work handed the model to a request

    # -- background work (the default) ------------------------------------------------------

    def acquire(self) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            self._cond.wait_for(lambda: self._owner is None and not self._requests_waiting
                                and self._lender is None)
            self._owner, self._depth = me, 1
        return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a ModelLock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> "ModelLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- requests -------------------------------------------------------------------------

    @contextmanager
    def request(self) -> Iterator[None]:
        """Hold the lock for a request: ahead of every background unit not yet started."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                self._requests_waiting += 1
                try:
                    self._cond.wait_for(lambda: self._owner is None)
                finally:
                    self._requests_waiting -= 1
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            self.release()

    @property
    def requests_waiting(self) -> int:
        return self._requests_waiting

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    # -- between two units of background work ---------------------------------------------

    def lend(self) -> bool:
        """Let waiting requests use the model now; returns once the holder has it back.

        Called by the holder between two units of its work, with the model in a state a
        request may see (the engine's pause point puts the memory's transient state aside
        first). Returns False at once when no request waits or the caller does not hold
        the lock (a decoding worker thread of the holder).
        """
        if not self._requests_waiting:
            return False
        me = threading.get_ident()
        with self._cond:
            if self._owner != me or not self._requests_waiting:
                return False
            depth = self._depth
            self._owner, self._depth, self._lender = None, 0, me
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._owner is None and not self._requests_waiting)
            self._owner, self._depth, self._lender = me, depth, None
            self.lent += 1
        return True

    # -- stopping -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask background work to stop at its next pause point (see the engine's)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()
