"""Fetching feeds and article pages over HTTP without trusting the other side.

Every URL a feed hands us is attacker-controlled: it may point at the cloud metadata service,
redirect forever, drip one byte a minute, or unpack a 10 KiB gzip into 10 GiB. So the fetcher
follows redirects itself (each hop is checked), connects only to addresses it has resolved and
checked itself (no DNS-rebinding window between check and connect), streams the body under a
wire-size cap and a total deadline, and decompresses in bounded steps. It never raises for a
network problem: a :class:`FetchResult` with a readable ``error`` is what a poller can store.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import brotli
import httpcore
import httpx

__all__ = [
    "DEFAULT_USER_AGENT",
    "FEED_ACCEPT",
    "HTML_ACCEPT",
    "FetchPolicy",
    "FetchRequest",
    "FetchResult",
    "FetchErrorKind",
    "BlockedAddressError",
    "AddressGuard",
    "GuardedTransport",
    "Fetcher",
    "parse_networks",
]

DEFAULT_USER_AGENT = "memoird/0.1 (news feed reader for model knowledge updates)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch; mirrors the ``[feeds]`` config section so the daemon passes it through.

    These defaults are the only ones: the config's ``[feeds]`` keys of the same names read
    them from here (daemon/config.py), so a library user and the daemon fetch alike.
    """

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_bytes: int = 15 * 1024 * 1024
    # Decompressed size cap; 0 (or None) means the same as max_bytes.
    max_decompressed_bytes: int | None = 0
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    # CIDRs that may be reached although private/loopback (tests: 127.0.0.0/8; intranet feeds).
    allow_networks: tuple[str, ...] = ()
    max_connections: int = 32

    @property
    def decompressed_cap(self) -> int:
        return self.max_decompressed_bytes or self.max_bytes


@dataclass(frozen=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    accept: str = FEED_ACCEPT


class FetchErrorKind(enum.StrEnum):
    INVALID_URL = "invalid_url"
    BLOCKED_ADDRESS = "blocked_address"
    DNS = "dns"
    CONNECT = "connect"
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    DECODING = "decoding"
    PROTOCOL = "protocol"


@dataclass
class FetchResult:
    """What happened; ``status`` is None when no HTTP answer was received (see ``error``)."""

    url: str
    final_url: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    redirects: tuple[str, ...] = ()
    # The new address when every hop from ``url`` was a permanent redirect (301/308): store it.
    permanent_url: str | None = None
    error: str | None = None
    error_kind: FetchErrorKind | None = None
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class BlockedAddressError(Exception):
    """The destination is a private/loopback/link-local/reserved address outside the allow-list."""


class _Failure(Exception):
    def __init__(self, kind: FetchErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class AddressGuard:
    """Decides which IP addresses may be contacted: only globally routable ones, plus the allow-list."""

    def __init__(self, allow_networks: Iterable[str] = ()) -> None:
        self.allow = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)

    def allowed(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in self.allow):
            return True
        return ip.is_global and not ip.is_multicast

    def check_literal(self, host: str) -> None:
        """Refuse an IP-literal host before any connection is attempted."""
        try:
            ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
        except ValueError:
            return
        if not self.allowed(ip):
            raise BlockedAddressError(f"address {ip} is private/loopback/link-local/reserved and not allowed")

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return only the addresses we may connect to, in resolver order."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        seen: list[str] = []
        for *_, sockaddr in infos:
            addr = str(sockaddr[0]).split("%")[0]
            if addr not in seen:
                seen.append(addr)
        good = [a for a in seen if self.allowed(ipaddress.ip_address(a))]
        if not good:
            raise BlockedAddressError(
                f"{host} resolves to {', '.join(seen)}: private/loopback/link-local/reserved addresses are not allowed"
            )
        return good


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves and checks the host itself, then connects to the checked IP (TLS still uses the name)."""

    def __init__(self, guard: AddressGuard) -> None:
        self.guard = guard
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[override]
        last: Exception | None = None
        for addr in self.guard.resolve(host, port):
            try:
                return self.inner.connect_tcp(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # type: ignore[override]
        raise BlockedAddressError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with a connection pool whose every TCP connect goes through the guard.

    httpx exposes no network-backend option, so the pool is swapped after construction; the
    test-suite's "hostname resolving to loopback is refused" case fails loudly if httpx changes this.
    """

    def __init__(self, guard: AddressGuard, max_connections: int = 32) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(guard),
        )


