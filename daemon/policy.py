"""The confirmation policy: which claims may write into the model's weights.

News is untrusted input, so a claim becomes an edit only when independent sources agree
and nothing argues against it. For each open claim, in this order:

1. the model must disagree with it (latest probe ``conflicts``: a correction) or not know
   it (``unknown``: an insertion, when ``insert_unknown`` is on); ``agrees`` needs nothing
   when the model's answer names the object, and counts as ``unknown`` when only the
   likelihoods agree (asked, the model says something else);
2. its support counts only sources whose feed is trusted at least ``trust_floor``, seen
   within ``window_hours``, and counted in *independent* domains: two registrable
   domains that carry the same article text or the same evidence sentence are one
   source (syndication, or one actor behind two sites);
3. at least ``min_domains`` such domains, else it waits for more (no edit yet);
4. no competing claim about the same subject and relation may have comparable support
   (``contradiction_ratio`` of ours or more): news in dispute is not written; nor, for
   an office held by a person (head of government or state, head coach, chief
   executive), a claim giving the same person the same office elsewhere with as much
   support (a reshuffle story read "the state's governor" as another state's);
5. a domain that already contributed ``per_source_edits_per_day`` edits in the last
   24 h no longer counts (a flood cannot buy edits faster than that);
6. a subject edited within ``subject_cooldown_hours`` waits (one flooded subject cannot
   be rewritten over and over); for a typed news relation only an edit of the same
   relation counts, since one country's offices change independently (a new prime minister
   and a new king in one week, a president sworn in who names his prime minister the same
   day), so a flood gets at most one edit per office a day;
7. a protected subject, and every claim in ``manual`` mode, becomes a ``pending`` edit
   for an operator; otherwise the edit is ``approved`` and the apply stage trains it.

Claims that wait for more support are not logged as edits (evidence is still
accumulating); claims that had the support but were stopped by rules 4-6 are logged as
``rejected`` edits with the rule and the reason, so operators see every time the policy
held an edit back, and can overrule it. Every logged edit carries a human-readable
"why this edit" and, in its first event, the sources, evidence sentences and the probe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlite_utils import Database

from memoird.store import claims as claim_store
from memoird.store import entities as entity_store
from memoird.store import edits as edit_log
from memoird.store.claims import normalize_key
from memoird.store.clock import to_iso
from memoird.store.db import write_transaction
from memoird.store.records import Claim, EditStatus

log = logging.getLogger("memoird.policy")

ACTOR = "policy"

#: rules that leave a claim waiting (no edit logged), and those that log a refusal
HOLD_RULES = ("not_probed", "model_agrees", "unknown_not_inserted", "below_trust_floor",
              "insufficient_sources")
REJECT_RULES = ("ill_typed", "evidence_mismatch", "contradicted", "held_elsewhere",
                "rate_limited", "subject_cooldown")
EDIT_RULES = ("confirmed_auto", "manual_mode", "protected_subject")

#: relation -> cloze templates ("{subject} plays for"); the extract helper's schema
TemplateLookup = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class Source:
    """One supporting fact as the policy saw it (what the edit log shows as a source)."""

    domain: str
    fact_id: int
    article_id: int
    article_url: str | None
    feed_url: str
    trust: float
    evidence: str | None
    seen_at: str
    content_hash: str


@dataclass(frozen=True)
class Decision:
    claim_id: int
    rule: str
    why: str
    kind: str | None = None  # correction | insertion
    status: EditStatus | None = None  # of the logged edit; None when nothing was logged
    edit_id: int | None = None
    domains: tuple[str, ...] = ()


@dataclass
class DecideReport:
    claims: int = 0
    edits_created: int = 0
    approved: int = 0
    pending: int = 0
    rejected: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)


def default_templates(relation: str, role: str | None = None) -> Sequence[str]:
    """The relation's cloze templates from the extraction schema (with the role the news
    used, "chancellor", for relations named by an office)."""
    from memoird.extractors import schema

    return schema.templates(relation, role)


def decide_claims(db: Database, config: Any, *, now: datetime | None = None,
                  templates: TemplateLookup | None = None, limit: int = 1000,
                  contradiction_ratio: float = 0.5) -> DecideReport:
    """Decide every open claim (oldest first); returns what happened to each.

    ``config`` is the [policy] section (``PolicySection`` of daemon/config.py) or any
    object with the same attributes. ``now`` is injectable so tests and replays can
    decide at a chosen time.
    """
    now = now or datetime.now(timezone.utc)
    lookup = templates or default_templates
    report = DecideReport()
    open_claims = claim_store.list_claims(db, status="open", limit=limit)
    for claim in reversed(open_claims):
        decision = decide_claim(db, claim, config, now=now, templates=lookup,
                                contradiction_ratio=contradiction_ratio)
        report.claims += 1
        report.rules[decision.rule] = report.rules.get(decision.rule, 0) + 1
        report.decisions.append(decision)
        if decision.edit_id is not None and decision.status is not None:
            if decision.status == EditStatus.REJECTED:
                report.rejected += 1
            else:
                report.edits_created += 1
                report.approved += decision.status == EditStatus.APPROVED
                report.pending += decision.status == EditStatus.PENDING
    return report


def decide_claim(db: Database, claim: Claim, config: Any, *, now: datetime,
                 templates: TemplateLookup = default_templates,
                 contradiction_ratio: float = 0.5) -> Decision:
    """Apply the rules (module docstring) to one claim and log the outcome."""
    probe = latest_probe(db, claim.id)
    if probe is None:
        return Decision(claim.id, "not_probed", "no probe of this claim's facts yet")
    verdict = probe["verdict"]
    if verdict == "agrees" and says_it(probe):
        return Decision(claim.id, "model_agrees",
                        f"the model already answers {probe['answer']!r}, which agrees")
    if verdict == "agrees":
        # the likelihoods agree (the claim is about as likely as the model's own answer)
        # but asked, it answers something else: users would not get the fact
        verdict = "unknown"
    if verdict == "unknown" and not config.insert_unknown:
        return Decision(claim.id, "unknown_not_inserted",
                        "the model does not know this fact and insert_unknown is off")
    kind = "correction" if verdict == "conflicts" else "insertion"

    since = to_iso(now - timedelta(hours=config.window_hours))
    sources = claim_sources(db, claim.id)
    recent = [s for s in sources if s.seen_at >= since]
    trusted = [s for s in recent if s.trust >= config.trust_floor]
    if not trusted:
        return Decision(claim.id, "below_trust_floor" if recent else "insufficient_sources",
                        f"no source within {config.window_hours:g} h from a feed trusted "
                        f">= {config.trust_floor:g}", kind)
    groups = independent_groups(trusted)
    if len(groups) < config.min_domains:
        return Decision(claim.id, "insufficient_sources",
                        f"{_n(len(groups), 'independent domain')} ({_names(groups)}) within "
                        f"{config.window_hours:g} h; {config.min_domains} needed", kind,
                        domains=tuple(sorted(_flat(groups))))

    context = _Context(claim, probe, kind, trusted, config, now)
    problem = well_formed(db, claim, trusted, config)
    if problem is not None:
        rule, reason = problem
        return _log(db, context, EditStatus.REJECTED, rule, reason, templates, groups)
    rival = strongest_rival(db, claim, config, since, len(groups), contradiction_ratio)
    if rival is not None:
        rival_claim, rival_support = rival
        return _log(db, context, EditStatus.REJECTED, "contradicted",
                    f"a competing claim says {rival_claim.object!r} with "
                    f"{_n(rival_support, 'independent domain')} against our {len(groups)}: "
                    "the news is in dispute", templates, groups)

    elsewhere = office_elsewhere(db, claim, config, since, len(groups))
    if elsewhere is not None:
        other, other_support = elsewhere
        return _log(db, context, EditStatus.REJECTED, "held_elsewhere",
                    f"{_n(other_support, 'independent domain')} also give {claim.object!r} "
                    f"this office for {other.subject!r}: which one the news means is in "
                    "doubt", templates, groups)

    exhausted = exhausted_domains(db, _flat(groups), config, now)
    counted = [g for g in groups if not (g & exhausted)]
    if len(counted) < config.min_domains:
        return _log(db, context, EditStatus.REJECTED, "rate_limited",
                    f"{_names([exhausted])} already contributed "
                    f"{config.per_source_edits_per_day} edits in the last 24 h; "
                    f"{_n(len(counted), 'other independent domain')} left, "
                    f"{config.min_domains} needed", templates, groups)

    from memoird.extractors.schema import RelationSchema

    rel = RelationSchema.default().get(claim.relation)
    recent_edit = subject_edited_since(
        db, claim.subject_key, to_iso(now - timedelta(hours=config.subject_cooldown_hours)),
        relation=claim.relation if rel is not None and rel.typed else None)
    if recent_edit is not None:
        return _log(db, context, EditStatus.REJECTED, "subject_cooldown",
                    f"{claim.subject!r} was edited at {recent_edit['created_at']} (edit "
                    f"{recent_edit['id']}); cooldown is {config.subject_cooldown_hours:g} h",
                    templates, groups)

    protected = {normalize_key(s) for s in config.protected_subjects}
    if claim.subject_key in protected:
        return _log(db, context, EditStatus.PENDING, "protected_subject",
                    f"{claim.subject!r} is a protected subject: an operator must approve",
                    templates, counted)
    if config.mode == "manual":
        return _log(db, context, EditStatus.PENDING, "manual_mode",
                    "manual mode: every edit waits for an operator", templates, counted)
    return _log(db, context, EditStatus.APPROVED, "confirmed_auto",
                "confirmed by independent sources; auto mode applies it", templates, counted)


def says_it(probe: dict[str, Any]) -> bool:
    """The model's greedy answer names the claimed object (string or alias match on most
    templates, or a near-synonym), not merely finds it likely."""
    from memoird.editor.probe import ProbeThresholds

    scores = probe.get("scores") or {}
    return (scores.get("match", 0.0) >= 0.5
            or scores.get("similarity", 0.0) >= ProbeThresholds().agree_similarity)


# --- well-formedness --------------------------------------------------------------------


def well_formed(db: Database, claim: Claim, trusted: Sequence[Source], config: Any
                ) -> tuple[str, str] | None:
    """Independent domains agreeing through one extractor are no evidence that the triple
    is well formed. For a typed relation: its sides must have the relation's types, and
    enough independent domains must carry a fact whose evidence sentence, read back by the
    model, completes the cloze with the object. Returns (rule, reason) or None.

    One domain reading the object back is enough (the others agree on the same triple
    through the reader): a 135M model's read-back of a second outlet's looser sentence
    ("... will succeed Ange Postecoglou in the dugout at Tottenham") often prefers the
    predecessor, and requiring it of every domain held back 4 of 4 correct changes of
    the held-out news set (bench/news_bench.py) while rejecting no wrong one there."""
    from memoird.extractors.schema import RelationSchema

    rel = RelationSchema.default().get(claim.relation)
    if rel is None or not rel.typed:
        return None
    facts = claim_store.claim_facts(db, claim.id)
    typed = [f for f in facts if f["subject_type"] and f["object_type"]]
    if not typed:
        return ("ill_typed", f"{rel.label} needs a {'/'.join(rel.subject_types)} subject and "
                f"a {'/'.join(rel.object_types)} object; the facts carry no entity types")
    fitting = [f for f in typed if f["subject_type"] in rel.subject_types
               and f["object_type"] in rel.object_types]
    if not fitting:
        f = typed[0]
        return ("ill_typed", f"{claim.subject!r} ({f['subject_type']}) -> {claim.object!r} "
                f"({f['object_type']}) does not fit {rel.label}: "
                f"{'/'.join(rel.subject_types)} -> {'/'.join(rel.object_types)}")
    checked = {f["fact_id"] for f in fitting
               if (f["evidence_check"] or {}).get("pass", True)}
    passing = independent_groups([s for s in trusted if s.fact_id in checked])
    if not passing:
        failed = [f["evidence_check"] for f in fitting
                  if not (f["evidence_check"] or {}).get("pass", True)]
        shown = "; ".join(f"{c['prompt']!r} -> {c['answer']!r}" for c in failed[:2])
        return ("evidence_mismatch", f"only {_n(len(passing), 'independent domain')} "
                f"read back {claim.object!r} from their own sentence ({shown})")
    return None


# --- evidence ----------------------------------------------------------------------------


def latest_probe(db: Database, claim_id: int) -> dict[str, Any] | None:
    """The newest probe of any fact supporting the claim: the model's current belief."""
    rows = list(db.query("""
        SELECT p.* FROM probes p JOIN claim_sources s ON s.fact_id = p.fact_id
        WHERE s.claim_id = ? ORDER BY p.id DESC LIMIT 1""", [claim_id]))
    if not rows:
        return None
    row = dict(rows[0])
    row["scores"] = json.loads(row["scores"] or "{}")
    return row


