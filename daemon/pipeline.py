"""The pipeline: feed → article → fact → probe → claim → edit, one stage at a time.

Each stage is a function in daemon/stages/ that drains one queue of the store (feeds that
are due, articles with status ``new``, facts not yet probed, open claims, approved edits) and
returns a small report. The queues live in SQLite, so a restart resumes every stage where
it stood, and the scheduler can run stages independently (one job each) while ``memoird
poll`` and the demo run them in order. A stage that raises is reported, not fatal: the
others still run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from functools import cached_property
from typing import Any, Callable

log = logging.getLogger(__name__)

STAGES = ("poll", "extract", "probe", "decide", "apply")


@dataclass
class StageReport:
    stage: str
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def work_done(self) -> int:
        """How many records this run moved: 0 means the stage's queue was empty."""
        return int(self.result.get("work", 0))


def _as_dict(report: Any) -> dict[str, Any]:
    if report is None:
        return {}
    if is_dataclass(report):
        return asdict(report)
    if isinstance(report, dict):
        return report
    return {"result": str(report)}


class Pipeline:
    def __init__(self, runtime):
        self.rt = runtime
        self.runners: dict[str, Callable[[], Any]] = {
            "poll": self._poll,
            "extract": self._extract,
            "probe": self._probe,
            "decide": self._decide,
            "apply": self._apply,
        }

    # Each runner calls one stage with what it needs from the runtime, and reports how
    # many records it moved in "work".
    def _poll(self) -> dict[str, Any]:
        from memoird.daemon.stages.poll import poll_due_feeds
        from memoird.daemon.wiring import build_schedule

        feeds = self.rt.config.feeds
        report = poll_due_feeds(self.rt.db(), self.rt.fetcher, schedule=build_schedule(self.rt.config),
                                concurrency=feeds.concurrency,
                                fetch_full_article=feeds.fetch_full_article)
        summary = report.summary()
        summary["work"] = summary["new_articles"]
        return summary

    def _extract(self) -> dict[str, Any]:
        from memoird.daemon.stages.extract import extract_pending_articles

        report = _as_dict(extract_pending_articles(self.rt.db(), self.rt.extractor))
        report["work"] = report.get("articles", 0)
        return report

    def _probe(self) -> dict[str, Any]:
        from memoird.daemon.stages.probe import probe_pending_facts

        report = _as_dict(probe_pending_facts(self.rt.db(), self.rt.engine))
        report["work"] = report.get("facts", 0)
        return report

    def _decide(self) -> dict[str, Any]:
        from memoird.daemon.policy import decide_claims

        report = _as_dict(decide_claims(self.rt.db(), self.rt.config.policy))
        report["work"] = report.get("edits_created", 0)
        return report

    def _apply(self) -> dict[str, Any]:
        from memoird.daemon.stages.apply import apply_approved_edits

        report = _as_dict(apply_approved_edits(self.rt.db(), self.rt.engine,
                                               verify=self.verifier))
        report["work"] = report.get("applied", 0) + report.get("failed", 0)
        return report

    def distill(self):
        """The scheduler's cron slot: fold the memory into a gated new checkpoint.

        Below ``[distill] min_edits`` applied edits the job skips itself; the live engine is
        switched to the new checkpoint when the candidate passes its gate. A daemon that
        stops ends the training between two steps; the next run resumes it.
        """
        from memoird.daemon.distill_job import run_distillation
        from memoird.editor.distill import DistillInterrupted

        engine = self.rt.engine
        try:
            outcome = run_distillation(self.rt, engine=engine, progress=False,
                                       stop=lambda: engine.background_cancelled)
        except DistillInterrupted as exc:
            log.info("distillation stopped: %s", exc)
            return {"work": 0, "outcome": "interrupted"}
        return {"work": int(getattr(outcome, "status", "") == "activated"),
                "outcome": str(getattr(outcome, "status", outcome))}

    @cached_property
    def verifier(self):
        from memoird.daemon.policy import neighbour_subjects, sibling_prompts
        from memoird.editor.verify import EditVerifier

        return EditVerifier(neighbour_subjects=lambda edit: neighbour_subjects(self.rt.db(), edit),
                            sibling_prompts=sibling_prompts)

    def run_stage(self, name: str) -> StageReport:
        if name not in self.runners:
            raise ValueError(f"unknown stage {name!r}: stages are {', '.join(STAGES)}")
        started = time.perf_counter()
        try:
            result = self.runners[name]()
            return StageReport(name, time.perf_counter() - started, result)
        except Exception as exc:  # a stage failure is logged and retried next time
            log.exception("stage %s failed", name)
            return StageReport(name, time.perf_counter() - started,
                               error=f"{type(exc).__name__}: {exc}")

    def run_once(self, progress: bool = False, console=None) -> dict[str, Any]:
        """One pass of every stage in data-flow order (what `memoird poll` does)."""
        reports = {}
        for name in STAGES:
            report = self.run_stage(name)
            reports[name] = asdict(report)
            if progress:
                _print_report(report, console)
        return reports

    def run_until_idle(self, progress: bool = False, console=None,
                       max_passes: int = 5) -> dict[str, int]:
        """Repeat passes until no stage moves a record (the demo and tests use this)."""
        totals: dict[str, int] = {name: 0 for name in STAGES}
        for _ in range(max_passes):
            moved = 0
            for name in STAGES:
                report = self.run_stage(name)
                if progress:
                    _print_report(report, console)
                totals[name] += report.work_done
                moved += report.work_done
            if moved == 0:
                break
        return totals


def _print_report(report: StageReport, console=None) -> None:
    shown = {k: v for k, v in report.result.items()
             if k != "work" and isinstance(v, (int, float, str)) and v not in (0, "")}
    text = ", ".join(f"{k}={v}" for k, v in shown.items()) or "nothing to do"
    line = f"[{report.stage:>7}] {report.seconds:6.1f} s  {text}"
    if report.error:
        line += f"  ERROR {report.error}"
    if console is not None:
        console.print(line, markup=False)
    else:
        print(line)
