"""Requests before background work: the lock and the turn every user of the model takes.

The daemon has one model and a few cores (or a GPU). The API's completions and the
background stages (reading articles through the local chat backend, probing, training
and verifying edits, distillation) share them.

- A **request** (``with lock.request():``) holds the live model (weights + memory); it
  waits only for the thread holding it.
- **Background work** runs one task at a time (the background *turn*), in small units
  (decoding steps, training steps), with a pause point between two of them where a
  stopping daemon cancels it (``cancel()``: the engine's pause point raises
  ``BackgroundCancelled``, and every stage leaves the record in hand with the status it
  had, to be redone at the next start).
- Work on **its own view of the weights** (``with lock.turn:``): the reading, which runs
  on the same tensors without the memory (editor/model.py ``shared_view``), and the
  distillation's student. It runs *beside* the requests, each side with half the CPU
  threads (daemon/service.py ``cpu_threads``).
- Work on **the live model** (``with lock:``: probing, verification, edit training, a
  checkpoint switch) takes the turn and the model. It waits while any request waits, and
  between two units calls ``lend()``: when a request is waiting, the model is handed over
  and taken back once no request waits or holds it; the paused work resumes where it was
  (its KV cache and optimiser are its own, and the engine sets the memory's transient
  routing state aside meanwhile). While the model is lent only requests may take it, and
  the turn stays with the lender: no other background work can change the model (an
  edit, a switch) under the paused one.

So a request never waits for the reading, and waits for at most one unit of other
background work (a decoding step of a probe batch, a training step) instead of a whole
stage call (seconds: a reading batch of 32 questions, a probe batch, an edit with its
verification).

Chosen by measurement (bench/api_bench.py rows 4-5, 2 cores, the same quiet hour, a
12-token greedy completion each second while a poll pass reads 24 news articles, versus
idle): with every background unit taking turns with requests on the one live model (the
priority lock alone, 2 torch threads) the latency held (p50 x1.21, p95 x1.75) but the
reading got only 58% of its idle throughput: on this CPU a small model's decoding step is
dominated by per-operation overhead, so a 12-token request costs about 0.75 s of model
time whoever waits. Reading beside the requests, one torch thread each, kept the latency
(p50 x1.17-1.19, p95 x1.4-2.3) and the reading's throughput (x1.01-1.07): the second
thread barely speeds a decoding step (idle latency 0.75 s with one thread, 0.78 s with
two), and one thread per side also avoids the collapse of two-thread OpenMP regions when
other processes load the cores (6.3 s per idle request in one such run). Continuous
batching (requests joining a running reading batch) was not built: it would need the
memory on for some rows and off for others within one KV cache, and reading beside the
requests already meets the targets.

The lock is reentrant: the holder may take it again, in either mode (a request path that
calls the memory, which shares the engine's lock, holds it twice).
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
    """A reentrant lock on the live model that serves waiting requests first, and the
    turn that lets one background task at a time work (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None  # the model's holder
        self._depth = 0
        self._for_request = False  # whether the holder took the model as a request
        self._requests_waiting = 0
        self._lender: int | None = None
        self._turn: int | None = None  # the background task working now
        self._turn_depth = 0
        self._cancelled = threading.Event()
        self.lent = 0  # how many times background work handed the model to a request
        #: ``with lock.turn:`` the background turn without the model, for work on its own
        #: weights (the reading's view, a distillation's student) beside the requests
        self.turn = _Turn(self)

    # -- background work on the live model (the default) -----------------------------------

    def acquire(self) -> bool:
        """The background turn, then the model (ahead of no waiting request); only the
        model's depth when this thread holds it already (in either mode)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
        self._take_turn()
        with self._cond:
            self._cond.wait_for(lambda: self._owner is None and not self._requests_waiting
                                and self._lender is None)
            self._owner, self._depth, self._for_request = me, 1, False
        return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a ModelLock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            self._cond.notify_all()
            if self._for_request:
                return
        self._give_turn()

    def __enter__(self) -> "ModelLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- background work beside the requests -------------------------------------------------

    def _take_turn(self) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._turn == me:
                self._turn_depth += 1
                return
            self._cond.wait_for(lambda: self._turn is None)
            self._turn, self._turn_depth = me, 1

    def _give_turn(self) -> None:
        with self._cond:
            self._turn_depth -= 1
            if self._turn_depth == 0:
                self._turn = None
                self._cond.notify_all()

    # -- requests -------------------------------------------------------------------------

    @contextmanager
    def request(self) -> Iterator[None]:
        """Hold the model for a request: ahead of every background unit not yet started."""
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
                self._owner, self._depth, self._for_request = me, 1, True
        try:
            yield
        finally:
            self.release()

    @property
    def requests_waiting(self) -> int:
        return self._requests_waiting

    def held(self) -> bool:
        """Whether the calling thread holds the model."""
        return self._owner == threading.get_ident()

    # -- between two units of background work ---------------------------------------------

    def lend(self) -> bool:
        """Let waiting requests use the model now; returns once the holder has it back.

        Called by the holder between two units of its work, with the model in a state a
        request may see (the engine's pause point puts the memory's transient state aside
        first); the holder keeps its background turn. Returns False at once when no
        request waits or the caller does not hold the model (a decoding worker thread of
        the holder, or work beside the requests).
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
            self._owner, self._depth, self._lender, self._for_request = me, depth, None, False
            self.lent += 1
        return True

    # -- stopping -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask background work to stop at its next pause point (see the engine's)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class _Turn:
    """``ModelLock.turn``: one background task at a time, requests untouched."""

    def __init__(self, lock: ModelLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock._take_turn()

    def __exit__(self, *exc: object) -> None:
        self._lock._give_turn()