def claim_sources(db: Database, claim_id: int) -> list[Source]:
    rows = db.query("""
        SELECT s.domain, s.fact_id, s.article_id, s.seen_at, a.url AS article_url,
               a.content_hash, f.url AS feed_url, f.trust, fa.evidence
        FROM claim_sources s
        JOIN articles a ON a.id = s.article_id
        JOIN feeds f ON f.id = a.feed_id
        JOIN facts fa ON fa.id = s.fact_id
        WHERE s.claim_id = ? ORDER BY s.seen_at, s.id""", [claim_id])
    return [Source(**row) for row in rows]


def independent_groups(sources: Sequence[Source]) -> list[set[str]]:
    """Domains merged when they share an article text or an evidence sentence.

    Each group is one independent source: a wire story syndicated to ten sites, or one
    actor posting the same text on two domains, counts once.
    """
    parent: dict[str, str] = {s.domain: s.domain for s in sources}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    first_by_key: dict[str, str] = {}
    for s in sources:
        keys = [f"hash:{s.content_hash}"]
        if s.evidence and normalize_key(s.evidence):
            keys.append(f"evidence:{normalize_key(s.evidence)}")
        for key in keys:
            other = first_by_key.setdefault(key, s.domain)
            parent[root(s.domain)] = root(other)
    groups: dict[str, set[str]] = {}
    for domain in parent:
        groups.setdefault(root(domain), set()).add(domain)
    return sorted(groups.values(), key=lambda g: sorted(g))


