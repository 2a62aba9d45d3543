"""A process that dies inside a stage's writes for one record leaves that record as it was.

The probe stage stores a fact's probe, its new status and its support for a claim; the
decide stage stores an edit and its claim's new status. Each is one commit: a crash in
between (simulated here by an exception where the process would die) must not leave a
probed fact that supports no claim, a fact probed twice, or an approved edit for a claim
that is still open and is decided again (found while writing the kill soak, bench/soak.py).
"""

from __future__ import annotations

import pytest

from memoird.daemon import policy as policy_module
from memoird.daemon.policy import decide_claims
from memoird.daemon.stages import probe as probe_stage
from memoird.daemon.stages.probe import probe_pending_facts
from memoird.editor.probe import ProbeResult
from memoird.store import claims, edits, facts
from policy_support import NOW, Sources, policy, templates


class FakeProber:
    """Answers every probe with "Paris", a confident contradiction."""

    backend = None

    def probe(self, requests):
        return [ProbeResult(r.subject, r.object, "conflicts", "Paris", r.templates[0],
                            {"gap": 3.0}) for r in requests]


class FakeEngine:
    def prober(self, thresholds=None):
        return FakeProber()


def killed(*args, **kwargs):
    raise RuntimeError("the process dies here")


def probe(db):
    return probe_pending_facts(db, FakeEngine(), templates=templates)


def count(db, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def test_a_crash_while_storing_a_probe_keeps_the_fact_queued_without_a_probe(store_db,
                                                                            monkeypatch):
    src = Sources(store_db)
    fact_id = src.publish("alpha.example", "France", "capital", "Lyon")
    monkeypatch.setattr(probe_stage.claim_store, "add_fact_to_claim", killed)
    with pytest.raises(RuntimeError):
        probe(store_db)
    assert facts.get_fact(store_db, fact_id).status == "new"
    assert count(store_db, "SELECT COUNT(*) FROM probes") == 0

    monkeypatch.undo()  # the restart
    report = probe(store_db)
    assert report.probes == 1
    assert facts.get_fact(store_db, fact_id).status == "probed"
    assert count(store_db, "SELECT COUNT(*) FROM probes") == 1
    assert count(store_db, "SELECT COUNT(*) FROM claim_sources") == 1


def test_a_fact_that_cannot_support_a_claim_is_skipped_and_the_others_are_probed(store_db):
    src = Sources(store_db)
    bad = src.publish("alpha.example", "...", "capital", "Lyon")  # a name of punctuation
    good = src.publish("beta-news.org", "France", "capital", "Lyon")
    report = probe(store_db)
    assert (report.probes, report.skipped) == (1, 1)
    assert facts.get_fact(store_db, bad).status == "skipped"
    assert facts.get_fact(store_db, good).status == "probed"
    assert probe(store_db).facts == 0  # nothing left queued


def test_a_crash_while_logging_a_decision_makes_no_edit(store_db, monkeypatch):
    src = Sources(store_db)
    src.publish("alpha.example", "France", "capital", "Lyon")
    src.publish("beta-news.org", "France", "capital", "Lyon")
    probe(store_db)
    [claim] = claims.list_claims(store_db)
    monkeypatch.setattr(policy_module.claim_store, "set_claim_status", killed)
    with pytest.raises(RuntimeError):
        decide_claims(store_db, policy(), now=NOW, templates=templates)
    assert edits.count_edits(store_db) == 0
    assert claims.get_claim(store_db, claim.id).status == "open"

    monkeypatch.undo()  # the restart decides the claim once
    report = decide_claims(store_db, policy(), now=NOW, templates=templates)
    assert (report.edits_created, report.approved) == (1, 1)
    [edit] = edits.list_edits(store_db)
    assert edit.status == "approved" and edit.claim_id == claim.id
    assert claims.get_claim(store_db, claim.id).status == "confirmed"
    assert decide_claims(store_db, policy(), now=NOW, templates=templates).edits_created == 0
    assert edits.count_edits(store_db) == 1
