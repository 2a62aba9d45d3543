"""Feeds: what to poll, when, and how far to trust it.

Removing a feed keeps its row as a tombstone (status ``removed``) instead of deleting
it: its articles, facts and claims keep pointing at it, so every edit stays traceable to
the feed that caused it. A removed feed is never polled and is hidden from
``list_feeds`` unless asked for; adding its URL again revives the same row.
"""

from __future__ import annotations

import ipaddress
import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlite_utils import Database

from ._rows import check_choice, check_fields, check_unit, encode, get_record, records
from .clock import Moment, maybe_iso, now_iso, to_iso
from .db import write_transaction
from .errors import Duplicate, IllegalTransition, InvalidValue, NotFound
from .records import FEED_STATUSES, Feed

#: columns update_feed may change (id and created_at never change)
SETTABLE = ("url", "title", "site_url", "etag", "last_modified", "next_check_at",
            "last_checked_at", "error_count", "last_error", "status", "paused_reason",
            "trust", "fetch_full_article")
_TIMES = ("next_check_at", "last_checked_at")


#: ``scheme://user:password@`` (or ``scheme://token@``): the userinfo part of a URL
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s@]*@")
#: one DNS label (underscores allowed: some real hosts have them)
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)", re.I)
REDACTED = "***"


def redact_url(url: str | None) -> str | None:
    """``url`` with any ``user:password@`` replaced by ``***@``, for showing it anywhere.

    Feed URLs may carry credentials (``https://user:token@host/feed``); the fetcher needs
    them, nobody reading a list, a log line or an exported file does.
    """
    return redact_text(url)


def redact_text(text: str | None) -> str | None:
    """Every URL's credentials in free text (an error message, a log line) as ``***@``."""
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(rf"\1{REDACTED}@", text)


def has_credentials(url: str) -> bool:
    return "@" in urlsplit(url).netloc


