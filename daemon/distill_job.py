"""The distillation job: fold the memory into a new checkpoint, gate it, switch to it.

``run_distillation`` is what ``memoird distill`` and the scheduler's cron slot call:

1. **Snapshot** the edits the active checkpoint's memory file holds (the file is the commit
   point) and the teacher's answers to them, into ``<data>/runs/distill-from-<id>/``.
2. **Fold** the memory by ``[distill] method``: ``alphaedit``/``memit`` change the memory
   layer's own ``down_proj`` in closed form and fold only the edits the result reproduces
   (``editor/nullspace.py``; its summary is kept in ``fold.json``); ``student`` trains MLP
   layers (``editor/distill.py``), its state saved there as it goes.
3. **Write** the candidate folder ``<data>/checkpoints/distilled-<id>-g<generation>/``
   (atomically) and register it as a ``candidate`` child of the active checkpoint. A
   memory-layer fold that holds no edit writes nothing: the job ends ``skipped`` (a copy of
   the active weights would only fill the disk and the registry).
4. **Gate** it without memory (``distill_gate.py``): the share of the edits it answers
   (greedy exact match), locality (agreement with the previous base on held-out unrelated
   prompts), perplexity drift on held-out text, and for a selective fold the served match.
   The report is stored on the checkpoint row and in the folder's model card
   (``checkpoint_card.py``); a failing candidate stays ``candidate``.
5. **Switch** (``switch_checkpoint``) to a passing one: a memory for it holds only the
   edits it did not absorb (after a memory-layer fold, the active memory carried over
   as it is; otherwise rebuilt on the new weights), then one
   database transaction activates it and moves every edit (absorbed -> ``distilled``
   with the checkpoint id; the others get an event saying which memory now holds them).
   The live engine is then swapped to the new checkpoint and memory.

Nothing the live model reads is touched before step 5's transaction: a job killed at any
earlier instant leaves the active checkpoint and its memory as they were, and a rerun
finds the run folder and resumes (steps already done are skipped: examples are stored,
training resumes from its last state, a written folder or registered candidate is
reused). Rollback and manual activation use the same ``switch_checkpoint``.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from memoird.store import checkpoints as registry
from memoird.store import edits as edit_log
from memoird.store.errors import NotFound
from memoird.store.records import Checkpoint, EditStatus

from .checkpoint_switch import ACTOR, DistillJobError, rollback, switch_checkpoint
from .distill_gate import (
    GateReport, evaluate_candidate, read_json as _read_json, replay_texts, run_texts as _run_texts,
    write_json as _write_json,
)
from .retention import apply_retention, disk_usage, folder_bytes

log = logging.getLogger(__name__)

__all__ = ["ACTOR", "DistillJobError", "DistillOutcome", "GateReport", "apply_retention",
           "disk_usage", "evaluate_candidate", "folder_bytes", "replay_texts", "rollback",
           "run_distillation", "switch_checkpoint"]

PLAN = "plan.json"
EXAMPLES = "examples.json"
FOLD = "fold.json"


@dataclass
class DistillOutcome:
    status: str  # skipped | candidate | activated
    reason: str
    checkpoint_id: int | None = None
    path: str | None = None
    absorbed: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    seconds: float = 0.0
    resumed: bool = False
    training: dict[str, Any] | None = None  # epochs, steps, resumed_from_step, accuracy

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------- job


def run_distillation(runtime, *, engine=None, force: bool = False, activate: bool = True,
                     progress: bool = True, stop: Callable[[], bool] | None = None,
                     train_config=None) -> DistillOutcome:
    """Distil the active memory into a new checkpoint; see the module docstring.

    ``force`` runs with fewer than ``[distill] min_edits`` edits and reruns a snapshot whose
    candidate already failed its gate. ``engine`` (the live one, when the job runs inside
    the daemon) is swapped to the new checkpoint after activation and its lock is held
    while the last edits are carried over, and each training step takes its background
    turn. ``stop()``, asked after every training step, ends the job with
    DistillInterrupted (its state saved for a rerun).
    """
    from memoird.daemon.engine import memory_path
    from memoird.editor.memory_io import read_memory

    started = time.perf_counter()
    db = runtime.db()
    cfg = runtime.config.distill
    active = registry.active_checkpoint(db)
    if active is None:
        raise DistillJobError(f"no active checkpoint in {runtime.paths.root}: run "
                              "`memoird init` first")
    mem_file = memory_path(runtime.paths.memory, active)
    if not mem_file.exists():
        raise DistillJobError(f"the active checkpoint {active.id} has no memory file {mem_file}")
    run_dir = runtime.paths.runs / f"distill-from-{active.id}"
    plan = _read_json(run_dir / PLAN)
    resumed = plan is not None and not plan.get("finished")
    if plan is not None and plan.get("finished"):
        _, meta = read_memory(mem_file)
        if meta["generation"] == plan["generation"] and not force:
            if plan.get("checkpoint_id") is None:
                return DistillOutcome("skipped", f"the memory (generation {plan['generation']}) "
                                      "was already folded and the fold held no edit")
            return DistillOutcome("skipped", f"the memory (generation {plan['generation']}) was "
                                  f"already distilled into candidate {plan.get('checkpoint_id')}: "
                                  f"{plan.get('result')}", plan.get("checkpoint_id"))
        shutil.rmtree(run_dir)
        plan, resumed = None, False
    if plan is None:
        _, meta = read_memory(mem_file)
        held = _applied(db, [e["edit_id"] for e in meta["edits"]])
        if len(held) < cfg.min_edits and not force:
            return DistillOutcome("skipped", f"{len(held)} applied edits in memory, fewer than "
                                  f"[distill] min_edits = {cfg.min_edits}")
        if not held:
            return DistillOutcome("skipped", "the memory holds no applied edits")
        plan = {"checkpoint_id": None, "base_id": active.id, "base_path": active.path,
                "generation": meta["generation"], "edit_ids": held, "finished": False}
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / PLAN, plan)

    # the student is a copy: its steps run beside requests, one background task at a time
    turn = getattr(getattr(engine, "lock", None), "turn", None)
    outcome = _train_and_gate(runtime, active, mem_file, run_dir, plan, progress, stop,
                              train_config, turn)
    outcome.resumed = resumed
    if outcome.gate is not None and outcome.gate["passed"] and activate:
        gone = _no_longer_applied(db, outcome.absorbed)
        if gone:
            outcome.reason = (f"candidate {outcome.checkpoint_id} passed its gate but absorbed "
                              f"edits {gone} that were reverted meanwhile; not activated")
            activate = False
    if outcome.gate is not None and outcome.gate["passed"] and activate:
        switch = switch_checkpoint(runtime, outcome.checkpoint_id, engine=engine,
                                   reason=f"distillation of memory generation "
                                          f"{plan['generation']} passed its gate")
        outcome.status = "activated"
        outcome.reason = f"candidate {outcome.checkpoint_id} passed the gate and is active"
        outcome.kept = switch["kept"]
        apply_retention(runtime, cfg.keep_checkpoints)
    plan.update(finished=True, result=outcome.status, checkpoint_id=outcome.checkpoint_id)
    _write_json(run_dir / PLAN, plan)
    if outcome.status == "activated":
        shutil.rmtree(run_dir, ignore_errors=True)  # the training state is no longer needed
    outcome.seconds = time.perf_counter() - started
    return outcome


def _train_and_gate(runtime, active: Checkpoint, mem_file: Path, run_dir: Path, plan: dict,
                    progress: bool, stop, train_config, step_lock=None) -> DistillOutcome:
    import torch

    from memoird.editor import distill
    from memoird.editor.model import load_base

    db = runtime.db()
    cfg = runtime.config.distill
    folder = runtime.paths.checkpoints / f"distilled-{active.id}-g{plan['generation']}"
    candidate = _registered(db, folder)
    device = runtime.config.model.device
    training = None
    fold = _read_json(run_dir / FOLD) if cfg.method != "student" else None
    base = load_base(active.path, runtime.paths.root, device, "float32")
    try:
        examples, misses, layer = _examples(run_dir, base, mem_file, plan)
        if candidate is None:
            if not (folder / "config.json").exists():
                logged = [edit_log.get_edit(db, i) for i in plan["edit_ids"]]
                texts = _run_texts(run_dir, db, [(e.prompt, e.subject) for e in logged])
                if cfg.method == "student":
                    tensors, training = _train_student(base, examples, texts, train_config,
                                                       run_dir, layer, progress, stop, step_lock)
                else:
                    tensors, fold = _fold_memory(base, mem_file, texts, plan, cfg.method,
                                                 cfg.min_locality, stop, step_lock)
                    _write_json(run_dir / FOLD, fold)
                    if not fold["folded"]:
                        # a copy of the active weights: nothing to gate, activate or keep
                        # on disk (1 GB per checkpoint at 500M parameters)
                        return DistillOutcome(
                            "skipped", f"the {cfg.method} fold holds none of the "
                            f"{len(plan['edit_ids'])} edits at locality >= {cfg.min_locality} "
                            "(check locality {:.3f}); no candidate written, the edits stay "
                            "in memory".format(fold["check_locality"]),
                            kept=list(plan["edit_ids"]))
                distill.write_checkpoint(active.path, tensors, folder, base.tokenizer)
                del tensors
            candidate = registry.register_checkpoint(
                db, folder, parent_id=active.id, size_bytes=folder_bytes(folder),
                note=f"distilled ({cfg.method}) from checkpoint {active.id}, memory generation "
                     f"{plan['generation']} ({len(plan['edit_ids'])} edits)")
        plan["checkpoint_id"] = candidate.id
        _write_json(run_dir / PLAN, plan)
        if stop is not None and stop():  # each step so far is stored: a rerun goes on here
            raise distill.DistillInterrupted("distillation stopped before its gate")
        gate, absorbed = evaluate_candidate(runtime, base, candidate, examples, misses, run_dir,
                                            fold=fold)
    finally:
        del base
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    metrics = asdict(gate) | {"method": cfg.method}
    if fold is not None:
        metrics["fold"] = {k: v for k, v in fold.items() if k not in ("folded", "kept")}
    registry.update_checkpoint(db, candidate.id, gate_metrics=metrics, edits_distilled=absorbed)
    _card(db, candidate, active, cfg.method, absorbed, metrics,
          kept=len(plan["edit_ids"]) - len(absorbed))
    status = "candidate"
    reason = "the candidate passed its gate" if gate.passed else (
        "the candidate failed its gate: " + "; ".join(gate.reasons))
    return DistillOutcome(status, reason, candidate.id, candidate.path, absorbed,
                          [i for i in plan["edit_ids"] if i not in absorbed], asdict(gate),
                          training=training)


def _train_student(base, examples, texts, train_config, run_dir, layer, progress, stop,
                   step_lock):
    """The student (editor/distill.py): MLP layers trained on the teacher; resumable."""
    from memoird.editor import distill

    trainer = distill.Distiller(base.model, base.tokenizer, examples, texts["replay"],
                                train_config, run_dir=run_dir, memory_layer=layer,
                                anchors=texts["anchors"])
    report = trainer.train(progress=progress, stop=stop, step_lock=step_lock)
    training = {"epochs": report.epochs, "steps": report.steps,
                "resumed_from_step": report.resumed_from_step,
                "train_accuracy": report.train_accuracy,
                "seconds": round(report.seconds, 1), "examples": len(examples)}
    log.info("distilled %d examples in %d epochs (%.0f s, train accuracy %.3f)",
             len(examples), report.epochs, report.seconds, report.train_accuracy)
    return trainer.trained_tensors(), training


def _fold_memory(base, mem_file: Path, texts: dict, plan: dict, method: str, min_locality: float,
                 stop, step_lock) -> tuple[dict, dict]:
    """The memory-layer fold (editor/nullspace.py): the edits it reproduces, chosen per edit.

    Preserved sample: the run's replay articles and anchor prompts; every fifth anchor is
    held out as the selection's check prompt (the gate's own locality prompts are never
    seen here). Short (no training loop): each pass takes the background turn.
    """
    import contextlib

    from memoird.editor import distill
    from memoird.editor.memoir import Memoir
    from memoird.editor.nullspace import MemoryFold, NullSpaceConfig

    anchors = texts["anchors"]
    check = anchors[::5]
    prompts = [p for j, p in enumerate(anchors) if j % 5]
    articles = [t for t in texts["replay"] if t not in set(anchors)]
    unit = (lambda: step_lock) if step_lock is not None else contextlib.nullcontext
    mem = Memoir.load(mem_file, base.model, base.tokenizer)
    mem.path = None  # read only: the active memory file is never written from here
    try:
        config = NullSpaceConfig(method=method, min_locality=min_locality)  # the gate's floor
        fold = MemoryFold(mem, articles, prompts, check, config,
                          edit_ids=[str(i) for i in plan["edit_ids"]], unit=unit)
        fold.prepare()
        if stop is not None and stop():
            raise distill.DistillInterrupted("distillation stopped before its fold")
        result = fold.fold(progress=log.info)
        tensors = fold.trained_tensors(result.delta)
        summary = result.summary() | {"folded": result.folded, "kept": result.kept,
                                      "layer": fold.layer, "tensor": fold.tensor_name(),
                                      "preserved_tokens": fold.count}
    finally:
        mem.detach()
    log.info("folded %d of %d edits into layer %d (served match %.3f, check locality %.3f)",
             len(result.folded), len(plan["edit_ids"]), fold.layer, result.served_match,
             result.check_locality)
    return tensors, summary


def _card(db, candidate: Checkpoint, parent: Checkpoint, method: str, absorbed: list[int],
          gate: dict, kept: int) -> None:
    """The candidate folder's model card (daemon/checkpoint_card.py)."""
    from .checkpoint_card import render_card, write_card

    root = registry.lineage(db, parent.id)[-1]
    edits = []
    for i in absorbed:
        e = edit_log.get_edit(db, i)
        edits.append({"id": i, "prompt": e.prompt, "target": e.target})
    text = render_card(checkpoint_id=candidate.id, base_model=Path(root.path).name,
                       parent_id=parent.id, parent_path=parent.path, method=method,
                       edits=edits, gate=gate, kept=kept)
    write_card(candidate.path, text)


