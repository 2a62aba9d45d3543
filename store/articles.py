"""Articles: feed entries, deduplicated within their feed.

An entry is the same article as a stored one when it has the same guid, else the same
link, else the same content hash (title + text, whitespace and case folded). Feeds that
reuse one guid for different stories are common; a guid match whose link and content
both differ is stored as a new article under ``<guid>#<hash prefix>``, so those stories
are not lost. The hash is of the entry as first seen; replacing the text later (after
fetching the full page) does not change it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlite_utils import Database

from ._rows import check_choice, encode, get_record, records
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .errors import InvalidValue
from .feeds import get_feed
from .records import ARTICLE_STATUSES, Article


def content_hash(title: str | None, text: str | None) -> str:
    """sha256 over title and text with whitespace collapsed and case folded."""
    def norm(value: str | None) -> str:
        return " ".join((value or "").split()).casefold()
    return hashlib.sha256(f"{norm(title)}\n{norm(text)}".encode()).hexdigest()


def insert_article(db: Database, feed_id: int, *, guid: str | None = None,
                   url: str | None = None, title: str | None = None,
                   published_at: Moment | None = None, text: str = "",
                   status: str = "new", error: str | None = None,
                   now: Moment | None = None) -> tuple[Article, bool]:
    """Store an entry unless it duplicates one of the feed's articles.

    Returns ``(article, created)``: the new article and True, or the stored duplicate
    and False (the stored one is left unchanged).
    """
    check_choice("article status", status, ARTICLE_STATUSES)
    text = text or ""
    guid = (guid or "").strip() or None
    url = (url or "").strip() or None
    digest = content_hash(title, text)
    published = maybe_iso(published_at, "published_at")
    with write_transaction(db):
        get_feed(db, feed_id)
        found = _find_duplicate(db, feed_id, guid, url, digest, bool(text.strip()))
        if isinstance(found, Article):
            return found, False
        row = encode(Article, {
            "feed_id": feed_id, "guid": found or url or f"sha256:{digest}", "url": url,
            "title": title, "published_at": published, "text": text,
            "content_hash": digest, "status": status, "error": error,
            "created_at": maybe_iso(now, "now") or now_iso(),
        })
        article_id = db["articles"].insert(row).last_pk
    return get_article(db, article_id), True


def _find_duplicate(db: Database, feed_id: int, guid: str | None, url: str | None,
                    digest: str, has_text: bool) -> Article | str | None:
    """The stored duplicate, or the guid to store the entry under (None: derive one)."""
    def first(where: str, value: str) -> Article | None:
        rows = records(db, Article, f"SELECT * FROM articles WHERE feed_id = ? AND {where} "
                       "ORDER BY id LIMIT 1", [feed_id, value])
        return rows[0] if rows else None

    store_guid = guid
    if guid is not None:
        same = first("guid = ?", guid)
        if same is not None:
            if url is None or same.url == url or same.content_hash == digest:
                return same
            # the feed reuses this guid for another story
            store_guid = f"{guid}#{digest[:16]}"
            again = first("guid = ?", store_guid)
            if again is not None:
                return again
    if url is not None and (same := first("url = ?", url)) is not None:
        return same
    if has_text and (same := first("content_hash = ?", digest)) is not None:
        return same
    return store_guid


def get_article(db: Database, article_id: int) -> Article:
    return get_record(db, "articles", Article, article_id, "article")


def articles_by_status(db: Database, status: str, limit: int = 100,
                       feed_id: int | None = None) -> list[Article]:
    """The oldest ``limit`` articles with this status: a stage's work queue."""
    check_choice("article status", status, ARTICLE_STATUSES)
    where, params = "status = ?", [status]
    if feed_id is not None:
        where, params = where + " AND feed_id = ?", params + [feed_id]
    return records(db, Article, f"SELECT * FROM articles WHERE {where} ORDER BY id LIMIT ?",
                   params + [int(limit)])


def articles_mentioning(db: Database, word: str, since: Moment, *, exclude: set[int],
                        limit: int = 8) -> list[Article]:
    """Extracted articles since ``since`` whose text names ``word`` (newest first): the
    ones that may corroborate a fact another article stated."""
    rows = records(db, Article, """SELECT * FROM articles WHERE status = 'extracted'
                   AND created_at >= ? AND instr(lower(text), lower(?)) > 0
                   ORDER BY id DESC LIMIT ?""", [maybe_iso(since), word, int(limit) + len(exclude)])
    return [a for a in rows if a.id not in exclude][:limit]


def list_articles(db: Database, feed_id: int | None = None, limit: int = 50,
                  offset: int = 0) -> list[Article]:
    """Articles newest first, optionally of one feed."""
    where, params = ("WHERE feed_id = ?", [feed_id]) if feed_id is not None else ("", [])
    return records(db, Article, f"SELECT * FROM articles {where} ORDER BY id DESC "
                   "LIMIT ? OFFSET ?", params + [int(limit), int(offset)])


def count_articles(db: Database, status: str | None = None) -> int:
    if status is None:
        return db["articles"].count
    check_choice("article status", status, ARTICLE_STATUSES)
    return db["articles"].count_where("status = ?", [status])


def set_article_status(db: Database, article_id: int, status: str, *,
                       error: str | None = None, text: str | None = None) -> Article:
    """Move an article through its stage; ``error`` says why it failed or was skipped."""
    check_choice("article status", status, ARTICLE_STATUSES)
    if error is not None and status not in ("failed", "skipped"):
        raise InvalidValue(f"article {article_id}: error given with status {status!r}")
    fields: dict[str, Any] = {"status": status, "error": error}
    if text is not None:
        fields["text"] = text
    with write_transaction(db):
        get_article(db, article_id)
        db["articles"].update(article_id, fields)
    return get_article(db, article_id)
