"""The distillation job: fold the memory into a new checkpoint, gate it, switch to it.

``run_distillation`` is what ``memoird distill`` and the scheduler's cron slot call:

1. **Snapshot** the edits the active checkpoint's memory file holds (the file is the commit
   point) and the teacher's answers to them, into ``<data>/runs/distill-from-<id>/``.
2. **Train** the student (``editor/distill.py``); its state is saved there as it goes.
3. **Write** the candidate folder ``<data>/checkpoints/distilled-<id>-g<generation>/``
   (atomically) and register it as a ``candidate`` child of the active checkpoint.
4. **Gate** it without memory: the share of the snapshot's edits it answers (greedy exact
   match), locality (agreement with the previous base on held-out unrelated prompts),
   perplexity drift on held-out text. The report is stored on the checkpoint row; a
   failing candidate stays ``candidate``.
5. **Switch** (``switch_checkpoint``) to a passing one: a memory for it is built with only
   the edits it did not absorb (background mean fitted on the new weights), then one
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
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from memoird.store import checkpoints as registry
from memoird.store import edits as edit_log
from memoird.store.atomic import atomic_write_json
from memoird.store.db import write_transaction
from memoird.store.errors import InvalidValue, NotFound
from memoird.store.records import Checkpoint, EditStatus

log = logging.getLogger(__name__)

ACTOR = "distill"
PLAN = "plan.json"
EXAMPLES = "examples.json"
TEXTS = "texts.json"


class DistillJobError(RuntimeError):
    """The job cannot run: no active checkpoint, no memory file... (the message says)."""


@dataclass
class GateReport:
    reliability: float  # share of taught edits the candidate answers without memory
    locality: float  # token agreement with the previous base's greedy answers (held-out prompts)
    locality_em: float  # share of those prompts whose 8-token greedy answer is unchanged
    ppl_base: float
    ppl_candidate: float
    ppl_drift: float  # ppl_candidate / ppl_base - 1
    teacher_misses: int  # edits the memory itself did not answer (never taught)
    thresholds: dict[str, float] = field(default_factory=dict)
    passed: bool = False
    reasons: list[str] = field(default_factory=list)


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
    folder = runtime.paths.checkpoints / f"distilled-{active.id}-g{plan['generation']}"
    candidate = _registered(db, folder)
    device = runtime.config.model.device
    training = None
    base = load_base(active.path, runtime.paths.root, device, "float32")
    try:
        examples, misses, layer = _examples(run_dir, base, mem_file, plan)
        if candidate is None:
            if not (folder / "config.json").exists():
                logged = [edit_log.get_edit(db, i) for i in plan["edit_ids"]]
                texts = _run_texts(run_dir, db, [(e.prompt, e.subject) for e in logged])
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
                distill.write_checkpoint(active.path, trainer.trained_tensors(), folder,
                                         base.tokenizer)
                del trainer
            candidate = registry.register_checkpoint(
                db, folder, parent_id=active.id, size_bytes=folder_bytes(folder),
                note=f"distilled from checkpoint {active.id}, memory generation "
                     f"{plan['generation']} ({len(plan['edit_ids'])} edits)")
        plan["checkpoint_id"] = candidate.id
        _write_json(run_dir / PLAN, plan)
        if stop is not None and stop():  # each step so far is stored: a rerun goes on here
            raise distill.DistillInterrupted("distillation stopped before its gate")
        gate, absorbed = evaluate_candidate(runtime, base, candidate, examples, misses, run_dir)
    finally:
        del base
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    registry.update_checkpoint(db, candidate.id, gate_metrics=asdict(gate), edits_distilled=absorbed)
    status = "candidate"
    reason = "the candidate passed its gate" if gate.passed else (
        "the candidate failed its gate: " + "; ".join(gate.reasons))
    return DistillOutcome(status, reason, candidate.id, candidate.path, absorbed,
                          [i for i in plan["edit_ids"] if i not in absorbed], asdict(gate),
                          training=training)


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


def evaluate_candidate(runtime, base, candidate: Checkpoint, examples, misses: dict[str, str],
                       run_dir: Path | None = None) -> tuple[GateReport, list[int]]:
    """The gate: measured on the candidate without memory, against the previous base."""
    import torch
    from transformers import AutoModelForCausalLM

    from memoird.editor import distill

    cfg = runtime.config.distill
    tok = base.tokenizer
    model = AutoModelForCausalLM.from_pretrained(candidate.path, dtype=torch.float32)
    model = model.to(base.device).eval()
    try:
        by_edit: dict[str, list[bool]] = {}
        prompts = [list(e.prompt_ids) for e in examples]
        got = distill._teacher_forced_argmax(model, tok, prompts, [list(e.target_ids) for e in examples])
        for e, g in zip(examples, got):
            by_edit.setdefault(e.key, []).append(g == list(e.target_ids))
        # The edit's own prompt is its first example; paraphrases and prefixes follow.
        absorbed = sorted(int(k) for k, oks in by_edit.items() if oks[0])
        reliability = len(absorbed) / max(1, len(by_edit))
        texts = _run_texts(run_dir, runtime.db()) if run_dir else replay_texts(runtime.db())
        loc_prompts = texts["locality"]
        reference = distill.greedy_ids(base.model, tok, loc_prompts, 8)
        loc = distill.token_agreement(model, base.model, tok, loc_prompts, reference)
        ppl_base = distill.perplexity(base.model, tok, texts["heldout"])
        ppl_cand = distill.perplexity(model, tok, texts["heldout"])
    finally:
        del model
    gate = GateReport(
        reliability=reliability, locality=sum(loc) / len(loc),
        locality_em=sum(x == 1.0 for x in loc) / len(loc), ppl_base=ppl_base,
        ppl_candidate=ppl_cand, ppl_drift=ppl_cand / ppl_base - 1, teacher_misses=len(misses),
        thresholds={"min_reliability": cfg.min_reliability, "min_locality": cfg.min_locality,
                    "max_ppl_drift": cfg.max_ppl_drift},
    )
    if gate.reliability < cfg.min_reliability:
        gate.reasons.append(f"reliability {gate.reliability:.3f} < {cfg.min_reliability}")
    if gate.locality < cfg.min_locality:
        gate.reasons.append(f"locality {gate.locality:.3f} < {cfg.min_locality}")
    if gate.ppl_drift > cfg.max_ppl_drift:
        gate.reasons.append(f"perplexity drift {gate.ppl_drift:+.2%} > {cfg.max_ppl_drift:.0%}")
    gate.passed = not gate.reasons
    return gate, absorbed


def replay_texts(db, edits: Sequence[tuple[str, str]] = (), max_articles: int = 200,
                 max_probes: int = 2000) -> dict[str, list[str]]:
    """Unrelated text, split once and for all into trained-on / held-out by a hash of it.

    - ``replay``: article text whose MLP activations the student must keep;
    - ``anchors``: short prompts whose next-token distribution must stay the base's: each
      edit's prompt with another subject (from the facts the daemon extracted), the probe
      prompts it asked (facts it checked and left alone) and the background prompts;
    - ``locality`` (prompts) and ``heldout`` (text): the gate's, never trained on.

    Any prompt naming a subject being distilled is left out: anchoring it to the old
    answer would fight the edit.
    """
    from memoird.editor.background import BACKGROUND_PROMPTS
    from memoird.store.articles import list_articles

    from memoird.editor.distill import swapped_subject_prompts

    subjects = [s.casefold() for _, s in edits if s and s.strip()]

    def unrelated(text: str) -> bool:
        folded = text.casefold()
        return not any(s in folded for s in subjects)

    articles = [a.text for a in list_articles(db, limit=max_articles) if a.text and a.text.strip()]
    probes = db.execute(
        "SELECT p.template, f.subject FROM probes p JOIN facts f ON f.id = p.fact_id "
        "ORDER BY p.id DESC LIMIT ?", [max_probes]).fetchall()
    prompts = list(dict.fromkeys(
        t.replace("{subject}", s or "").strip() for t, s in probes if t and t.strip()))
    others = [r[0] for r in db.execute(
        "SELECT subject FROM facts GROUP BY subject ORDER BY MAX(id) DESC LIMIT 2000").fetchall()
        if r[0] and unrelated(r[0])]
    out: dict[str, list[str]] = {"replay": [], "anchors": [], "locality": [], "heldout": []}
    out["anchors"] = swapped_subject_prompts(edits, others, per_edit=2)
    for text in [*BACKGROUND_PROMPTS, *prompts]:
        if unrelated(text):
            out["locality" if _bucket(text) < 0.3 else "anchors"].append(text)
    for text in articles:
        if _bucket(text) < 0.3:
            out["heldout"].append(text)
            first = text.strip().split(". ")[0]
            out["locality"].append(" ".join(first.split()[:12]))
        else:
            out["replay"].append(text)
    out["replay"] += out["anchors"]
    if not out["heldout"]:  # no articles yet: the held-out prompts are the only text
        out["heldout"] = list(out["locality"])
    return out


def _run_texts(run_dir: Path, db, edits: Sequence[tuple[str, str]] = ()) -> dict[str, list[str]]:
    """The run's replay/held-out texts, fixed at its start so a resumed run trains and
    gates on the same text even if new articles arrived meanwhile."""
    stored = _read_json(run_dir / TEXTS)
    if stored is None:
        stored = replay_texts(db, edits)
        _write_json(run_dir / TEXTS, stored)
    return stored


def _bucket(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


# ---------------------------------------------------------------------- switching


def switch_checkpoint(runtime, target_id: int, *, engine=None, actor: str = ACTOR,
                      reason: str = "checkpoint switch", allow_failed_gate: bool = True) -> dict:
    """Make ``target_id`` the active checkpoint with a memory that holds what it lacks.

    Used for activation after distillation, manual activation and rollback alike. The
    knowledge the served model has now is the current memory's applied edits plus the
    edits absorbed along the active checkpoint's lineage; the target absorbed the edits
    along its own lineage; its memory gets the difference. Absorbed edits become
    ``distilled`` (checkpoint_id = the checkpoint that absorbed them), the others
    ``applied`` with checkpoint_id = the target, each with an event saying why.
    """
    from memoird.daemon.engine import memory_config, memory_path
    from memoird.editor.model import load_base

    db = runtime.db()
    target = registry.get_checkpoint(db, target_id)
    active = registry.active_checkpoint(db)
    if active is None:
        raise DistillJobError("no active checkpoint to switch from")
    if not (Path(target.path) / "config.json").exists():
        raise InvalidValue(f"checkpoint {target.id}: folder {target.path} is gone (deleted by "
                           "retention?); it cannot be activated")
    if target.id == active.id:
        return {"checkpoint_id": target.id, "kept": [], "absorbed": [], "unchanged": True}
    lock = engine.lock if engine is not None else _NullLock()

    def plan_now():
        current = _memory_requests(memory_path(runtime.paths.memory, active))
        known = list(current)
        for e in edit_log.list_edits(db, status=EditStatus.DISTILLED, limit=1_000_000):
            if e.checkpoint_id in {c.id for c in registry.lineage(db, active.id)}:
                known.append(str(e.id))
        absorbed_by = _absorbed_by(db, target.id)
        keep = [i for i in dict.fromkeys(known) if int(i) not in absorbed_by]
        return current, known, absorbed_by, keep

    current, known, absorbed_by, keep = plan_now()
    config = runtime.config
    loaded = load_base(target.path, runtime.paths.root, config.model.device, config.model.dtype)
    path = memory_path(runtime.paths.memory, target)
    mem = _target_memory(path, loaded, memory_config(config.memory))
    try:
        _sync_memory(mem, keep, current, db)
        with lock:  # edits applied meanwhile by the live engine are carried over here
            current, known, absorbed_by, keep = plan_now()
            _sync_memory(mem, keep, current, db)
            mem.save(path)
            with write_transaction(db):
                registry.activate_checkpoint(db, target.id)
                for edit_id in known:
                    _move_edit(db, int(edit_id), target, absorbed_by, mem.generation, actor, reason)
            if engine is not None:  # the live engine serves the target from now on
                engine.switch(loaded, mem, registry.get_checkpoint(db, target.id))
                mem = None  # now the engine's
    finally:
        if mem is not None:
            mem.detach()
    log.info("checkpoint %s is active (was %s); memory holds %d edits", target.id, active.id,
             len(keep))
    return {"checkpoint_id": target.id, "previous_id": active.id, "kept": [int(i) for i in keep],
            "absorbed": sorted(i for i in absorbed_by if str(i) in known), "unchanged": False}


def _absorbed_by(db, checkpoint_id: int) -> dict[int, int]:
    """edit id -> the checkpoint of this lineage that absorbed it (nearest first wins)."""
    out: dict[int, int] = {}
    for c in registry.lineage(db, checkpoint_id):
        for edit_id in c.edits_distilled:
            out.setdefault(edit_id, c.id)
    return out


def _memory_requests(path: Path) -> dict[str, Any]:
    """Edit id -> EditRequest of what a memory file holds (empty when there is none)."""
    from memoird.editor.memoir import EditRequest
    from memoird.editor.memory_io import read_memory

    if not path.exists():
        return {}
    _, meta = read_memory(path)
    return {e["edit_id"]: EditRequest(e["edit_id"], e["prompt"], e["target"],
                                      tuple(e["paraphrases"]), e["subject"]) for e in meta["edits"]}


def _target_memory(path: Path, loaded, config):
    """The target's memory file if it has one for these weights, else a fresh memory whose
    background mean is fitted on the target's weights."""
    from memoird.editor.memoir import Memoir
    from memoird.editor.memory_io import MemoryFileError

    if path.exists():
        try:
            return Memoir.load(path, loaded.model, loaded.tokenizer)
        except MemoryFileError as exc:
            log.warning("rebuilding memory %s: %s", path, exc)
    mem = Memoir.attach(loaded.model, loaded.tokenizer, config)
    mem.fit_background()
    return mem


