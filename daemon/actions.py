"""Operator actions: the one implementation behind the dashboard, the API and the CLI.

Every button on the dashboard is a function here, and ``memoird`` has a subcommand for
each, so an operator can do from a shell whatever the dashboard does, with the same
checks and the same edit-log events. Errors are the store's (NotFound, IllegalTransition,
InvalidValue, Duplicate), each naming the record and what is allowed.

Edit actions take the process's runtime (``rt.db()`` for this thread's connection,
``rt.engine`` for the live model), since a revert touches both. Adding and removing
a feed need no more than the store's ``feeds.add_feed`` / ``feeds.remove_feed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlite_utils import Database

from memoird.store import edits as edit_log
from memoird.store import feeds as feed_store
from memoird.store.db import write_transaction
from memoird.store.errors import IllegalTransition
from memoird.store.records import Edit, EditStatus, Feed

DEFAULT_ACTOR = "operator"


def approve_edit(rt: Any, edit_id: int, actor: str = DEFAULT_ACTOR,
                 reason: str = "approved by operator") -> Edit:
    """Approve a pending (or failed, rejected, reverted) edit; the apply stage trains it."""
    return edit_log.transition(rt.db(), edit_id, EditStatus.APPROVED, actor, reason)


def reject_edit(rt: Any, edit_id: int, actor: str = DEFAULT_ACTOR,
                reason: str = "rejected by operator") -> Edit:
    """Refuse an edit before it reaches the weights. An applied edit is reverted instead."""
    db = rt.db()
    edit = edit_log.get_edit(db, edit_id)
    if edit.status == EditStatus.APPLIED:
        raise IllegalTransition("edit", edit_id, edit.status, EditStatus.REJECTED,
                                edit_log.TRANSITIONS[edit.status])
    return edit_log.transition(db, edit_id, EditStatus.REJECTED, actor, reason)


def revert_edit(rt: Any, edit_id: int, actor: str = DEFAULT_ACTOR,
                reason: str = "reverted by operator") -> Edit:
    """Take an applied edit out of the live memory, then log it as reverted.

    The memory changes first: if the process dies in between, the log still says
    ``applied`` for an edit the memory no longer holds, and reverting again is harmless;
    the other order could log a revert that never reached the model.
    """
    db = rt.db()
    edit = edit_log.get_edit(db, edit_id)
    if edit.status != EditStatus.APPLIED:
        raise IllegalTransition("edit", edit_id, edit.status, EditStatus.REVERTED,
                                edit_log.TRANSITIONS.get(edit.status, ()))
    outcome = rt.engine.revert_edit(edit_id)
    details = outcome if isinstance(outcome, dict) else {}
    generation = details.get("memory_generation")
    fields = {"memory_generation": generation} if isinstance(generation, int) else {}
    return edit_log.transition(db, edit_id, EditStatus.REVERTED, actor, reason, details=details,
                               **fields)


#: The operator's edit actions by name: ``memoird edits <name> ID`` and ``POST
#: /api/edits/{id}/<name>`` dispatch through this table, so a name that is not here is
#: not an action. Each takes ``(rt, edit_id, actor=..., reason=...)`` and returns the edit.
EDIT_ACTIONS: dict[str, Callable[..., Edit]] = {
    "approve": approve_edit,
    "reject": reject_edit,
    "revert": revert_edit,
}


def pause_feed(db: Database, feed_id: int, reason: str = "paused by operator") -> Feed:
    """Stop polling a feed until it is resumed. A removed feed is refused (it stays removed)."""
    with write_transaction(db):
        feed_store.check_live(db, feed_id, "pause")
        return feed_store.update_feed(db, feed_id, status="paused", paused_reason=reason)


def resume_feed(db: Database, feed_id: int) -> Feed:
    """Back to active and due at once, with the error streak forgotten.

    A removed feed is refused: removal is for good, and only adding the URL again
    (``memoird feeds add``) brings it back, on purpose.
    """
    with write_transaction(db):
        feed_store.check_live(db, feed_id, "resume")
        return feed_store.update_feed(db, feed_id, status="active", paused_reason=None,
                                      error_count=0, next_check_at=None)
