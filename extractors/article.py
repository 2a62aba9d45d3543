"""Turning feed entries into article drafts: stable identity, plain text, UTC dates.

Identity matters more than anything here: a fact extracted twice from the same story must not
count as two sources, so every draft gets a guid (the feed's own id, else the link, else a hash
of its content) and a content hash, and repeats inside one feed document are dropped.
"""

from __future__ import annotations

import hashlib
import html as htmllib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import lxml.etree
import lxml.html
import trafilatura

from .feed import FeedEntry
from .fetch import HTML_ACCEPT, Fetcher, FetchRequest

__all__ = [
    "ArticleDraft",
    "html_to_text",
    "content_hash",
    "entry_to_article",
    "entries_to_articles",
    "needs_full_text",
    "extract_main_text",
    "fetch_full_text",
]

SUMMARY_ONLY_MAX_CHARS = 1000


@dataclass
class ArticleDraft:
    guid: str
    url: str | None
    title: str
    published_at: datetime | None
    text: str
    content_hash: str
    # True when the feed gave only a summary (no full content), the cue to fetch the page itself.
    summary_only: bool = False


_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "blockquote", "pre", "section", "article", "header", "footer", "figure", "figcaption", "dd", "dt", "hr",
}
_DROP = ("script", "style", "noscript", "template", "iframe", "object", "svg", "head")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")


def html_to_text(markup: str) -> str:
    """Readable plain text from an HTML fragment: block elements become line breaks, scripts vanish."""
    if not markup or not markup.strip():
        return ""
    if "<" not in markup:
        return _normalise(htmllib.unescape(markup))
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return _normalise(htmllib.unescape(re.sub(r"<[^>]*>", " ", markup)))
    for el in list(root.iter(*_DROP)):
        el.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK:
            el.tail = "\n" + (el.tail or "")
    return _normalise(root.text_content())


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def content_hash(title: str | None, text: str | None) -> str:
    """SHA-256 over title and text, whitespace collapsed and case folded, so re-published unchanged
    stories match. Same formula as ``memoird.store.articles.content_hash`` (a test keeps them equal)."""
    def norm(value: str | None) -> str:
        return " ".join((value or "").split()).casefold()
    return hashlib.sha256(f"{norm(title)}\n{norm(text)}".encode()).hexdigest()


def _text(value: str | None, is_html: bool) -> str:
    if not value:
        return ""
    return html_to_text(value) if is_html else _normalise(value)


def entry_to_article(entry: FeedEntry) -> ArticleDraft:
    content = _text(entry.content, entry.content_is_html)
    summary = _text(entry.summary, entry.summary_is_html)
    title = html_to_text(entry.title) if ("<" in entry.title or "&" in entry.title) else entry.title.strip()
    text = content or summary
    digest = content_hash(title, text)
    return ArticleDraft(
        guid=entry.guid or entry.link or f"sha256:{digest}",
        url=entry.link,
        title=title,
        published_at=entry.published_at or entry.updated_at,
        text=text,
        content_hash=digest,
        summary_only=not content,
    )


def entries_to_articles(entries: Iterable[FeedEntry]) -> list[ArticleDraft]:
    """Drafts for one feed document's entries, dropping repeats inside it.

    A repeat is the same content, or the same guid with the same link; a reused guid on a
    different story is kept (the store files it under a derived guid). Identity across polls is
    the store's job; this only spares it work and keeps stand-alone users from seeing doubles.
    """
    seen_ids: set[tuple[str, str | None]] = set()
    seen_hashes: set[str] = set()
    out = []
    for entry in entries:
        draft = entry_to_article(entry)
        if not draft.text and not draft.title:
            continue
        key = (draft.guid, draft.url)
        if key in seen_ids or draft.content_hash in seen_hashes:
            continue
        seen_ids.add(key)
        seen_hashes.add(draft.content_hash)
        out.append(draft)
    return out


def needs_full_text(draft: ArticleDraft, max_summary_chars: int = SUMMARY_ONLY_MAX_CHARS) -> bool:
    """A short summary with a link is worth a page fetch; a long description is already the article."""
    return draft.summary_only and bool(draft.url) and len(draft.text) < max_summary_chars


def extract_main_text(page: bytes | str, url: str | None = None) -> str:
    """The article body of a web page (boilerplate, menus and comments removed) via trafilatura."""
    text = trafilatura.extract(page, url=url, include_comments=False, include_tables=False, favor_precision=True)
    return _normalise(text or "")


def fetch_full_text(draft: ArticleDraft, fetcher: Fetcher) -> tuple[ArticleDraft, str | None]:
    """Replace a summary-only draft's text with the page's main text; on failure keep the summary.

    Returns the (possibly updated) draft and a readable problem, if any. Identity (guid, hash of
    the feed's own content) stays as the feed published it, so a later poll dedups the same way.
    """
    assert draft.url is not None
    result = fetcher.fetch(FetchRequest(draft.url, accept=HTML_ACCEPT))
    if not result.ok:
        return draft, result.error or f"article page {draft.url} answered HTTP {result.status}"
    if "html" not in result.content_type.lower() and result.content_type:
        return draft, f"article page {draft.url} is {result.content_type!r}, not HTML"
    text = extract_main_text(result.body, result.final_url)
    if len(text) <= len(draft.text):
        return draft, None
    return ArticleDraft(
        guid=draft.guid, url=draft.url, title=draft.title, published_at=draft.published_at,
        text=text, content_hash=draft.content_hash, summary_only=False,
    ), None
