"""Fetcher against a real loopback server: validators, encodings, redirects, address guard."""

from __future__ import annotations

import ipaddress
import zlib

import brotli
import pytest
from feedserver import fixed, redirect

from memoird.extractors.fetch import (
    AddressGuard,
    BlockedAddressError,
    Fetcher,
    FetchErrorKind,
    FetchPolicy,
    FetchRequest,
    parse_networks,
)


def test_200_then_conditional_get_answers_304_with_empty_body(feed_server, fetcher, shared_data):
    first = fetcher.fetch(feed_server.url("/TechCrunch.xml"))
    assert first.ok and first.status == 200
    assert first.body == (shared_data / "feeds" / "TechCrunch.xml").read_bytes()
    assert first.headers["content-encoding"] == "gzip"  # decoded by us, body above is the original
    assert first.etag and first.last_modified

    by_etag = fetcher.fetch(FetchRequest(feed_server.url("/TechCrunch.xml"), etag=first.etag))
    assert by_etag.not_modified and by_etag.body == b""
    by_date = fetcher.fetch(FetchRequest(feed_server.url("/TechCrunch.xml"), last_modified=first.last_modified))
    assert by_date.status == 304

    sent = [h for p, h in feed_server.requests if p == "/TechCrunch.xml"]
    assert sent[1]["If-None-Match"] == first.etag
    assert sent[2]["If-Modified-Since"] == first.last_modified
    assert all(h["User-Agent"].startswith("memoird/") for h in sent)
    assert "br" in sent[0]["Accept-Encoding"] and "gzip" in sent[0]["Accept-Encoding"]


@pytest.mark.parametrize("encoding,compress", [
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ("br", brotli.compress),
])
def test_deflate_and_brotli_bodies_are_decoded(feed_server, fetcher, encoding, compress):
    body = b"<rss><channel><title>x</title></channel></rss>" * 100
    feed_server.routes["/enc"] = fixed(200, compress(body), {"Content-Encoding": encoding})
    result = fetcher.fetch(feed_server.url("/enc"))
    assert result.ok and result.body == body


def test_corrupt_gzip_is_a_decoding_error(feed_server, fetcher):
    feed_server.routes["/bad"] = fixed(200, b"this is not gzip at all", {"Content-Encoding": "gzip"})
    result = fetcher.fetch(feed_server.url("/bad"))
    assert result.error_kind == FetchErrorKind.DECODING and "gzip" in result.error
    assert not result.ok and result.body == b""


def test_permanent_redirect_chain_reports_new_url_temporary_does_not(feed_server, fetcher):
    feed_server.routes["/old"] = redirect("/older", 301)
    feed_server.routes["/older"] = redirect("/json_feed.json", 308)
    moved = fetcher.fetch(feed_server.url("/old"))
    assert moved.ok and moved.permanent_url == feed_server.url("/json_feed.json")
    assert moved.final_url == feed_server.url("/json_feed.json") and len(moved.redirects) == 2

    feed_server.routes["/tmp"] = redirect("/old", 302)
    temp = fetcher.fetch(feed_server.url("/tmp"))
    assert temp.ok and temp.permanent_url is None


def test_more_than_max_redirects_is_refused(feed_server, loopback_policy):
    for i in range(4):
        feed_server.routes[f"/r{i}"] = redirect(f"/r{i + 1}", 302)
    feed_server.routes["/r4"] = redirect("/SamRuby.xml", 302)
    from dataclasses import replace

    with Fetcher(replace(loopback_policy, max_redirects=3)) as f:
        result = f.fetch(feed_server.url("/r0"))
    assert result.error_kind == FetchErrorKind.TOO_MANY_REDIRECTS and "more than 3 redirects" in result.error
    assert feed_server.hits["/SamRuby.xml"] == 0


def test_errors_are_returned_not_raised(fetcher):
    assert fetcher.fetch("ftp://example.org/feed").error_kind == FetchErrorKind.INVALID_URL
    assert fetcher.fetch("not a url").error_kind == FetchErrorKind.INVALID_URL
    closed = fetcher.fetch("http://127.0.0.1:9/feed")  # discard port: nothing listens
    assert closed.error_kind == FetchErrorKind.CONNECT and "127.0.0.1:9" in closed.error


def test_hostname_resolving_to_loopback_is_refused_without_allow_list(feed_server):
    """The guard runs after DNS, inside the connection pool: 'localhost' is no way around it."""
    with Fetcher(FetchPolicy()) as f:
        by_name = f.fetch(feed_server.url("/SamRuby.xml", host="localhost"))
        by_ip = f.fetch(feed_server.url("/SamRuby.xml"))
    assert by_name.error_kind == FetchErrorKind.BLOCKED_ADDRESS and "127.0.0.1" in by_name.error
    assert by_ip.error_kind == FetchErrorKind.BLOCKED_ADDRESS
    assert feed_server.hits["/SamRuby.xml"] == 0


def test_allow_list_admits_localhost_by_name(feed_server, fetcher):
    assert fetcher.fetch(feed_server.url("/SamRuby.xml", host="localhost")).ok


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1",
    "::ffff:10.0.0.1", "::ffff:127.0.0.1", "ff02::1",
])
def test_guard_refuses_non_public_addresses(address):
    assert not AddressGuard().allowed(ipaddress.ip_address(address))
    with pytest.raises(BlockedAddressError, match="not allowed"):
        AddressGuard().check_literal(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_guard_admits_public_addresses(address):
    assert AddressGuard().allowed(ipaddress.ip_address(address))


def test_allow_list_is_exact_about_networks():
    guard = AddressGuard(parse_networks("127.0.0.0/8, 10.1.0.0/16"))
    assert guard.allowed(ipaddress.ip_address("127.5.5.5"))
    assert guard.allowed(ipaddress.ip_address("10.1.2.3"))
    assert not guard.allowed(ipaddress.ip_address("10.2.0.1"))
    assert not guard.allowed(ipaddress.ip_address("169.254.169.254"))
    with pytest.raises(ValueError):
        parse_networks(["not-a-network"])


def test_more_threads_than_pooled_connections_wait_their_turn(feed_server, loopback_policy):
    """A full connection pool is our own queue: waiting for it must not count as a connect timeout."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from dataclasses import replace

    def slow(h):
        time.sleep(0.3)
        h.reply(200, b"<rss/>", {"Content-Type": "application/rss+xml"})

    feed_server.routes["/slow"] = slow
    with Fetcher(replace(loopback_policy, max_connections=2, connect_timeout_s=0.1)) as f, \
            ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: f.fetch(feed_server.url("/slow")), range(6)))
    assert [r.error for r in results] == [None] * 6
