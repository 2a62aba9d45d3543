"""Typed records returned by the store.

Records are frozen snapshots of one row: change a record through the functions of its
module (``feeds.update_feed``, ``edits.transition``...), which validate and log, never by
mutating the object. Timestamps are UTC ISO strings (see ``store.clock``) so records
serialise to JSON for the API unchanged; JSON columns come back decoded.
"""

from __future__ import annotations

import json
import sys
from array import array
from dataclasses import dataclass, field, fields
from enum import Enum, StrEnum
from typing import Any, ClassVar, Mapping, Self


class Record:
    """Row <-> dataclass conversion shared by every record type."""

    __slots__ = ()
    #: columns stored as JSON text
    json_fields: ClassVar[tuple[str, ...]] = ()
    #: columns stored as 0/1
    bool_fields: ClassVar[tuple[str, ...]] = ()
    #: columns stored as a packed little-endian uint32 BLOB (a list of ints in Python)
    int_array_fields: ClassVar[tuple[str, ...]] = ()
    #: columns holding one member of a closed set: stored as the member's string value
    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = row.get(f.name)
            if value is not None:
                if f.name in cls.json_fields:
                    value = json.loads(value)
                elif f.name in cls.bool_fields:
                    value = bool(value)
                elif f.name in cls.int_array_fields:
                    value = unpack_ints(value)
                elif f.name in cls.enum_fields:
                    value = cls.enum_fields[f.name](value)
            values[f.name] = value
        return cls(**values)

    @classmethod
    def to_column(cls, name: str, value: Any) -> Any:
        """Encode one Python value for its column (the inverse of from_row)."""
        if value is None:
            return None
        if name in cls.json_fields:
            return json.dumps(value, ensure_ascii=False, sort_keys=True)
        if name in cls.bool_fields:
            return int(bool(value))
        if name in cls.int_array_fields:
            return pack_ints(value)
        if isinstance(value, Enum):
            return value.value
        return value

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the API returns)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def pack_ints(values: Any) -> bytes:
    """Pack non-negative ints as little-endian uint32: 4 bytes per mask index."""
    packed = array("I", [int(v) for v in values])
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack_ints(blob: bytes) -> list[int]:
    packed = array("I")
    packed.frombytes(blob)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


class FeedStatus(StrEnum):
    """A feed: polled (``active``), held by an operator (``paused``), gone at the source
    (``gone``) or removed (kept for its articles' provenance)."""

    ACTIVE = "active"
    PAUSED = "paused"
    GONE = "gone"
    REMOVED = "removed"


class ArticleStatus(StrEnum):
    """An article in the extract stage's queue."""

    NEW = "new"
    EXTRACTED = "extracted"
    FAILED = "failed"
    SKIPPED = "skipped"


class FactStatus(StrEnum):
    """A fact in the probe stage's queue (``unmapped``: no canonical relation)."""

    NEW = "new"
    PROBED = "probed"
    UNMAPPED = "unmapped"
    SKIPPED = "skipped"


class Verdict(StrEnum):
    """What a probe found the live model believes of a fact."""

    AGREES = "agrees"
    CONFLICTS = "conflicts"
    UNKNOWN = "unknown"