def strongest_rival(db: Database, claim: Claim, config: Any, since: str, support: int,
                    ratio: float) -> tuple[Claim, int] | None:
    """A competing claim (same subject and relation, other object) with comparable
    independent, trusted, recent support, or None. An article that reports our claim
    and also names the old value ("Son spent ten years at Tottenham") tells the story of
    the change; it is no source for the other side."""
    best: tuple[Claim, int] | None = None
    ours = {s.article_id for s in claim_sources(db, claim.id)}
    # (a rival told only long before our news, "De Jong wants to join Ten Hag's United"
    # two years before "Amorim appointed", is the old state the change replaced, read
    # in the same batch: outside the window before our earliest report it is no dispute)
    first = min((t for t in claim_store.published_times(db, claim.id).values() if t),
                default=None)
    told_since = to_iso(datetime.fromisoformat(first) - timedelta(hours=config.window_hours)) \
        if first else None
    for other in claim_store.competing_claims(db, claim.subject_key, claim.relation):
        if other.id == claim.id or other.object_key == claim.object_key:
            continue
        count = _support(db, other.id, config, since, excluding=ours, told_since=told_since)
        if count and count >= ratio * support and (best is None or count > best[1]):
            best = (other, count)
    return best


def office_elsewhere(db: Database, claim: Claim, config: Any, since: str, support: int
                     ) -> tuple[Claim, int] | None:
    """A claim giving the same person the same office for another subject, with as much
    recent trusted support as ours, or None. A person takes one new office at a time;
    two subjects for one holder means a reader misplaced one of them, and the same
    articles supporting both is the very sign of it (unlike ``strongest_rival``, they
    count). Less support is one outlet's stray reading ("Jackow ... runs a business" in a
    brief that also names Linde), no doubt about ours. Only for relations whose object
    is a person: a club has many players and an owner many companies."""
    from memoird.extractors.schema import RelationSchema

    rel = RelationSchema.default().get(claim.relation)
    if rel is None or tuple(rel.object_types) != ("person",):
        return None
    best: tuple[Claim, int] | None = None
    for other in claim_store.claims_with_object(db, claim.object_key, claim.relation):
        if other.id == claim.id or other.subject_key == claim.subject_key:
            continue
        count = _support(db, other.id, config, since)
        if count >= support and (best is None or count > best[1]):
            best = (other, count)
    return best