def _sync_memory(mem, keep: Sequence[str], current: dict, db) -> None:
    """Revert what ``mem`` holds beyond ``keep``; train what it lacks, in log order."""
    from memoird.daemon.engine import edit_request

    wanted = set(keep)
    for edit_id in [i for i in mem.edit_ids() if i not in wanted]:
        mem.revert(edit_id)
    have = set(mem.edit_ids())
    for edit_id in keep:
        if edit_id in have:
            continue
        request = current.get(edit_id)
        if request is None:  # absorbed earlier, now back in a memory (rollback)
            e = edit_log.get_edit(db, int(edit_id))
            request = edit_request(e, tokenizer=mem.tokenizer)
        mem.edit(request)


def _move_edit(db, edit_id: int, target: Checkpoint, absorbed_by: dict[int, int],
               generation: int, actor: str, reason: str) -> None:
    edit = edit_log.get_edit(db, edit_id)
    if edit_id in absorbed_by:
        where = absorbed_by[edit_id]
        text = f"{reason}: absorbed into the weights of checkpoint {where}"
        if edit.status == EditStatus.APPLIED:
            edit_log.transition(db, edit_id, EditStatus.DISTILLED, actor, text, checkpoint_id=where,
                                details={"checkpoint_id": where, "active": target.id})
        elif edit.checkpoint_id != where:
            edit_log.annotate(db, edit_id, actor, text, checkpoint_id=where,
                              details={"checkpoint_id": where, "active": target.id})
        return
    text = f"{reason}: held by the memory of checkpoint {target.id} (generation {generation})"
    details = {"checkpoint_id": target.id, "memory_generation": generation}
    if edit.status == EditStatus.DISTILLED:
        edit_log.transition(db, edit_id, EditStatus.APPLIED, actor, text, checkpoint_id=target.id,
                            memory_generation=generation, details=details)
    elif edit.status == EditStatus.APPLIED:
        edit_log.annotate(db, edit_id, actor, text, checkpoint_id=target.id,
                          memory_generation=generation, details=details)


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------- registry helpers


