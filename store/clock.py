"""UTC timestamps as the store keeps them.

All times are stored as ISO 8601 strings in UTC with microseconds and an explicit
offset (``2026-11-22T02:17:00.123456+00:00``). One fixed width and one zone make string
order equal time order, so SQLite can compare and index them directly.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .errors import InvalidValue

Moment = datetime | str


def now_iso() -> str:
    """The current time in the store's format."""
    return to_iso(datetime.now(timezone.utc))


def to_iso(value: Moment, name: str = "time") -> str:
    """Normalise an aware datetime or an ISO string to the store's UTC format.

    A naive datetime is refused: guessing its zone would silently shift feed schedules
    and claim windows by hours.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValue(f"{name}: {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise InvalidValue(f"{name}: expected a datetime or ISO string, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"{name}: {value.isoformat()!r} has no time zone")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def maybe_iso(value: Moment | None, name: str = "time") -> str | None:
    """Like to_iso, passing None through (optional timestamps)."""
    return None if value is None else to_iso(value, name)
