"""The extract stage on a real SQLite file: new articles become stored facts; failures are
contained to their article; an unreachable backend defers instead of failing."""

from __future__ import annotations

import pytest

from memoird.daemon.stages.extract import extract_pending_articles
from memoird.extractors.chat import ChatError
from memoird.extractors.news import NewsExtractor
from memoird.extractors.triples import PROMPT_VERSION, TripleExtractor
from memoird.store import articles, facts, feeds
from reading_support import FirstOption

CEO = "Lena Dahl was named chief executive of Nordhaven Energy on Monday."
HQ = "Nordhaven Energy is headquartered in Oslo."


class Scripted:
    name = "scripted"

    def __init__(self, fail_on: str | None = None, error: Exception | None = None):
        self.fail_on, self.error, self.calls = fail_on, error, 0

    def chat(self, batch, max_new_tokens, temperature=0.0):
        self.calls += 1
        replies = []
        for conversation in batch:
            text = conversation[-1]["content"]
            if self.fail_on and self.fail_on in text:
                raise self.error
            if "Lena Dahl" in text:
                replies.append("Nordhaven Energy | ceo | Lena Dahl\n"
                               "Lena Dahl | flibbered | Nordhaven Energy\n"
                               "Nordhaven Energy | owned by | Elon Musk")
            elif "Oslo" in text:
                replies.append("Nordhaven Energy | headquarters | Oslo")
            else:
                replies.append("none")
        return replies


@pytest.fixture(scope="module")
def mapper(relation_mapper):
    return relation_mapper


def extractor(chat, mapper):
    return TripleExtractor(chat, mapper.schema, mapper=mapper)


def add_articles(db, *texts, title=None):
    feed = feeds.add_feed(db, "https://news.example.org/rss")
    return [articles.insert_article(db, feed.id, guid=f"g{i}", url=f"https://news.example.org/{i}",
                                    title=title, text=text)[0]
            for i, text in enumerate(texts)]


def test_new_articles_become_facts(store_db, mapper):
    a, b, empty = add_articles(store_db, CEO + " " + HQ, "Markets were calm.", "   ")
    report = extract_pending_articles(store_db, extractor(Scripted(), mapper))
    assert (report.articles, report.facts, report.unmapped, report.skipped) == (2, 3, 1, 1)
    stored = facts.facts_for_article(store_db, a.id)
    assert [(f.subject, f.relation, f.object, f.status) for f in stored] == [
        ("Nordhaven Energy", "P169", "Lena Dahl", "new"),
        ("Lena Dahl", None, "Nordhaven Energy", "unmapped"),
        ("Nordhaven Energy", "P159", "Oslo", "new")]
    first = stored[0]
    assert first.evidence == CEO and first.raw_relation == "ceo"
    assert first.extractor_model == "scripted" and first.prompt_version == PROMPT_VERSION
    assert 0 < first.confidence <= 1
    assert articles.get_article(store_db, a.id).status == "extracted"
    assert articles.get_article(store_db, b.id).status == "extracted"
    assert articles.get_article(store_db, empty.id).status == "skipped"
    # Nothing is left to do, and a second run stores nothing twice.
    again = extract_pending_articles(store_db, extractor(Scripted(), mapper))
    assert again.articles == 0 and len(facts.facts_for_article(store_db, a.id)) == 3


def test_title_is_extracted_too(store_db, mapper):
    (a,) = add_articles(store_db, "Markets were calm.", title=HQ)
    extract_pending_articles(store_db, extractor(Scripted(), mapper))
    assert [(f.relation, f.object) for f in facts.facts_for_article(store_db, a.id)] == [
        ("P159", "Oslo")]


def test_unreachable_backend_defers(store_db, mapper):
    a, b = add_articles(store_db, CEO, HQ)
    chat = Scripted(fail_on="Lena", error=ChatError("endpoint down"))
    report = extract_pending_articles(store_db, extractor(chat, mapper))
    assert report.deferred == 2 and report.articles == 0 and "endpoint down" in report.errors[0]
    assert [articles.get_article(store_db, x.id).status for x in (a, b)] == ["new", "new"]
    assert facts.facts_for_article(store_db, b.id) == []


