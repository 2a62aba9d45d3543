"""Politeness maths: next check from server hints within bounds, backoff with jitter, pausing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from memoird.extractors.politeness import (
    Schedule,
    backoff_delay,
    next_check_after_failure,
    next_check_after_success,
    parse_expires,
    parse_max_age,
    parse_retry_after,
    should_pause,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
S = Schedule(min_interval_s=600, max_interval_s=6 * 3600, backoff_base_s=60, failures_before_pause=5)


def _wait(when: datetime) -> float:
    return (when - NOW).total_seconds()


def test_header_parsing():
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Sun, 22 Nov 2026 13:00:00 GMT", NOW) == 3600
    assert parse_retry_after("Sun, 22 Nov 2026 11:00:00 GMT", NOW) == 0  # in the past
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None
    assert parse_max_age("public, max-age=1800") == 1800
    assert parse_max_age('max-age="60", s-maxage=90') == 90
    assert parse_max_age("no-cache") == 0 and parse_max_age("private") is None
    assert parse_expires("Sun, 22 Nov 2026 14:00:00 GMT", NOW) == 7200
    assert parse_expires("0", NOW) == 0  # invalid date means already expired


@pytest.mark.parametrize("hints,expected", [
    ({}, 600),                                   # nothing said: the minimum interval
    ({"ttl_s": 3600}, 3600),                     # RSS ttl
    ({"max_age_s": 7200}, 7200),                 # Cache-Control max-age
    ({"expires_in_s": 5000}, 5000),              # Expires
    ({"max_age_s": 1200, "expires_in_s": 9000}, 1200),  # max-age overrides Expires (RFC 9111)
    ({"ttl_s": 60}, 600),                        # too eager: clamped up
    ({"ttl_s": 86400 * 7}, 6 * 3600),            # too lazy: clamped down
    ({"ttl_s": 1800, "max_age_s": 3000}, 3000),  # the longest hint wins
])
def test_next_check_after_success(hints, expected):
    assert _wait(next_check_after_success(NOW, S, **hints)) == expected


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(1)
    for count in range(1, 15):
        ceiling = min(S.max_interval_s, max(S.min_interval_s, 60 * 2 ** (count - 1)))
        samples = [backoff_delay(count, S, rng) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1  # jittered
    assert backoff_delay(40, S, rng) <= S.max_interval_s


def test_failure_honours_retry_after_up_to_a_bound():
    rng = random.Random(0)
    assert _wait(next_check_after_failure(NOW, 1, S, retry_after_s=5000, rng=rng)) == 5000
    assert _wait(next_check_after_failure(NOW, 1, S, retry_after_s=10, rng=rng)) >= 300  # backoff wins
    capped = next_check_after_failure(NOW, 1, S, retry_after_s=10 ** 9, rng=rng)
    assert capped - NOW == timedelta(seconds=S.max_retry_after_s)


def test_pause_after_n_failures():
    assert not should_pause(4, S) and should_pause(5, S)
    assert not should_pause(1000, Schedule(failures_before_pause=0))  # 0 disables pausing
