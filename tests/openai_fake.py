"""A real loopback HTTP server that speaks the OpenAI chat-completions protocol.

Tests script it: ``answer`` turns the request's messages into the reply text, and
``failures`` is a queue of faults served before normal answers (an HTTP status with an
optional Retry-After, a delay longer than the client's timeout, or a malformed body).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Fault:
    status: int = 503
    delay_s: float = 0.0
    body: str | None = None  # raw body; default is an OpenAI-style error object
    retry_after: str | None = None


@dataclass
class FakeOpenAI:
    answer: Callable[[list[dict]], str] = lambda messages: "echo: " + messages[-1]["content"]
    delay_s: float = 0.0
    failures: deque = field(default_factory=deque)
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(payload)
                    fake.headers.append(dict(self.headers))
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fault = fake.failures.popleft() if fake.failures else None
                if self.path != "/v1/chat/completions":
                    return self._send(404, json.dumps({"error": {"message": "no route"}}))
                if fault is not None:
                    time.sleep(fault.delay_s)
                    body = fault.body if fault.body is not None else json.dumps(
                        {"error": {"message": f"injected {fault.status}"}})
                    return self._send(fault.status, body, fault.retry_after)
                time.sleep(fake.delay_s)
                content = fake.answer(payload["messages"])
                self._send(200, json.dumps({
                    "id": "chatcmpl-test", "object": "chat.completion",
                    "model": payload.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}]}))

            def _send(self, status: int, body: str, retry_after: str | None = None) -> None:
                # the request stops counting as in flight before its answer is written:
                # once the client has it, it may send the next one at once, and a count
                # lowered only after the write would see both (a race in the fake, not
                # in the client's limit)
                with fake.lock:
                    fake.in_flight -= 1
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    if retry_after is not None:
                        self.send_header("retry-after", retry_after)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
