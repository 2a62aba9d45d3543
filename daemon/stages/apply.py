"""The apply stage: approved edits from the log become weights in the live memory.

Order of commits (see daemon/engine.py): the memory file first, then the log. Each edit is
verified right after training (its prompts answer the new object, unrelated canaries and
template neighbours do not move); one that fails is reverted in the memory at once and logged
``failed`` with the reason, so a bad edit never stays in the model.

An approved edit the memory already holds was trained and committed by a process that died
before verifying it (start-up reconciliation leaves it ``approved``): it is not trained
again but verified now, and logged ``applied`` or reverted and ``failed`` like any other,
so a crash between training and verification cannot slip an unchecked edit into the model.

A daemon that stops while an edit trains or is verified (BackgroundCancelled, raised
between training steps or decoding steps) leaves the edit ``approved`` and the memory
without it: training changes the memory only once it is done, and an edit stopped during
its verification is taken out again. The next start trains it from the beginning.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from sqlite_utils import Database

from memoird.daemon.priority import BackgroundCancelled
from memoird.store import edits as edit_log
from memoird.store.db import write_transaction
from memoird.store.records import EditStatus

log = logging.getLogger("memoird.apply")

ACTOR = "editor"

#: verify(target, edit) -> (passed, scores, reason), where target is the engine's
#: ``verify_target()`` (editor/verify.py's EditVerifier); None skips verification
Verifier = Callable[[Any, Any], tuple[bool, dict[str, Any], str]]


@dataclass
class ApplyReport:
    applied: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def apply_approved_edits(db: Database, engine, limit: int | None = None,
                         verify: Verifier | None = None) -> ApplyReport:
    report = ApplyReport()
    queue = edit_log.list_edits(db, status=EditStatus.APPROVED, limit=limit or 1_000_000)
    for edit in reversed(queue):  # oldest first: edits are applied in the order approved
        if engine.holds(edit.id):  # trained before a crash, never verified: verify it now
            generation = engine.memory_generation
            scores: dict[str, Any] = {"recovered": {"memory_generation": generation}}
            how = ("trained and committed to the memory before the process stopped; "
                   "verified after the restart")
            seconds = None
        else:
            try:
                applied = engine.apply_edit(edit)
            except Exception as exc:
                log.exception("edit %s failed to train", edit.id)
                edit_log.transition(db, edit.id, EditStatus.FAILED, ACTOR,
                                    f"training failed: {exc}")
                report.failed += 1
                report.errors.append(f"edit {edit.id}: {exc}")
                continue
            generation = applied.memory_generation
            scores = {"train": asdict(applied.result)}
            result = applied.result
            how = (f"trained in {result.steps} steps ({result.seconds:.2f} s), "
                   f"loss {result.initial_loss:.3f} -> {result.final_loss:.3f}")
            seconds = round(result.seconds, 3)
        if verify is not None:
            try:
                passed, checks, reason = verify(engine.verify_target(), edit)
            except BackgroundCancelled:
                engine.revert_edit(edit.id)  # unverified: out again, still approved
                log.info("edit %s: stopped during verification; trained again at the next "
                         "start", edit.id)
                raise
            scores["checks"] = checks
            if not passed:
                undo = engine.revert_edit(edit.id)
                with write_transaction(db):
                    edit_log.transition(
                        db, edit.id, EditStatus.APPLIED, ACTOR, how,
                        memory_generation=generation,
                        checkpoint_id=engine.checkpoint.id, verification=scores)
                    edit_log.transition(
                        db, edit.id, EditStatus.FAILED, "verifier",
                        f"verification failed, reverted automatically: {reason}",
                        memory_generation=undo["memory_generation"], verification=scores)
                report.failed += 1
                report.errors.append(f"edit {edit.id}: {reason}")
                continue
        edit_log.transition(
            db, edit.id, EditStatus.APPLIED, ACTOR, how, memory_generation=generation,
            checkpoint_id=engine.checkpoint.id, verification=scores)
        report.applied += 1
        if seconds is not None:
            report.seconds.append(seconds)
    return report