def rollback(runtime, to_id: int | None = None, *, engine=None, actor: str = "operator",
             reason: str | None = None) -> dict:
    """Activate ``to_id`` or, by default, the active checkpoint's parent."""
    db = runtime.db()
    active = registry.active_checkpoint(db)
    if active is None:
        raise DistillJobError(f"no active checkpoint in {runtime.paths.root} to roll back: "
                              "run `memoird init` first")
    if to_id is None:
        if active.parent_id is None:
            raise InvalidValue(f"checkpoint {active.id} is the original base: nothing to roll "
                               "back to")
        to_id = active.parent_id
    return switch_checkpoint(runtime, to_id, engine=engine, actor=actor,
                             reason=reason or f"rollback from checkpoint {active.id}")


def folder_bytes(path: str | Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def apply_retention(runtime, keep: int) -> list[int]:
    """Delete the folders of checkpoints older than the ``keep`` newest; returns their ids.

    Never deleted: the active checkpoint, its parent (the rollback target), the lineage
    root (the original base) and any folder memoird did not create under
    ``<data>/checkpoints/``. Rows stay in the registry (lineage is history), retired, with
    a note; the checkpoint's memory file goes with its folder.
    """
    from memoird.daemon.engine import memory_path

    db = runtime.db()
    active = registry.active_checkpoint(db)
    protected = set()
    if active is not None:
        chain = registry.lineage(db, active.id)
        protected |= {active.id, chain[-1].id}
        if active.parent_id is not None:
            protected.add(active.parent_id)
    root = runtime.paths.checkpoints.resolve()
    on_disk = [c for c in registry.list_checkpoints(db) if Path(c.path).exists()]  # newest first
    kept = {c.id for c in on_disk[:keep]} | protected
    removed = []
    for c in (c for c in on_disk if c.id not in kept):
        folder = Path(c.path).resolve()
        if root not in folder.parents or not folder.name.startswith("distilled-"):
            continue
        if c.status != "retired":
            registry.retire_checkpoint(db, c.id)
        # Renamed first (atomic), so a crash mid-delete never leaves a half folder that
        # looks like a checkpoint; leftovers are removed on the next pass.
        os.replace(folder, folder.with_name(f".deleting-{folder.name}"))
        memory_path(runtime.paths.memory, c).unlink(missing_ok=True)
        registry.update_checkpoint(db, c.id, note=f"{c.note or ''} [folder deleted by retention "
                                                 f"at {time.strftime('%Y-%m-%d %H:%M:%S')}]".strip())
        removed.append(c.id)
    for leftover in root.glob(".deleting-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return removed


def disk_usage(runtime) -> dict[str, Any]:
    """Bytes per checkpoint folder and memory file, and what the file system has left."""
    from memoird.daemon.engine import memory_path

    db = runtime.db()
    rows = []
    for c in registry.list_checkpoints(db):
        mem = memory_path(runtime.paths.memory, c)
        rows.append({"id": c.id, "status": c.status, "folder_bytes": folder_bytes(c.path),
                     "memory_bytes": mem.stat().st_size if mem.exists() else 0,
                     "on_disk": Path(c.path).exists()})
    root = runtime.paths.root if runtime.paths.root.exists() else Path(".")
    usage = shutil.disk_usage(root)
    runs = folder_bytes(runtime.paths.runs)
    return {"checkpoints": rows,
            "total_bytes": sum(r["folder_bytes"] + r["memory_bytes"] for r in rows) + runs,
            "runs_bytes": runs, "free_bytes": usage.free, "disk_bytes": usage.total}


# ---------------------------------------------------------------------- small helpers


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


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _write_json(path: Path, value: dict) -> None:
    atomic_write_json(path, value)
