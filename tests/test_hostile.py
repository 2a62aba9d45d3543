"""Hostile servers: every one ends with a readable error on its feed, the other feeds still polled,
and nothing stored before is lost.

Each hostile feed first serves a good document (so it has stored articles and validators), then
misbehaves on the next poll. Redirects to private addresses are refused before any connection,
so no traffic ever leaves the loopback interface.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from feedserver import (
    BILLION_LAUGHS,
    fixed,
    gzip_bomb,
    oversized,
    redirect,
    rss,
    sequence,
    slow_drip,
    stall,
    static,
)

from memoird.daemon.stages.poll import poll_due_feeds
from memoird.extractors.fetch import Fetcher
from memoird.extractors.politeness import Schedule
from memoird.store import articles, feeds

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SCHEDULE = Schedule(min_interval_s=600, max_interval_s=7200, failures_before_pause=10)
GOOD = rss([("g1", "Minister appointed", "The council appointed a new minister."),
            ("g2", "Club signs striker", "The club signed a striker on Tuesday.")])

# path -> (hostile behaviour, substring of the recorded error)
HOSTILE = {
    "/oversized": (oversized(3 << 20), "exceeds the 1048576-byte limit"),
    "/oversized-declared": (oversized(3 << 20, declare_length=True), "exceeds the 1048576-byte limit"),
    "/slow-drip": (slow_drip(pause_s=0.3), "total timeout of 3s exceeded"),
    "/stall": (stall(5), "read timeout"),
    "/loop-a": (redirect("/loop-b", 302), "redirect loop"),
    "/metadata": (redirect("http://169.254.169.254/latest/meta-data/", 302), "169.254.169.254"),
    "/private": (redirect("http://10.0.0.1/feed.xml", 301), "10.0.0.1"),
    "/invalid-xml": (fixed(200, b"<rss><channel><title>oops</titl\x00\xff<<<", {"Content-Type": "application/rss+xml"}),
                     "malformed rss"),
    "/laughs": (fixed(200, BILLION_LAUGHS, {"Content-Type": "application/rss+xml"}), "entity-expansion"),
    "/gzip-bomb": (gzip_bomb(64 << 20), "decompressed body exceeds"),
    "/image": (fixed(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64, {"Content-Type": "image/png"}),
               "content-type 'image/png'"),
    "/html": (fixed(200, b"<!doctype html><html><body><p>Buy now</p></body></html>", {"Content-Type": "text/html"}),
              "not an RSS/Atom/JSON feed"),
    "/server-error": (fixed(500, b"boom"), "HTTP 500 Internal Server Error"),
    "/busy": (fixed(503, b"", {"Retry-After": "7200"}), "Retry-After 7200s"),
}


def _poll(db, fetcher, now):
    return poll_due_feeds(db, fetcher, now=now, schedule=SCHEDULE, concurrency=16, rng=random.Random(0))


def test_every_hostile_case_is_recorded_and_nothing_is_lost(store_db, feed_server, fetcher, shared_data):
    feed_server.routes["/loop-b"] = redirect("/loop-a", 302)
    ids = {}
    for path, (hostile, _) in HOSTILE.items():
        feed_server.routes[path] = sequence(fixed(200, GOOD, {"Content-Type": "application/rss+xml",
                                                              "ETag": f'"{path}"'}), hostile)
        ids[path] = feeds.add_feed(store_db, feed_server.url(path)).id
    good = feeds.add_feed(store_db, feed_server.url("/miniflux-small_atom.xml")).id
    moving = feeds.add_feed(store_db, feed_server.url("/json_feed.json")).id

    first = _poll(store_db, fetcher, NOW)
    assert first.count("updated") == len(HOSTILE) + 2
    stored = {path: [a.id for a in articles.list_articles(store_db, feed_id=i)] for path, i in ids.items()}
    assert all(len(v) == 2 for v in stored.values())

    feed_server.routes["/json_feed.json"] = fixed(200, GOOD, {"Content-Type": "application/rss+xml"})  # changed
    started = time.perf_counter()
    second = _poll(store_db, fetcher, NOW + timedelta(hours=3))
    elapsed = time.perf_counter() - started
    outcomes = {o.feed_id: o for o in second.outcomes}

    assert outcomes[good].result == "not_modified"
    assert outcomes[moving].result == "updated" and outcomes[moving].new_articles == 2
    for path, (_, why) in HOSTILE.items():
        feed = feeds.get_feed(store_db, ids[path])
        assert outcomes[ids[path]].result == "failed", path
        assert why in feed.last_error, (path, feed.last_error)
        assert feed.error_count == 1 and feed.status == "active", path
        assert feed.etag == f'"{path}"', path  # validators of the last good answer are kept
        assert feed.next_check_at > (NOW + timedelta(hours=3)).isoformat(), path
        assert [a.id for a in articles.list_articles(store_db, feed_id=ids[path])] == stored[path], path
    assert elapsed < 8, f"hostile servers stalled the pass for {elapsed:.1f}s"
    # the private targets were refused before connecting: nothing but loopback was ever contacted
    assert feed_server.hits["/loop-a"] >= 2


def test_500s_then_recovery(store_db, feed_server, fetcher, shared_data):
    feed_server.routes["/flaky"] = sequence(fixed(500), fixed(502), static(shared_data / "feeds" / "json_feed.json"))
    feed = feeds.add_feed(store_db, feed_server.url("/flaky"))
    now = NOW
    for expected_count, code in ((1, "500"), (2, "502")):
        outcome = _poll(store_db, fetcher, now).outcomes[0]
        stored = feeds.get_feed(store_db, feed.id)
        assert stored.error_count == expected_count and f"HTTP {code}" in stored.last_error
        now = outcome.next_check_at
    recovered = _poll(store_db, fetcher, now).outcomes[0]
    stored = feeds.get_feed(store_db, feed.id)
    assert recovered.result == "updated" and recovered.new_articles == 20
    assert stored.error_count == 0 and stored.last_error is None and stored.status == "active"


def test_redirect_to_a_loopback_address_outside_the_allow_list_is_refused(store_db, feed_server, loopback_policy):
    """With only 127.0.0.1/32 allowed, a hop to 127.0.0.2 is refused before connecting."""
    feed_server.routes["/hop"] = redirect(feed_server.url("/json_feed.json", host="127.0.0.2"), 302)
    feed = feeds.add_feed(store_db, feed_server.url("/hop"))
    with Fetcher(replace(loopback_policy, allow_networks=("127.0.0.1/32",))) as strict:
        outcome = _poll(store_db, strict, NOW).outcomes[0]
    assert "refused" in outcome.error and "127.0.0.2" in outcome.error
    assert feed_server.hits["/json_feed.json"] == 0
    assert "127.0.0.2" in feeds.get_feed(store_db, feed.id).last_error
