"""Feed parsing of the shared real-world feeds, JSON Feed, malformed and hostile documents."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from feedserver import BILLION_LAUGHS, rss

from memoird.extractors.feed import FeedParseError, parse_feed

# file -> (format, entries)
SHARED = {
    "DuplicateContentAtomFeed.xml": ("atom10", 10),
    "HuffPostCanada.xml": ("rss20", 2),
    "InvalidDateFormat.xml": ("rss20", 2),
    "SamRuby.xml": ("atom10", 20),
    "TechCrunch.xml": ("rss20", 20),
    "TypePadNews.xml": ("atom10", 10),
    "google_alerts_atom.xml": ("atom10", 20),
    "json_feed.json": ("json1", 20),
    "miniflux-encoding_ISO-8859-1.xml": ("rss20", 40),
    "miniflux-encoding_WINDOWS-1251.xml": ("rss20", 50),
    "miniflux-large_atom.xml": ("atom10", 25),
    "miniflux-large_rss.xml": ("rss20", 25),
    "miniflux-no_encoding_ISO-8859-1.xml": ("rss20", 10),
    "miniflux-rdf_UTF8.xml": ("rss090", 60),
    "miniflux-small_atom.xml": ("atom10", 20),
    "miniflux-urdu_UTF8.xml": ("rss20", 26),
    "youtube_atom.xml": ("atom10", 15),
}


def _parse(shared_data, name, content_type=""):
    return parse_feed((shared_data / "feeds" / name).read_bytes(), url=f"http://feeds.test/{name}",
                      content_type=content_type)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_every_shared_feed_parses_with_all_entries(shared_data, name):
    fmt, count = SHARED[name]
    feed = _parse(shared_data, name)
    assert feed.format == fmt
    assert len(feed.entries) == count
    empty = [e for e in feed.entries if not (e.title or e.content or e.summary)]
    assert len(empty) == (1 if name == "miniflux-no_encoding_ISO-8859-1.xml" else 0)  # that file has a blank <item>
    assert all(e.published_at is None or e.published_at.tzinfo == timezone.utc for e in feed.entries)


def test_shared_feed_list_is_complete(shared_data):
    on_disk = {p.name for p in (shared_data / "feeds").iterdir() if not p.name.startswith("LICENSE")}
    assert on_disk == set(SHARED)


@pytest.mark.parametrize("name,snippet", [
    ("miniflux-encoding_ISO-8859-1.xml", "wünschen"),
    ("miniflux-no_encoding_ISO-8859-1.xml", "études"),
    ("miniflux-encoding_WINDOWS-1251.xml", "Цитата"),
    ("miniflux-urdu_UTF8.xml", "پاکستان"),
    ("miniflux-rdf_UTF8.xml", "Fernseher"),
])
def test_encodings_decode_to_real_characters(shared_data, name, snippet):
    feed = _parse(shared_data, name)
    text = " ".join(f"{e.title} {e.content or ''} {e.summary or ''}" for e in feed.entries)
    assert snippet in text
    assert "\ufffd" not in text


def test_malformed_feed_keeps_entries_with_a_warning(shared_data):
    feed = _parse(shared_data, "SamRuby.xml")  # leading blank line before <?xml ...?>
    assert feed.warning and "kept 20 entries" in feed.warning
    truncated = rss([("a", "First", "one"), ("b", "Second", "two")])[:-40]  # cut mid-document
    broken = parse_feed(truncated, url="http://feeds.test/cut")
    assert [e.title for e in broken.entries][:1] == ["First"] and broken.warning


def test_dates_are_normalised_to_utc(shared_data):
    feed = _parse(shared_data, "json_feed.json")
    assert feed.entries[0].published_at == datetime(2017, 6, 3, 5, 5, 47, tzinfo=timezone.utc)  # -07:00 source
    huff = _parse(shared_data, "HuffPostCanada.xml")
    assert all(e.published_at.utcoffset().total_seconds() == 0 for e in huff.entries)


def test_ttl_is_read_in_seconds(shared_data):
    assert _parse(shared_data, "TechCrunch.xml").ttl_s == 3600.0  # sy:updatePeriod hourly
    assert _parse(shared_data, "miniflux-urdu_UTF8.xml").ttl_s == 900.0
    assert parse_feed(rss([("a", "t", "d")], ttl=30), url="u").ttl_s == 1800.0


def test_json_feed_fields(shared_data):
    feed = _parse(shared_data, "json_feed.json", "application/feed+json")
    first = feed.entries[0]
    assert feed.title == "inessential.com" and feed.link == "http://inessential.com/"
    assert first.guid == first.link == "http://inessential.com/2017/06/02/james_dempsey_and_the_breakpoints_benefi"
    assert first.content and first.content_is_html


@pytest.mark.parametrize("body,why", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": "nope"}', "without an items list"),
    (b'{"title": "no version"}', "not a JSON Feed"),
    (b"{" * 10 + b"broken", "invalid JSON Feed"),
    (b"[" * 100000 + b"]" * 100000, "JSON"),
])
def test_bad_json_feeds_are_clear_errors(body, why):
    with pytest.raises(FeedParseError, match=why) as err:
        parse_feed(body, url="http://feeds.test/j.json", content_type="application/json")
    assert "http://feeds.test/j.json" in str(err.value)


def test_json_feed_tolerates_odd_items():
    body = (b'{"version": "https://jsonfeed.org/version/1.1", "items": [1, {"id": 7, "content_text": "plain <b>",'
            b' "date_published": "garbage"}, {"id": "x", "title": ["not", "a", "string"]}]}')
    feed = parse_feed(body, url="u")
    assert [e.guid for e in feed.entries] == ["7", "x"]
    assert feed.entries[0].content == "plain <b>" and not feed.entries[0].content_is_html
    assert feed.entries[0].published_at is None and feed.entries[1].title == ""
    assert "skipped 1" in feed.warning


def test_entity_bomb_is_refused_before_parsing():
    with pytest.raises(FeedParseError, match="entity-expansion"):
        parse_feed(BILLION_LAUGHS, url="http://evil.test/rss")
    utf16 = BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="utf-16"?>')
    with pytest.raises(FeedParseError, match="entity-expansion"):
        parse_feed(utf16.encode("utf-16"), url="http://evil.test/rss16")
    hidden = BILLION_LAUGHS.replace(b"<!DOCTYPE", b"<!-- <a> -->\n<!DOCTYPE")
    with pytest.raises(FeedParseError, match="entity-expansion"):
        parse_feed(hidden, url="http://evil.test/hidden")


def test_entity_text_inside_content_is_not_a_declaration():
    body = rss([("a", "XML tips", "Write &lt;!ENTITY x &quot;y&quot;&gt; in a DTD")])
    assert parse_feed(body, url="u").entries[0].title == "XML tips"


@pytest.mark.parametrize("body,content_type", [
    (b"<html><body><h1>Welcome</h1><p>Not a feed</p></body></html>", "text/html"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
    (b"   \n", "application/rss+xml"),
])
def test_documents_that_are_not_feeds_are_errors(body, content_type):
    with pytest.raises(FeedParseError, match="http://site.test/feed"):
        parse_feed(body, url="http://site.test/feed", content_type=content_type)


def test_feed_with_wrong_content_type_still_parses(shared_data):
    feed = _parse(shared_data, "miniflux-small_atom.xml", "text/html; charset=utf-8")
    assert len(feed.entries) == 20
    json_as_text = _parse(shared_data, "json_feed.json", "text/plain")
    assert json_as_text.format == "json1"
