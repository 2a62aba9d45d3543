"""The scheduler drives a pipeline's stages on APScheduler jobs (fake pipeline, real clock)."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from memoird.daemon.metrics import Metrics
from memoird.daemon.pipeline import StageReport
from memoird.daemon.scheduler import Scheduler, SchedulerSettings, StageFailed, processed_count


class FakePipeline:
    """Queues of work per stage; a stage call handles one item and returns 1, or 0."""

    def __init__(self, queues: dict[str, int], fail: set[str] = frozenset()):
        self.queues = dict(queues)
        self.fail = set(fail)
        self.calls: list[str] = []
        self.concurrent: dict[str, int] = {}
        self.max_concurrent: dict[str, int] = {}
        self.lock = threading.Lock()
        self.block = threading.Event()
        self.block.set()

    def run_stage(self, name: str) -> StageReport:
        with self.lock:
            self.calls.append(name)
            self.concurrent[name] = self.concurrent.get(name, 0) + 1
            self.max_concurrent[name] = max(self.max_concurrent.get(name, 0),
                                            self.concurrent[name])
        try:
            self.block.wait(10)
            if name in self.fail:  # the real pipeline reports, never raises
                return StageReport(name, 0.0, error=f"RuntimeError: {name} broke")
            if self.queues.get(name, 0) > 0:
                self.queues[name] -= 1
                return StageReport(name, 0.0, {"work": 1})
            return StageReport(name, 0.0, {"work": 0})
        finally:
            with self.lock:
                self.concurrent[name] -= 1


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_processed_count_reads_stage_reports():
    assert processed_count(StageReport("extract", 0.1, {"work": 4})) == 4
    assert processed_count(3) == 3
    assert processed_count({"work": 2}) == 2
    assert processed_count(None) == 0
    with pytest.raises(StageFailed, match="boom"):
        processed_count(StageReport("probe", 0.1, error="RuntimeError: boom"))


def test_stage_jobs_drain_queues_and_a_failing_stage_stops_no_other():
    pipeline = FakePipeline({"poll": 1, "extract": 7, "apply": 3}, fail={"probe"})
    metrics = Metrics()
    settings = SchedulerSettings(tick_seconds=60, stage_seconds=0.2,
                                 stages=("extract", "probe", "apply"), max_failures=3)
    scheduler = Scheduler(pipeline, settings, metrics=metrics)
    scheduler.start()
    try:
        # each queue drained in its first run, without waiting an interval per item
        assert _wait(lambda: pipeline.queues["extract"] == 0 and pipeline.queues["apply"] == 0
                     and pipeline.queues["poll"] == 0)
        # probe keeps failing, is retried at every interval, and turns the daemon unhealthy
        assert _wait(lambda: scheduler.health["probe"].consecutive_failures >= 3)
        assert scheduler.health["probe"].last_error == "StageFailed: RuntimeError: probe broke"
        assert not scheduler.healthy()
        assert scheduler.health["extract"].processed == 7
        assert scheduler.health["extract"].consecutive_failures == 0
        # it recovers once the stage works again
        pipeline.fail.clear()
        assert _wait(lambda: scheduler.health["probe"].consecutive_failures == 0)
        assert scheduler.healthy()
        status = scheduler.status()
        assert status["jobs"]["extract"]["processed"] == 7 and status["healthy"]
    finally:
        assert scheduler.stop(timeout=5)
    assert max(pipeline.max_concurrent.values()) == 1  # max_instances=1 per job
    text = metrics.render().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("memoird_stage_items_total", (("stage", "extract"),))] == 7
    assert samples[("memoird_stage_runs_total", (("outcome", "error"), ("stage", "probe")))] >= 3


def test_stop_waits_for_the_running_call_then_reports_abandonment():
    pipeline = FakePipeline({"apply": 5})
    pipeline.block.clear()  # the first apply call hangs, like a long edit
    scheduler = Scheduler(pipeline, SchedulerSettings(tick_seconds=60, stage_seconds=60,
                                                      stages=("apply",), stuck_after=0.2))
    scheduler.start()
    assert _wait(lambda: "apply" in scheduler.busy)
    assert _wait(lambda: not scheduler.healthy())  # stuck longer than stuck_after
    started = time.monotonic()
    assert scheduler.stop(timeout=0.3) is False  # still inside the call: caller abandons it
    assert time.monotonic() - started < 2
    pipeline.block.set()
    assert scheduler.stop(timeout=5) is True
    # the drain stopped after the call in flight: the rest of the queue is left for restart
    assert pipeline.queues["apply"] == 4


def test_distill_runs_on_its_cron_slot_only_when_configured():
    pipeline = FakePipeline({})
    calls = []
    every_minute = SchedulerSettings(stages=(), distill_cron="* * * * *")
    scheduler = Scheduler(pipeline, every_minute, distill=lambda: calls.append(1))
    assert "distill" in scheduler.health
    scheduler.start()
    try:
        job = scheduler._scheduler.get_job("distill")
        assert job.next_run_time.second == 0  # cron slot, not "now"
        scheduler.run_now("distill")
        assert _wait(lambda: calls == [1])
    finally:
        scheduler.stop(timeout=5)
    assert "distill" not in Scheduler(pipeline, every_minute).health  # nothing to call
