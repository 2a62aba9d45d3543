"""Parsing feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed) from bytes into plain records.

feedparser is given bytes plus the HTTP headers, never a URL: its own fetching has no timeout.
Broken feeds are the norm on the web, so a ``bozo`` feed keeps whatever entries parsed and only
a document that yields no feed at all is an error. Entity declarations are refused up front: a
news feed has no business declaring them and they are how entity-expansion bombs work.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import feedparser

__all__ = ["FeedEntry", "ParsedFeed", "FeedParseError", "parse_feed", "parse_datetime"]


class FeedParseError(ValueError):
    """The document is not a usable feed; the message names the feed URL and the reason."""


@dataclass
class FeedEntry:
    """One item as the feed published it; ``content``/``summary`` are HTML unless ``*_is_html`` is False."""

    guid: str | None
    link: str | None
    title: str
    published_at: datetime | None = None
    updated_at: datetime | None = None
    content: str | None = None
    content_is_html: bool = True
    summary: str | None = None
    summary_is_html: bool = True
    author: str | None = None


@dataclass
class ParsedFeed:
    url: str
    format: str
    title: str = ""
    link: str | None = None
    # Publisher's polling hint in seconds (RSS <ttl>, sy:updatePeriod/updateFrequency).
    ttl_s: float | None = None
    entries: list[FeedEntry] = field(default_factory=list)
    # Why the document was malformed, when entries were recovered from a broken ("bozo") feed.
    warning: str | None = None


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT_START = re.compile(r"<[A-Za-z_]")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.I)
_PROLOG_SCAN = 1 << 20


def _prolog_text(body: bytes) -> str:
    """The document as text up to its root element, whatever the encoding family (UTF-16/32 too)."""
    head = body[:_PROLOG_SCAN]
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                     (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head.decode(enc, errors="replace")
    if head[:1] == b"\x00" and head[1:2] != b"\x00":
        return head.decode("utf-16-be", errors="replace")
    if head[1:2] == b"\x00" and head[:1] != b"\x00":
        return head.decode("utf-16-le", errors="replace")
    return head.decode("latin-1")


def _refuse_entity_declarations(body: bytes, url: str) -> None:
    text = _COMMENT.sub("", _prolog_text(body))
    root = _ROOT_START.search(text)
    prolog = text[: root.start()] if root else text
    if _ENTITY_DECL.search(prolog):
        raise FeedParseError(
            f"{url}: refused, the document declares XML entities in its DOCTYPE (possible entity-expansion bomb)"
        )


def _struct_to_utc(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def parse_datetime(value: Any) -> datetime | None:
    """An RFC 3339 / ISO 8601 timestamp as an aware UTC datetime (naive means UTC); None if invalid."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


_PERIOD_S = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2_592_000, "yearly": 31_536_000}


def _ttl_seconds(meta: dict[str, Any]) -> float | None:
    ttl = str(meta.get("ttl", "")).strip()
    if ttl.isdigit() and int(ttl) > 0:
        return int(ttl) * 60.0
    period = _PERIOD_S.get(str(meta.get("sy_updateperiod", "")).strip().lower())
    if period:
        freq = str(meta.get("sy_updatefrequency", "1")).strip()
        return period / max(int(freq) if freq.isdigit() else 1, 1)
    return None


def _detail(entry: dict[str, Any], key: str) -> tuple[str | None, bool]:
    if key == "content":
        parts = entry.get("content") or []
        html_parts = [p for p in parts if "html" in (p.get("type") or "")]
        chosen = html_parts or parts
        if not chosen:
            return None, True
        return "\n".join(p.get("value", "") for p in chosen) or None, bool(html_parts) or "html" in (chosen[0].get("type") or "html")
    value = entry.get(key)
    detail = entry.get(f"{key}_detail") or {}
    return (value or None), "plain" not in (detail.get("type") or "text/html")


def _xml_feed(body: bytes, url: str, content_type: str) -> ParsedFeed:
    _refuse_entity_declarations(body, url)
    parsed = feedparser.parse(
        body,
        response_headers={"content-type": content_type or "application/xml", "content-location": url},
        # We never render feed HTML (it becomes plain text), so sanitising and rewriting links only costs time.
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    problem = parsed.get("bozo_exception")
    why = f": {type(problem).__name__}: {problem}" if problem else ""
    if not parsed.version and not parsed.entries:
        raise FeedParseError(f"{url}: not an RSS/Atom/JSON feed (content-type {content_type or 'none'!r}){why}")
    if parsed.bozo and not parsed.entries:
        raise FeedParseError(f"{url}: malformed {parsed.version} feed, no entries recovered{why}")
    meta = parsed.feed
    entries = []
    for e in parsed.entries:
        content, content_html = _detail(e, "content")
        summary, summary_html = _detail(e, "summary")
        if summary and content and summary.strip() == content.strip():
            summary = None
        entries.append(FeedEntry(
            guid=(e.get("id") or "").strip() or None,
            link=(e.get("link") or "").strip() or None,
            title=(e.get("title") or "").strip(),
            published_at=_struct_to_utc(e.get("published_parsed") or e.get("created_parsed")),
            # plain dict.get: feedparser's own .get maps a missing "updated" to "published", with a warning
            updated_at=_struct_to_utc(dict.get(e, "updated_parsed")),
            content=content, content_is_html=content_html,
            summary=summary, summary_is_html=summary_html,
            author=e.get("author") or None,
        ))
    warning = None
    if parsed.bozo and problem is not None:
        warning = f"malformed feed, kept {len(entries)} entries: {type(problem).__name__}: {problem}"
    return ParsedFeed(
        url=url, format=parsed.version or "unknown", title=(meta.get("title") or "").strip(),
        link=meta.get("link") or None, ttl_s=_ttl_seconds(meta), entries=entries, warning=warning,
    )


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value.strip() or None if isinstance(value, str) else None


def _json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested arrays
        raise FeedParseError(f"{url}: invalid JSON Feed: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise FeedParseError(f"{url}: JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
    if not isinstance(items, list):
        raise FeedParseError(f"{url}: JSON Feed without an items list")
    entries = []
    skipped = 0
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        gid = item.get("id")
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        author = next((a.get("name") for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)), None)
        html = _str(item, "content_html")
        entries.append(FeedEntry(
            # JSON Feed ids may be numbers; the spec says to treat them as strings.
            guid=str(gid).strip() or None if isinstance(gid, (str, int, float)) else None,
            link=_str(item, "url") or _str(item, "external_url"),
            title=_str(item, "title") or "",
            published_at=parse_datetime(item.get("date_published")),
            updated_at=parse_datetime(item.get("date_modified")),
            content=html or _str(item, "content_text"), content_is_html=html is not None,
            summary=_str(item, "summary"), summary_is_html=False,
            author=author,
        ))
    version = str(doc["version"]).rsplit("/", 1)[-1]
    return ParsedFeed(
        url=url, format=f"json{version}", title=_str(doc, "title") or "",
        link=_str(doc, "home_page_url"), entries=entries,
        warning=f"skipped {skipped} items that are not objects" if skipped else None,
    )


def _looks_json(body: bytes, content_type: str) -> bool:
    """The first byte decides (servers mislabel feeds all the time); the content type breaks ties."""
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"["):
        return True
    return first != b"<" and "json" in content_type.lower()


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse a feed document; raises :class:`FeedParseError` (naming ``url``) when nothing usable is in it."""
    if not body.strip():
        raise FeedParseError(f"{url}: empty response body")
    if _looks_json(body, content_type):
        return _json_feed(body, url)
    return _xml_feed(body, url, content_type)
