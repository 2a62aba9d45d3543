"""When to ask a feed server again: pure functions, so the schedule can be tested without a clock.

A feed reader that polls too often gets banned and one that polls too rarely misses news; the
server tells us what it wants (RSS ``ttl``, ``Cache-Control: max-age``, ``Expires``,
``Retry-After``) and we obey within operator-configured bounds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

__all__ = [
    "Schedule",
    "parse_retry_after",
    "parse_max_age",
    "parse_expires",
    "next_check_after_success",
    "backoff_delay",
    "next_check_after_failure",
    "should_pause",
]


@dataclass(frozen=True)
class Schedule:
    """Operator bounds for polling intervals (seconds).

    The config's ``[feeds]`` keys of the same names take their defaults from here.
    """

    min_interval_s: float = 900.0
    max_interval_s: float = 86_400.0
    backoff_base_s: float = 60.0
    # Retry-After may ask for longer than max_interval_s (a server in maintenance); honour it up to this.
    max_retry_after_s: float = 7 * 86_400.0
    failures_before_pause: int = 10


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _http_date(value: str) -> datetime | None:
    try:
        return _utc(parsedate_to_datetime(value.strip()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    return max(0.0, (when - _utc(now)).total_seconds())


def parse_max_age(cache_control: str | None) -> float | None:
    """``max-age`` (or ``s-maxage``) from Cache-Control; ``no-store``/``no-cache`` mean "as soon as allowed" (0)."""
    if not cache_control:
        return None
    best: float | None = None
    for part in cache_control.lower().split(","):
        name, _, arg = part.strip().partition("=")
        if name in ("no-cache", "no-store"):
            return 0.0
        if name in ("max-age", "s-maxage"):
            try:
                best = float(int(arg.strip().strip('"')))
            except ValueError:
                continue
    return best


def parse_expires(value: str | None, now: datetime) -> float | None:
    """Seconds until an Expires date; an invalid date means "already expired" per RFC 9111 (0)."""
    if not value:
        return None
    when = _http_date(value)
    if when is None:
        return 0.0
    return max(0.0, (when - _utc(now)).total_seconds())


def next_check_after_success(
    now: datetime,
    schedule: Schedule,
    *,
    ttl_s: float | None = None,
    max_age_s: float | None = None,
    expires_in_s: float | None = None,
) -> datetime:
    """Next poll time after a good answer: the longest hint the server gave, clamped to the bounds.

    The longest hint wins because every one of them is the publisher saying "not before"; with no
    hint at all we use the minimum interval, which is what the operator configured as acceptable.
    """
    hints = [h for h in (ttl_s, max_age_s if max_age_s is not None else expires_in_s) if h is not None]
    wait = max(hints) if hints else schedule.min_interval_s
    wait = min(max(wait, schedule.min_interval_s), schedule.max_interval_s)
    return _utc(now) + timedelta(seconds=wait)


def backoff_delay(error_count: int, schedule: Schedule, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries of many feeds that
    failed together (one host down) spread out instead of arriving as a thundering herd."""
    rng = rng or random
    exp = min(max(error_count, 1) - 1, 30)
    ceiling = min(schedule.max_interval_s, max(schedule.min_interval_s, schedule.backoff_base_s * (2**exp)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def next_check_after_failure(
    now: datetime,
    error_count: int,
    schedule: Schedule,
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    """Next poll time after a failure: backoff, or the server's Retry-After if that is longer."""
    wait = backoff_delay(error_count, schedule, rng)
    if retry_after_s is not None:
        wait = max(wait, min(retry_after_s, schedule.max_retry_after_s))
    return _utc(now) + timedelta(seconds=wait)


def should_pause(error_count: int, schedule: Schedule) -> bool:
    """A feed that failed this many times in a row is paused until an operator resumes it."""
    return schedule.failures_before_pause > 0 and error_count >= schedule.failures_before_pause
