"""The extract stage: new articles → facts (extractors/triples.py) → the facts table.

Articles are extracted in batches (the extractor batches their sentences across
articles). An article's facts and its move to ``extracted`` are one transaction, so a
crash never leaves an article half-extracted or extracted twice. Nothing of a batch is
stored before every model call for it (the second look at earlier stories included) is
done, so a daemon that stops in the middle (BackgroundCancelled, raised between decoding
steps) reads the whole batch again at its next start. An unreachable chat endpoint is
transient: the articles stay ``new`` and the next run retries them. Anything else that
goes wrong with one article marks only that article ``failed``, with the reason, and
never loses facts stored for others; a failed second look is logged and skipped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from sqlite_utils import Database

from memoird.extractors.chat import ChatError
from memoird.extractors.entities import EmbeddingJudge, alias_names, is_place
from memoird.extractors.triples import ExtractedFact, TripleExtractor
from memoird.store import articles as article_store
from memoird.store import claims as claim_store
from memoird.store import entities as entity_store
from memoird.store import facts as fact_store
from memoird.store.db import write_transaction

log = logging.getLogger("memoird.extract")

DEFAULT_LIMIT = 32
#: how far back another outlet's story may corroborate a fact (the policy's window)
CORROBORATION_WINDOW = timedelta(hours=72)


@dataclass
class ExtractReport:
    articles: int = 0  # articles moved to extracted
    facts: int = 0  # facts stored (mapped and unmapped)
    unmapped: int = 0  # of which without a canonical relation (kept, never probed)
    skipped: int = 0  # articles without text
    failed: int = 0  # articles marked failed
    deferred: int = 0  # articles left new because the chat backend was unavailable
    errors: list[str] = field(default_factory=list)


def extract_pending_articles(db: Database, extractor: TripleExtractor,
                             limit: int | None = None) -> ExtractReport:
    """Extract facts from up to ``limit`` new articles (oldest first) and store them."""
    report = ExtractReport()
    pending = article_store.articles_by_status(db, "new", limit=limit or DEFAULT_LIMIT)
    work = []
    for article in pending:
        if article.text.strip():
            work.append(article)
        else:
            article_store.set_article_status(db, article.id, "skipped", error="no text")
            report.skipped += 1
    if not work:
        return report
    texts = [_document(a.title, a.text) for a in work]
    years = [_year(a.published_at) for a in work]
    corroborates = hasattr(extractor, "corroborate_many")
    since = datetime.now(timezone.utc) - CORROBORATION_WINDOW
    hints = claim_store.single_source_claims(db, since) if corroborates else []
    try:
        results: list[list[ExtractedFact]] | None = extractor.extract_many(
            texts, years=years, hints=hints)
    except ChatError as exc:
        report.deferred = len(work)
        report.errors.append(f"chat backend unavailable, {len(work)} articles deferred: {exc}")
        log.warning("extract: %s", report.errors[-1])
        return report
    except Exception as exc:  # find the article that breaks the batch
        log.exception("extract: batch of %d articles failed; retrying one by one", len(work))
        results = None
        report.errors.append(f"batch failed: {type(exc).__name__}: {exc}")
    done: list[tuple[int, list[ExtractedFact]]] = []
    for i, article in enumerate(work):
        if results is not None:
            facts = results[i]
        else:
            try:
                facts = extractor.extract(texts[i])
            except ChatError as exc:
                report.deferred += 1
                report.errors.append(f"article {article.id}: deferred: {exc}")
                continue
            except Exception as exc:
                reason = f"extraction failed: {type(exc).__name__}: {exc}"[:500]
                article_store.set_article_status(db, article.id, "failed", error=reason)
                report.failed += 1
                report.errors.append(f"article {article.id}: {reason}")
                continue
        done.append((article.id, facts))
    stated = [f for _, facts in done for f in facts if f.relation]
    earlier: list[tuple[int, list[ExtractedFact]]] = []
    if corroborates and stated:
        try:
            earlier = _corroborate_earlier(db, extractor, stated, {a.id for a in work}, since)
        except Exception as exc:  # the batch's own facts are stored all the same
            log.exception("extract: the second look at earlier stories failed")
            report.errors.append(f"second look failed: {type(exc).__name__}: {exc}")
    for article_id, facts in done + earlier:
        _store(db, article_id, facts)
        report.facts += len(facts)
    for _, facts in done:
        report.articles += 1
        report.unmapped += sum(1 for f in facts if f.relation is None)
    return report


def _corroborate_earlier(db: Database, extractor, stated: list[ExtractedFact],
                         batch: set[int], since) -> list[tuple[int, list[ExtractedFact]]]:
    """Give earlier articles that name a newly stated holder, player or owner a second
    look: the other outlet's story may say the same less directly ("Kevin De Bruyne is a
    Napoli player"), and was read before this fact was known. Returns the new facts per
    earlier article, for the caller to store."""
    wanted: dict[int, list[tuple[str, str, str]]] = {}
    found: dict[int, object] = {}
    for fact in stated:
        for article in article_store.articles_mentioning(db, _search_word(fact), since,
                                                         exclude=batch):
            claim = (fact.subject, fact.relation, fact.object)
            if claim not in wanted.setdefault(article.id, []):
                wanted[article.id].append(claim)
                found[article.id] = article
    if not wanted:
        return []
    ids = sorted(wanted)
    articles = [found[i] for i in ids]
    results = extractor.corroborate_many([_document(a.title, a.text) for a in articles],
                                         [wanted[i] for i in ids],
                                         years=[_year(a.published_at) for a in articles])
    out = []
    for article, facts in zip(articles, results):
        have = {(f.subject, f.relation, f.object) for f in fact_store.facts_for_article(db, article.id)}
        new = [f for f in facts if (f.subject, f.relation, f.object) not in have]
        if new:
            out.append((article.id, new))
    return out


def _search_word(fact: ExtractedFact) -> str:
    """What an earlier story about the fact must contain: the person's surname (the new
    holder, or the player who moved: "De Bruyne" for his club), else the owner's name."""
    if fact.object_type == "person":
        return fact.object.split()[-1]
    if fact.subject_type == "person":
        return fact.subject.split()[-1]
    return fact.object