def public_dict(feed: Feed) -> dict[str, Any]:
    """``feed.as_dict()`` for display (CLI, API, dashboard): credentials redacted."""
    row = feed.as_dict()
    for key in ("url", "site_url", "last_error", "paused_reason"):
        row[key] = redact_text(row[key])
    return row


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host[:-1].split(".") if ascii_host.endswith(".") else ascii_host.split(".")
    return len(ascii_host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def check_url(url: object) -> str:
    """A feed URL must be absolute http(s) with a valid host and no spaces.

    The error names the URL with its credentials redacted.
    """
    if not isinstance(url, str):
        raise InvalidValue(f"feed url: {url!r} is not a string")
    url = url.strip()
    shown = redact_url(url)
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidValue(f"feed url: {shown!r} contains spaces or control characters "
                           "(encode a space in a path as %20)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number 0-65535)
    except ValueError as exc:
        raise InvalidValue(f"feed url: {shown!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidValue(f"feed url: {shown!r} is not an absolute http(s) URL")
    if not _valid_host(parts.hostname):
        raise InvalidValue(f"feed url: {shown!r} has an invalid host name "
                           f"{redact_text(parts.hostname)!r}")
    return url


def add_feed(db: Database, url: str, *, title: str | None = None,
             site_url: str | None = None, trust: float = 0.5,
             fetch_full_article: bool = False, now: Moment | None = None) -> Feed:
    """Add a feed, due at once. Raises Duplicate if the URL is already a live feed."""
    url = check_url(url)
    check_unit("trust", trust)
    with write_transaction(db):
        existing = db["feeds"].rows_where("url = ?", [url])
        for row in existing:
            if row["status"] != "removed":
                raise Duplicate("feed", "url", redact_url(url), row["id"])
            return update_feed(db, row["id"], status="active", title=title or row["title"],
                               site_url=site_url or row["site_url"], trust=trust,
                               fetch_full_article=fetch_full_article, error_count=0,
                               last_error=None, paused_reason=None, next_check_at=None)
        row = encode(Feed, {
            "url": url, "title": title, "site_url": site_url, "trust": float(trust),
            "fetch_full_article": fetch_full_article, "status": "active", "error_count": 0,
            "created_at": maybe_iso(now, "now") or now_iso(),
        })
        feed_id = db["feeds"].insert(row).last_pk
    return get_feed(db, feed_id)


def get_feed(db: Database, feed_id: int) -> Feed:
    return get_record(db, "feeds", Feed, feed_id, "feed")


def get_feed_by_url(db: Database, url: str) -> Feed:
    """The feed stored under exactly this URL (removed ones included), or NotFound."""
    rows = list(db["feeds"].rows_where("url = ?", [url.strip()]))
    if not rows:
        raise NotFound("feed with url", redact_url(url))
    return Feed.from_row(rows[0])


def list_feeds(db: Database, status: str | None = None) -> list[Feed]:
    """Feeds in id order; all but removed ones unless ``status`` picks one status."""
    if status is None:
        return records(db, Feed, "SELECT * FROM feeds WHERE status != 'removed' ORDER BY id")
    check_choice("feed status", status, FEED_STATUSES)
    return records(db, Feed, "SELECT * FROM feeds WHERE status = ? ORDER BY id", [status])


def update_feed(db: Database, feed_id: int, **fields: Any) -> Feed:
    """Change columns of one feed (see SETTABLE); values are validated first."""
    check_fields(f"feed {feed_id}", fields, SETTABLE)
    if "url" in fields:
        fields["url"] = check_url(fields["url"])
    if "status" in fields:
        check_choice("feed status", fields["status"], FEED_STATUSES)
    if "trust" in fields:
        check_unit("trust", fields["trust"])
    if "error_count" in fields:
        count = fields["error_count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidValue(f"error_count: {count!r} is not a non-negative integer")
    for name in _TIMES:
        if name in fields:
            fields[name] = maybe_iso(fields[name], name)
    with write_transaction(db):
        get_feed(db, feed_id)
        if fields:
            try:
                db["feeds"].update(feed_id, encode(Feed, fields))
            except sqlite3.IntegrityError as exc:
                if "url" not in fields or "UNIQUE" not in str(exc):
                    raise
                other = get_feed_by_url(db, fields["url"])
                raise Duplicate("feed", "url", redact_url(fields["url"]), other.id) from None
    return get_feed(db, feed_id)


def remove_feed(db: Database, feed_id: int) -> Feed:
    """Stop polling a feed for good, keeping its row and everything derived from it.

    Removing a feed that is already removed raises IllegalTransition (nothing changes),
    so a second ``memoird feeds remove`` says so instead of reporting success again.
    """
    with write_transaction(db):
        feed = get_feed(db, feed_id)
        if feed.status == "removed":
            raise IllegalTransition("feed", feed_id, "removed", "removed", (),
                                    hint=f"feed {feed_id} ({redact_url(feed.url)}) is already "
                                         "removed")
        return update_feed(db, feed_id, status="removed", next_check_at=None)


def check_live(db: Database, feed_id: int, action: str) -> Feed:
    """The feed, unless it was removed: a removed feed is revived only by adding it again."""
    feed = get_feed(db, feed_id)
    if feed.status == "removed":
        raise IllegalTransition("feed", feed_id, "removed", action, (),
                                hint=f"feed {feed_id} ({redact_url(feed.url)}) was removed: "
                                     f"cannot {action} it; add its URL again to poll it")
    return feed


def due_feeds(db: Database, now: Moment, limit: int = 100) -> list[Feed]:
    """Active feeds whose next check is due at ``now``, never-checked ones first."""
    return records(db, Feed, """
        SELECT * FROM feeds
        WHERE status = 'active' AND (next_check_at IS NULL OR next_check_at <= ?)
        ORDER BY next_check_at IS NOT NULL, next_check_at, id
        LIMIT ?""", [to_iso(now, "now"), int(limit)])
