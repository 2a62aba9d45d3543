"""OPML import/export round trip and refusal of hostile OPML."""

from __future__ import annotations

import pytest
from feedserver import BILLION_LAUGHS

from memoird.extractors.opml import OpmlError, OpmlFeed, export_opml, parse_opml

SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0"><head><title>Reader export</title></head><body>
  <outline text="News" title="News">
    <outline type="rss" text="Adriatic Wire" xmlUrl="https://adriatic.example/rss" htmlUrl="https://adriatic.example/"/>
    <outline text="Tech">
      <outline type="rss" text="Gadgets" xmlurl="https://gadgets.example/feed.xml"/>
    </outline>
  </outline>
  <outline type="rss" title="\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xbe\xd1\x81\xd1\x82\xd0\xb8" xmlUrl="https://novosti.example/rss"/>
  <outline type="rss" text="Duplicate" xmlUrl="https://adriatic.example/rss"/>
  <outline text="Folder without feeds"/>
</body></opml>"""


def test_import_finds_every_feed_with_folders():
    feeds = parse_opml(SAMPLE, "export.opml")
    assert feeds == [
        OpmlFeed("https://adriatic.example/rss", "Adriatic Wire", "https://adriatic.example/", "News"),
        OpmlFeed("https://gadgets.example/feed.xml", "Gadgets", None, "News/Tech"),
        OpmlFeed("https://novosti.example/rss", "Новости", None, None),
    ]


def test_export_then_import_round_trips():
    feeds = parse_opml(SAMPLE)
    doc = export_opml(feeds, title="memoird")
    assert doc.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'version="2.0"' in doc and b"<dateCreated>" in doc
    assert parse_opml(doc) == feeds


@pytest.mark.parametrize("data,why", [
    (BILLION_LAUGHS.replace(b"<rss", b"<opml").replace(b"</rss>", b"</opml>"), "refused"),
    (b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]><opml><body>&x;</body></opml>',
     "refused"),
    (b"<opml><body><outline", "not well-formed"),
    (b"<rss version='2.0'/>", "not <opml>"),
    (b"<opml version='2.0'><head/></opml>", "without a <body>"),
])
def test_bad_opml_is_a_clear_error_naming_the_source(data, why):
    with pytest.raises(OpmlError, match=why) as err:
        parse_opml(data, "subs.opml")
    assert str(err.value).startswith("subs.opml:")
