"""An edit's provenance: the chain from feed sentences to the weight change.

This is what an operator reads before approving or reverting an edit, on the dashboard,
through ``GET /api/edits/{id}`` and ``memoird edits show``: one function builds it so all
three show the same thing. Reads only; four small indexed queries per edit.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from memoird.store import edits as edit_log
from memoird.store.claims import claim_sources, get_claim
from memoird.store.errors import NotFound
from memoird.store.feeds import redact_text
from memoird.store.records import Edit


def edit_summary(edit: Edit) -> dict[str, Any]:
    """One row of the edit log as the list view shows it (no mask indices: a mask is
    thousands of ints that no list needs, only its size)."""
    from memoird.extractors.schema import label

    row = edit.as_dict()
    mask = row.pop("mask")
    row["mask_size"] = len(mask) if mask is not None else None
    row["relation_label"] = label(edit.relation)  # "head coach", not "P286"
    return row


def edit_provenance(db: Database, edit_id: int) -> dict[str, Any]:
    """The edit, its claim, every supporting source with its evidence sentence, the
    model's probe answers before the edit and the verification after, and its events."""
    edit = edit_log.get_edit(db, edit_id)
    claim = None
    sources: list[dict[str, Any]] = []
    if edit.claim_id is not None:
        try:
            claim = get_claim(db, edit.claim_id).as_dict()
        except NotFound:  # cannot happen with foreign keys on; show the edit anyway
            claim = None
        if claim is not None:
            sources = _sources(db, edit.claim_id)
    events = [e.as_dict() for e in edit_log.edit_events(db, edit_id)]
    result = edit_summary(edit)
    return {
        "edit": result,  # includes old_answer: the greedy answer before the edit
        "claim": claim,
        "policy_rule": edit.policy_rule,
        "sources": sources,
        # what the model answered before the edit, and the verification after it
        "probes": [p for s in sources for p in s["probes"]],
        "after": edit.verification or {},
        "events": events,
    }


def _sources(db: Database, claim_id: int) -> list[dict[str, Any]]:
    supporting = claim_sources(db, claim_id)
    if not supporting:
        return []
    fact_ids = [s.fact_id for s in supporting]
    marks = ", ".join("?" * len(fact_ids))
    rows = {r["fact_id"]: r for r in db.query(f"""
        SELECT f.id AS fact_id, f.subject, f.relation, f.raw_relation, f.object, f.evidence,
               f.confidence, f.extractor_model, f.prompt_version,
               a.id AS article_id, a.title AS article_title, a.url,
               a.published_at, fd.id AS feed_id, fd.url AS feed_url, fd.title AS feed_title,
               fd.trust AS feed_trust
        FROM facts f JOIN articles a ON a.id = f.article_id JOIN feeds fd ON fd.id = a.feed_id
        WHERE f.id IN ({marks})""", fact_ids)}
    probes: dict[int, list[dict[str, Any]]] = {}
    for p in db.query(f"""SELECT id, fact_id, template, answer, verdict, scores, checkpoint_id,
                                 memory_generation, created_at
                          FROM probes WHERE fact_id IN ({marks}) ORDER BY id""", fact_ids):
        probes.setdefault(p["fact_id"], []).append(dict(p, scores=json.loads(p["scores"] or "{}")))
    out = []
    for source in supporting:
        row = dict(rows.get(source.fact_id, {}))
        for key in ("url", "feed_url"):  # feed URLs may carry credentials
            if key in row:
                row[key] = redact_text(row[key])
        row.update(domain=source.domain, seen_at=source.seen_at,
                   probes=probes.get(source.fact_id, []))
        out.append(row)
    return out