class _BoundedDecoder:
    """Content-Encoding decoder that never produces more than ``limit`` bytes, in bounded steps."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.total = 0
        self._zlib: zlib._Decompress | None = None
        self._brotli: brotli.Decompressor | None = None
        self._first = True
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif encoding == "br":
            self._brotli = brotli.Decompressor()
        elif encoding not in ("", "identity"):
            raise _Failure(FetchErrorKind.DECODING, f"unsupported Content-Encoding {encoding!r}")

    def _count(self, out: bytes) -> bytes:
        self.total += len(out)
        if self.total > self.limit:
            raise _Failure(
                FetchErrorKind.TOO_LARGE,
                f"decompressed body exceeds {self.limit} bytes ({self.encoding} bomb or oversized feed)",
            )
        return out

    def decode(self, data: bytes) -> bytes:
        try:
            if self._zlib is not None:
                return self._zlib_decode(data)
            if self._brotli is not None:
                parts = [self._count(self._brotli.process(data, output_buffer_limit=_CHUNK))]
                while not self._brotli.can_accept_more_data():
                    parts.append(self._count(self._brotli.process(b"", output_buffer_limit=_CHUNK)))
                return b"".join(parts)
        except (zlib.error, brotli.error) as exc:
            raise _Failure(FetchErrorKind.DECODING, f"corrupt {self.encoding} body: {exc}") from exc
        return self._count(data)

    def _zlib_decode(self, data: bytes) -> bytes:
        assert self._zlib is not None
        if self._first and self.encoding == "deflate" and data:
            self._first = False
            try:  # servers disagree on whether "deflate" carries the zlib header; try both like browsers
                probe = zlib.decompressobj()
                probe.decompress(data[:2])
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        parts = []
        buf = data
        while buf:
            parts.append(self._count(self._zlib.decompress(buf, _CHUNK)))
            buf = self._zlib.unconsumed_tail
        return b"".join(parts)

    def flush(self) -> bytes:
        if self._zlib is not None:
            return self._count(self._zlib.flush(_CHUNK))
        return b""


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class Fetcher:
    """A reusable, thread-safe HTTP fetcher (one connection pool) applying a :class:`FetchPolicy`."""

    def __init__(self, policy: FetchPolicy | None = None, *, transport: httpx.BaseTransport | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self.guard = AddressGuard(self.policy.allow_networks)
        self._client = httpx.Client(
            transport=transport or GuardedTransport(self.guard, self.policy.max_connections),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate, br"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def fetch(self, request: FetchRequest | str) -> FetchResult:
        """Fetch one URL, following up to ``max_redirects`` redirects; never raises for network errors."""
        if isinstance(request, str):
            request = FetchRequest(request)
        started = time.monotonic()
        result = FetchResult(url=request.url, final_url=request.url)
        try:
            self._fetch(request, result, started + self.policy.total_timeout_s)
        except _Failure as exc:
            result.error, result.error_kind = str(exc), exc.kind
        except BlockedAddressError as exc:
            via = f" (redirected from {result.url})" if result.final_url != result.url else ""
            result.error = f"refused {result.final_url}{via}: {exc}"
            result.error_kind = FetchErrorKind.BLOCKED_ADDRESS
        except httpx.TimeoutException as exc:
            p = self.policy
            what = {httpx.ConnectTimeout: f"connect timeout ({p.connect_timeout_s:g}s)",
                    httpx.ReadTimeout: f"read timeout ({p.read_timeout_s:g}s without data)",
                    httpx.WriteTimeout: f"write timeout ({p.read_timeout_s:g}s)"}.get(type(exc), type(exc).__name__)
            result.error = f"{what} fetching {result.final_url}"
            result.error_kind = FetchErrorKind.TIMEOUT
        except (httpx.ConnectError, httpx.NetworkError) as exc:
            result.error = f"cannot connect to {result.final_url}: {exc or type(exc).__name__}"
            result.error_kind = FetchErrorKind.CONNECT
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            result.error = f"HTTP protocol error from {result.final_url}: {exc or type(exc).__name__}"
            result.error_kind = FetchErrorKind.PROTOCOL
        if result.error is not None:
            result.body = b""
        result.elapsed_s = time.monotonic() - started
        return result

    def _timeout(self, deadline: float) -> httpx.Timeout:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failure(FetchErrorKind.TIMEOUT, f"total timeout of {self.policy.total_timeout_s:g}s exceeded")
        p = self.policy
        return httpx.Timeout(
            connect=min(p.connect_timeout_s, left), read=min(p.read_timeout_s, left),
            # waiting for a free pooled connection is our own queue, not the server's fault
            write=min(p.read_timeout_s, left), pool=left,
        )

    def _check_url(self, url: httpx.URL, original: str) -> None:
        if url.scheme not in ("http", "https"):
            raise _Failure(FetchErrorKind.INVALID_URL, f"unsupported URL scheme in {original!r} (only http/https)")
        if not url.host:
            raise _Failure(FetchErrorKind.INVALID_URL, f"URL without a host: {original!r}")
        self.guard.check_literal(url.host)

    def _fetch(self, request: FetchRequest, result: FetchResult, deadline: float) -> None:
        try:
            url = httpx.URL(request.url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise _Failure(FetchErrorKind.INVALID_URL, f"invalid URL {request.url!r}: {exc}") from exc
        headers = {"Accept": request.accept}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        hops: list[str] = []
        permanent = True
        while True:
            result.final_url = str(url)
            self._check_url(url, str(url))
            req = self._client.build_request("GET", url, headers=headers, timeout=self._timeout(deadline))
            response = self._client.send(req, stream=True)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    permanent = permanent and response.status_code in _PERMANENT
                    try:
                        nxt = url.join(response.headers["location"])
                    except (httpx.InvalidURL, ValueError) as exc:
                        raise _Failure(FetchErrorKind.INVALID_URL, f"bad redirect Location from {url}: {exc}") from exc
                    hops.append(str(nxt))
                    if str(nxt) in hops[:-1] or nxt == httpx.URL(request.url):
                        raise _Failure(FetchErrorKind.TOO_MANY_REDIRECTS, f"redirect loop at {nxt} after {len(hops)} hops")
                    if len(hops) > self.policy.max_redirects:
                        raise _Failure(
                            FetchErrorKind.TOO_MANY_REDIRECTS,
                            f"more than {self.policy.max_redirects} redirects starting at {request.url}",
                        )
                    url = nxt
                    continue
                result.status = response.status_code
                result.headers = _lower_headers(response.headers)
                result.redirects = tuple(hops)
                if hops and permanent:
                    result.permanent_url = hops[-1]
                if 200 <= response.status_code < 300:
                    result.body = self._read_body(response, deadline)
                return
            finally:
                response.close()

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        p = self.policy
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > p.max_bytes:
            raise _Failure(FetchErrorKind.TOO_LARGE, f"body of {declared} bytes exceeds the {p.max_bytes}-byte limit")
        encoding = response.headers.get("content-encoding", "").strip().lower()
        decoder = _BoundedDecoder(encoding, p.decompressed_cap)
        raw = 0
        out: list[bytes] = []
        for chunk in response.iter_raw():  # no chunk_size: httpx would buffer, hiding a slow drip
            raw += len(chunk)
            if raw > p.max_bytes:
                raise _Failure(FetchErrorKind.TOO_LARGE, f"body exceeds the {p.max_bytes}-byte limit")
            out.append(decoder.decode(chunk))
            if time.monotonic() > deadline:
                raise _Failure(
                    FetchErrorKind.TIMEOUT,
                    f"total timeout of {p.total_timeout_s:g}s exceeded after {raw} bytes (slow server)",
                )
        out.append(decoder.flush())
        return b"".join(out)


def parse_networks(values: Sequence[str] | str | None) -> tuple[str, ...]:
    """Normalise a config value (list or comma-separated string) into validated CIDR strings."""
    if not values:
        return ()
    items = values.split(",") if isinstance(values, str) else list(values)
    return tuple(str(ipaddress.ip_network(v.strip(), strict=False)) for v in items if v.strip())
