"""The first end-to-end slice on the real embedded model, as `memoird poll` runs it.

Loopback feeds (the bundled sample news from two domains) → articles → facts extracted by
the embedded model → probes of the live model → claims confirmed by two domains → MEMOIR
edits → the live model answers the new object, unrelated prompts answer as before.
"""

from __future__ import annotations

import pytest

from memoird.daemon.config import load_config
from memoird.daemon.demo import SAMPLE_FEEDS, serve_sample_feeds
from memoird.daemon.runtime import Runtime
from memoird.store import articles, edits, facts, feeds

UNRELATED = ("The capital of France is", "The highest mountain in the world is")


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory, embedded_model_dir):
    data_dir = tmp_path_factory.mktemp("slice")
    rt = Runtime(load_config(None, env={
        "MEMOIRD_DAEMON_DATA_DIR": str(data_dir),
        "MEMOIRD_MODEL_BASE": str(embedded_model_dir),
        "MEMOIRD_MODEL_DEVICE": "cpu",
        "MEMOIRD_FEEDS_ALLOW_NETWORKS": "127.0.0.0/8",
    }))
    engine = rt.engine
    before = {p: engine.generate([p], max_new_tokens=8)[0] for p in UNRELATED}
    with serve_sample_feeds() as base:
        for name in SAMPLE_FEEDS:
            feeds.add_feed(rt.db(), f"{base}/{name}", trust=0.8)
        totals = rt.pipeline.run_until_idle()
    yield rt, before, totals
    rt.engine.close()
    rt.close()


def test_every_stage_moved_records(slice_run):
    rt, _, totals = slice_run
    db = rt.db()
    assert totals["poll"] == 8  # four stories in each of the two feeds
    assert articles.count_articles(db, status="extracted") == 8
    assert facts.facts_by_status(db, "probed", limit=100), "no fact was probed"


def test_confirmed_changes_became_applied_edits(slice_run):
    rt, _, _ = slice_run
    applied = edits.list_edits(rt.db(), status="applied")
    subjects = {e.subject.lower() for e in applied}
    assert len({"croatia", "indonesia", "kazakhstan"} & subjects) >= 2, [
        (e.subject, e.target, e.status) for e in edits.list_edits(rt.db())]
    for edit in applied:
        answer = rt.engine.generate([edit.prompt], max_new_tokens=8)[0]
        assert edit.target.lower().split()[-1] in answer.lower(), (edit.prompt, answer)
        base = rt.engine.generate([edit.prompt], max_new_tokens=8, use_memory=False)[0]
        assert base != answer


def test_unrelated_prompts_unchanged(slice_run):
    rt, before, _ = slice_run
    for prompt, old in before.items():
        assert rt.engine.generate([prompt], max_new_tokens=8)[0] == old


def test_agreeing_story_made_no_edit(slice_run):
    rt, _, _ = slice_run
    assert not [e for e in edits.list_edits(rt.db()) if e.subject.lower() == "france"]