def _support(db: Database, claim_id: int, config: Any, since: str,
             excluding: set[int] = frozenset(), told_since: str | None = None) -> int:
    """Independent trusted domains behind a claim since ``since``, not counting the
    articles ``excluding`` names, nor, with ``told_since``, articles published before
    it (an article without a publication time counts)."""
    told = claim_store.published_times(db, claim_id) if told_since else {}
    return len(independent_groups([
        s for s in claim_sources(db, claim_id) if s.seen_at >= since
        and s.trust >= config.trust_floor and s.article_id not in excluding
        and (told_since is None or (told.get(s.article_id) or told_since) >= told_since)]))


def exhausted_domains(db: Database, domains: Sequence[str], config: Any,
                      now: datetime) -> set[str]:
    """Domains that already contributed their daily number of edits (refusals excluded)."""
    since = to_iso(now - timedelta(hours=24))
    out = set()
    for domain in domains:
        count = db.execute("""
            SELECT COUNT(DISTINCT e.id) FROM edits e
            JOIN claim_sources s ON s.claim_id = e.claim_id
            WHERE s.domain = ? AND e.created_at >= ? AND e.status != ?""",
                           [domain, since, EditStatus.REJECTED]).fetchone()[0]
        if count >= config.per_source_edits_per_day:
            out.add(domain)
    return out