def _year(published_at: str | None) -> int | None:
    """The year an article says it was published (a forged date only makes older
    sentences count as background)."""
    match = re.match(r"\s*((?:19|20)\d\d)-", published_at or "")
    return int(match.group(1)) if match else None


def _document(title: str | None, text: str) -> str:
    """The title is a sentence of its own (headlines often state the fact)."""
    title = (title or "").strip()
    if title and not text.lstrip().startswith(title):
        return f"{title}\n\n{text}"
    return text


def _store(db: Database, article_id: int, facts: list[ExtractedFact]) -> None:
    """The article's facts, each side resolved to its canonical entity when typed."""
    with write_transaction(db):
        for fact in facts:
            subject = _entity(db, fact.subject, fact.subject_type)
            object_ = _entity(db, fact.object, fact.object_type)
            fact_store.add_fact(db, article_id, subject=fact.subject,
                                raw_relation=fact.raw_relation, object=fact.object,
                                relation=fact.relation, evidence=fact.evidence,
                                extractor_model=fact.extractor_model,
                                prompt_version=fact.prompt_version,
                                confidence=fact.confidence,
                                subject_type=fact.subject_type, object_type=fact.object_type,
                                subject_entity_id=subject, object_entity_id=object_)
        article_store.set_article_status(db, article_id, "extracted")


_judge: EmbeddingJudge | None = None


def _entity(db: Database, name: str, type: str | None) -> int | None:
    """Entity id of a typed name (untyped facts from the free triple extractor keep
    their strings)."""
    global _judge
    if type is None:
        return None
    if _judge is None:
        _judge = EmbeddingJudge()
    return entity_store.resolve(db, name, type, known_aliases=alias_names(name),
                                similar=_judge, place=is_place).id
