"""The edit log: every weight change memoird made, proposed or refused, and why.

Each edit moves through the statuses below, and every move writes an ``edit_events`` row
(who, when, why, details) in the same transaction as the status change. SQLite triggers
make ``edit_events`` append-only, forbid deleting edits, and refuse a status change that
no event explains, so the history cannot be rewritten even by code that bypasses this
module.

Transition table (``TRANSITIONS``)::

    (new)     -> pending | approved | rejected   create_edit: manual review, auto policy,
                                                 or refused by the policy (logged anyway)
    pending   -> approved | rejected             operator review
    approved  -> applied | failed | rejected     editor ran (or could not), or withdrawn
    applied   -> reverted | failed | distilled   operator undo, failed verification
                                                 (reverted automatically), absorbed into a
                                                 checkpoint by distillation
    failed    -> approved | rejected             retry, or give up
    reverted  -> approved                        re-apply
    rejected  -> approved                        operator overrules a refusal
    distilled -> applied                         its checkpoint was rolled back, so the
                                                 edit lives in the memory again

A distilled edit cannot be reverted directly: it is in the weights of the active
checkpoint. Roll back to a checkpoint without it first (it becomes ``applied``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from ._rows import (check_choice, check_fields, check_text, check_transition, encode,
                    get_record, like_pattern, records)
from .claims import get_claim
from .checkpoints import get_checkpoint
from .clock import Moment, maybe_iso, now_iso
from .db import write_transaction
from .errors import InvalidValue
from .records import EDIT_STATUSES, Edit, EditEvent, EditStatus

TRANSITIONS: dict[EditStatus, tuple[EditStatus, ...]] = {
    EditStatus.PENDING: (EditStatus.APPROVED, EditStatus.REJECTED),
    EditStatus.APPROVED: (EditStatus.APPLIED, EditStatus.FAILED, EditStatus.REJECTED),
    EditStatus.APPLIED: (EditStatus.REVERTED, EditStatus.FAILED, EditStatus.DISTILLED),
    EditStatus.FAILED: (EditStatus.APPROVED, EditStatus.REJECTED),
    EditStatus.REVERTED: (EditStatus.APPROVED,),
    EditStatus.REJECTED: (EditStatus.APPROVED,),
    EditStatus.DISTILLED: (EditStatus.APPLIED,),
}
INITIAL_STATUSES: tuple[EditStatus, ...] = (EditStatus.PENDING, EditStatus.APPROVED,
                                            EditStatus.REJECTED)

#: columns a transition or annotation may set; what the edit *is* (subject, relation,
#: prompt, target, claim) never changes: a different target is a different edit
SETTABLE = ("prompts", "old_answer", "policy_rule", "why", "mask", "verification",
            "memory_generation", "checkpoint_id")


def create_edit(db: Database, *, subject: str, prompt: str, target: str, actor: str,
                reason: str, relation: str | None = None, prompts: Sequence[str] = (),
                old_answer: str | None = None, claim_id: int | None = None,
                status: EditStatus | str = EditStatus.PENDING,
                policy_rule: str | None = None,
                why: str | None = None, checkpoint_id: int | None = None,
                details: dict[str, Any] | None = None, now: Moment | None = None,
                subject_aliases: Sequence[str] = ()) -> Edit:
    """Log a proposed edit together with its first event (from nothing to ``status``)."""
    check_choice("initial edit status", status, INITIAL_STATUSES)
    status = EditStatus(status)
    values: dict[str, Any] = {
        "subject": check_text("edit subject", subject), "relation": relation,
        "prompt": check_text("edit prompt", prompt), "target": check_text("edit target", target),
        "claim_id": claim_id, "status": status, "prompts": _check_prompts(prompts),
        "old_answer": old_answer, "policy_rule": policy_rule, "why": why,
        "checkpoint_id": checkpoint_id,
        "subject_aliases": [a for a in subject_aliases if a and a.strip()],
    }
    at = maybe_iso(now, "now") or now_iso()
    with write_transaction(db):
        if claim_id is not None:
            get_claim(db, claim_id)
        if checkpoint_id is not None:
            get_checkpoint(db, checkpoint_id)
        row = encode(Edit, values | {"created_at": at, "updated_at": at})
        edit_id = db["edits"].insert(row).last_pk
        _add_event(db, edit_id, None, status, actor, reason, details, at)
    return get_edit(db, edit_id)


def transition(db: Database, edit_id: int, to_status: EditStatus | str, actor: str,
               reason: str, *, details: dict[str, Any] | None = None, **fields: Any) -> Edit:
    """Move an edit to ``to_status`` (see TRANSITIONS), setting ``fields`` with it.

    Raises IllegalTransition (a ValueError) naming the edit, both statuses and what is
    allowed; nothing is written then.
    """
    check_choice("edit status", to_status, EDIT_STATUSES)
    return _change(db, edit_id, EditStatus(to_status), actor, reason, details, fields)


def annotate(db: Database, edit_id: int, actor: str, reason: str, *,
             details: dict[str, Any] | None = None, **fields: Any) -> Edit:
    """Record an event that keeps the status: the memory was rebuilt on a new
    checkpoint, verification was re-run, an operator left a note."""
    return _change(db, edit_id, None, actor, reason, details, fields)


def _change(db: Database, edit_id: int, to_status: EditStatus | None, actor: str, reason: str,
            details: dict[str, Any] | None, fields: dict[str, Any]) -> Edit:
    check_fields(f"edit {edit_id}", fields, SETTABLE)
    fields = _check_settable(fields)
    at = now_iso()
    with write_transaction(db):
        current = get_edit(db, edit_id)
        target = current.status if to_status is None else to_status
        if to_status is not None:
            check_transition("edit", edit_id, current.status, to_status, TRANSITIONS)
        if fields.get("checkpoint_id") is not None:
            get_checkpoint(db, fields["checkpoint_id"])
        _add_event(db, edit_id, current.status, target, actor, reason, details, at)
        db["edits"].update(edit_id, encode(Edit, fields | {"status": target, "updated_at": at}))
    return get_edit(db, edit_id)


def _add_event(db: Database, edit_id: int, from_status: EditStatus | None,
               to_status: EditStatus, actor: str, reason: str,
               details: dict[str, Any] | None, at: str) -> None:
    db["edit_events"].insert(encode(EditEvent, {
        "edit_id": edit_id, "from_status": from_status, "to_status": to_status,
        "actor": check_text("actor", actor), "reason": check_text("reason", reason),
        "at": at, "details": dict(details or {}),
    }))


def _check_prompts(prompts: Sequence[str]) -> list[str]:
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise InvalidValue(f"edit prompts: {prompts!r} must be a list of strings")
    return list(prompts)


def _check_settable(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    if "prompts" in fields:
        fields["prompts"] = _check_prompts(fields["prompts"])
    mask = fields.get("mask")
    if mask is not None:
        if isinstance(mask, (str, bytes)) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**32 for i in mask):
            raise InvalidValue("edit mask: must be a list of non-negative int indices")
        fields["mask"] = list(mask)
    if fields.get("verification") is not None and not isinstance(fields["verification"], dict):
        raise InvalidValue(f"edit verification: {fields['verification']!r} is not a dict")
    return fields


def get_edit(db: Database, edit_id: int) -> Edit:
    return get_record(db, "edits", Edit, edit_id, "edit")


def edit_events(db: Database, edit_id: int) -> list[EditEvent]:
    """The full history of an edit, oldest first."""
    get_edit(db, edit_id)
    return records(db, EditEvent, "SELECT * FROM edit_events WHERE edit_id = ? ORDER BY id",
                   [edit_id])


def _filters(status: EditStatus | str | Sequence[str] | None, subject: str | None,
             relation: str | None, since: Moment | None, claim_id: int | None,
             checkpoint_id: int | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None:
        statuses = (status,) if isinstance(status, str) else tuple(status)
        for value in statuses:
            check_choice("edit status", value, EDIT_STATUSES)
        clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
        params += statuses
    if subject:
        clauses.append("subject LIKE ? ESCAPE '\\'")
        params.append(like_pattern(subject))
    for column, value in (("relation", relation), ("claim_id", claim_id),
                          ("checkpoint_id", checkpoint_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("created_at >= ?")
        params.append(maybe_iso(since, "since"))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_edits(db: Database, *, status: EditStatus | str | Sequence[str] | None = None,
               subject: str | None = None, relation: str | None = None,
               since: Moment | None = None, claim_id: int | None = None,
               checkpoint_id: int | None = None, limit: int = 50,
               offset: int = 0) -> list[Edit]:
    """One page of the edit log, newest first.

    ``subject`` matches a case-insensitive substring (ASCII case); ``status`` may be one
    status or several. Indexes on (status|relation, created_at) keep a page fast with
    tens of thousands of edits.
    """
    if limit < 0 or offset < 0:
        raise InvalidValue(f"paging: limit {limit} and offset {offset} must be >= 0")
    where, params = _filters(status, subject, relation, since, claim_id, checkpoint_id)
    return records(db, Edit, f"SELECT * FROM edits {where} ORDER BY created_at DESC, id DESC "
                   "LIMIT ? OFFSET ?", params + [int(limit), int(offset)])


def count_edits(db: Database, *, status: EditStatus | str | Sequence[str] | None = None,
                subject: str | None = None, relation: str | None = None,
                since: Moment | None = None, claim_id: int | None = None,
                checkpoint_id: int | None = None) -> int:
    """How many edits ``list_edits`` would page through with the same filters."""
    where, params = _filters(status, subject, relation, since, claim_id, checkpoint_id)
    return db.execute(f"SELECT COUNT(*) FROM edits {where}", params).fetchone()[0]