def subject_edited_since(db: Database, subject_key: str, since: str,
                         relation: str | None = None) -> dict | None:
    """The latest edit of this subject (of ``relation`` when given) created since
    ``since`` (refusals excluded)."""
    for row in db.query("""SELECT e.id, e.subject, e.created_at FROM edits e
                           WHERE e.created_at >= ? AND e.status != ?
                           AND (? IS NULL OR e.relation = ?)
                           ORDER BY e.created_at DESC""",
                        [since, EditStatus.REJECTED, relation, relation]):
        if normalize_key(row["subject"]) == subject_key:
            return row
    return None


# --- logging -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    claim: Claim
    probe: dict[str, Any]
    kind: str
    sources: list[Source]
    config: Any
    now: datetime


def _log(db: Database, ctx: _Context, status: EditStatus, rule: str, reason: str,
         templates: TemplateLookup, groups: Sequence[set[str]]) -> Decision:
    """Log the decision as an edit (unless the same refusal is already logged)."""
    claim = ctx.claim
    domains = tuple(sorted(_flat(groups)))
    if status == EditStatus.REJECTED and claim.edit_id is not None:
        previous = edit_log.get_edit(db, claim.edit_id)
        if previous.status == EditStatus.REJECTED and previous.policy_rule == rule:
            return Decision(claim.id, rule, previous.why or reason, ctx.kind, None,
                            None, domains)
    prompts, target, aliases = edit_forms(db, claim, ctx.probe, templates)
    why = explain(ctx, rule, reason, groups)
    details = {
        "rule": rule, "kind": ctx.kind,
        "sources": [asdict(s) for s in ctx.sources if s.domain in domains],
        "probe": {k: ctx.probe[k] for k in ("id", "fact_id", "checkpoint_id",
                                             "memory_generation", "template", "answer",
                                             "verdict", "scores")},
        "policy": {name: _plain(getattr(ctx.config, name)) for name in (
            "mode", "min_domains", "window_hours", "trust_floor", "per_source_edits_per_day",
            "subject_cooldown_hours", "protected_subjects", "insert_unknown")},
    }
    # the edit and the claim's new status are one commit: a crash in between would leave
    # an approved edit for a claim still open, which the next pass would decide again
    with write_transaction(db):
        edit = edit_log.create_edit(
            db, subject=claim.subject, relation=claim.relation, prompt=prompts[0],
            prompts=prompts, target=target, old_answer=ctx.probe["answer"],
            subject_aliases=aliases,
            claim_id=claim.id, status=status, policy_rule=rule, why=why, actor=ACTOR,
            reason=reason, checkpoint_id=ctx.probe["checkpoint_id"], details=details,
            now=ctx.now)
        if status == EditStatus.REJECTED:
            claim_store.set_claim_status(db, claim.id, "open", edit_id=edit.id)
        else:
            claim_store.set_claim_status(db, claim.id, "confirmed", edit_id=edit.id)
            for other in claim_store.competing_claims(db, claim.subject_key, claim.relation):
                if other.id != claim.id and other.status == "confirmed":
                    claim_store.set_claim_status(db, other.id, "superseded")
    log.info("claim %s -> edit %s %s (%s)", claim.id, edit.id, status, rule)
    return Decision(claim.id, rule, why, ctx.kind, status, edit.id, domains)


