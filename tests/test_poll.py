"""The poll stage on a real SQLite store and a real loopback server."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

import pytest
from feedserver import fixed, redirect, rss, sequence, static

from memoird.daemon.stages import poll as poll_stage
from memoird.daemon.stages.poll import poll_due_feeds
from memoird.extractors.article import entries_to_articles
from memoird.extractors.feed import parse_feed
from memoird.extractors.politeness import Schedule
from memoird.store import articles, feeds

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SCHEDULE = Schedule(min_interval_s=600, max_interval_s=7200, backoff_base_s=60, failures_before_pause=3)
FILES = ["miniflux-small_atom.xml", "json_feed.json", "miniflux-encoding_WINDOWS-1251.xml", "HuffPostCanada.xml"]


def _poll(db, fetcher, now, **kw):
    kw.setdefault("schedule", SCHEDULE)
    return poll_due_feeds(db, fetcher, now=now, rng=random.Random(0), **kw)


def _expected_articles(shared_data, name):
    body = (shared_data / "feeds" / name).read_bytes()
    return len(entries_to_articles(parse_feed(body, url="u").entries))


def test_first_poll_stores_articles_validators_and_schedule(store_db, feed_server, fetcher, shared_data):
    ids = {name: feeds.add_feed(store_db, feed_server.url("/" + name)).id for name in FILES}
    report = _poll(store_db, fetcher, NOW)
    assert report.processed == len(FILES) and report.count("updated") == len(FILES)
    for name, feed_id in ids.items():
        feed = feeds.get_feed(store_db, feed_id)
        stored = articles.list_articles(store_db, feed_id=feed_id, limit=1000)
        assert len(stored) == _expected_articles(shared_data, name), name
        assert feed.etag and feed.last_modified and feed.error_count == 0 and feed.last_error is None
        assert feed.title and feed.next_check_at == (NOW + timedelta(seconds=600)).isoformat(timespec="microseconds")
        assert all(a.status == "new" and a.text for a in stored if a.title) and stored[0].content_hash
    cyrillic = articles.list_articles(store_db, feed_id=ids["miniflux-encoding_WINDOWS-1251.xml"], limit=1)[0]
    assert "Цитата" in cyrillic.title


def test_second_poll_is_a_conditional_304_and_adds_nothing(store_db, feed_server, fetcher):
    feed = feeds.add_feed(store_db, feed_server.url("/" + FILES[0]))
    _poll(store_db, fetcher, NOW)
    before = articles.count_articles(store_db)
    assert _poll(store_db, fetcher, NOW).processed == 0  # not due yet
    report = _poll(store_db, fetcher, NOW + timedelta(hours=1))
    assert [o.result for o in report.outcomes] == ["not_modified"]
    assert articles.count_articles(store_db) == before
    assert feed_server.requests[-1][1]["If-None-Match"] == feeds.get_feed(store_db, feed.id).etag
    assert feeds.get_feed(store_db, feed.id).last_checked_at.startswith("2026-11-22T13:00")


def test_changed_feed_adds_only_new_entries_even_with_repeated_guids(store_db, feed_server, fetcher):
    v1 = rss([("a", "Alpha", "first"), ("b", "Beta", "second")])
    v2 = rss([("c", "Gamma", "third"), ("b", "Beta", "second"), ("a", "Alpha", "first"), ("c", "Gamma", "third")])
    feed_server.routes["/news"] = sequence(fixed(200, v1), fixed(200, v2))
    feed = feeds.add_feed(store_db, feed_server.url("/news"))
    assert _poll(store_db, fetcher, NOW).new_articles == 2
    second = _poll(store_db, fetcher, NOW + timedelta(hours=1)).outcomes[0]
    assert (second.new_articles, second.seen_articles) == (1, 2)
    titles = sorted(a.title for a in articles.list_articles(store_db, feed_id=feed.id))
    assert titles == ["Alpha", "Beta", "Gamma"]
    published = articles.list_articles(store_db, feed_id=feed.id)[0].published_at
    assert published == "2026-11-17T11:00:00.000000+00:00"  # +0100 in the feed, UTC in the store


def test_permanent_redirect_updates_the_stored_url(store_db, feed_server, fetcher):
    feed_server.routes["/old-feed"] = redirect("/" + FILES[0], 301)
    feed = feeds.add_feed(store_db, feed_server.url("/old-feed"))
    outcome = _poll(store_db, fetcher, NOW).outcomes[0]
    assert outcome.result == "updated" and outcome.moved_to == feed_server.url("/" + FILES[0])
    assert feeds.get_feed(store_db, feed.id).url == feed_server.url("/" + FILES[0])


def test_redirect_onto_an_existing_feed_keeps_both_and_says_so(store_db, feed_server, fetcher):
    feed_server.routes["/alias"] = redirect("/" + FILES[0], 308)
    target = feeds.add_feed(store_db, feed_server.url("/" + FILES[0]))
    alias = feeds.add_feed(store_db, feed_server.url("/alias"))
    _poll(store_db, fetcher, NOW)
    alias = feeds.get_feed(store_db, alias.id)
    assert alias.url == feed_server.url("/alias") and f"feed {target.id}" in alias.last_error


def test_temporary_redirect_keeps_the_url(store_db, feed_server, fetcher):
    feed_server.routes["/tmp"] = redirect("/" + FILES[1], 307)
    feed = feeds.add_feed(store_db, feed_server.url("/tmp"))
    assert _poll(store_db, fetcher, NOW).outcomes[0].result == "updated"
    assert feeds.get_feed(store_db, feed.id).url == feed_server.url("/tmp")


def test_410_marks_the_feed_gone(store_db, feed_server, fetcher):
    feed_server.routes["/gone"] = fixed(410, b"bye")
    feed = feeds.add_feed(store_db, feed_server.url("/gone"))
    assert _poll(store_db, fetcher, NOW).outcomes[0].result == "gone"
    feed = feeds.get_feed(store_db, feed.id)
    assert feed.status == "gone" and "410" in feed.paused_reason and feed.next_check_at is None
    assert _poll(store_db, fetcher, NOW + timedelta(days=30)).processed == 0


def test_consecutive_failures_back_off_then_pause_with_a_reason(store_db, feed_server, fetcher):
    feed_server.routes["/broken"] = fixed(500, b"oops")
    feed = feeds.add_feed(store_db, feed_server.url("/broken"))
    now, waits = NOW, []
    for _ in range(2):
        outcome = _poll(store_db, fetcher, now).outcomes[0]
        assert outcome.result == "failed" and "HTTP 500 Internal Server Error" in outcome.error
        waits.append((outcome.next_check_at - now).total_seconds())
        now = outcome.next_check_at
    assert 300 <= waits[0] <= 600 and 300 <= waits[1] <= 600  # min interval bounds the first retries
    assert feeds.get_feed(store_db, feed.id).error_count == 2
    assert _poll(store_db, fetcher, now).outcomes[0].result == "paused"
    feed = feeds.get_feed(store_db, feed.id)
    assert feed.status == "paused" and feed.error_count == 3
    assert "paused after 3 consecutive failures" in feed.paused_reason and "HTTP 500" in feed.paused_reason
    assert _poll(store_db, fetcher, now + timedelta(days=30)).processed == 0


def test_429_retry_after_sets_the_next_check(store_db, feed_server, fetcher):
    feed_server.routes["/busy"] = fixed(429, b"", {"Retry-After": "5400"})
    feeds.add_feed(store_db, feed_server.url("/busy"))
    outcome = _poll(store_db, fetcher, NOW).outcomes[0]
    assert "Retry-After 5400s" in outcome.error
    assert outcome.next_check_at == NOW + timedelta(seconds=5400)


@pytest.mark.parametrize("headers,body,wait", [
    ({"Cache-Control": "max-age=3000"}, rss([("a", "A", "a")]), 3000),
    ({"Cache-Control": "max-age=999999"}, rss([("a", "A", "a")]), 7200),  # clamped
    ({}, rss([("a", "A", "a")], ttl=45), 2700),  # RSS ttl in minutes
    ({"Expires": "Sun, 22 Nov 2026 13:10:00 GMT"}, rss([("a", "A", "a")]), 4200),
])
def test_server_hints_set_the_next_check(store_db, feed_server, fetcher, headers, body, wait):
    feed_server.routes["/hinted"] = fixed(200, body, {"Content-Type": "application/rss+xml", **headers})
    feeds.add_feed(store_db, feed_server.url("/hinted"))
    assert _poll(store_db, fetcher, NOW).outcomes[0].next_check_at == NOW + timedelta(seconds=wait)


STORY = ("<html><body><nav>Home | Sport | Weather</nav><article><h1>{title}</h1>"
         + "<p>{title}: the full report. Officials confirmed the change on Monday after a long review "
           "process that lasted several months and involved many parties.</p>" * 4
         + "</article><footer>Copyright</footer></body></html>")


def test_summary_only_entries_get_the_page_text_when_the_feed_asks(store_db, feed_server, fetcher):
    for name in ("one", "two"):
        feed_server.routes[f"/story/{name}"] = fixed(200, STORY.format(title=f"Story {name}").encode(),
                                                     {"Content-Type": "text/html; charset=utf-8"})
    items = "".join(f"<item><guid>{n}</guid><title>Story {n}</title><link>{feed_server.url('/story/' + n)}</link>"
                    f"<description>Teaser {n}.</description></item>" for n in ("one", "two"))
    body = f"<rss version='2.0'><channel><title>Teasers</title>{items}</channel></rss>".encode()
    feed_server.routes["/teasers"] = fixed(200, body, {"Content-Type": "application/rss+xml"})
    feed_server.routes["/teasers-too"] = fixed(200, body, {"Content-Type": "application/rss+xml"})
    full = feeds.add_feed(store_db, feed_server.url("/teasers"), fetch_full_article=True)
    plain = feeds.add_feed(store_db, feed_server.url("/teasers-too"))
    _poll(store_db, fetcher, NOW)
    full_texts = sorted(a.text for a in articles.list_articles(store_db, feed_id=full.id))
    plain_texts = sorted(a.text for a in articles.list_articles(store_db, feed_id=plain.id))
    assert plain_texts == ["Teaser one.", "Teaser two."]
    assert all("the full report" in t and "Copyright" not in t for t in full_texts)
    assert feed_server.hits["/story/one"] == 1  # fetched once, for the feed that asked
    _poll(store_db, fetcher, NOW + timedelta(hours=3))  # seen articles are not fetched again
    assert feed_server.hits["/story/one"] == 1


def test_a_storage_crash_on_one_feed_rolls_back_only_that_feed(store_db, feed_server, fetcher, monkeypatch):
    good = feeds.add_feed(store_db, feed_server.url("/" + FILES[0]))
    bad = feeds.add_feed(store_db, feed_server.url("/" + FILES[1]))
    real_insert = articles.insert_article
    calls = {"n": 0}

    def flaky_insert(db, feed_id, **kw):
        if feed_id == bad.id:
            calls["n"] += 1
            if calls["n"] == 3:  # fail half-way through the feed's entries
                raise RuntimeError("disk on fire")
        return real_insert(db, feed_id, **kw)

    monkeypatch.setattr(poll_stage.articles, "insert_article", flaky_insert)
    report = _poll(store_db, fetcher, NOW)
    by_id = {o.feed_id: o for o in report.outcomes}
    assert by_id[good.id].result == "updated" and by_id[good.id].new_articles > 0
    assert by_id[bad.id].result == "failed" and "disk on fire" in by_id[bad.id].error
    assert articles.list_articles(store_db, feed_id=bad.id) == []  # the 2 inserted before the crash rolled back
    assert feeds.get_feed(store_db, bad.id).etag is None  # so the next poll refetches everything
    assert "internal error while storing" in feeds.get_feed(store_db, bad.id).last_error


def test_feeds_are_fetched_concurrently(store_db, feed_server, fetcher):
    body = rss([("a", "A", "a")])

    def slow(h):
        time.sleep(0.4)
        h.reply(200, body, {"Content-Type": "application/rss+xml"})

    for i in range(8):
        feed_server.routes[f"/slow{i}"] = slow
        feeds.add_feed(store_db, feed_server.url(f"/slow{i}"))
    started = time.perf_counter()
    report = _poll(store_db, fetcher, NOW, concurrency=8)
    assert report.count("updated") == 8 and time.perf_counter() - started < 2.0  # serial would be 3.2 s


def test_config_section_speaks_the_fetch_policy_and_schedule_vocabulary():
    """daemon/wiring.py builds both from [feeds] by field name: a renamed field must not go unnoticed."""
    from dataclasses import fields

    from memoird.daemon.config import FeedsSection
    from memoird.extractors.fetch import FetchPolicy

    section = FeedsSection()
    for cls in (FetchPolicy, Schedule):
        missing = {f.name for f in fields(cls)} - set(vars(section)) - {"max_connections"}
        assert not missing, f"{cls.__name__} fields without a [feeds] key: {missing}"


def test_static_route_helper_serves_validators(feed_server, fetcher, shared_data):
    feed_server.routes["/alias.xml"] = static(shared_data / "feeds" / FILES[0])
    first = fetcher.fetch(feed_server.url("/alias.xml"))
    assert first.ok and first.etag


def test_limit_only_and_on_outcome(store_db, feed_server, fetcher):
    ids = [feeds.add_feed(store_db, feed_server.url("/" + name)).id for name in FILES]
    seen = []
    first = _poll(store_db, fetcher, NOW, limit=2, on_outcome=seen.append)
    assert first.processed == 2 and [o.feed_id for o in seen] == [o.feed_id for o in first.outcomes]
    assert {o.feed_id for o in first.outcomes} == set(ids[:2])  # never-checked feeds, oldest first
    not_due = feeds.get_feed(store_db, ids[0])
    forced = _poll(store_db, fetcher, NOW, only=[not_due])
    assert [(o.feed_id, o.result) for o in forced.outcomes] == [(ids[0], "not_modified")]
