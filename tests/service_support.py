"""Helpers for the service tests and the API benchmark: seeded edit logs, a live uvicorn
server on loopback, a stand-in engine for tests that exercise HTTP, not the model, and
waiting on a real daemon process."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

from memoird.store import articles, claims, edits, facts, feeds, probes
from memoird.store.db import write_transaction
from memoird.store.errors import NotFound

TOKEN = "test-token-0123456789"
DOMAINS = ("wire.example", "dispatch.example", "herald.example")
RELATIONS = ("P54", "P169", "P36")


def _feed_for(db, domain: str) -> int:
    url = f"https://{domain}/feed.xml"
    try:
        return feeds.get_feed_by_url(db, url).id
    except NotFound:
        return feeds.add_feed(db, url, title=f"{domain} news", trust=0.8).id


def seed_edit(db, i: int, status: str = "pending", sources: int = 2,
              created_at: str | None = None) -> edits.Edit:
    """One complete chain feed -> article -> fact -> probe -> claim -> edit, in ``status``.

    Subjects are "Player <i>", objects "Club <i>", relation cycles through RELATIONS.
    """
    relation = RELATIONS[i % len(RELATIONS)]
    subject, target = f"Player {i}", f"Club {i}"
    with write_transaction(db):
        claim = None
        for n in range(sources):
            domain = DOMAINS[n % len(DOMAINS)]
            article, _ = articles.insert_article(
                db, _feed_for(db, domain), guid=f"{domain}-{i}", url=f"https://{domain}/{i}",
                title=f"{subject} joins {target}", text=f"{subject} signed for {target}.",
                status="extracted")
            fact = facts.add_fact(db, article.id, subject=subject, raw_relation="signed for",
                                  relation=relation, object=target,
                                  evidence=f"{subject} signed for {target} on Monday.",
                                  confidence=0.9, status="probed")
            probes.add_probe(db, fact.id, template="{subject} plays for", answer="Old Town FC",
                             verdict="conflicts", scores={"similarity": 0.1})
            claim = claims.add_fact_to_claim(db, fact.id, domain)
        initial = "approved" if status in ("approved", "applied", "reverted", "failed") else (
            "rejected" if status == "rejected" else "pending")
        edit = edits.create_edit(
            db, subject=subject, relation=relation, prompt=f"{subject} plays for",
            prompts=[f"{subject} plays for", f"{subject} is a player of"], target=target,
            old_answer="Old Town FC", claim_id=claim.id if claim else None, status=initial,
            policy_rule=f"min_domains={sources}", why=f"{sources} domains agree",
            actor="policy", reason="claim confirmed", now=created_at)
        if status in ("applied", "reverted"):
            edit = edits.transition(db, edit.id, "applied", "editor", "trained in 12 steps",
                                    mask=list(range(i % 7, 64, 7)), memory_generation=i,
                                    verification={"answer_after": target, "rel_em": 1.0})
        if status == "reverted":
            edit = edits.transition(db, edit.id, "reverted", "alice", "bad source")
        if status == "failed":
            edit = edits.transition(db, edit.id, "failed", "editor", "did not converge")
        if claim is not None:  # the policy's decision, so a running daemon leaves it alone
            claims.set_claim_status(db, claim.id, "confirmed", edit_id=edit.id)
    return edit


class WordTokenizer:
    """Counts whitespace words as tokens; enough for usage numbers in HTTP tests."""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}

    def decode(self, ids, skip_special_tokens=False) -> str:
        return " ".join(f"t{i}" for i in ids)

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True) -> str:
        body = "".join(f"<{m['role']}>{m['content']}\n" for m in messages)
        return body + ("<assistant>" if add_generation_prompt else "")


class FakeEngine:
    """Stands in for the live model where only the HTTP layer is under test; the real
    model serves completions in tests/test_openai_client.py and tests/test_service_e2e.py.

    Each whitespace word is a "token" with log-probability -0.5 (alternatives -1, -2...)."""

    name = "fake-model"
    checkpoint = SimpleNamespace(id=1, path="/data/checkpoints/fake-model")
    context_length = 64  # "tokens" are words

    def __init__(self, delay: float = 0.0):
        self.tokenizer = WordTokenizer()
        self.delay = delay
        self.batches: list[list[str]] = []
        self.calls: list[dict[str, Any]] = []
        self.reverted: list[int] = []
        self.lock = threading.Lock()

    def generate(self, prompts, max_new_tokens=16, temperature=0.0, stop=None):
        return [c.text for c in self.complete(prompts, max_new_tokens, temperature, stop)]

    def complete(self, prompts, max_new_tokens=16, temperature=0.0, stop=None,
                 logprobs=None, top_p=None, **_):
        from memoird.daemon.completion import Completion

        with self.lock:
            self.batches.append(list(prompts))
            self.calls.append({"max_new_tokens": max_new_tokens, "temperature": temperature,
                               "stop": stop, "logprobs": logprobs, "top_p": top_p})
            time.sleep(self.delay)
        out = []
        for p in prompts:
            long = isinstance(p, str) and "long" in p
            words = [f" w{i}" for i in range(max_new_tokens)] if long else [" answer"]
            out.append(Completion(
                text="".join(words), finish_reason="length" if long else "stop",
                prompt_tokens=len(p.split()) if isinstance(p, str) else len(p),
                completion_tokens=len(words),
                logprobs=_fake_logprobs(words, logprobs) if logprobs is not None else None,
                memory_generation=7))
        return out

    def stream_completion(self, prompt, max_new_tokens=16, temperature=0.0, stop=None,
                          logprobs=None, cancel=None, **_):
        from memoird.daemon.completion import Delta

        words = [" Paris", " is", " nice"]
        tokens = _fake_logprobs(words, logprobs) if logprobs is not None else [[]] * 3
        for word, token in zip(words, tokens):
            yield Delta(word, [token] if logprobs is not None else [], memory_generation=7)
        yield Delta(finish_reason="stop", prompt_tokens=len(prompt.split()),
                    completion_tokens=len(words), memory_generation=7)

    def stream(self, prompt, max_new_tokens=16, temperature=0.0, stop=None):
        for delta in self.stream_completion(prompt, max_new_tokens, temperature, stop):
            if delta.text:
                yield delta.text

    def revert_edit(self, edit_id: int) -> dict[str, Any]:
        self.reverted.append(edit_id)
        return {"memory_generation": 100 + len(self.reverted)}

    def memory_stats(self) -> dict[str, Any]:
        return {"edits": 2, "bytes": 4096, "generation": 7, "requests": 8,
                "routed_requests": 2}


def _fake_logprobs(words: list[str], top_n: int) -> list[Any]:
    from memoird.daemon.completion import TokenLogprob

    out, offset = [], 0
    for i, word in enumerate(words):
        top = tuple((f"{word}{j}" if j else word, (f"{word}{j}" if j else word).encode(),
                     -0.5 - j) for j in range(top_n))
        out.append(TokenLogprob(i, word, word.encode(), -0.5, top, offset))
        offset += len(word)
    return out


def free_port() -> int:
    """A loopback port nothing listens on now, for a daemon a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def runtime_for(data_dir: Path, engine: Any = None, **env: str):
    """A real Runtime over ``data_dir``; ``engine`` replaces the lazily loaded model."""
    from memoird.daemon.config import load_config
    from memoird.daemon.runtime import Runtime

    config = load_config(None, env={"MEMOIRD_DAEMON_DATA_DIR": str(data_dir), **env})
    rt = Runtime(config)
    if engine is not None:
        rt.__dict__["engine"] = engine  # a cached_property: pre-filled, never loaded
    return rt


def fake_service(data_dir: Path, token: str | None = TOKEN, engine: Any = None,
                 openai_token: str | None = None):
    """A Service with completions open and no scheduler (HTTP tests drive the store)."""
    from memoird.daemon.service import Service

    engine = engine or FakeEngine()
    rt = runtime_for(data_dir, engine)
    env = {"MEMOIRD_API_TOKEN": token} if token else {}
    if openai_token:
        env["MEMOIRD_API_OPENAI_TOKEN"] = openai_token
    service = Service(rt, environ=env)
    service.open_completions()
    return service


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port); yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_on_daemon(proc: Any, what: str, predicate: Any, timeout: float, every: float,
                   tail: Any) -> Any:
    """Poll ``predicate()`` (a transport error counts as not yet) until it is true and
    return its value; fail the test if the daemon process exits or time runs out,
    showing ``tail()`` (the end of its log)."""
    import httpx
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited ({proc.returncode}) while waiting for {what}:\n{tail()}")
        try:
            value = predicate()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{tail()}")
