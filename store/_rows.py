"""Small helpers shared by the table modules (private to the store)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from sqlite_utils import Database

from .errors import IllegalTransition, InvalidValue, NotFound
from .records import Record

R = TypeVar("R", bound=Record)


def get_record(db: Database, table: str, cls: type[R], record_id: int, kind: str) -> R:
    """One row by primary key as a record, or NotFound naming the kind and id."""
    rows = list(db[table].rows_where("id = ?", [record_id]))
    if not rows:
        raise NotFound(kind, record_id)
    return cls.from_row(rows[0])


def records(db: Database, cls: type[R], sql: str, params: Iterable[Any] = ()) -> list[R]:
    return [cls.from_row(row) for row in db.query(sql, list(params))]


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidValue(f"{name}: {value!r} is not one of {', '.join(choices)}")


def check_unit(name: str, value: object, optional: bool = False) -> None:
    """Values such as trust and confidence live in [0, 1]."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidValue(f"{name}: {value!r} is not a number between 0 and 1")


def check_text(name: str, value: object) -> str:
    """Required text fields: a non-blank string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name}: {value!r} must be a non-empty string")
    return value.strip()


def check_fields(kind: str, given: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise InvalidValue(
            f"{kind}: cannot set {', '.join(unknown)} (settable: {', '.join(allowed)})"
        )


def check_transition(kind: str, record_id: int, current: str, target: str,
                     table: Mapping[str, tuple[str, ...]]) -> None:
    allowed = table.get(current, ())
    if target not in allowed:
        raise IllegalTransition(kind, record_id, current, target, allowed)


def encode(cls: type[Record], values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: cls.to_column(name, value) for name, value in values.items()}


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (use with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
