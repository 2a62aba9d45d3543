"""OPML 2.0 subscription lists: import from other feed readers, export for backup or migration.

Parsing goes through defusedxml because an OPML file is user-supplied XML, and entity or DTD
tricks in it must fail with a message rather than eat memory or read local files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
import lxml.etree as etree
from defusedxml import DefusedXmlException

__all__ = ["OpmlFeed", "OpmlError", "parse_opml", "parse_opml_outlines", "export_opml"]


class OpmlError(ValueError):
    """The OPML document cannot be used; the message names its source."""


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str | None = None
    site_url: str | None = None
    # Folder path in the exporting reader ("News/Tech"); informational.
    category: str | None = None


def _attr(el: Element, name: str) -> str | None:
    """Attribute lookup ignoring case: readers write xmlUrl, xmlurl and XMLURL alike."""
    name = name.lower()
    for key, value in el.attrib.items():
        if key.lower() == name and value.strip():
            return value.strip()
    return None


def parse_opml(data: bytes | str, source: str = "OPML") -> list[OpmlFeed]:
    """Every feed outline (one with an ``xmlUrl``) in document order, duplicates dropped."""
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for feed in parse_opml_outlines(data, source):
        if feed.url not in seen:
            seen.add(feed.url)
            feeds.append(feed)
    return feeds


def parse_opml_outlines(data: bytes | str, source: str = "OPML") -> list[OpmlFeed]:
    """Every feed outline in document order, repeats included (an importer reports them).

    Raises OpmlError, naming ``source``, when the document is not usable OPML at all.
    """
    try:
        root = safe_et.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise OpmlError(f"{source}: refused, {exc}") from None
    except ParseError as exc:
        raise OpmlError(f"{source}: not well-formed XML ({exc})") from None
    if root.tag.lower() != "opml":
        raise OpmlError(f"{source}: root element is <{root.tag}>, not <opml>")
    body = next((c for c in root if c.tag.lower() == "body"), None)
    if body is None:
        raise OpmlError(f"{source}: OPML without a <body>")
    feeds: list[OpmlFeed] = []

    def walk(parent: Element, path: tuple[str, ...]) -> None:
        for el in parent:
            if el.tag.lower() != "outline":
                continue
            url = _attr(el, "xmlUrl")
            label = _attr(el, "title") or _attr(el, "text")
            if url:
                feeds.append(OpmlFeed(url, label, _attr(el, "htmlUrl"), "/".join(path) or None))
            walk(el, path + (label,) if (label and not url) else path)

    walk(body, ())
    return feeds


def export_opml(feeds: Iterable[OpmlFeed], title: str = "memoird subscriptions",
                now: datetime | None = None) -> bytes:
    """An OPML 2.0 document (UTF-8) with feeds grouped into folders by ``category``."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(timezone.utc), usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[str, etree._Element] = {}
    for feed in feeds:
        parent = body
        if feed.category:
            parent = folders.get(feed.category)
            if parent is None:
                parent = folders[feed.category] = etree.SubElement(body, "outline", text=feed.category)
        attrs = {"type": "rss", "text": feed.title or feed.url, "xmlUrl": feed.url}
        if feed.title:
            attrs["title"] = feed.title
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        etree.SubElement(parent, "outline", attrs)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
