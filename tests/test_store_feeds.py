"""Feeds, articles, facts and probes tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from memoird.store import Duplicate, InvalidValue, NotFound
from memoird.store.errors import IllegalTransition
from memoird.store import articles, checkpoints, facts, feeds, probes

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def test_add_get_list_and_duplicate_url(store_db):
    a = feeds.add_feed(store_db, " https://a.example/rss ", title="A", trust=0.8)
    b = feeds.add_feed(store_db, "http://b.example/atom.xml", fetch_full_article=True)
    assert a.url == "https://a.example/rss" and a.trust == 0.8 and a.status == "active"
    assert b.fetch_full_article is True and b.trust == 0.5
    assert feeds.get_feed_by_url(store_db, "https://a.example/rss") == a
    assert [f.id for f in feeds.list_feeds(store_db)] == [a.id, b.id]
    with pytest.raises(Duplicate, match="https://a.example/rss"):
        feeds.add_feed(store_db, "https://a.example/rss")
    with pytest.raises(NotFound, match="feed 99"):
        feeds.get_feed(store_db, 99)
    assert feeds.get_feed(store_db, a.id) == a            # nothing lost by the failures


@pytest.mark.parametrize("url", [
    "", "ftp://x.example/feed", "example.org/rss", "http://", "https://exa mple.org/rss",
    "https://example.org/my feed.xml", "https://example.org/\x00rss", "https://a.example:99999/rss",
    "https://a.example:port/rss", "https://-bad.example/rss", "https://bad..example/rss",
    "https://ex%20ample.org/rss", "javascript://example.org/%0aalert(1)", "https:///rss",
])
def test_bad_urls_are_refused_with_the_url(store_db, url):
    with pytest.raises(InvalidValue, match="url"):
        feeds.add_feed(store_db, url)
    assert store_db["feeds"].count == 0


@pytest.mark.parametrize("url", [
    "https://news.example.org/rss", "http://127.0.0.1:8080/feed.xml", "http://[::1]:8080/feed",
    "https://bücher.example/feed", "http://localhost/rss", "https://my_host.example/rss",
    "https://user:pa55@feeds.example.com/private.xml", "https://example.org/search?q=a%20b",
])
def test_good_urls_are_accepted(store_db, url):
    assert feeds.add_feed(store_db, url).url == url


def test_credentials_are_redacted_in_urls_text_and_errors(store_db):
    secret = "https://alice:s3cret@feeds.example.com/private.xml"
    assert feeds.redact_url(secret) == "https://***@feeds.example.com/private.xml"
    assert feeds.redact_url("https://token@h.example/f") == "https://***@h.example/f"
    assert feeds.redact_url("https://h.example/f?mail=a@b.example") == \
        "https://h.example/f?mail=a@b.example"                   # not userinfo: kept
    assert feeds.redact_url(None) is None
    assert feeds.redact_text(f"HTTP 500 from {secret}; retry {secret}") == (
        "HTTP 500 from https://***@feeds.example.com/private.xml; "
        "retry https://***@feeds.example.com/private.xml")
    feed = feeds.add_feed(store_db, secret)
    assert feed.url == secret                                   # the fetcher needs them
    feeds.update_feed(store_db, feed.id, last_error=f"timeout at {secret}")
    shown = feeds.public_dict(feeds.get_feed(store_db, feed.id))
    assert "s3cret" not in str(shown) and shown["url"].startswith("https://***@")
    with pytest.raises(Duplicate) as dup:
        feeds.add_feed(store_db, secret)
    with pytest.raises(InvalidValue) as bad:
        feeds.add_feed(store_db, "https://alice:s3cret@exa mple.com/")
    assert "s3cret" not in str(dup.value) + str(bad.value)


def test_removing_twice_is_refused_and_changes_nothing(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    removed = feeds.remove_feed(store_db, feed.id)
    with pytest.raises(IllegalTransition, match="already removed"):
        feeds.remove_feed(store_db, feed.id)
    assert feeds.get_feed(store_db, feed.id) == removed


def test_update_feed_validates_columns_and_values(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    other = feeds.add_feed(store_db, "https://b.example/rss")
    later = T0 + timedelta(hours=1)
    feed = feeds.update_feed(store_db, feed.id, etag='"abc"', next_check_at=later,
                             error_count=2, last_error="timeout", trust=0.1)
    assert feed.etag == '"abc"' and feed.error_count == 2 and feed.trust == 0.1
    assert feed.next_check_at == "2026-11-01T13:00:00.000000+00:00"
    for bad, match in [({"colour": "red"}, "colour"), ({"status": "sleeping"}, "sleeping"),
                       ({"trust": 1.5}, "1.5"), ({"error_count": -1}, "-1"),
                       ({"next_check_at": datetime(2026, 1, 1)}, "no time zone"),
                       ({"id": 5}, "id")]:
        with pytest.raises(InvalidValue, match=match):
            feeds.update_feed(store_db, feed.id, **bad)
    with pytest.raises(Duplicate, match="b.example"):               # a 301 onto another feed
        feeds.update_feed(store_db, feed.id, url=other.url)
    assert feeds.get_feed(store_db, feed.id) == feed


def test_remove_keeps_a_tombstone_and_adding_again_revives_it(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss", trust=0.9)
    article, _ = articles.insert_article(store_db, feed.id, guid="1", text="x")
    feeds.update_feed(store_db, feed.id, error_count=4, status="paused", paused_reason="500s")
    removed = feeds.remove_feed(store_db, feed.id)
    assert removed.status == "removed"
    assert feeds.list_feeds(store_db) == []
    assert feeds.list_feeds(store_db, status="removed") == [removed]
    assert articles.get_article(store_db, article.id).feed_id == feed.id   # provenance kept
    again = feeds.add_feed(store_db, "https://a.example/rss", trust=0.4)
    assert (again.id, again.status, again.error_count, again.trust) == (feed.id, "active", 0, 0.4)


def test_due_feeds_orders_never_checked_first_and_skips_paused(store_db):
    never = feeds.add_feed(store_db, "https://never.example/rss")
    due = feeds.add_feed(store_db, "https://due.example/rss")
    later = feeds.add_feed(store_db, "https://later.example/rss")
    paused = feeds.add_feed(store_db, "https://paused.example/rss")
    feeds.update_feed(store_db, due.id, next_check_at=T0 - timedelta(minutes=1))
    feeds.update_feed(store_db, later.id, next_check_at=T0 + timedelta(minutes=1))
    feeds.update_feed(store_db, paused.id, status="paused", next_check_at=T0 - timedelta(days=1))
    assert [f.id for f in feeds.due_feeds(store_db, T0)] == [never.id, due.id]
    assert [f.id for f in feeds.due_feeds(store_db, T0, limit=1)] == [never.id]
    # the same instant in another zone gives the same answer
    assert len(feeds.due_feeds(store_db, (T0 + timedelta(minutes=2)).astimezone(
        timezone(timedelta(hours=5))))) == 3


def test_article_dedup_by_guid_then_url_then_content_hash(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    other_feed = feeds.add_feed(store_db, "https://b.example/rss")
    first, created = articles.insert_article(
        store_db, feed.id, guid="g1", url="https://a.example/1", title="Transfer",
        text="Player X joins Club Y.", published_at="2026-11-01T10:00:00+02:00")
    assert created and first.published_at == "2026-11-01T08:00:00.000000+00:00"
    same_guid, created = articles.insert_article(store_db, feed.id, guid="g1",
                                                 url="https://a.example/1", text="edited")
    assert not created and same_guid == first
    same_url, created = articles.insert_article(store_db, feed.id, guid="g2",
                                                url="https://a.example/1")
    assert not created and same_url.id == first.id
    same_text, created = articles.insert_article(
        store_db, feed.id, guid="g3", url="https://a.example/mirror", title="TRANSFER",
        text="Player  X joins\nClub Y.")
    assert not created and same_text.id == first.id
    # another feed may carry the same story
    _, created = articles.insert_article(store_db, other_feed.id, guid="g1",
                                         url="https://a.example/1", text="Player X joins Club Y.")
    assert created
    # no guid: the link becomes the guid, then the content hash
    by_link, created = articles.insert_article(store_db, feed.id, url="https://a.example/2",
                                               text="Other news")
    assert created and by_link.guid == "https://a.example/2"
    by_hash, created = articles.insert_article(store_db, feed.id, text="Only text here")
    assert created and by_hash.guid == f"sha256:{by_hash.content_hash}"
    # empty bodies never match each other by hash
    _, created = articles.insert_article(store_db, feed.id, guid="e1", url="https://a.example/e1")
    _, created2 = articles.insert_article(store_db, feed.id, guid="e2", url="https://a.example/e2")
    assert created and created2


def test_feed_reusing_a_guid_for_another_story_keeps_both(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    one, _ = articles.insert_article(store_db, feed.id, guid="same", url="https://a.example/1",
                                     text="Story one")
    two, created = articles.insert_article(store_db, feed.id, guid="same",
                                           url="https://a.example/2", text="Story two")
    assert created and two.id != one.id and two.guid.startswith("same#")
    again, created = articles.insert_article(store_db, feed.id, guid="same",
                                             url="https://a.example/2", text="Story two")
    assert not created and again.id == two.id


def test_article_queue_and_status(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    ids = [articles.insert_article(store_db, feed.id, guid=str(i), text=f"t{i}")[0].id
           for i in range(3)]
    assert [a.id for a in articles.articles_by_status(store_db, "new", limit=2)] == ids[:2]
    failed = articles.set_article_status(store_db, ids[0], "failed", error="HTTP 500")
    assert failed.status == "failed" and failed.error == "HTTP 500"
    done = articles.set_article_status(store_db, ids[1], "extracted", text="full text")
    assert done.text == "full text" and done.content_hash == articles.get_article(
        store_db, ids[1]).content_hash
    assert articles.count_articles(store_db, "new") == 1
    with pytest.raises(InvalidValue, match="read"):
        articles.set_article_status(store_db, ids[2], "read")
    with pytest.raises(InvalidValue, match="error given"):
        articles.set_article_status(store_db, ids[2], "extracted", error="x")
    with pytest.raises(NotFound, match="feed 42"):
        articles.insert_article(store_db, 42, guid="x")
    assert [a.id for a in articles.list_articles(store_db, feed.id)] == ids[::-1]


def test_facts_and_probes(store_db):
    feed = feeds.add_feed(store_db, "https://a.example/rss")
    article, _ = articles.insert_article(store_db, feed.id, guid="1", text="x")
    fact = facts.add_fact(store_db, article.id, subject=" Lionel Messi ", raw_relation="plays for",
                          relation="member_of_sports_team", object="Inter Miami",
                          evidence="Messi plays for Inter Miami.", extractor_model="smollm2",
                          prompt_version="v1", confidence=0.9)
    assert fact.subject == "Lionel Messi" and fact.status == "new"
    unmapped = facts.add_fact(store_db, article.id, subject="Messi", raw_relation="likes",
                              object="mate")
    assert unmapped.relation is None and unmapped.status == "unmapped"
    assert facts.facts_for_article(store_db, article.id) == [fact, unmapped]
    assert facts.facts_by_status(store_db, "new") == [fact]
    with pytest.raises(InvalidValue, match="confidence"):
        facts.add_fact(store_db, article.id, subject="a", raw_relation="b", object="c",
                       confidence=2)
    with pytest.raises(InvalidValue, match="subject"):
        facts.add_fact(store_db, article.id, subject="  ", raw_relation="b", object="c")
    with pytest.raises(NotFound, match="article 7"):
        facts.add_fact(store_db, 7, subject="a", raw_relation="b", object="c")

    base = checkpoints.register_checkpoint(store_db, "/ckpt/base", status="active")
    probe = probes.add_probe(store_db, fact.id, template="{subject} plays for", answer="PSG",
                             verdict="conflicts", scores={"similarity": 0.12, "ll_new": -3.5},
                             checkpoint_id=base.id, memory_generation=0)
    assert probe.scores == {"similarity": 0.12, "ll_new": -3.5}
    assert probes.probes_for_fact(store_db, fact.id) == [probe]
    assert facts.set_fact_status(store_db, fact.id, "probed").status == "probed"
    with pytest.raises(InvalidValue, match="maybe"):
        probes.add_probe(store_db, fact.id, template="t", answer=None, verdict="maybe")
    with pytest.raises(NotFound, match="checkpoint 9"):
        probes.add_probe(store_db, fact.id, template="t", answer=None, verdict="unknown",
                         checkpoint_id=9)