#: alias questions trained per edit (routing accepts every alias; training a few of them
#: teaches the memory that the alias asks the same question)
ALIAS_QUESTIONS = 2


def edit_forms(db: Database, claim: Claim, probe: dict[str, Any], templates: TemplateLookup
               ) -> tuple[list[str], str, list[str]]:
    """(prompts, target, subject aliases) of the edit a claim becomes.

    A typed news relation is trained as its cloze in the role the news used and the
    default one ("The Chancellor of Germany is", "The Prime Minister of Germany is"), its
    questions ("Who is the Chancellor of Germany?") and a question under each of the
    first subject aliases ("Who is the Prime Minister of Britain?"); the target is the
    object entity's fullest name. Other relations keep their cloze templates.
    """
    from collections import Counter

    from memoird.extractors.schema import RelationSchema

    rel = RelationSchema.default().get(claim.relation)
    facts = claim_store.claim_facts(db, claim.id)
    subject_entity = next((f["subject_entity_id"] for f in facts if f["subject_entity_id"]), None)
    object_entity = next((f["object_entity_id"] for f in facts if f["object_entity_id"]), None)
    target = claim_store.entity_display(db, object_entity, claim.object)
    aliases = ([a for a in entity_store.aliases(db, subject_entity)
                if normalize_key(a) != claim.subject_key
                and not _wider_body(a, claim.subject)] if subject_entity else [])
    if rel is None or not rel.typed:
        return edit_prompts(claim, probe, templates), target, aliases
    roles = Counter(rel.role_for(f["raw_relation"]) for f in facts)
    role = roles.most_common(1)[0][0] if roles else rel.role_for(None)
    default = rel.role_for(None)
    asked = rel.asked(claim.subject, role)
    # the cloze first (the probe's form), then the main question and an alias question
    # (the two trained in chat forms too, editor/forms.py), then the other forms
    prompts = [*rel.cloze(claim.subject, role)[:1], *asked[:1],
               *(rel.asked(a, role)[0] for a in aliases[:ALIAS_QUESTIONS] if rel.questions),
               *rel.cloze(claim.subject, role)[1:], *asked[1:]]
    if role != default:
        prompts += [*rel.cloze(claim.subject, default)[:1], *rel.asked(claim.subject, default)[:1]]
    return list(dict.fromkeys(prompts)), target, aliases


