"""Claims: (subject, relation) -> object, with the distinct sources that support it.

Facts from many articles saying the same thing collapse into one claim under a
normalised key (Unicode NFKC, case folded, punctuation dropped, whitespace collapsed),
so "Man. United" and "man united" count together. Support is counted in distinct
domains (the caller passes the registrable domain of the article), not feeds or
articles: one site with ten feeds is still one source. ``seen_at`` defaults to the time
memoird saw the fact, not the article's own date, which a hostile feed could forge.
The confirmation policy lives in the pipeline; the store only keeps the evidence.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Callable

from sqlite_utils import Database

from ._rows import check_choice, check_text, get_record, records
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .errors import InvalidValue, NotFound
from .facts import get_fact
from .records import CLAIM_STATUSES, Claim, ClaimSource, Edit, EditStatus

_SELECT = """SELECT c.*, (SELECT COUNT(DISTINCT s.domain) FROM claim_sources s
                         WHERE s.claim_id = c.id) AS domain_count FROM claims c"""


def normalize_key(text: str) -> str:
    """The matching key of a subject or object (idempotent)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = (" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join("".join(kept).split())


def add_fact_to_claim(db: Database, fact_id: int, domain: str, *,
                      seen_at: Moment | None = None,
                      place: Callable[[str], bool] = lambda key: False) -> Claim:
    """Count a fact as support for its claim, creating the claim on first sight.

    Adding the same fact twice changes nothing. An unmapped fact (no canonical relation)
    cannot support a claim. ``place(key)`` says whether a key names a place: a place
    written for the one body named after it joins that body's claim (see
    ``_join_place_forms``).
    """
    domain = check_text("claim source domain", domain).lower()
    seen = maybe_iso(seen_at, "seen_at") or now_iso()
    with write_transaction(db):
        fact = get_fact(db, fact_id)
        if fact.relation is None:
            raise InvalidValue(f"fact {fact_id} has no canonical relation "
                               f"(raw {fact.raw_relation!r}); it cannot support a claim")
        subject, object_ = fact.subject, fact.object
        subject_key, object_key = normalize_key(subject), normalize_key(object_)
        # Facts resolved to entities count under the entity, whatever name they used.
        for side, entity_id in (("subject", fact.subject_entity_id),
                                ("object", fact.object_entity_id)):
            if entity_id is not None:
                row = db.execute("SELECT name, key FROM entities WHERE id = ?",
                                 [entity_id]).fetchone()
                if row is not None:
                    if side == "subject":
                        subject, subject_key = row[0], row[1]
                    else:
                        object_, object_key = row[0], row[1]
        if not subject_key or not object_key:
            raise InvalidValue(f"fact {fact_id}: subject {fact.subject!r} or object "
                               f"{fact.object!r} is only punctuation")
        db.execute("""
            INSERT INTO claims (subject, relation, object, subject_key, object_key,
                                first_seen, last_seen, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, 'open')
            ON CONFLICT (subject_key, relation, object_key) DO UPDATE SET
                first_seen = min(first_seen, excluded.first_seen),
                last_seen = max(last_seen, excluded.last_seen)""",
            [subject, fact.relation, object_, subject_key, object_key, seen, seen])
        claim_id = db.execute(
            "SELECT id FROM claims WHERE subject_key = ? AND relation = ? AND object_key = ?",
            [subject_key, fact.relation, object_key]).fetchone()[0]
        db.execute("""INSERT INTO claim_sources (claim_id, fact_id, article_id, domain, seen_at)
                      VALUES (?, ?, ?, ?, ?) ON CONFLICT (claim_id, fact_id) DO NOTHING""",
                   [claim_id, fact.id, fact.article_id, domain, seen])
        claim_id = _join_place_forms(db, claim_id, place)
    return get_claim(db, claim_id)


def _join_place_forms(db: Database, claim_id: int, place: Callable[[str], bool]) -> int:
    """Sports and business writing name a body by its place ("Henry signed with
    Baltimore", another outlet "with the Baltimore Ravens"; "bought by Abu Dhabi" for
    "Abu Dhabi United Group"; "Milwaukee named Pat Murphy manager" for the Milwaukee
    Brewers). For one relation and one other side, an open claim whose subject or object
    is a place that begins exactly one other open claim's is that claim: its sources
    move there and it goes. The entity store keeps the place and the body apart
    ("Manchester" is two clubs and a city); the shared relation and other side are what
    make the short form safe here. Returns the claim the fact now supports."""
    for side, other in (("object", "subject"), ("subject", "object")):
        claim_id = _join_place_side(db, claim_id, place, side, other)
    return claim_id


def _join_place_side(db: Database, claim_id: int, place: Callable[[str], bool],
                     side: str, other: str) -> int:
    key, fixed = f"{side}_key", f"{other}_key"

    def movable(row: dict) -> bool:
        return row["status"] == "open" and row["edit_id"] is None and not db.execute(
            "SELECT 1 FROM edits WHERE claim_id = ? LIMIT 1", [row["id"]]).fetchone()

    def longer(short: dict, rows: list[dict]) -> list[dict]:
        return [r for r in rows if r["id"] != short["id"] and r["status"] == "open"
                and r[key].startswith(short[key] + " ")]

    claim = next(db.query("SELECT * FROM claims WHERE id = ?", [claim_id]))
    rows = list(db.query(f"SELECT * FROM claims WHERE {fixed} = ? AND relation = ?",
                         [claim[fixed], claim["relation"]]))
    # the new claim is the place written for a body already claimed, or the body whose
    # place an earlier claim wrote
    pairs = [(claim, longer(claim, rows))] + [
        (short, longer(short, rows)) for short in rows
        if short["id"] != claim_id and claim[key].startswith(short[key] + " ")]
    for short, bodies in pairs:
        if len(bodies) != 1 or not place(short[key]) or not movable(short):
            continue
        into = bodies[0]["id"]
        db.execute("""INSERT INTO claim_sources (claim_id, fact_id, article_id, domain, seen_at)
                      SELECT ?, fact_id, article_id, domain, seen_at FROM claim_sources
                      WHERE claim_id = ? ON CONFLICT (claim_id, fact_id) DO NOTHING""",
                   [into, short["id"]])
        db.execute("""UPDATE claims SET first_seen = min(first_seen, ?),
                      last_seen = max(last_seen, ?) WHERE id = ?""",
                   [short["first_seen"], short["last_seen"], into])
        db.execute("DELETE FROM claim_sources WHERE claim_id = ?", [short["id"]])
        db.execute("DELETE FROM claims WHERE id = ?", [short["id"]])
        if short["id"] == claim_id:
            claim_id = into
    return claim_id


def claim_exists(db: Database, claim_id: int) -> bool:
    """False for a claim joined into another since (``_join_place_forms``)."""
    return db.execute("SELECT 1 FROM claims WHERE id = ?", [claim_id]).fetchone() is not None


def get_claim(db: Database, claim_id: int) -> Claim:
    rows = records(db, Claim, f"{_SELECT} WHERE c.id = ?", [claim_id])
    if not rows:
        raise NotFound("claim", claim_id)
    return rows[0]


def list_claims(db: Database, status: str | None = None, limit: int = 50,
                offset: int = 0) -> list[Claim]:
    """Claims newest first, optionally with one status."""
    where, params = "", []
    if status is not None:
        check_choice("claim status", status, CLAIM_STATUSES)
        where, params = "WHERE c.status = ?", [status]
    return records(db, Claim, f"{_SELECT} {where} ORDER BY c.id DESC LIMIT ? OFFSET ?",
                   params + [int(limit), int(offset)])


def claim_sources(db: Database, claim_id: int) -> list[ClaimSource]:
    """Every fact supporting a claim, oldest first (the edit log shows these)."""
    get_claim(db, claim_id)
    return records(db, ClaimSource,
                   "SELECT * FROM claim_sources WHERE claim_id = ? ORDER BY seen_at, id",
                   [claim_id])


def published_times(db: Database, claim_id: int) -> dict[int, str | None]:
    """Each supporting article's publication time, by article id (None where its feed
    gave none): when the news was told, as against when it was read."""
    get_claim(db, claim_id)
    rows = db.execute("""SELECT DISTINCT s.article_id, a.published_at FROM claim_sources s
                         JOIN articles a ON a.id = s.article_id WHERE s.claim_id = ?""",
                      [claim_id]).fetchall()
    return {article_id: published for article_id, published in rows}


def claim_domains(db: Database, claim_id: int, since: Moment | None = None) -> list[str]:
    """Distinct supporting domains, optionally only those seen at or after ``since``."""
    get_claim(db, claim_id)
    where, params = "claim_id = ?", [claim_id]
    if since is not None:
        where, params = where + " AND seen_at >= ?", params + [maybe_iso(since, "since")]
    rows = db.execute(f"SELECT DISTINCT domain FROM claim_sources WHERE {where} "
                      "ORDER BY domain", params).fetchall()
    return [row[0] for row in rows]


def competing_claims(db: Database, subject_key: str, relation: str) -> list[Claim]:
    """All claims about (subject, relation), best supported first.

    ``subject_key`` may be the raw subject; it is normalised here.
    """
    return records(db, Claim, f"""{_SELECT} WHERE c.subject_key = ? AND c.relation = ?
                   ORDER BY domain_count DESC, c.last_seen DESC, c.id""",
                   [normalize_key(subject_key), relation])


def claims_with_object(db: Database, object_key: str, relation: str) -> list[Claim]:
    """All claims giving one object under one relation (the same holder of an office
    for several subjects), best supported first."""
    return records(db, Claim, f"""{_SELECT} WHERE c.object_key = ? AND c.relation = ?
                   ORDER BY domain_count DESC, c.last_seen DESC, c.id""",
                   [normalize_key(object_key), relation])


def set_claim_status(db: Database, claim_id: int, status: str, *,
                     edit_id: int | None = None) -> Claim:
    """Record the policy's decision on a claim, and the edit it led to if any."""
    check_choice("claim status", status, CLAIM_STATUSES)
    fields: dict[str, object] = {"status": status}
    with write_transaction(db):
        get_claim(db, claim_id)
        if edit_id is not None:
            get_record(db, "edits", Edit, edit_id, "edit")
            fields["edit_id"] = edit_id
        db["claims"].update(claim_id, fields)
    return get_claim(db, claim_id)



def claim_facts(db: Database, claim_id: int) -> list[dict]:
    """The supporting facts of a claim with their types, entities, role word and the
    evidence check of their latest probe (what the well-formedness rules read)."""
    rows = db.query("""
        SELECT f.id AS fact_id, f.raw_relation, f.subject_type, f.object_type,
               f.subject_entity_id, f.object_entity_id, s.domain,
               (SELECT p.scores FROM probes p WHERE p.fact_id = f.id
                ORDER BY p.id DESC LIMIT 1) AS scores
        FROM claim_sources s JOIN facts f ON f.id = s.fact_id
        WHERE s.claim_id = ? ORDER BY s.id""", [claim_id])
    out = []
    for row in rows:
        row = dict(row)
        scores = json.loads(row.pop("scores") or "{}")
        row["evidence_check"] = scores.get("evidence_check")
        out.append(row)
    return out


def entity_display(db: Database, entity_id: int | None, fallback: str) -> str:
    """An entity's current display name (it grows: "Meloni" -> "Giorgia Meloni")."""
    if entity_id is None:
        return fallback
    row = db.execute("SELECT name FROM entities WHERE id = ?", [entity_id]).fetchone()
    return row[0] if row else fallback


def single_source_claims(db: Database, since: Moment, limit: int = 500
                         ) -> list[tuple[str, str, str]]:
    """(subject, relation, object) of open claims with one source domain, seen since
    ``since``: facts that another article might corroborate."""
    rows = db.query("""
        SELECT c.subject, c.relation, c.object FROM claims c
        WHERE c.status = 'open' AND c.relation IS NOT NULL AND c.last_seen >= ?
          AND (SELECT COUNT(DISTINCT s.domain) FROM claim_sources s
               WHERE s.claim_id = c.id) = 1
        ORDER BY c.last_seen DESC LIMIT ?""", [maybe_iso(since), int(limit)])
    return [(r["subject"], r["relation"], r["object"]) for r in rows]


def held_claims(db: Database, limit: int = 200) -> list[dict]:
    """Open claims, newest first, with why each is held: the policy's latest refusal
    (its rule and reason) or, when none was logged, that it still waits for sources."""
    rows = db.query(f"""
        SELECT c.*, (SELECT COUNT(DISTINCT s.domain) FROM claim_sources s
                     WHERE s.claim_id = c.id) AS domain_count,
               e.policy_rule AS rule, e.why AS why, e.id AS refused_edit_id
        FROM claims c LEFT JOIN edits e ON e.id = c.edit_id AND e.status = ?
        WHERE c.status = 'open' ORDER BY c.last_seen DESC, c.id DESC LIMIT ?""",
                    [EditStatus.REJECTED, int(limit)])
    out = []
    for row in rows:
        row = dict(row)
        if row["rule"] is None:
            row["rule"] = "waiting"
            row["why"] = (f"{row['domain_count']} independent source domain(s) so far; "
                          "waiting for more, or for a probe")
        out.append(row)
    return out
