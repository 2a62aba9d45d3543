"""A real HTTP server on 127.0.0.1 (random port) for ingest tests and the ingest benchmark.

Static files are served the way a well-behaved feed host serves them (ETag, Last-Modified,
304 on conditional requests, gzip when asked); hostile behaviours are plain route handlers so a
test reads as "this path misbehaves like that".
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = Callable[["Handler"], None]

CONTENT_TYPES = {".xml": "application/xml", ".json": "application/feed+json", ".opml": "text/x-opml",
                 ".html": "text/html; charset=utf-8"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as hostile-server tests expect it to

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        with owner.lock:
            owner.hits[path] += 1
            owner.requests.append((path, dict(self.headers.items())))
        route = owner.routes.get(path)
        try:
            if route is not None:
                route(self)
            elif owner.root is not None and (owner.root / path.lstrip("/")).is_file() and ".." not in path:
                self.send_static(owner.root / path.lstrip("/"))
            else:
                self.reply(404, b"not found")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as hostile-server tests expect it to

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def send_static(self, path: Path, content_type: str | None = None) -> None:
        data = path.read_bytes()
        mtime = path.stat().st_mtime
        self.send_conditional(data, mtime, content_type or CONTENT_TYPES.get(path.suffix, "application/octet-stream"))

    def send_conditional(self, data: bytes, mtime: float, content_type: str, extra: dict[str, str] | None = None) -> None:
        """Answer like a static file host: validators, 304 when they match, gzip when accepted."""
        etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
        last_modified = formatdate(mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Content-Type": content_type, **(extra or {})}
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            if etag in [t.strip() for t in inm.split(",")]:
                return self.reply(304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        elif ims is not None:
            try:
                if parsedate_to_datetime(ims).timestamp() >= int(mtime):
                    return self.reply(304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
            except (TypeError, ValueError):
                pass
        if "gzip" in self.headers.get("Accept-Encoding", "") and len(data) > 1024:
            data = self.server.owner.gzipped(data)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        self.reply(200, data, headers)

    def stream(self, chunks: Iterable[bytes], headers: dict[str, str], status: int = 200, delay: float = 0.0) -> None:
        """Send a close-delimited body chunk by chunk (no Content-Length), optionally slowly."""
        self.send_response(status)
        for name, value in {**headers, "Connection": "close"}.items():
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
            if delay:
                time.sleep(delay)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    owner: FeedServer


class FeedServer:
    """``with FeedServer(root) as srv: srv.url("/feed.xml")``; add hostile paths with ``srv.routes[path] = fn``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._gzip_cache: dict[bytes, bytes] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def gzipped(self, data: bytes) -> bytes:
        key = hashlib.sha1(data).digest()
        with self.lock:
            if key not in self._gzip_cache:
                self._gzip_cache[key] = gzip.compress(data, compresslevel=5, mtime=0)
            return self._gzip_cache[key]

    def start(self) -> FeedServer:
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- hostile and scripted behaviours -------------------------------------------------------------

def fixed(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    return lambda h: h.reply(status, body, headers)


def redirect(location: str, status: int = 301) -> Route:
    return lambda h: h.reply(status, b"", {"Location": location})


def sequence(*routes: Route) -> Route:
    """The n-th request gets the n-th behaviour; the last one repeats (e.g. 500, 500, then a feed)."""
    state = {"n": 0}
    lock = threading.Lock()

    def route(h: Handler) -> None:
        with lock:
            i = min(state["n"], len(routes) - 1)
            state["n"] += 1
        routes[i](h)

    return route


def static(path: Path, content_type: str | None = None) -> Route:
    return lambda h: h.send_static(path, content_type)


def slow_drip(prefix: bytes = b"<?xml version='1.0'?><rss><channel>", pause_s: float = 0.4, chunks: int = 100) -> Route:
    """Headers at once, then a byte every ``pause_s``: each read succeeds, the whole never ends."""
    def route(h: Handler) -> None:
        h.stream([prefix] + [b" "] * chunks, {"Content-Type": "application/rss+xml"}, delay=pause_s)
    return route


def stall(seconds: float) -> Route:
    """Headers, then silence longer than any read timeout."""
    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.flush()
        time.sleep(seconds)
    return route


def oversized(total: int, declare_length: bool = False) -> Route:
    """A body of ``total`` bytes; without a declared length the client must count as it reads."""
    def route(h: Handler) -> None:
        chunk = b"<!-- padding -->" * 4096
        n = total // len(chunk) + 1
        if declare_length:
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(n * len(chunk)))
            h.end_headers()
            for _ in range(n):
                h.wfile.write(chunk)
        else:
            h.stream((chunk for _ in range(n)), {"Content-Type": "application/rss+xml"})
    return route


def gzip_bomb(expanded: int) -> Route:
    """A few KiB on the wire that inflate to ``expanded`` bytes of zeros."""
    body = gzip.compress(b"\0" * expanded, compresslevel=9, mtime=0)
    return fixed(200, body, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>http://example.com/a</link><description>&lol9;</description></item>
</channel></rss>
"""


def rss(items: Iterable[tuple[str, str, str]], title: str = "Loopback news", ttl: int | None = None) -> bytes:
    """A small RSS 2.0 document from (guid, title, description) triples."""
    parts = [f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}</title>"
             "<link>http://news.example/</link>"]
    if ttl is not None:
        parts.append(f"<ttl>{ttl}</ttl>")
    for guid, item_title, desc in items:
        parts.append(f"<item><guid>{guid}</guid><title>{item_title}</title><link>http://news.example/{guid}</link>"
                     f"<pubDate>Tue, 17 Nov 2026 12:00:00 +0100</pubDate><description>{desc}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")
