"""The probe stage: new facts → probes of the live model → claims with their source domains.

Each fact with a canonical relation is asked of the live model (base + memory) through
its relation's cloze templates (editor/probe.py), in batches. The probe is stored with
the checkpoint and memory generation it asked, and the fact then counts as support for
its claim under the *registrable domain of the article's URL*: ``news.bbc.co.uk`` and
``www.bbc.co.uk`` are one source, and so is every site under a free-hosting suffix such
as ``github.io`` (private suffixes are deliberately not honoured: anyone can make a
thousand of those). The domain comes from tldextract's bundled suffix-list snapshot;
the network is never asked. The confirmation policy (daemon/policy.py) decides later.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlite_utils import Database

from memoird.daemon.policy import TemplateLookup, default_templates
from memoird.extractors.entities import is_place
from memoird.extractors.schema import subject_phrase
from memoird.editor.probe import Prober, ProbeRequest, ProbeResult, ProbeThresholds
from memoird.store import articles as article_store
from memoird.store import claims as claim_store
from memoird.store import facts as fact_store
from memoird.store import feeds as feed_store
from memoird.store import probes as probe_store
from memoird.store.db import write_transaction

log = logging.getLogger("memoird.probe")

_extract = None


def registrable_domain(url: str) -> str:
    """``https://news.bbc.co.uk/x`` -> ``bbc.co.uk``; an IP address as it is."""
    global _extract
    if _extract is None:
        import tldextract

        # suffix_list_urls=(): the bundled snapshot only, never a download at run time
        _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    host = urlsplit(url).hostname
    if not host:
        raise ValueError(f"source URL {url!r} has no host name")
    parts = _extract(host)
    if parts.top_domain_under_public_suffix:
        return parts.top_domain_under_public_suffix
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:  # a name under no public suffix (intranet): its last two labels
        return ".".join(host.lower().rstrip(".").split(".")[-2:])


@dataclass
class ProbeReport:
    facts: int = 0
    probes: int = 0
    skipped: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    claims: list[int] = field(default_factory=list)


def probe_pending_facts(db: Database, engine: Any, *, limit: int = 64,
                        templates: TemplateLookup | None = None,
                        thresholds: ProbeThresholds | None = None) -> ProbeReport:
    """Probe up to ``limit`` new facts, store the probes, add the facts to their claims.

    ``engine`` is the daemon's Engine, whose ``prober(thresholds)`` asks the model it
    serves now (a checkpoint switch gives a new one), or a ready ``Prober``, whose
    checkpoint must then be a checkpoint id (or None). A fact whose relation has no
    template is marked ``skipped`` (it cannot be asked, so it can never become an edit).
    """
    prober = engine if isinstance(engine, Prober) else engine.prober(thresholds)
    report = ProbeReport()
    facts = [f for f in fact_store.facts_by_status(db, "new", limit) if f.relation]
    requests, asked = [], []
    for fact in facts:
        try:
            # the news named the role ("chancellor"): ask the model the same way
            cloze = list(templates(fact.relation) if templates is not None
                         else default_templates(fact.relation, fact.raw_relation))
        except (KeyError, LookupError):
            cloze = []
        if not cloze:
            fact_store.set_fact_status(db, fact.id, "skipped")
            report.skipped += 1
            continue
        requests.append(ProbeRequest(subject_phrase(fact.subject), fact.object, cloze,
                                     object_aliases(fact.object)))
        asked.append(fact)
    results = prober.probe(requests) if requests else []
    checks = evidence_checks(prober.backend, asked, [r.templates[0] for r in requests])
    claims: set[int] = set()
    for fact, result, check in zip(asked, results, checks):
        if check is not None:
            result.scores["evidence_check"] = check
        # one commit per fact: a crash in between would leave a fact probed but supporting
        # no claim, or stored with its probe and still queued, to be probed twice
        with write_transaction(db):
            _store_probe(db, fact.id, result)
            try:
                claim = claim_store.add_fact_to_claim(db, fact.id,
                                                      source_domain(db, fact.article_id),
                                                      place=is_place)
            except ValueError as exc:  # no source domain, a punctuation-only name...
                fact_store.set_fact_status(db, fact.id, "skipped")
                log.warning("fact %s cannot support a claim: %s", fact.id, exc,
                            extra={"fact_id": fact.id})
                report.skipped += 1
                continue
            fact_store.set_fact_status(db, fact.id, "probed")
        claims.add(claim.id)
        report.probes += 1
        report.verdicts[result.verdict] = report.verdicts.get(result.verdict, 0) + 1
    report.facts = len(facts)
    report.claims = sorted(c for c in claims if claim_store.claim_exists(db, c))
    if requests:
        log.info("probed %d facts: %s", len(asked), dict(Counter(r.verdict for r in results)))
    return report


