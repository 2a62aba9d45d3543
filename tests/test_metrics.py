"""Metrics read from the real store and from the pipeline's real stage reports."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

from memoird.daemon.metrics import Metrics
from memoird.daemon.pipeline import StageReport
from memoird.daemon.stages.apply import ApplyReport
from memoird.daemon.stages.poll import FeedOutcome, PollReport

from service_support import seed_edit


def _samples(metrics: Metrics) -> dict[tuple, float]:
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_store_counts_and_stage_reports(store_db):
    for i, status in enumerate(["pending", "pending", "applied", "failed"]):
        seed_edit(store_db, i, status)
    metrics = Metrics(db_factory=lambda: store_db,
                      memory_stats=lambda: {"edits": 1, "bytes": 10, "requests": 0,
                                            "routed_requests": 0})
    poll = PollReport(datetime.now(timezone.utc), 0.5, [
        FeedOutcome(1, "https://a.example/rss", "updated", 200, new_articles=2),
        FeedOutcome(2, "https://b.example/rss", "not_modified", 304),
        FeedOutcome(3, "https://c.example/rss", "failed", 500, error="boom")])
    # what daemon/pipeline.py hands over: the poll summary, other reports as dicts
    metrics.observe_report("poll", StageReport("poll", 0.5, poll.summary()))
    metrics.observe_report("apply", StageReport("apply", 9.0, asdict(
        ApplyReport(applied=2, seconds=[3.0, 0.2]))))
    metrics.observe_report("probe", StageReport("probe", 2.0, {"probes": 4, "facts": 4}))
    s = _samples(metrics)
    assert s[("memoird_edits", (("status", "pending"),))] == 2
    assert s[("memoird_edits", (("status", "applied"),))] == 1
    assert s[("memoird_edits", (("status", "distilled"),))] == 0
    assert s[("memoird_articles", (("status", "extracted"),))] == 8
    assert s[("memoird_facts", (("status", "probed"),))] == 8
    assert s[("memoird_conflicts", ())] == 8
    assert s[("memoird_feeds", (("status", "active"),))] == 2
    assert s[("memoird_polls_total", (("result", "updated"),))] == 1
    assert s[("memoird_polls_total", (("result", "failed"),))] == 1
    assert s[("memoird_edit_seconds_count", ())] == 2
    assert s[("memoird_edit_seconds_sum", ())] == 3.2
    assert s[("memoird_edit_seconds_bucket", (("le", "0.25"),))] == 1
    assert s[("memoird_probe_seconds_count", ())] == 4
    assert s[("memoird_probe_seconds_sum", ())] == 2.0
    assert s[("memoird_routing_hit_rate", ())] == 0.0  # no request yet: 0, not NaN
    assert s[("memoird_memory_edits", ())] == 1


def test_a_broken_source_does_not_break_the_scrape():
    def broken():
        raise RuntimeError("database is locked")

    metrics = Metrics(db_factory=broken, memory_stats=broken)
    names = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    assert "memoird_polls" in names and "memoird_edits" not in names
