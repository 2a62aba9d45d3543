"""Micro-batching of completion requests in front of the one live model.

The engine serves one ``generate`` call at a time (it holds a lock; edits and probes
share it). Fifty clients calling it one by one would queue fifty forward passes; the
batcher instead collects the requests that arrive while the model is busy and serves
them as one batch. Routing is decided per row, so a batch may mix prompts that use the
memory with prompts that must see the unchanged base model.

Requests are grouped by their generation settings (max tokens, temperature, stop
strings, and any keyword options such as ``top_p`` or ``logprobs``): one ``generate``
call takes one set of settings. ``generate`` returns one result per prompt, of whatever
type (the service's returns ``Completion`` objects, see daemon/completion.py).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)

#: ``generate(prompts, max_tokens, temperature, stop, **options) -> one result per prompt``
GenerateFn = Callable[..., Sequence[Any]]


@dataclass
class _Request:
    prompt: Any
    key: tuple
    future: Future = field(default_factory=Future)


class Batcher:
    """``submit(prompt, max_tokens, temperature, stop, **options) -> Future``; one worker thread."""

    def __init__(self, generate: GenerateFn, max_batch: int = 64, window_s: float = 0.002):
        self._generate = generate
        self.max_batch = max_batch
        self.window_s = window_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self.batches = 0
        self.rows = 0
        self._thread = threading.Thread(target=self._run, name="completion-batcher", daemon=True)
        self._thread.start()

    def submit(self, prompt: Any, max_tokens: int, temperature: float,
               stop: Sequence[str] = (), **options: Any) -> Future:
        if self._closed:
            raise RuntimeError("the completion batcher is shut down")
        request = _Request(prompt, (int(max_tokens), float(temperature), tuple(stop),
                                    tuple(sorted(options.items()))))
        self._queue.put(request)
        return request.future

    def close(self, timeout: float = 5.0) -> bool:
        """Serve what is queued, then stop the worker; False if it is still generating
        after ``timeout`` seconds."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            pending = [first]
            stop = self._collect(pending)
            groups: dict[tuple, list[_Request]] = {}
            for request in pending:
                groups.setdefault(request.key, []).append(request)
            for key, requests in groups.items():
                self._serve(key, requests)
            if stop:
                return

    def _collect(self, pending: list[_Request]) -> bool:
        """Take what else is queued (waiting ``window_s`` once for stragglers)."""
        waited = False
        while len(pending) < self.max_batch:
            try:
                item = self._queue.get_nowait() if waited else self._queue.get(
                    timeout=self.window_s)
            except queue.Empty:
                if waited:
                    return False
                waited = True
                continue
            if item is None:
                return True
            pending.append(item)
        return False

    def _serve(self, key: tuple, requests: list[_Request]) -> None:
        live = [r for r in requests if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        max_tokens, temperature, stop, options = key
        try:
            texts = list(self._generate([r.prompt for r in live], max_tokens, temperature,
                                        list(stop), **dict(options)))
            if len(texts) != len(live):
                raise RuntimeError(f"generate returned {len(texts)} texts for {len(live)} prompts")
        except BaseException as exc:  # every waiting client gets the error, the worker lives
            log.exception("batched generation failed", extra={"rows": len(live)})
            for r in live:
                r.future.set_exception(exc)
            return
        self.batches += 1
        self.rows += len(live)
        for r, text in zip(live, texts):
            r.future.set_result(text)