def evidence_checks(backend: Any, facts: Sequence[Any], clozes: Sequence[str]
                    ) -> list[dict[str, Any] | None]:
    """Re-read each typed fact's evidence: given the sentence and the fact's cloze, is the
    fact's object the likeliest completion among the names of the sentence that could
    fill it?

    Two outlets agreeing through the same extractor is no evidence that the triple is
    well formed: a wrong pick among the sentence's names (another club, another person)
    does not read back from its own sentence. None where it cannot be asked (untyped
    fact, no evidence).
    """
    from memoird.extractors.entities import ArticleEntities, fits
    from memoird.extractors.news import may_hold
    from memoird.extractors.normalize import fold
    from memoird.extractors.schema import RelationSchema

    schema = RelationSchema.default()
    out: list[dict[str, Any] | None] = [None] * len(facts)
    rows: list[tuple[int, str, list[str]]] = []
    for i, fact in enumerate(facts):
        rel = schema.get(fact.relation)
        if not (fact.evidence and fact.subject_type and rel is not None and rel.typed):
            continue
        article = ArticleEntities()
        article.learn([fact.evidence])
        # the other names of the sentence that could fill the object, not the object or
        # the subject under a shorter form ("Auchincloss", "Messi"); which way round the
        # triple runs was settled by types and grammar before (extractors/news.py)
        sides = [set(fold(fact.object).split()), set(fold(fact.subject).split())]
        mentions = article.mentions(fact.evidence)
        subject = _side(mentions, sides[1])
        object_ = _side(mentions, sides[0])
        names = [m.name for m in mentions
                 if fits(m.types, rel.object_types) and may_hold(fact.evidence, m, rel, schema)
                 and not any(set(fold(m.name).split()) <= side for side in sides)
                 and not _names_the_object(m, fact.object)
                 and not _listed_with(fact.evidence, mentions, subject, m)
                 and not _describes(fact.evidence, mentions, object_, m)]
        candidates = list(dict.fromkeys([fact.object, *names]))
        if len(candidates) == 1:
            out[i] = {"prompt": clozes[i].replace("{subject}", subject_phrase(fact.subject)),
                      "answer": fact.object, "pass": True, "logprobs": {}}
            continue
        cloze = clozes[i].replace("{subject}", subject_phrase(fact.subject))
        rows.append((i, f"{fact.evidence.strip()}\n{cloze}", candidates))
    if not rows:
        return out
    prompts = [p for _, p, cands in rows for _ in cands]
    conts = [c for _, _, cands in rows for c in cands]
    scores = iter(backend.continuation_logprobs(prompts, conts))
    for i, prompt, candidates in rows:
        got = {c: next(scores) for c in candidates}
        best = max(got, key=got.get)
        out[i] = {"prompt": prompt.split("\n")[-1], "answer": best,
                  "pass": best == candidates[0],
                  "logprobs": {c: round(v, 3) for c, v in got.items()}}
    return out


def _side(mentions: Sequence[Any], words: set[str]) -> Any | None:
    """The sentence's first mention of one side of the fact (its words, or a part)."""
    from memoird.extractors.normalize import fold

    return next((m for m in mentions if m.end and set(fold(m.name).split()) <= words), None)


def _between(evidence: str, mentions: Sequence[Any], start: int, end: int) -> str:
    """The words of evidence[start:end] with every name in it taken out."""
    inside = sorted((m.start, m.end) for m in mentions if m.end and start <= m.start < end)
    kept, at = [], start
    for a, b in inside:
        kept.append(evidence[at:a])
        at = max(at, b)
    kept.append(evidence[at:end])
    return "".join(kept)


def _listed_with(evidence: str, mentions: Sequence[Any], subject: Any | None,
                 mention: Any) -> bool:
    """A name listed beside the subject is more of what the subject is, no rival holder:
    "its purchase of Crystal Dynamics, Eidos-Montréal and Square Enix Montréal" (three
    studios bought, none the owner of another)."""
    if subject is None or not mention.end:
        return False
    first, last = sorted([subject, mention], key=lambda m: m.start)
    return re.fullmatch(r"(?:\s*(?:,|and|or|&)\s*)+",
                        _between(evidence, mentions, first.end, last.start)) is not None


def _describes(evidence: str, mentions: Sequence[Any], obj: Any | None, mention: Any) -> bool:
    """A name in an apposition to the object describes it, and holds nothing of the
    subject's: "RAJ Sports, a company controlled by the siblings Lisa Bhathal Merage and
    Alex Bhathal" (the owner's own owners)."""
    if obj is None or not mention.end or mention.start < obj.end:
        return False
    gap = _between(evidence, mentions, obj.end, mention.start)
    return re.fullmatch(r",\s+(?:a|an|the|its)\s[^,;.:()\"“”]*", gap) is not None


def _names_the_object(mention: Any, obj: str) -> bool:
    """A person whose surname names the (organisation) object is its side, not a rival:
    "The Friedkin Group, led by Dan Friedkin"."""
    from memoird.extractors.entities import PERSON
    from memoird.extractors.normalize import fold

    words = fold(mention.name).split()
    return mention.types == frozenset({PERSON}) and len(words) >= 2 \
        and words[-1] in fold(obj).split() and fold(mention.name) != fold(obj)


def object_aliases(name: str) -> tuple[str, ...]:
    """Other names of the same entity ("USA" for "United States") from the extraction
    schema's alias table, so a probe does not call them a contradiction."""
    from memoird.extractors.normalize import entity_aliases, fold

    table = entity_aliases()
    canonical = table.get(fold(name), fold(name))
    return tuple(sorted({canonical, *(a for a, c in table.items() if c == canonical)}
                        - {fold(name)}))


def source_domain(db: Database, article_id: int) -> str:
    """The article URL's registrable domain (the feed URL's when the entry has no link)."""
    article = article_store.get_article(db, article_id)
    url = article.url or feed_store.get_feed(db, article.feed_id).url
    return registrable_domain(url)


def _store_probe(db: Database, fact_id: int, result: ProbeResult) -> None:
    checkpoint = result.checkpoint if isinstance(result.checkpoint, int) else None
    scores = dict(result.scores)
    scores["answers"] = [
        {k: v for k, v in asdict(a).items() if k in ("template", "answer", "match")}
        | {"similarity": round(a.similarity, 4), "gap": _round(a.gap)}
        for a in result.answers]
    probe_store.add_probe(db, fact_id, template=result.template, answer=result.answer,
                          verdict=result.verdict, scores=scores, checkpoint_id=checkpoint,
                          memory_generation=result.memory_generation)


def _round(value: float) -> float:
    return round(value, 4) if abs(value) < 1e9 else (1e9 if value > 0 else -1e9)