def test_a_broken_article_fails_alone(store_db, mapper):
    a, b, c = add_articles(store_db, HQ, "Poison pill sentence.", CEO)
    chat = Scripted(fail_on="Poison", error=RuntimeError("tokenizer exploded"))
    report = extract_pending_articles(store_db, extractor(chat, mapper), limit=10)
    assert (report.articles, report.failed) == (2, 1)
    broken = articles.get_article(store_db, b.id)
    assert broken.status == "failed" and "tokenizer exploded" in broken.error
    assert len(facts.facts_for_article(store_db, a.id)) == 1
    assert len(facts.facts_for_article(store_db, c.id)) == 2


def test_limit_takes_the_oldest_first(store_db, mapper):
    created = add_articles(store_db, HQ, HQ + " Again.", HQ + " Once more.")
    report = extract_pending_articles(store_db, extractor(Scripted(), mapper), limit=2)
    assert report.articles == 2
    assert [articles.get_article(store_db, x.id).status for x in created] == [
        "extracted", "extracted", "new"]


STATED = ("Sanae Takaichi was elected prime minister of Japan on Tuesday, replacing "
          "Shigeru Ishiba.")
INDIRECT = ("Japan's parliament met on Tuesday for a special session, and the vote for prime "
            "minister went to a second round. Sanae Takaichi, the party's leader, promised "
            "to revive the economy.")


def test_an_earlier_story_corroborates_a_fact_stated_later(store_db):
    """The indirect story is read first and yields nothing on its own; once another
    outlet states the fact, the earlier story gets a second look and counts too."""
    reader = NewsExtractor(FirstOption())
    b = articles.insert_article(store_db, feeds.add_feed(store_db, "https://b.example/rss").id,
                                guid="b", url="https://b.example/1", text=INDIRECT)[0]
    assert extract_pending_articles(store_db, reader).facts == 0
    a = articles.insert_article(store_db, feeds.add_feed(store_db, "https://a.example/rss").id,
                                guid="a", url="https://a.example/1", text=STATED)[0]
    report = extract_pending_articles(store_db, reader)
    assert report.facts == 2
    for article in (a, b):
        assert [(f.subject, f.relation, f.object) for f in facts.facts_for_article(
            store_db, article.id)] == [("Japan", "P6", "Sanae Takaichi")]
    # nothing is stored twice when the stated fact is seen again
    c = articles.insert_article(store_db, feeds.add_feed(store_db, "https://c.example/rss").id,
                                guid="c", url="https://c.example/1", text=STATED + " ")[0]
    extract_pending_articles(store_db, reader)
    assert len(facts.facts_for_article(store_db, b.id)) == 1
    assert len(facts.facts_for_article(store_db, c.id)) == 1


def test_an_earlier_story_corroborates_a_transfer_stated_later(store_db):
    """Clubs and owners get the second look too: the earlier fan piece never says
    "signed", the later report does."""
    reader = NewsExtractor(FirstOption())
    fan = ("KDB swaps the Etihad for the Maradona\n\nKevin De Bruyne is a Napoli player, and "
           "the Partenopei have wasted no time in selling the dream to their supporters. The "
           "club shop sold out of shirts within hours.")
    b = articles.insert_article(store_db, feeds.add_feed(store_db, "https://b.example/rss").id,
                                guid="b", url="https://b.example/1", text=fan)[0]
    assert extract_pending_articles(store_db, reader).facts == 0
    report = ("Kevin De Bruyne has joined Napoli on a two-year contract after leaving "
              "Manchester City as a free agent, the Italian club announced on Thursday.")
    articles.insert_article(store_db, feeds.add_feed(store_db, "https://a.example/rss").id,
                            guid="a", url="https://a.example/1", text=report)
    extract_pending_articles(store_db, reader)
    assert [(f.subject, f.relation, f.object) for f in facts.facts_for_article(
        store_db, b.id)] == [("Kevin De Bruyne", "P54", "Napoli")]


def test_a_story_naming_the_predecessor_corroborates_nothing():
    reader = NewsExtractor(FirstOption())
    wrong = ("Japan", "P6", "Shigeru Ishiba")  # as if another story had misread it
    story = ("Japan's parliament elected a new prime minister on Tuesday. Shigeru Ishiba, "
             "who resigned last month, left the chamber early.")
    assert reader.corroborate_many([story], [[wrong]]) == [[]]
    assert reader.corroborate_many([INDIRECT], [[("Japan", "P6", "Sanae Takaichi")]]) != [[]]
    # a holder named in passing in a story about another country corroborates nothing
    taiwan = ("Taiwan has a new president: Lai Ching-te was sworn in on Monday. Chinese "
              "President Xi Jinping did not comment; Taiwan's new president promised calm.")
    assert reader.corroborate_many([taiwan], [[("China", "P35", "Xi Jinping")]]) == [[]]


