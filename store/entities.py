"""Entities: one row per real-world thing, with every name the news used for it.

Claims are keyed by entity, not by string, so "Meloni" and "Giorgia Meloni", or
"Britain" and "United Kingdom", support one claim instead of splitting it into two
one-source claims that never confirm. Resolution, cheapest evidence first:

1. a known alias key of an entity of a compatible type;
2. a person's short form: a single word that is a word of exactly one known full name
   ("Meloni" -> "Giorgia Meloni"), or a full name that contains exactly one known short
   form (the entity then takes the fuller display name), or the same name with initials
   for words ("A. Revanth Reddy" / "Anumula Revanth Reddy");
3. an organisation written with or without a legal or club suffix ("FC Bayern Munich" /
   "Bayern Munich"), or by the first words of exactly one known full name ("Novo" /
   "Novo Nordisk", "Take-Two" / "Take-Two Interactive", either way round; never a place),
   or a team's name without its city ("Bears" / "Chicago Bears");
4. the caller's ``similar`` judge (embedding similarity, in the extract stage: the store
   loads no model) over the entities of the same type;
5. otherwise a new entity.

Every merge is recorded as an alias with how it was made, so an operator can see why two
names count as one. The entity's key never changes once created (claims point at it); its
display name may grow ("Meloni" -> "Giorgia Meloni").
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from sqlite_utils import Database

from ._rows import check_text, get_record, records
from .claims import normalize_key
from .clock import now_iso
from .db import write_transaction
from .records import Entity

#: (name, candidate display names) -> the candidate that names the same thing, or None
SimilarJudge = Callable[[str, Sequence[str]], "str | None"]

#: legal and club words a name may carry or drop ("FC Bayern Munich" / "Bayern Munich")
SUFFIXES = {"fc", "cf", "afc", "sc", "ac", "inc", "corp", "corporation", "co", "ltd", "plc",
            "ag", "sa", "se", "nv", "llc", "group", "company", "the", "club", "holdings"}


def get_entity(db: Database, entity_id: int) -> Entity:
    return get_record(db, "entities", Entity, entity_id, "entity")


def aliases(db: Database, entity_id: int) -> list[str]:
    """Every name the entity was seen under, display name first."""
    entity = get_entity(db, entity_id)
    rows = db.execute("SELECT alias FROM entity_aliases WHERE entity_id = ? ORDER BY id",
                      [entity_id]).fetchall()
    return list(dict.fromkeys([entity.name, *(r[0] for r in rows)]))


def list_entities(db: Database, type: str | None = None, limit: int = 1000) -> list[Entity]:
    where, params = ("WHERE type = ?", [type]) if type else ("", [])
    return records(db, Entity, f"SELECT * FROM entities {where} ORDER BY id LIMIT ?",
                   params + [int(limit)])


def add_alias(db: Database, entity_id: int, alias: str, how: str) -> None:
    key = normalize_key(alias)
    if key:
        db.execute("INSERT INTO entity_aliases (entity_id, alias, alias_key, how) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (alias_key, entity_id) DO NOTHING",
                   [entity_id, alias, key, how])


def resolve(db: Database, name: str, type: str | None, *,
            known_aliases: Sequence[str] = (), similar: SimilarJudge | None = None,
            place: Callable[[str], bool] = lambda key: False) -> Entity:
    """The entity ``name`` (of ``type``) refers to, created if it is new (see module
    docstring). ``known_aliases`` are names the caller knows to be the same thing
    (the extractor's alias table: "Britain" for "United Kingdom"); ``place(key)`` says
    whether a word names a place (no organisation's short form)."""
    name = check_text("entity name", name)
    key = normalize_key(name)
    with write_transaction(db):
        found, how = _by_alias(db, [key, *map(normalize_key, known_aliases)], type), "alias"
        if found is None and type == "person":
            found, how = _by_person_form(db, name), "short form"
        if found is None and type in ("organisation", None):
            found, how = _by_suffix(db, key, type), "suffix"
        if found is None and type == "organisation":
            orgs = list_entities(db, "organisation", limit=100_000)
            found, how = (_by_first_word(orgs, key, place)
                          or _by_nickname(orgs, key, place)
                          or _by_initials(orgs, name)), "short form"
        if found is None and similar is not None:
            pool = list_entities(db, type)
            match = similar(name, [e.name for e in pool]) if pool else None
            found = next((e for e in pool if e.name == match), None)
            how = "similarity"
        if found is None:
            entity_id = db["entities"].insert({
                "name": name, "key": key, "type": type, "created_at": now_iso()}).last_pk
            add_alias(db, entity_id, name, "first seen")
            for alias in known_aliases:
                add_alias(db, entity_id, alias, "alias table")
            return get_entity(db, entity_id)
        if _fuller(name, found.name) and how in ("short form", "alias") \
                and type in ("person", "organisation"):
            db["entities"].update(found.id, {"name": name})
        add_alias(db, found.id, name, how)
        return get_entity(db, found.id)


def _fuller(name: str, shown: str) -> bool:
    """Whether ``name`` says more than the display name ``shown``: more words, or as many
    with fewer initials ("Anumula Revanth Reddy" over "A. Revanth Reddy")."""
    def initials(text: str) -> int:
        return sum(len(w) == 1 for w in normalize_key(text).split())
    return len(name.split()) > len(shown.split()) or (
        len(name.split()) == len(shown.split()) and initials(name) < initials(shown))


def _compatible(type: str | None, other: str | None) -> bool:
    return type is None or other is None or type == other


def _by_alias(db: Database, keys: Sequence[str], type: str | None) -> Entity | None:
    for key in keys:
        if not key:
            continue
        rows = records(db, Entity, """SELECT e.* FROM entities e JOIN entity_aliases a
                       ON a.entity_id = e.id WHERE a.alias_key = ? ORDER BY e.id""", [key])
        rows = [e for e in rows if _compatible(type, e.type)]
        if rows:
            return rows[0]
    return None


def _the_one(hits: Sequence[Entity]) -> Entity | None:
    """The entity a short form names when exactly one known entity fits; none when several
    do (a short form two entities share says neither)."""
    return hits[0] if len({h.id for h in hits}) == 1 else None


def _by_person_form(db: Database, name: str) -> Entity | None:
    words = normalize_key(name).split()
    people = list_entities(db, "person", limit=100_000)
    if len(words) == 1:
        hits = [p for p in people if len(p.name.split()) > 1 and words[0] in
                normalize_key(p.name).split()]
    else:
        hits = [p for p in people if len(normalize_key(p.name).split()) == 1
                and normalize_key(p.name) in words[1:] + ([words[0]] if len(words) > 2 else [])]
        for p in people:
            other = normalize_key(p.name).split()
            if len(other) < 2 or p in hits:
                continue
            shorter, longer = sorted((other, words), key=len)
            if set(shorter) < set(longer) and (
                    shorter[-1] == longer[-1]  # "Mishal al-Sabah" in "Mishal al-Ahmad al-Sabah"
                    or (len(shorter) >= 3 and longer[:len(shorter)] == shorter)):
                hits.append(p)  # "Mohamed bin Zayed" for "Mohamed bin Zayed al-Nahyan"
    if not hits and len(words) > 2:
        hits = [p for p in people if _initialled(words, normalize_key(p.name).split())]
    return _the_one(hits)


def _initialled(one: list[str], other: list[str]) -> bool:
    """One person's name written with initials and in full ("A. Revanth Reddy" /
    "Anumula Revanth Reddy"): word for word the same, or an initial and a word it opens,
    with at least two full words shared (an initial and a surname say too little)."""
    if len(one) != len(other) or one == other:
        return False
    shared = 0
    for a, b in zip(one, other):
        if a == b:
            shared += len(a) > 1
        elif not (min(len(a), len(b)) == 1 and max(a, b, key=len).startswith(min(a, b, key=len))):
            return False
    return shared >= 2 and one[-1] == other[-1]


def _by_first_word(orgs: Sequence[Entity], key: str, place: Callable[[str], bool]
                   ) -> Entity | None:
    """An organisation's short form and its full name, either way round: the first words
    of exactly one known organisation ("Novo" / "Novo Nordisk", "Take-Two" / "Take-Two
    Interactive Software"). A place name is no short form ("Manchester" is a city, and
    two clubs), a name that adds a place to the words is another body ("Bayer
    Leverkusen", the club, is not "Bayer", the company), and a first word two known
    names share otherwise ("Inter Milan", "Inter Miami") says neither."""
    words = key.split()

    def sited(k: str) -> bool:
        # (a word after a particle is a name's, not a place: "Vasco da Gama")
        parts = k.split()
        return any(place(w) for i, w in enumerate(parts[1:], 1)
                   if parts[i - 1] not in _PARTICLES)

    def prefix(short: list[str], long: list[str]) -> bool:
        return len(short) < len(long) and long[:len(short)] == short

    # (a place's adjective may begin a name: "Korean Air" / "Korean Air Lines")
    if place(key) or (len(words) == 1 and place(words[0])) \
            or (len(words) > 1 and (words[0] in SUFFIXES or sited(key))):
        return None
    hits = [e for e in orgs if (prefix(words, e.key.split()) and not sited(e.key))
            or (prefix(e.key.split(), words) and not place(e.key))]
    if any(e.key.split()[0] == words[0] and e.key != key and e not in hits for e in orgs):
        return None  # "Inter Miami" when "Inter Milan" is known: which one is "Inter"?
    return _the_one(hits)


_PARTICLES = {"da", "de", "do", "dos", "das", "di", "del", "della", "van", "von", "der"}
_NOT_INITIALLED = {"of", "the", "and", "&", "de", "du", "des", "la", "le", "für"}


# "RBC", and with an ampersand "J&J", "P&G"
_INITIALS = re.compile(r"[A-Z]{2,5}|[A-Z](?:&[A-Z]){1,3}")


def _initials(key: str) -> str:
    return "".join(w[0] for w in key.split() if w not in _NOT_INITIALLED)


def _by_initials(orgs: Sequence[Entity], name: str) -> Entity | None:
    """An organisation's initials and its full name, either way round ("RBC" / "Royal
    Bank of Canada"), where exactly one known organisation fits."""
    key = normalize_key(name)
    if _INITIALS.fullmatch(name):
        key = key.replace(" ", "")  # "J&J" is "j j" once folded
        hits = [e for e in orgs if len(e.key.split()) >= 2 and _initials(e.key) == key]
    elif len(key.split()) >= 2:
        hits = [e for e in orgs if _INITIALS.fullmatch(e.name)
                and e.key.replace(" ", "") == _initials(key)]
    else:
        return None
    return _the_one(hits)


#: last words many clubs share, no team's name of its own
_GENERIC_TEAM_WORDS = {"united", "city", "town", "county", "rovers", "athletic", "wanderers",
                       "albion", "fc", "club", "sporting", "real", "olympic", "stars"}


def _by_nickname(orgs: Sequence[Entity], key: str, place: Callable[[str], bool]
                 ) -> Entity | None:
    """A team's name without its city and with it, either way round ("Bears" / "Chicago
    Bears", "Lakers" / "Los Angeles Lakers"): the last word of exactly one known
    organisation whose other words name a place."""
    words = key.split()

    def placed(k: str) -> bool:
        return len(k.split()) > 1 and place(" ".join(k.split()[:-1]))

    if words[-1] in _GENERIC_TEAM_WORDS:
        return None  # "United", "City": what many clubs end with, whichever one is known
    if len(words) == 1 and not place(key):
        hits = [e for e in orgs if placed(e.key) and e.key.split()[-1] == key]
    elif placed(key):
        hits = [e for e in orgs if e.key == words[-1]]
    else:
        return None
    return _the_one(hits)


def _by_suffix(db: Database, key: str, type: str | None) -> Entity | None:
    core = [w for w in key.split() if w not in SUFFIXES]
    if not core or core == key.split():
        stripped = None
    else:
        stripped = " ".join(core)
    rows = records(db, Entity, "SELECT * FROM entities WHERE type IS ? OR ? IS NULL",
                   [type, type])
    for entity in rows:
        other = [w for w in entity.key.split() if w not in SUFFIXES]
        if other and (other == core) and (stripped is not None or other != entity.key.split()):
            return entity
    return None
