"""Errors raised by the store.

Every error names the input that caused it, so a CLI or API caller can show it as is.
They subclass the built-in ValueError/LookupError so callers that do not know the store
still catch them sensibly. Raising one never leaves a half-written change behind: each
store function runs its writes in one transaction.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFound(StoreError, LookupError):
    """A record asked for by id (or unique key) does not exist."""

    def __init__(self, kind: str, key: object):
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class Duplicate(StoreError, ValueError):
    """A unique value (feed URL, checkpoint path...) is already stored."""

    def __init__(self, kind: str, field: str, value: object, existing_id: int | None = None):
        self.kind = kind
        self.field = field
        self.value = value
        self.existing_id = existing_id
        where = f" (id {existing_id})" if existing_id is not None else ""
        super().__init__(f"{kind} with {field} {value!r} already exists{where}")


class InvalidValue(StoreError, ValueError):
    """A field has a value the schema does not allow (unknown column, bad status, range)."""


class IllegalTransition(InvalidValue):
    """A status change that the record's transition table does not allow."""

    def __init__(self, kind: str, record_id: int, from_status: str, to_status: str,
                 allowed: tuple[str, ...], hint: str | None = None):
        # statuses may be enum members (StrEnum): the message quotes their plain strings
        from_status, to_status = str(from_status), str(to_status)
        allowed = tuple(str(a) for a in allowed)
        self.kind = kind
        self.record_id = record_id
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = allowed
        options = ", ".join(allowed) if allowed else "none"
        # ``hint`` replaces the generic message where the record kind can say it plainly
        super().__init__(hint or (
            f"{kind} {record_id}: cannot go from {from_status!r} to {to_status!r} "
            f"(allowed from {from_status!r}: {options})"
        ))


class SchemaTooNew(StoreError):
    """The database was migrated by a newer memoird than this one; refuse to touch it."""