def corroborated(story: str, claim: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    """The (subject, relation, object) facts ``story`` yields in support of ``claim``."""
    return [(f.subject, f.relation, f.object) for f in NewsExtractor(FirstOption())
            .corroborate_many([story], [[claim]])[0]]


def test_a_story_that_names_the_subject_in_passing_corroborates_it():
    """The other outlet settled which country; this one names it only through its capital
    and names another country more, yet reports the same person arriving."""
    reader = NewsExtractor(FirstOption())
    story = ("Tsai Ing-wen left office on Monday after eight years. Her place as president "
             "has been taken by her deputy, Lai Ching-te; in his speech he called on China "
             "to end its pressure. China's foreign ministry said little. Lai will live in "
             "Taipei's presidential residence.")
    assert ("Taiwan", "P35", "Lai Ching-te") not in {
        (f.subject, f.relation, f.object) for f in reader.extract_many([story])[0]}
    lai = ("Taiwan", "P35", "Lai Ching-te")
    assert corroborated(story, lai) == [lai]
    # the predecessor is never corroborated, however the subject is named
    assert corroborated(story, ("Taiwan", "P35", "Tsai Ing-wen")) == []


def test_a_club_named_as_the_destination_corroborates_a_transfer():
    reader = NewsExtractor(FirstOption())
    story = ("A record fee was paid on Monday for the midfielder. Chelsea completed the "
             "signing of the Ecuador international from Brighton after a long chase. Moisés "
             "Caicedo will wear the number 25 shirt at Chelsea.")
    claim = ("Moisés Caicedo", "P54", "Chelsea")
    assert reader.extract_many([story]) == [[]]  # no sentence names player and club
    assert corroborated(story, claim) == [claim]
    # the club being left corroborates nothing
    assert corroborated(story, ("Moisés Caicedo", "P54", "Brighton")) == []


def test_a_surname_alone_corroborates_the_full_name_another_story_gave():
    story = ("A record fee was paid on Monday. Chelsea completed the signing of Caicedo from "
             "Brighton after a long chase. Caicedo will wear the number 25 shirt at Chelsea.")
    claim = ("Moisés Caicedo", "P54", "Chelsea")
    assert corroborated(story, claim) == [claim]
    # not when the story names another person of that surname
    other = story + " Felipe Caicedo, his cousin, watched from the stand."
    assert corroborated(other, claim) == []


def test_a_club_named_without_a_change_word_still_corroborates_and_a_capital_names_its_country():
    story = ("The north London club completed its first signing of the summer on Wednesday. "
             "Kai Havertz will wear the number 29 shirt at Arsenal, having left his previous "
             "club after three seasons.")
    claim = ("Kai Havertz", "P54", "Arsenal")
    assert corroborated(story, claim) == [claim]
    taiwan = ("Her place as president has been taken by her deputy, Lai Ching-te. Hsiao "
              "Bi-khim, until recently Taipei's top envoy abroad, became vice-president.")
    lai = ("Taiwan", "P35", "Lai Ching-te")
    assert corroborated(taiwan, lai) == [lai]


def test_a_story_leading_with_two_offices_corroborates_the_one_another_story_named():
    reader = NewsExtractor(FirstOption())
    story = ("A new era began in Senegal on Tuesday, and the presidency changed hands. "
             "Bassirou Diomaye Faye addressed a crowd in the capital after the ceremony. "
             "Within hours Ousmane Sonko had been named prime minister.")
    claim = ("Senegal", "P35", "Bassirou Diomaye Faye")
    assert claim not in {(f.subject, f.relation, f.object)
                         for f in reader.extract_many([story])[0]}
    assert corroborated(story, claim) == [claim]


def test_a_player_said_to_be_a_clubs_player_corroborates_his_transfer():
    story = ("Fancy that: one of the great playmakers of his generation is heading south. "
             "Kevin De Bruyne is a Napoli player, and the club have wasted no time in selling "
             "the dream to their supporters. He walks out of Manchester City for nothing.")
    claim = ("Kevin De Bruyne", "P54", "Napoli")
    assert NewsExtractor(FirstOption()).extract_many([story]) == [[]]  # a state, no change
    assert corroborated(story, claim) == [claim]
    assert corroborated(story, ("Kevin De Bruyne", "P54", "Manchester City")) == []