def _examples(run_dir: Path, base, mem_file: Path, plan: dict):
    """Teacher examples, computed once per run from the memory and stored in the run folder."""
    from memoird.editor.distill import Example
    from memoird.editor.memoir import Memoir

    stored = _read_json(run_dir / EXAMPLES)
    if stored is not None:
        examples = [Example(e["key"], tuple(e["prompt_ids"]), tuple(e["target_ids"]))
                    for e in stored["examples"]]
        return examples, stored["misses"], stored["layer"]
    from memoird.editor.distill import teacher_examples

    mem = Memoir.load(mem_file, base.model, base.tokenizer)
    try:
        wanted = [str(i) for i in plan["edit_ids"]]
        examples, misses = teacher_examples(mem, edit_ids=wanted)
        layer = mem.layer
    finally:
        mem.detach()
    if not examples:
        raise DistillJobError("the memory answers none of its edits: nothing to distil")
    _write_json(run_dir / EXAMPLES, {"layer": layer, "misses": misses,
                                     "examples": [asdict(e) for e in examples]})
    return examples, misses, layer


def _applied(db, edit_ids: Sequence[str]) -> list[int]:
    out = []
    for i in edit_ids:
        if not i.isdigit():
            continue
        try:
            if edit_log.get_edit(db, int(i)).status == EditStatus.APPLIED:
                out.append(int(i))
        except NotFound:
            continue
    return out


def _no_longer_applied(db, edit_ids: Sequence[int]) -> list[int]:
    return [i for i in edit_ids if edit_log.get_edit(db, i).status != EditStatus.APPLIED]


def _registered(db, folder: Path) -> Checkpoint | None:
    try:
        return registry.get_checkpoint_by_path(db, folder)
    except NotFound:
        return None
