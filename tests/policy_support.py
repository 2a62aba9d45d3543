"""Builders for policy and poisoning tests: feeds, articles and facts in a real store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from memoird.daemon.config import PolicySection
from memoird.store import articles, facts, feeds

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)

#: canonical relation -> cloze templates, for tests that do not need the extraction schema
TEMPLATES = {
    "capital": ["The capital of {subject} is", "{subject}'s capital city is"],
    "located_in": ["{subject} is located in the country of", "{subject} is a city in"],
    "plays_for": ["{subject} plays for", "{subject} is a player of"],
    "ceo": ["The chief executive of {subject} is"],
}


def templates(relation: str) -> list[str]:
    return TEMPLATES[relation]


def policy(**changes) -> PolicySection:
    return replace(PolicySection(), **changes)


class Sources:
    """Publishes facts from feeds of given domains into a real store."""

    def __init__(self, db):
        self.db = db
        self.feeds: dict[str, int] = {}
        self.serial = 0

    def feed(self, domain: str, trust: float = 0.5) -> int:
        if domain not in self.feeds:
            self.feeds[domain] = feeds.add_feed(self.db, f"https://{domain}/rss.xml",
                                                trust=trust).id
        return self.feeds[domain]

    def publish(self, domain: str, subject: str, relation: str | None, obj: str, *,
                text: str | None = None, evidence: str | None = None,
                trust: float = 0.5, raw_relation: str | None = None,
                types: tuple[str, str] | None = None,
                published: datetime | None = None) -> int:
        """One article on ``domain`` stating one fact; returns the fact id. A typed news
        relation's facts carry the entity types its extractor gives them (``types``, or
        the relation's own first ones), as the extract stage stores them."""
        self.serial += 1
        evidence = evidence or f"{domain} reports ({self.serial}) that {subject} -> {obj}."
        article, _ = articles.insert_article(
            self.db, self.feed(domain, trust), guid=f"{domain}-{self.serial}",
            url=f"https://www.{domain}/news/{self.serial}",
            title=f"News {self.serial}", text=text or evidence, published_at=published)
        fact = facts.add_fact(self.db, article.id, subject=subject,
                              raw_relation=raw_relation or relation or "related to",
                              relation=relation, object=obj, evidence=evidence,
                              extractor_model="test", prompt_version="test",
                              subject_type=(types or _types(relation))[0],
                              object_type=(types or _types(relation))[1])
        return fact.id


def _types(relation: str | None) -> tuple[str | None, str | None]:
    from memoird.extractors.schema import RelationSchema

    rel = RelationSchema.default().get(relation) if relation else None
    if rel is None or not rel.typed:
        return (None, None)
    return (rel.subject_types[0], rel.object_types[0])
