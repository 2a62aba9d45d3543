"""Prometheus metrics: what the pipeline did, how fast, and how big the memory is.

Two kinds of numbers, kept apart on purpose:

- Counts of records (articles, facts, conflicts, edits by status, feeds by status) are
  read from the database at scrape time by ``StoreCollector``. They are the truth, they
  survive restarts, and two daemons on one database cannot double count them.
- Events of this process (polls, stage runs, edit and probe latency, completions and
  whether routing used the memory) are counters and histograms fed by the code that
  does the work, through the ``Metrics`` methods.

Each daemon owns one ``CollectorRegistry`` (not the global one), so tests can build
several apps in one process.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from memoird.daemon.stages.poll import RESULTS as POLL_RESULTS
from memoird.store.records import ARTICLE_STATUSES, EDIT_STATUSES, FACT_STATUSES, FEED_STATUSES

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: an edit trains for seconds on CPU, well under one on a GPU
EDIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
PROBE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class StoreCollector(Collector):
    """Record counts straight from SQLite, one query per table, at scrape time."""

    def __init__(self, db_factory: Callable[[], Any]):
        self._db = db_factory

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            db = self._db()
            yield _by_status(db, "feeds", "memoird_feeds", "Feeds by status.", FEED_STATUSES)
            yield _by_status(db, "articles", "memoird_articles",
                             "Articles stored, by pipeline status.", ARTICLE_STATUSES)
            yield _by_status(db, "facts", "memoird_facts",
                             "Facts extracted, by status.", FACT_STATUSES)
            yield _by_status(db, "edits", "memoird_edits", "Edits in the edit log by status.",
                             EDIT_STATUSES)
            conflicts = GaugeMetricFamily(
                "memoird_conflicts", "Facts whose latest probe contradicted the live model.")
            conflicts.add_metric([], db.execute(
                "SELECT COUNT(*) FROM probes p WHERE p.verdict = 'conflicts' AND p.id = "
                "(SELECT MAX(id) FROM probes q WHERE q.fact_id = p.fact_id)").fetchone()[0])
            yield conflicts
        except Exception:  # a scrape must not fail because the database is busy
            log.exception("store metrics unavailable")


def _by_status(db: Any, table: str, name: str, doc: str,
               statuses: tuple[str, ...]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["status"])
    counts = dict(db.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall())
    for status in statuses:
        family.add_metric([status], counts.get(status, 0))
    return family


class MemoryCollector(Collector):
    """Size of the residual memory and routing decisions, from ``engine.memory_stats()``.

    The engine counts routing itself (every served row, whichever path served it), so the
    hit rate covers completions, probes and the CLI alike.
    """

    def __init__(self, stats: Callable[[], dict[str, Any]]):
        self._stats = stats

    def collect(self) -> Iterable[Any]:
        try:
            stats = self._stats() or {}
        except Exception:
            log.exception("engine memory stats unavailable")
            return
        for key, name, doc in (
            ("edits", "memoird_memory_edits", "Edits held in the residual memory."),
            ("bytes", "memoird_memory_bytes", "Bytes of the memory file (W_m, masks, background)."),
            ("generation", "memoird_memory_generation", "Memory generation (bumps per change)."),
        ):
            value = stats.get(key)
            if isinstance(value, (int, float)):
                family = GaugeMetricFamily(name, doc)
                family.add_metric([], value)
                yield family
        total, routed = stats.get("requests"), stats.get("routed_requests")
        if isinstance(total, int) and isinstance(routed, int):
            decisions = CounterMetricFamily(
                "memoird_routing_decisions",
                "Prompts routed to an edit in the memory (hit) or to the base model (miss).",
                labels=["decision"])
            decisions.add_metric(["hit"], routed)
            decisions.add_metric(["miss"], total - routed)
            yield decisions
            rate = GaugeMetricFamily("memoird_routing_hit_rate",
                                     "Share of served prompts that used the memory.")
            rate.add_metric([], routed / total if total else 0.0)
            yield rate


class Metrics:
    """The daemon's registry and the instruments the service feeds."""

    def __init__(self, db_factory: Callable[[], Any] | None = None,
                 memory_stats: Callable[[], dict[str, Any]] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter("memoird_polls", "Feed polls by result.", ["result"], registry=r)
        self.stage_runs = Counter("memoird_stage_runs", "Stage job runs by stage and outcome.",
                                  ["stage", "outcome"], registry=r)
        self.stage_items = Counter("memoird_stage_items", "Records processed by each stage.",
                                   ["stage"], registry=r)
        self.stage_seconds = Histogram("memoird_stage_seconds", "Wall time of one stage run.",
                                       ["stage"], buckets=EDIT_BUCKETS, registry=r)
        self.edit_seconds = Histogram("memoird_edit_seconds",
                                      "Time to train and apply one MEMOIR edit.",
                                      buckets=EDIT_BUCKETS, registry=r)
        self.probe_seconds = Histogram("memoird_probe_seconds",
                                       "Time to probe the live model about one fact.",
                                       buckets=PROBE_BUCKETS, registry=r)
        self.completions = Counter("memoird_completions",
                                   "Completion requests by endpoint and outcome.",
                                   ["endpoint", "outcome"], registry=r)
        self.completion_seconds = Histogram("memoird_completion_seconds",
                                            "Latency of a completion request.", ["endpoint"],
                                            buckets=REQUEST_BUCKETS, registry=r)
        self.healthy = Gauge("memoird_pipeline_healthy",
                             "1 while every stage job has run recently without failing.",
                             registry=r)
        if db_factory is not None:
            r.register(StoreCollector(db_factory))
        if memory_stats is not None:
            r.register(MemoryCollector(memory_stats))

    def observe_report(self, stage: str, report: Any) -> None:
        """Feed the event metrics from a stage's ``StageReport`` (daemon/pipeline.py).

        poll: ``memoird_polls`` by feed outcome (updated, not_modified, failed, gone,
        paused); apply: each edit's training time
        (``seconds``); probe: the run's time shared over the facts it probed in one batch.
        """
        result = getattr(report, "result", None)
        if not isinstance(result, dict):
            return
        if stage == "poll":  # PollReport.summary(): one count per outcome kind
            for kind in POLL_RESULTS:
                count = result.get(kind)
                if isinstance(count, int) and count > 0:
                    self.polls.labels(kind).inc(count)
        elif stage == "apply":
            for seconds in result.get("seconds") or ():
                if isinstance(seconds, (int, float)):
                    self.edit_seconds.observe(seconds)
        elif stage == "probe":
            probes = result.get("probes")
            elapsed = getattr(report, "seconds", None)
            if isinstance(probes, int) and probes > 0 and isinstance(elapsed, (int, float)):
                for _ in range(probes):
                    self.probe_seconds.observe(elapsed / probes)

    def render(self) -> bytes:
        return generate_latest(self.registry)
