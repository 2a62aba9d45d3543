"""The confirmation policy on a real SQLite store (probes written directly, no model)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from memoird.daemon.policy import decide_claims, independent_groups, claim_sources
from memoird.daemon.stages.probe import registrable_domain
from memoird.store import claims, edits, facts, probes
from policy_support import NOW, Sources, policy, templates


def probed(db, fact_id: int, verdict: str = "conflicts", answer: str = "Paris",
           seen_at=NOW, domain: str | None = None) -> int:
    """Probe a fact as the probe stage would, then count it for its claim."""
    # an agreeing probe's answer names the object (match), as the real prober's does
    scores = {"gap": 3.0} | ({"gap": 0.0, "match": 1.0} if verdict == "agrees" else {})
    probes.add_probe(db, fact_id, template="The capital of {subject} is", answer=answer,
                     verdict=verdict, scores=scores, memory_generation=0)
    fact = db["facts"].get(fact_id)
    article = db["articles"].get(fact["article_id"])
    return claims.add_fact_to_claim(db, fact_id, domain or registrable_domain(article["url"]),
                                    seen_at=seen_at).id


def decide(db, **changes):
    now = changes.pop("now", NOW)
    return decide_claims(db, policy(**changes), now=now, templates=templates)


@pytest.fixture
def src(store_db):
    return Sources(store_db)


def test_one_domain_is_not_enough(store_db, src):
    for _ in range(3):  # three articles, one site
        probed(store_db, src.publish("rumours.example", "France", "capital", "Lyon"))
    report = decide(store_db)
    assert report.edits_created == 0 and report.rules == {"insufficient_sources": 1}
    assert edits.count_edits(store_db) == 0


def test_two_independent_domains_make_an_approved_edit_with_its_reasons(store_db, src):
    f1 = src.publish("alpha.example", "France", "capital", "Lyon")
    f2 = src.publish("beta-news.org", "France", "capital", "Lyon")
    claim_id = probed(store_db, f1)
    probed(store_db, f2)
    report = decide(store_db)
    assert (report.edits_created, report.approved) == (1, 1)
    [edit] = edits.list_edits(store_db)
    assert edit.status == "approved" and edit.policy_rule == "confirmed_auto"
    assert edit.claim_id == claim_id and edit.target == "Lyon" and edit.old_answer == "Paris"
    assert edit.prompt == "The capital of France is"
    assert "France's capital city is" in edit.prompts
    assert "alpha.example" in edit.why and "beta-news.org" in edit.why
    assert "corrects the model" in edit.why and "'Paris'" in edit.why
    [event] = edits.edit_events(store_db, edit.id)
    sources = event.details["sources"]
    assert {s["domain"] for s in sources} == {"alpha.example", "beta-news.org"}
    assert all(s["evidence"] and s["article_url"] for s in sources)
    assert event.details["probe"]["verdict"] == "conflicts"
    assert claims.get_claim(store_db, claim_id).status == "confirmed"
    # decided claims leave the queue: a second pass creates nothing
    assert decide(store_db).edits_created == 0


def test_syndicated_copies_are_one_source(store_db, src):
    text = "Wire: France moves its capital to Lyon, officials said on Monday."
    for domain in ("alpha.example", "beta.example", "gamma.example"):
        probed(store_db, src.publish(domain, "France", "capital", "Lyon", text=text,
                                     evidence=text))
    assert decide(store_db).rules == {"insufficient_sources": 1}
    sources = claim_sources(store_db, 1)
    assert len(independent_groups(sources)) == 1


def test_subdomains_of_one_site_are_one_domain():
    assert registrable_domain("https://news.bbc.co.uk/a") == "bbc.co.uk"
    assert registrable_domain("https://www.bbc.co.uk/b") == "bbc.co.uk"
    # free-hosting private suffixes do not make independent sources
    assert registrable_domain("https://evil1.github.io/x") == "github.io"
    assert registrable_domain("http://127.0.0.1:8080/x") == "127.0.0.1"
    assert registrable_domain("https://www.alpha.example/x") == "alpha.example"
    with pytest.raises(ValueError, match="no host"):
        registrable_domain("not a url")


def test_manual_mode_and_protected_subjects_wait_for_an_operator(store_db, src):
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "France", "capital", "Lyon"))
        probed(store_db, src.publish(domain, "Acme Corp", "ceo", "Mallory"))
    report = decide(store_db, protected_subjects=("acme corp",))
    by_subject = {e.subject: e for e in edits.list_edits(store_db)}
    assert by_subject["Acme Corp"].status == "pending"
    assert by_subject["Acme Corp"].policy_rule == "protected_subject"
    assert by_subject["France"].status == "approved"
    assert report.pending == 1 and report.approved == 1

    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Spain", "capital", "Seville"))
    decide(store_db, mode="manual")
    [spain] = edits.list_edits(store_db, subject="Spain")
    assert (spain.status, spain.policy_rule) == ("pending", "manual_mode")


def test_old_value_named_by_the_articles_that_report_the_change_is_no_dispute(store_db, src):
    """"Son joined LAFC ... Son spent ten years at Tottenham": the same article telling
    the story of a change names the old value; that is no source against the change."""
    new = [src.publish(domain, "Lionel Messi", "plays_for", "Inter Miami")
           for domain in ("alpha.example", "beta.example")]
    article_id = store_db["facts"].get(new[0])["article_id"]
    old = facts.add_fact(store_db, article_id, subject="Lionel Messi", raw_relation="plays_for",
                         relation="plays_for", object="Paris Saint-Germain",
                         evidence="Messi spent two years at Paris Saint-Germain.",
                         extractor_model="test", prompt_version="test")
    for fact_id in (*new, old.id):
        probed(store_db, fact_id)
    rules = decide(store_db).rules
    assert rules.get("confirmed_auto") == 1 and "contradicted" not in rules
    # (the old value's own claim waits for sources: {"insufficient_sources": 1})
    # an independent outlet that still says the old club is a dispute, though
    probed(store_db, src.publish("gamma.example", "Luis Suarez", "plays_for", "Gremio"))
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Luis Suarez", "plays_for", "Inter Miami"))
    probed(store_db, src.publish("delta.example", "Luis Suarez", "plays_for", "Gremio"))
    assert decide(store_db).rules.get("contradicted") == 2  # each side blocks the other


def test_a_rival_told_only_long_before_the_news_is_the_old_state_not_a_dispute(store_db, src):
    """Read in one batch, a 2022 story naming the coach of the time is no outlet against
    a 2024 appointment; the same rival told the same week still is."""
    long_ago, lately = NOW - timedelta(days=700), NOW - timedelta(days=1)
    probed(store_db, src.publish("gamma.example", "Manchester United", "P286", "Erik ten Hag",
                                 published=long_ago))
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Manchester United", "P286", "Ruben Amorim",
                                     published=lately))
    rules = decide(store_db).rules
    assert rules.get("confirmed_auto") == 1 and "contradicted" not in rules
    probed(store_db, src.publish("delta.example", "Real Madrid", "P286", "Xabi Alonso",
                                 published=lately))
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Real Madrid", "P286", "Jose Mourinho",
                                     published=lately))
    assert decide(store_db).rules.get("contradicted") == 1


def test_trust_floor_and_window(store_db, src):
    probed(store_db, src.publish("alpha.example", "France", "capital", "Lyon"))
    probed(store_db, src.publish("spam.example", "France", "capital", "Lyon", trust=0.1))
    assert decide(store_db).rules == {"insufficient_sources": 1}
    # a trusted second source, but seen before the window
    probed(store_db, src.publish("beta.example", "France", "capital", "Lyon"),
           seen_at=NOW - timedelta(hours=100))
    assert decide(store_db).rules == {"insufficient_sources": 1}
    assert decide(store_db, window_hours=200).rules == {"confirmed_auto": 1}


def test_contradicting_claim_with_comparable_support_blocks_and_is_logged_once(store_db, src):
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Lionel Messi", "plays_for", "Chelsea"))
    probed(store_db, src.publish("gamma.example", "Lionel Messi", "plays_for", "Inter Miami"),
           verdict="agrees", answer="Inter Miami")
    report = decide(store_db)
    assert report.rules == {"contradicted": 1, "model_agrees": 1}
    [edit] = edits.list_edits(store_db)
    assert edit.status == "rejected" and edit.policy_rule == "contradicted"
    assert "Inter Miami" in edit.why
    # the same refusal is not logged again on the next pass
    assert decide(store_db).rejected == 0 and edits.count_edits(store_db) == 1
    # with much stronger support the claim wins
    for domain in ("delta.example", "epsilon.example", "zeta.example"):
        probed(store_db, src.publish(domain, "Lionel Messi", "plays_for", "Chelsea"))
    assert decide(store_db).approved == 1


def test_per_source_rate_limit(store_db, src):
    for country, city in (("France", "Lyon"), ("Spain", "Seville"), ("Italy", "Milan")):
        for domain in ("alpha.example", "beta.example"):
            probed(store_db, src.publish(domain, country, "capital", city))
    report = decide(store_db, per_source_edits_per_day=2)
    assert report.approved == 2 and report.rejected == 1
    [limited] = edits.list_edits(store_db, status="rejected")
    assert limited.policy_rule == "rate_limited" and "alpha.example" in limited.why
    # a day later the domains have budget again and the claim goes through
    later = decide(store_db, per_source_edits_per_day=2, now=NOW + timedelta(hours=25))
    assert later.approved == 1


def test_subject_cooldown(store_db, src):
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "Acme Corp", "ceo", "Mallory"))
        probed(store_db, src.publish(domain, "Acme Corp", "located_in", "Atlantis"))
    report = decide(store_db)
    assert report.approved == 1 and report.rules.get("subject_cooldown") == 1
    assert decide(store_db, now=NOW + timedelta(hours=25)).approved == 1


def test_agreeing_and_unknown_facts(store_db, src):
    for domain in ("alpha.example", "beta.example"):
        probed(store_db, src.publish(domain, "France", "capital", "Paris"), verdict="agrees")
        probed(store_db, src.publish(domain, "Wakanda", "capital", "Birnin Zana"),
               verdict="unknown", answer="")
    assert decide(store_db, insert_unknown=False).rules == {
        "model_agrees": 1, "unknown_not_inserted": 1}
    assert edits.count_edits(store_db) == 0
    report = decide(store_db)
    [edit] = edits.list_edits(store_db)
    assert report.approved == 1 and edit.subject == "Wakanda"
    assert "teaches the model a fact it does not know" in edit.why
    assert edits.edit_events(store_db, edit.id)[0].details["kind"] == "insertion"


def test_unprobed_claims_wait(store_db, src):
    for domain in ("alpha.example", "beta.example"):
        fact_id = src.publish(domain, "France", "capital", "Lyon")
        claims.add_fact_to_claim(store_db, fact_id, domain, seen_at=NOW)
    assert decide(store_db).rules == {"not_probed": 1}


def test_neighbour_subjects_for_verification(store_db, src):
    from memoird.daemon.policy import neighbour_subjects

    for subject in ("France", "Spain", "Italy"):
        probed(store_db, src.publish("alpha.example", subject, "capital", "Lyon"))
    probed(store_db, src.publish("alpha.example", "Acme", "ceo", "Mallory"))
    edit = edits.create_edit(store_db, subject="France", relation="capital",
                             prompt="The capital of France is", target="Lyon",
                             actor="test", reason="test")
    assert sorted(neighbour_subjects(store_db, edit)) == ["Italy", "Spain"]


def test_agreement_by_likelihood_alone_is_an_insertion(store_db, src):
    """The model finds the claim about as likely as its own answer but says something
    else when asked: users would not get the fact, so it is inserted."""
    for domain in ("alpha.example", "beta.example"):
        fact = src.publish(domain, "Brazil", "capital", "Brasilia")
        probes.add_probe(store_db, fact, template="The capital of {subject} is",
                         answer="a big country", verdict="agrees",
                         scores={"gap": 0.4, "match": 0.0, "similarity": 0.2},
                         memory_generation=0)
        claims.add_fact_to_claim(store_db, fact, domain)
    report = decide(store_db)
    assert report.approved == 1 and report.decisions[0].kind == "insertion"


def test_an_edit_routes_on_no_alias_that_names_a_wider_body():
    from memoird.daemon.policy import _wider_body

    # the parent's name would route "Bolloré Logistics is owned by" to the unit's new owner
    assert _wider_body("Bolloré", "Bolloré Africa Logistics")
    assert _wider_body("Activision", "Activision Blizzard")
    # a club's or company's name without its legal form or its city is the same body
    assert not _wider_body("Chelsea", "Chelsea F.C.")
    assert not _wider_body("Bayern", "Bayern Munich")
    assert not _wider_body("Britain", "United Kingdom")


def test_one_person_given_one_office_for_two_subjects_is_held_back(store_db, src):
    """A reshuffle story read "the state's governor" as the wrong state: the same
    articles give Gangwar Jharkhand and Maharashtra. Neither is written; a team with two
    new players, or an owner with two companies, is no such doubt."""
    for domain in ("alpha.example", "beta.example"):
        for state in ("Jharkhand", "Maharashtra"):
            probed(store_db, src.publish(domain, state, "P35", "Santosh Kumar Gangwar"))
        for player in ("Harry Kane", "Eric Dier"):
            probed(store_db, src.publish(domain, player, "P54", "Bayern Munich"))
    report = decide(store_db)
    assert report.rules == {"held_elsewhere": 2, "confirmed_auto": 2}
    held = {e.subject: e for e in edits.list_edits(store_db) if e.status == "rejected"}
    assert set(held) == {"Jharkhand", "Maharashtra"}
    assert "Maharashtra" in held["Jharkhand"].why and "in doubt" in held["Jharkhand"].why
    # one outlet's stray reading does not hold back what two independent ones report
    probed(store_db, src.publish("gamma.example", "Odisha", "P35", "Hari Babu Kambhampati"))
    for domain in ("delta.example", "epsilon.example"):
        probed(store_db, src.publish(domain, "Mizoram", "P35", "Hari Babu Kambhampati"))
    assert decide(store_db).rules.get("confirmed_auto") == 1