def _wider_body(alias: str, subject: str) -> bool:
    """Whether ``alias`` is the first words of ``subject`` followed by words that name a
    part of a wider body ("Bolloré" for "Bolloré Africa Logistics"): an edit routed on it
    would also answer for the body's other parts ("Bolloré Logistics is owned by"). The
    first words of a name whose rest is a legal form or a place stay ("Bayern" for
    "Bayern Munich", "Chelsea" for "Chelsea F.C.")."""
    from memoird.extractors.entities import is_place

    short, full = normalize_key(alias).split(), normalize_key(subject).split()
    if not short or len(short) >= len(full) or full[:len(short)] != short:
        return False
    rest = [w for w in full[len(short):] if w not in entity_store.SUFFIXES and len(w) > 1]
    return bool(rest) and not is_place(" ".join(rest))


def edit_prompts(claim: Claim, probe: dict[str, Any], templates: TemplateLookup) -> list[str]:
    """The relation's templates filled with the subject; the probed template first."""
    try:
        known = list(templates(claim.relation))
    except (KeyError, LookupError):
        known = []
    ordered = list(dict.fromkeys([probe["template"], *known]))
    return [t.replace("{subject}", claim.subject).rstrip() for t in ordered if "{subject}" in t]


def explain(ctx: _Context, rule: str, reason: str, groups: Sequence[set[str]]) -> str:
    """The "why this edit" line operators read in the edit log."""
    claim, probe = ctx.claim, ctx.probe
    belief = (f"the model answers {probe['answer']!r}" if probe["answer"]
              else "the model gives no answer")
    what = ("corrects the model" if ctx.kind == "correction" else "teaches the model a fact "
            "it does not know")
    evidence = "; ".join(f"{'+'.join(sorted(g))}" for g in groups)
    return (f"{claim.subject} / {claim.relation} -> {claim.object!r} {what}: {belief} "
            f"(probe {probe['verdict']}, memory generation {probe['memory_generation']}). "
            f"Sources: {_n(len(groups), 'independent domain')} ({evidence}) within "
            f"{ctx.config.window_hours:g} h, trust >= {ctx.config.trust_floor:g}. "
            f"Rule {rule}: {reason}.")


def _flat(groups: Sequence[set[str]]) -> set[str]:
    return set().union(*groups) if groups else set()


def _names(groups: Sequence[set[str]]) -> str:
    return ", ".join(sorted(_flat(groups))) or "none"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def neighbour_subjects(db: Database, edit: Any, n: int = 4) -> list[str]:
    """Other subjects the store has claims about for the edit's relation, newest first:
    the template neighbours that verification (editor/verify.py) checks do not move."""
    if not getattr(edit, "relation", None):
        return []
    own = normalize_key(edit.subject)
    out: list[str] = []
    for row in db.query("""SELECT subject, subject_key FROM claims WHERE relation = ?
                           GROUP BY subject_key ORDER BY max(last_seen) DESC LIMIT ?""",
                        [edit.relation, n + 1]):
        if row["subject_key"] != own:
            out.append(row["subject"])
    return out[:n]


def sibling_prompts(edit: Any) -> list[str]:
    """The subject's other facts, asked as the schema asks them ("The Prime Minister of
    India is" beside a head-of-state edit of India): verification checks that they do not
    move, the same-subject half of locality that template neighbours cannot see.

    Only those the routing's relation stage keeps off the edit: a phrase the edit's own
    prompts use is not kept off ("Minister-President of Thuringia" holds "President"), so
    "The President of Thuringia is" may answer the new minister-president by design."""
    from memoird.daemon.engine import elsewhere
    from memoird.editor.routing import elsewhere_pattern, subject_pattern
    from memoird.extractors.schema import RelationSchema

    if not getattr(edit, "relation", None) or not edit.subject.split():
        return []
    kept = elsewhere_pattern(elsewhere(edit))
    if kept is None:
        return []
    subject = subject_pattern(edit.subject)
    return [p for rel in RelationSchema.default().siblings(edit.relation)
            for p in (*rel.cloze(edit.subject)[:1], *rel.asked(edit.subject)[:1])
            if kept.search(subject.sub(" ", p.casefold()))]