class ClaimStatus(StrEnum):
    """A claim: waiting (``open``), turned into an edit, refused, or replaced by a newer
    claim about the same subject and relation."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class CheckpointStatus(StrEnum):
    """A base checkpoint: serving, waiting for the gate/an operator, or retired."""

    ACTIVE = "active"
    CANDIDATE = "candidate"
    RETIRED = "retired"


# The closed sets as the schema's CHECK constraints and the store's checks list them
# (StrEnum members are their strings: stored values and JSON are unchanged).
FEED_STATUSES: tuple[FeedStatus, ...] = tuple(FeedStatus)
ARTICLE_STATUSES: tuple[ArticleStatus, ...] = tuple(ArticleStatus)
FACT_STATUSES: tuple[FactStatus, ...] = tuple(FactStatus)
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
CLAIM_STATUSES: tuple[ClaimStatus, ...] = tuple(ClaimStatus)


class EditStatus(StrEnum):
    """Where an edit stands in the edit log (store/edits.py has the transitions).

    A ``StrEnum``: each member *is* its string, so the database column, the JSON of the
    API and comparisons with plain strings (``edit.status == "applied"``) are unchanged.
    """

    PENDING = "pending"
    APPROVED = "approved"
    APPLIED = "applied"
    REJECTED = "rejected"
    REVERTED = "reverted"
    FAILED = "failed"
    DISTILLED = "distilled"


#: in this order in the schema's CHECK constraint and in every per-status count
EDIT_STATUSES: tuple[EditStatus, ...] = tuple(EditStatus)

CHECKPOINT_STATUSES: tuple[CheckpointStatus, ...] = tuple(CheckpointStatus)


@dataclass(frozen=True, slots=True)
class Feed(Record):
    id: int
    url: str
    title: str | None
    site_url: str | None
    etag: str | None
    last_modified: str | None
    next_check_at: str | None
    last_checked_at: str | None
    error_count: int
    last_error: str | None
    status: FeedStatus
    paused_reason: str | None
    trust: float
    fetch_full_article: bool
    created_at: str

    bool_fields: ClassVar[tuple[str, ...]] = ("fetch_full_article",)

    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": FeedStatus}


@dataclass(frozen=True, slots=True)
class Article(Record):
    id: int
    feed_id: int
    guid: str
    url: str | None
    title: str | None
    published_at: str | None
    text: str
    content_hash: str
    status: ArticleStatus
    error: str | None
    created_at: str

    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": ArticleStatus}


@dataclass(frozen=True, slots=True)
class Fact(Record):
    id: int
    article_id: int
    subject: str
    relation: str | None
    raw_relation: str
    object: str
    evidence: str | None
    extractor_model: str | None
    prompt_version: str | None
    confidence: float | None
    status: FactStatus
    created_at: str
    subject_type: str | None = None
    object_type: str | None = None
    subject_entity_id: int | None = None
    object_entity_id: int | None = None

    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": FactStatus}


@dataclass(frozen=True, slots=True)
class Entity(Record):
    id: int
    name: str  # display name: the fullest form seen
    key: str  # matching key of the first form (stable: claims are keyed by it)
    type: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class Probe(Record):
    id: int
    fact_id: int
    checkpoint_id: int | None
    memory_generation: int | None
    template: str
    answer: str | None
    scores: dict[str, Any]
    verdict: Verdict
    created_at: str

    json_fields: ClassVar[tuple[str, ...]] = ("scores",)

    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"verdict": Verdict}


@dataclass(frozen=True, slots=True)
class Claim(Record):
    id: int
    subject: str
    relation: str
    object: str
    subject_key: str
    object_key: str
    first_seen: str
    last_seen: str
    status: ClaimStatus
    edit_id: int | None
    #: distinct source domains supporting the claim (computed when read)
    domain_count: int = 0

    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": ClaimStatus}


@dataclass(frozen=True, slots=True)
class ClaimSource(Record):
    id: int
    claim_id: int
    fact_id: int
    article_id: int
    domain: str
    seen_at: str


@dataclass(frozen=True, slots=True)
class Edit(Record):
    id: int
    claim_id: int | None
    subject: str
    relation: str | None
    prompt: str
    prompts: list[str]
    target: str
    old_answer: str | None
    status: EditStatus
    policy_rule: str | None
    why: str | None
    mask: list[int] | None
    verification: dict[str, Any] | None
    memory_generation: int | None
    checkpoint_id: int | None
    created_at: str
    updated_at: str
    subject_aliases: list[str] = field(default_factory=list)

    json_fields: ClassVar[tuple[str, ...]] = ("prompts", "verification", "subject_aliases")
    int_array_fields: ClassVar[tuple[str, ...]] = ("mask",)
    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": EditStatus}


@dataclass(frozen=True, slots=True)
class EditEvent(Record):
    id: int
    edit_id: int
    from_status: EditStatus | None
    to_status: EditStatus
    actor: str
    reason: str | None
    at: str
    details: dict[str, Any] = field(default_factory=dict)

    json_fields: ClassVar[tuple[str, ...]] = ("details",)
    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"from_status": EditStatus,
                                                        "to_status": EditStatus}


@dataclass(frozen=True, slots=True)
class Checkpoint(Record):
    id: int
    path: str
    parent_id: int | None
    created_at: str
    edits_distilled: list[int]
    gate_metrics: dict[str, Any]
    status: CheckpointStatus
    size_bytes: int | None
    note: str | None

    json_fields: ClassVar[tuple[str, ...]] = ("edits_distilled", "gate_metrics")
    enum_fields: ClassVar[Mapping[str, type[Enum]]] = {"status": CheckpointStatus}
