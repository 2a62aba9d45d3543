"""The daemon's clock: APScheduler 3 jobs that keep every stage's queue drained.

- ``tick``: every ``tick_seconds``, polls the feeds that are due. Due times live in the
  database (``feeds.next_check_at``), not in the scheduler, so the memory job store loses
  nothing on restart and a restart resumes every queue where it stood.
- one job per stage (extract, probe, policy, apply...): every ``stage_seconds``, runs the
  stage until its queue is empty (or the daemon is stopping).
- ``distill``: a cron slot (``distill_cron``, crontab syntax) calling the configured
  ``distill`` callable.

Every job has ``max_instances=1`` and ``coalesce=True``: a slow run is never overlapped
by its next one, and missed runs collapse into one. A failing job is logged, counted and
retried at its next interval; it never stops the other jobs. ``healthy()`` feeds the
systemd watchdog: false when a job has failed ``max_failures`` times in a row or a
single stage call has run longer than ``stuck_after`` seconds (a hung fetch or a
wedged edit), so systemd restarts the daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from memoird.daemon.priority import BackgroundCancelled

log = logging.getLogger(__name__)

DEFAULT_STAGES = ("extract", "probe", "decide", "apply")


@dataclass
class JobHealth:
    """What the watchdog and /readyz know about one job."""

    name: str
    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_ok_at: float | None = None
    last_error: str | None = None
    running_since: float | None = None  # start of the current stage call, if any
    processed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@dataclass
class SchedulerSettings:
    tick_seconds: float = 30.0
    stage_seconds: float = 5.0
    stages: Sequence[str] = DEFAULT_STAGES
    distill_cron: str | None = None
    #: consecutive failures of one job after which the daemon reports itself unhealthy
    max_failures: int = 5
    #: one stage call running longer than this (seconds) means the pipeline is wedged
    stuck_after: float = 1800.0
    #: upper bound on stage calls per drain, so one busy queue cannot starve shutdown
    max_drain: int = 1000
    timezone: str = "UTC"
    extra: dict[str, Any] = field(default_factory=dict)


class StageFailed(RuntimeError):
    """The pipeline reported a stage error (it catches and reports instead of raising)."""


def processed_count(result: Any) -> int:
    """How many records a stage call moved, from the pipeline's ``StageReport``.

    Raises StageFailed when the report carries an error, so the failure is counted and
    retried like an exception. Also accepts a plain int or a mapping with ``work``;
    anything else counts as 0, which ends the drain (the safe reading: no more work).
    """
    error = getattr(result, "error", None)
    if error:
        raise StageFailed(str(error))
    if isinstance(result, bool) or result is None:
        return int(bool(result))
    if isinstance(result, int):
        return result
    if isinstance(result, dict):
        value = result.get("work", 0)
        return value if isinstance(value, int) else 0
    value = getattr(result, "work_done", None)
    return value if isinstance(value, int) else 0


class Scheduler:
    """Runs the pipeline's stages on APScheduler jobs; start(), stop(timeout)."""

    def __init__(self, pipeline: Any, settings: SchedulerSettings | None = None, *,
                 distill: Callable[[], Any] | None = None, metrics: Any = None):
        self.pipeline = pipeline
        self.settings = settings or SchedulerSettings()
        self.distill = distill
        self.metrics = metrics
        self.health: dict[str, JobHealth] = {}
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._running = 0
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(max_workers=len(self.settings.stages) + 2)},
            job_defaults={"max_instances": 1, "coalesce": True,
                          # a job delayed by a busy CPU still runs (APScheduler's default is 1 s)
                          "misfire_grace_time": None},
            timezone=self.settings.timezone,
        )
        self._add_jobs()

    # -- jobs ---------------------------------------------------------------------------

    def _add_jobs(self) -> None:
        s = self.settings
        self._add("tick", self._tick, IntervalTrigger(seconds=s.tick_seconds))
        for stage in s.stages:
            self._add(stage, self._drain_job(stage), IntervalTrigger(seconds=s.stage_seconds))
        if s.distill_cron:
            if self.distill is None:
                log.warning("distill_cron is set but no distillation is configured; "
                            "the distill slot is not scheduled")
            else:
                self._add("distill", self._distill,
                          CronTrigger.from_crontab(s.distill_cron, timezone=s.timezone),
                          first_now=False)

    def _add(self, name: str, func: Callable[[], Any], trigger: Any,
             first_now: bool = True) -> None:
        self.health[name] = JobHealth(name)
        kwargs: dict[str, Any] = {}
        if first_now:  # do not wait one interval after start: resume queues at once
            kwargs["next_run_time"] = _now()
        self._scheduler.add_job(self._guarded(name, func), trigger, id=name, name=name,
                                replace_existing=True, **kwargs)

    def _tick(self) -> int:
        return self._call("poll", lambda: self.pipeline.run_stage("poll"), health="tick")

    def _drain_job(self, stage: str) -> Callable[[], int]:
        def drain() -> int:
            total = 0
            for _ in range(self.settings.max_drain):
                if self._stopping.is_set():
                    break
                done = self._call(stage, lambda: self.pipeline.run_stage(stage))
                total += done
                if done <= 0:
                    break
            return total
        return drain

    def _distill(self) -> int:
        assert self.distill is not None
        return self._call("distill", self.distill)

    def _call(self, stage: str, func: Callable[[], Any], health: str | None = None) -> int:
        """One stage call, timed and marked as running (for the stuck-job check)."""
        job = self.health[health or stage]
        job.running_since = time.monotonic()
        started = time.perf_counter()
        try:
            result = func()
            if self.metrics is not None:
                self.metrics.observe_report(stage, result)
            done = processed_count(result)
        finally:
            job.running_since = None
            if self.metrics is not None:
                self.metrics.stage_seconds.labels(stage).observe(time.perf_counter() - started)
        job.processed += done
        if self.metrics is not None and done:
            self.metrics.stage_items.labels(stage).inc(done)
        return done

    def _guarded(self, name: str, func: Callable[[], Any]) -> Callable[[], None]:
        """Wrap a job so a failure is logged and counted, and the job stays scheduled."""
        def run() -> None:
            if self._stopping.is_set():
                return
            job = self.health[name]
            with self._idle:
                self._running += 1
            try:
                done = func()
            except BackgroundCancelled:
                log.info("job %s stopped between two steps; its record keeps its status and "
                         "is redone at the next start", name, extra={"job": name})
            except Exception as exc:
                job.runs += 1
                job.failures += 1
                job.consecutive_failures += 1
                job.last_error = f"{type(exc).__name__}: {exc}"
                # the pipeline already logged a reported stage failure with its traceback
                log.error("job %s failed (%d in a row); retrying at its next interval",
                          name, job.consecutive_failures,
                          exc_info=not isinstance(exc, StageFailed),
                          extra={"job": name, "failures": job.consecutive_failures,
                                 "error": job.last_error})
                self._count(name, "error")
            else:
                job.runs += 1
                job.consecutive_failures = 0
                job.last_ok_at = time.time()
                job.last_error = None
                self._count(name, "ok")
                if done:
                    log.info("job %s processed %d", name, done,
                             extra={"job": name, "processed": done})
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()
                if self.metrics is not None:
                    self.metrics.healthy.set(1 if self.healthy() else 0)
        return run

    def _count(self, name: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.stage_runs.labels(name, outcome).inc()

    # -- control ------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._scheduler.start()
        log.info("scheduler started", extra={"jobs": sorted(self.health)})

    def run_now(self, name: str) -> None:
        """Bring a job's next run forward to now (used after an operator action)."""
        if self._scheduler.running and not self._stopping.is_set():
            self._scheduler.modify_job(name, next_run_time=_now())

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop scheduling, let running jobs end their current call; True when idle.

        Drains stop between records, and the caller cancels the model work of the record
        in hand (daemon/priority.py), which then ends between two steps; False means a
        call outlived ``timeout`` (a slow fetch, a step that cannot be cut) and the caller
        should abandon it: every stage commits a record's new status only when it is
        done, so an abandoned record is simply redone after the restart.
        """
        self._stopping.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    @property
    def busy(self) -> list[str]:
        return [name for name, job in self.health.items() if job.running_since is not None]

    def healthy(self) -> bool:
        if not self._scheduler.running or self._stopping.is_set():
            return False
        now = time.monotonic()
        for job in self.health.values():
            if job.consecutive_failures >= self.settings.max_failures:
                return False
            if job.running_since is not None and now - job.running_since > self.settings.stuck_after:
                return False
        return True

    def status(self) -> dict[str, Any]:
        jobs = {}
        for name, job in self.health.items():
            entry = job.as_dict()
            scheduled = self._scheduler.get_job(name) if self._scheduler.running else None
            entry["next_run_at"] = (scheduled.next_run_time.isoformat()
                                    if scheduled and scheduled.next_run_time else None)
            entry.pop("running_since")
            entry["running"] = job.running_since is not None
            jobs[name] = entry
        return {"running": self._scheduler.running, "healthy": self.healthy(), "jobs": jobs}


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
