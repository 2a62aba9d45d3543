"""Claims aggregate facts by normalised key and count distinct domains."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from memoird.store import InvalidValue, NotFound
from memoird.store import articles, claims, edits, facts, feeds

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def add(store_db):
    feed = feeds.add_feed(store_db, "https://news.example/rss")
    counter = iter(range(10_000))

    def add(subject, obj, relation="member_of_sports_team"):
        article, _ = articles.insert_article(store_db, feed.id, guid=str(next(counter)), text="x")
        return facts.add_fact(store_db, article.id, subject=subject, raw_relation="plays for",
                              relation=relation, object=obj)
    return add


def test_facts_with_equivalent_wording_share_a_claim(store_db, add):
    one = claims.add_fact_to_claim(store_db, add("Lionel Messi", "Inter Miami").id,
                                   "a.example", seen_at=T0)
    two = claims.add_fact_to_claim(store_db, add("lionel  MESSI", "Inter-Miami.").id,
                                   "B.example", seen_at=T0 + timedelta(hours=5))
    same_domain = claims.add_fact_to_claim(store_db, add("Lionel Messi", "Inter Miami").id,
                                           "a.example", seen_at=T0 + timedelta(hours=1))
    assert one.id == two.id == same_domain.id
    assert same_domain.domain_count == 2 and same_domain.subject == "Lionel Messi"
    assert (same_domain.first_seen, same_domain.last_seen) == (
        "2026-11-01T00:00:00.000000+00:00", "2026-11-01T05:00:00.000000+00:00")
    assert len(claims.claim_sources(store_db, one.id)) == 3
    assert claims.claim_domains(store_db, one.id) == ["a.example", "b.example"]
    assert claims.claim_domains(store_db, one.id, since=T0 + timedelta(hours=2)) == ["b.example"]


def test_adding_the_same_fact_twice_counts_once(store_db, add):
    fact = add("Keir Starmer", "United Kingdom", relation="head_of_government_of")
    claims.add_fact_to_claim(store_db, fact.id, "a.example")
    claim = claims.add_fact_to_claim(store_db, fact.id, "a.example")
    assert len(claims.claim_sources(store_db, claim.id)) == 1


def test_competing_claims_best_supported_first(store_db, add):
    miami = claims.add_fact_to_claim(store_db, add("Lionel Messi", "Inter Miami").id, "a.example")
    claims.add_fact_to_claim(store_db, add("Lionel Messi", "Inter Miami").id, "b.example")
    psg = claims.add_fact_to_claim(store_db, add("Lionel Messi", "PSG").id, "hostile.example")
    claims.add_fact_to_claim(store_db, add("Lionel Messi", "Argentina", "member_of").id, "a.example")
    found = claims.competing_claims(store_db, "LIONEL MESSI", "member_of_sports_team")
    assert [(c.id, c.domain_count) for c in found] == [(miami.id, 2), (psg.id, 1)]


@pytest.mark.parametrize("place_first", [True, False])
def test_a_place_written_for_the_one_team_named_after_it_joins_its_claim(
        store_db, add, place_first):
    """"Henry signed with Baltimore" and "with the Baltimore Ravens" from two outlets
    are one claim with two domains, whichever outlet came first; other subjects,
    relations, a place that begins two claimed teams, and a non-place prefix stay apart."""
    from memoird.extractors.entities import is_place

    def claim(subject, obj, domain, relation="member_of_sports_team"):
        return claims.add_fact_to_claim(store_db, add(subject, obj, relation).id, domain,
                                        place=is_place)
    order = [("Baltimore", "a.example"), ("Baltimore Ravens", "b.example")]
    _, second = [claim("Derrick Henry", obj, domain)
                     for obj, domain in (order if place_first else order[::-1])]
    assert second.object == "Baltimore Ravens" and second.domain_count == 2
    assert [c.object for c in claims.competing_claims(
        store_db, "Derrick Henry", "member_of_sports_team")] == ["Baltimore Ravens"]
    assert claims.claim_exists(store_db, second.id)
    # another player's Baltimore stays his own claim
    other = claim("Gus Edwards", "Baltimore", "a.example")
    assert other.object == "Baltimore" and other.domain_count == 1
    # two clubs begin with the place: which one is not the writer's to guess here
    claim("Jadon Sancho", "Manchester United", "a.example")
    claim("Jadon Sancho", "Manchester City", "b.example")
    city = claim("Jadon Sancho", "Manchester", "c.example")
    assert city.object == "Manchester" and city.domain_count == 1
    # a word that is no place is not a team's short form ("Real" / "Real Madrid")
    claim("Luka Modric", "Real Madrid", "a.example")
    real = claim("Luka Modric", "Real", "b.example")
    assert real.object == "Real" and real.domain_count == 1


@pytest.mark.parametrize("place_first", [True, False])
def test_a_place_written_for_the_one_team_as_subject_joins_its_claim(
        store_db, add, place_first):
    """"Milwaukee named Pat Murphy manager" and "the Milwaukee Brewers named Pat Murphy"
    are one claim; another holder named for the place stays its own."""
    from memoird.extractors.entities import is_place

    def claim(subject, obj, domain):
        return claims.add_fact_to_claim(store_db, add(subject, obj, "head_coach").id,
                                        domain, place=is_place)
    order = [("Milwaukee", "a.example"), ("Milwaukee Brewers", "b.example")]
    _, second = [claim(subject, "Pat Murphy", domain)
                 for subject, domain in (order if place_first else order[::-1])]
    assert second.subject == "Milwaukee Brewers" and second.domain_count == 2
    assert [c.subject for c in claims.list_claims(store_db)] == ["Milwaukee Brewers"]
    other = claim("Milwaukee", "Doc Rivers", "c.example")
    assert other.subject == "Milwaukee" and other.domain_count == 1


def test_unmapped_fact_and_bad_input_are_refused(store_db, add):
    fact = add("Messi", "mate", relation=None)
    with pytest.raises(InvalidValue, match="no canonical relation"):
        claims.add_fact_to_claim(store_db, fact.id, "a.example")
    with pytest.raises(InvalidValue, match="domain"):
        claims.add_fact_to_claim(store_db, add("a", "b").id, " ")
    with pytest.raises(NotFound, match="fact 404"):
        claims.add_fact_to_claim(store_db, 404, "a.example")
    assert store_db["claims"].count == 0


def test_claim_status_links_its_edit(store_db, add):
    claim = claims.add_fact_to_claim(store_db, add("Lionel Messi", "Inter Miami").id, "a.example")
    edit = edits.create_edit(store_db, subject="Lionel Messi", prompt="Lionel Messi plays for",
                             target="Inter Miami", claim_id=claim.id, actor="policy", reason="ok")
    confirmed = claims.set_claim_status(store_db, claim.id, "confirmed", edit_id=edit.id)
    assert (confirmed.status, confirmed.edit_id) == ("confirmed", edit.id)
    assert claims.list_claims(store_db, status="confirmed") == [confirmed]
    with pytest.raises(InvalidValue, match="maybe"):
        claims.set_claim_status(store_db, claim.id, "maybe")
    with pytest.raises(NotFound, match="edit 77"):
        claims.set_claim_status(store_db, claim.id, "confirmed", edit_id=77)
    assert claims.get_claim(store_db, claim.id) == confirmed


def test_normalize_key_is_idempotent():
    for text in ["Man. United", "  São   Paulo FC ", "ＡＢＣ", "Dr. Who?!"]:
        key = claims.normalize_key(text)
        assert key == claims.normalize_key(key) and key == key.strip()
    assert claims.normalize_key("Man. United") == claims.normalize_key("man united")
