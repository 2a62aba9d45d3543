"""Facts: subject-relation-object triples extracted from an article.

A fact whose relation could not be mapped to a canonical relation keeps its raw
relation, gets ``relation = NULL`` and status ``unmapped``: it is kept for schema work
but never probed or edited.
"""

from __future__ import annotations

from sqlite_utils import Database

from ._rows import check_choice, check_text, check_unit, encode, get_record, records
from .articles import get_article
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .records import FACT_STATUSES, Fact


def add_fact(db: Database, article_id: int, *, subject: str, raw_relation: str,
             object: str, relation: str | None = None, evidence: str | None = None,
             extractor_model: str | None = None, prompt_version: str | None = None,
             confidence: float | None = None, status: str | None = None,
             subject_type: str | None = None, object_type: str | None = None,
             subject_entity_id: int | None = None, object_entity_id: int | None = None,
             now: Moment | None = None) -> Fact:
    """Store one extracted fact; status defaults to new, or unmapped without a relation."""
    subject = check_text("fact subject", subject)
    object = check_text("fact object", object)
    raw_relation = check_text("fact raw_relation", raw_relation)
    relation = (relation or "").strip() or None
    status = status or ("new" if relation else "unmapped")
    check_choice("fact status", status, FACT_STATUSES)
    check_unit("fact confidence", confidence, optional=True)
    with write_transaction(db):
        get_article(db, article_id)
        row = encode(Fact, {
            "article_id": article_id, "subject": subject, "relation": relation,
            "raw_relation": raw_relation, "object": object, "evidence": evidence,
            "extractor_model": extractor_model, "prompt_version": prompt_version,
            "confidence": confidence, "status": status,
            "subject_type": subject_type, "object_type": object_type,
            "subject_entity_id": subject_entity_id, "object_entity_id": object_entity_id,
            "created_at": maybe_iso(now, "now") or now_iso(),
        })
        fact_id = db["facts"].insert(row).last_pk
    return get_fact(db, fact_id)


def get_fact(db: Database, fact_id: int) -> Fact:
    return get_record(db, "facts", Fact, fact_id, "fact")


def facts_for_article(db: Database, article_id: int) -> list[Fact]:
    return records(db, Fact, "SELECT * FROM facts WHERE article_id = ? ORDER BY id",
                   [article_id])


def facts_by_status(db: Database, status: str, limit: int = 100) -> list[Fact]:
    """The oldest ``limit`` facts with this status: the probe stage's work queue."""
    check_choice("fact status", status, FACT_STATUSES)
    return records(db, Fact, "SELECT * FROM facts WHERE status = ? ORDER BY id LIMIT ?",
                   [status, int(limit)])


def set_fact_status(db: Database, fact_id: int, status: str) -> Fact:
    check_choice("fact status", status, FACT_STATUSES)
    with write_transaction(db):
        get_fact(db, fact_id)
        db["facts"].update(fact_id, {"status": status})
    return get_fact(db, fact_id)
