"""Entries to article drafts: identity, dedup, text, dates, full-page extraction over loopback."""

from __future__ import annotations

from datetime import datetime, timezone

from feedserver import fixed

from memoird.extractors.article import (
    content_hash,
    entries_to_articles,
    entry_to_article,
    extract_main_text,
    fetch_full_text,
    html_to_text,
    needs_full_text,
)
from memoird.extractors.feed import FeedEntry, parse_feed

ARTICLE_PAGE = """<!doctype html><html><head><title>Club signs striker</title>
<script>var tracking = "do not extract";</script><style>p { color: red }</style></head>
<body><nav><a href="/">Home</a> | <a href="/sport">Sport</a> | <a href="/login">Log in</a></nav>
<article><h1>Club signs striker</h1>
<p>The Adriatic Football Club has completed the signing of striker Marco Vidal from Northport United,
the club announced on Tuesday. The transfer fee was not disclosed.</p>
<p>Vidal, who scored 21 goals last season, signed a four-year contract and will wear the number nine
shirt. Coach Elena Rossi said the striker would make his debut on Saturday.</p>
<p>Supporters gathered outside the stadium to welcome the new player, who arrived by train from the
capital in the early afternoon.</p></article>
<footer>Copyright 2026 Adriatic Wire. All rights reserved. Cookie settings. Privacy policy.</footer>
</body></html>"""


def test_html_to_text_keeps_paragraphs_and_drops_scripts():
    html = "<p>First&nbsp;para <b>bold</b></p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>tail<br>end"
    assert html_to_text(html) == "First para bold\none\ntwo\ntail\nend"
    assert html_to_text("Fish &amp; chips") == "Fish & chips"
    assert html_to_text("") == "" and html_to_text("   ") == ""
    assert html_to_text("<p>unclosed <div>tags") == "unclosed\ntags"


def test_guid_falls_back_to_link_then_content_hash():
    with_guid = entry_to_article(FeedEntry(guid="g1", link="http://n/1", title="A", summary="<p>x</p>"))
    assert with_guid.guid == "g1"
    with_link = entry_to_article(FeedEntry(guid=None, link="http://n/2", title="B", summary="y"))
    assert with_link.guid == "http://n/2"
    bare = entry_to_article(FeedEntry(guid=None, link=None, title="C", content="<p>z</p>"))
    assert bare.guid == f"sha256:{content_hash('C', 'z')}" and not bare.summary_only


def test_content_hash_matches_the_store_formula():
    from memoird.store.articles import content_hash as store_hash

    for title, text in [("Title", "Body  text\nmore"), ("", ""), ("ÉTÉ", "Straße")]:
        assert content_hash(title, text) == store_hash(title, text)


def test_repeats_inside_one_document_are_dropped_but_reused_guids_kept():
    entries = [
        FeedEntry(guid="same", link="http://n/1", title="One", content="first story"),
        FeedEntry(guid="same", link="http://n/1", title="One", content="first story"),  # exact repeat
        FeedEntry(guid="other", link="http://n/3", title="One", content="first story"),  # same content
        FeedEntry(guid="same", link="http://n/2", title="Two", content="second story"),  # reused guid
        FeedEntry(guid=None, link=None, title="", content=None),  # nothing at all
    ]
    drafts = entries_to_articles(entries)
    assert [(d.guid, d.url) for d in drafts] == [("same", "http://n/1"), ("same", "http://n/2")]


def test_published_dates_are_utc(shared_data):
    feed = parse_feed((shared_data / "feeds" / "json_feed.json").read_bytes(), url="u")
    draft = entries_to_articles(feed.entries)[0]
    assert draft.published_at == datetime(2017, 6, 3, 5, 5, 47, tzinfo=timezone.utc)
    assert "keyboard" in draft.text and "<p>" not in draft.text


def test_feed_with_repeated_guids_dedups(shared_data):
    feed = parse_feed((shared_data / "feeds" / "miniflux-encoding_WINDOWS-1251.xml").read_bytes(), url="u")
    drafts = entries_to_articles(feed.entries)
    assert len({d.guid for d in drafts}) == len(drafts) == 50
    assert all(d.content_hash for d in drafts)


def test_summary_only_detection():
    short = entry_to_article(FeedEntry(guid="a", link="http://n/a", title="T", summary="<p>Teaser.</p>"))
    assert short.summary_only and needs_full_text(short)
    full = entry_to_article(FeedEntry(guid="b", link="http://n/b", title="T", content="<p>Whole story.</p>"))
    assert not needs_full_text(full)
    long_summary = entry_to_article(FeedEntry(guid="c", link="http://n/c", title="T", summary="word " * 400))
    assert not needs_full_text(long_summary)
    no_link = entry_to_article(FeedEntry(guid="d", link=None, title="T", summary="Teaser"))
    assert not needs_full_text(no_link)


def test_extract_main_text_skips_boilerplate():
    text = extract_main_text(ARTICLE_PAGE, "http://news.test/club")
    assert "Marco Vidal" in text and "four-year contract" in text
    assert "tracking" not in text and "Cookie settings" not in text and "Log in" not in text


def test_fetch_full_text_over_loopback(feed_server, fetcher):
    feed_server.routes["/story"] = fixed(200, ARTICLE_PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"})
    feed_server.routes["/pdf"] = fixed(200, b"%PDF-1.4", {"Content-Type": "application/pdf"})
    teaser = entry_to_article(FeedEntry(guid="s", link=feed_server.url("/story"), title="Club signs striker",
                                        summary="Vidal joins."))
    full, problem = fetch_full_text(teaser, fetcher)
    assert problem is None and not full.summary_only
    assert "Marco Vidal" in full.text and full.guid == teaser.guid and full.content_hash == teaser.content_hash
    assert "text/html" in dict(feed_server.requests[-1][1])["Accept"]

    pdf = entry_to_article(FeedEntry(guid="p", link=feed_server.url("/pdf"), title="T", summary="Teaser"))
    kept, problem = fetch_full_text(pdf, fetcher)
    assert kept is pdf and "not HTML" in problem
    missing = entry_to_article(FeedEntry(guid="m", link=feed_server.url("/missing"), title="T", summary="Teaser"))
    kept, problem = fetch_full_text(missing, fetcher)
    assert kept is missing and "404" in problem
