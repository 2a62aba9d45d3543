"""Entity normalisation: one key per real-world name, however a sentence or a model wrote it.

Claims aggregate facts from different feeds, and "Mr. Joe Biden", "joe  biden" and
"President Joe Biden" must land on the same claim; the benchmark's strict match also
compares triples after this normalisation. Display forms keep their case (an edit prompt
wants "Joe Biden", not "joe biden"); keys are case- and accent-folded.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from functools import lru_cache
from importlib import resources

# Titles that precede a name and say nothing about who it is.
HONORIFICS = (
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "rev",
    "reverend", "hon", "president", "vice president", "prime minister", "chancellor",
    "senator", "sen", "rep", "representative", "governor", "gov", "mayor",
)
# Only before a capitalised word: "President Joe Biden" loses the title, "president of
# France" does not. Ambiguous words (General, Saint, King) are not titles here because
# "General Motors" and "Saint Lucia" are names.
_HONORIFIC_RE = re.compile(
    r"^(?:(?:" + "|".join(sorted((re.escape(h) for h in HONORIFICS), key=len, reverse=True))
    + r")\.?\s+(?=(?-i:[A-Z])))+", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»"
_EDGE_PUNCT = _QUOTES + " ,;:!?[]{}<>-–—*#|"
_ABBREV_END_RE = re.compile(r"(?:^|\s)(?:[A-Za-z]\.)+$")
_SPACE_RE = re.compile(r"\s+")
_POSSESSIVE_RE = re.compile(r"(?:'s|’s)$")
_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


def clean_entity(text: str) -> str:
    """Display form: underscores and odd whitespace become spaces, edge punctuation and
    leading honorifics go, case is kept. ``"Dr. Jane_Smith,"`` -> ``"Jane Smith"``."""
    text = unicodedata.normalize("NFKC", str(text)).replace("_", " ")
    text = _strip_edges(_SPACE_RE.sub(" ", text))
    stripped = _HONORIFIC_RE.sub("", text).strip()
    # "President" alone is a title, not a name: keep it when nothing would be left.
    if stripped:
        text = stripped
    return _strip_edges(_POSSESSIVE_RE.sub("", text))


def _strip_edges(text: str) -> str:
    """Drop edge punctuation but keep abbreviation dots ("U.S.") and balanced brackets."""
    while True:
        before = text
        text = text.strip(_EDGE_PUNCT)
        if text.endswith(".") and not _ABBREV_END_RE.search(text):
            text = text[:-1]
        if text.startswith("(") and (text.endswith(")") or ")" not in text):
            text = text[1:-1] if text.endswith(")") else text[1:]
        if text.endswith(")") and text.count("(") < text.count(")"):
            text = text[:-1]
        if text == before:
            return text


def fold(text: str) -> str:
    """Case- and accent-insensitive form of any text (used for matching, never shown)."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^\w\s]", " ", text)
    return _SPACE_RE.sub(" ", text).strip()


def entity_key(text: str) -> str:
    """The key claims and the benchmark compare: display form, folded, leading article
    dropped, known aliases resolved (``"the U.S."`` -> ``"united states"``)."""
    key = fold(clean_entity(text))
    key = _ARTICLE_RE.sub("", key)
    return entity_aliases().get(key, key)


def tokens(text: str) -> list[str]:
    """Folded word tokens (for overlap scores)."""
    return fold(text).split()


@lru_cache(maxsize=1)
def alias_file() -> dict:
    """data/entity_aliases.toml, read once: [aliases] (canonical name -> other names) and
    [shared] (a nickname -> the bodies that share it)."""
    return tomllib.loads(resources.files("memoird.extractors").joinpath(
        "data", "entity_aliases.toml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def entity_aliases() -> dict[str, str]:
    """Folded alias -> folded canonical name, from data/entity_aliases.toml."""
    table: dict[str, str] = {}
    for canonical, aliases in alias_file().get("aliases", {}).items():
        target = fold(canonical)
        for alias in aliases:
            table[fold(alias)] = target
    return table


@lru_cache(maxsize=1)
def shared_nicknames() -> dict[str, tuple[str, ...]]:
    """Folded nickname -> the display names of the bodies that share it, from
    data/entity_aliases.toml's [shared] table (the first is the default)."""
    return {fold(nick): tuple(names) for nick, names in alias_file().get("shared", {}).items()}


@lru_cache(maxsize=1)
def _country_tables() -> dict[str, dict[str, list[str]]]:
    """data/countries.toml: [countries], [territories] and [regions], each display name
    -> its other names and demonyms."""
    return tomllib.loads(resources.files("memoird.extractors").joinpath(
        "data", "countries.toml").read_text(encoding="utf-8"))


def _country_forms(tables: tuple[str, ...] = ("countries", "territories", "regions")
                   ) -> dict[str, tuple[str, ...]]:
    """Display name -> its other names and demonyms, from the tables named."""
    return {name: tuple(others) for table in tables
            for name, others in _country_tables()[table].items()}


@lru_cache(maxsize=1)
def territories() -> frozenset[str]:
    """The states few others recognise (countries.toml's [territories]), by display name."""
    return frozenset(_country_tables()["territories"])


@lru_cache(maxsize=1)
def regions() -> frozenset[str]:
    """States and provinces with a government of their own (countries.toml's [regions]):
    subjects of their premiers, never national teams."""
    return frozenset(_country_tables()["regions"])


@lru_cache(maxsize=2)
def _countries(polities: bool = False) -> dict[str, str]:
    """Folded name or demonym -> display name: countries and the states few recognise,
    with ``polities`` states and provinces too."""
    table: dict[str, str] = {}
    tables = ("countries", "territories", "regions") if polities else ("countries", "territories")
    for name, others in _country_forms(tables).items():
        for form in (name, *others):
            table.setdefault(fold(form), name)
    return table


@lru_cache(maxsize=1)
def joined_country_names() -> tuple[str, ...]:
    """Country names, and their other names, that hold a lower-case word ("Trinidad and
    Tobago", "St Kitts and Nevis"), which a reader of capitalised spans would split."""
    return tuple(sorted({form for name, others in _country_forms().items()
                         for form in (name, *others)
                         if any(w.islower() for w in form.split())}, key=len, reverse=True))


def country_name(text: str, polities: bool = False) -> str | None:
    """The country a name or demonym denotes ("Indian" -> "India"), or None; with
    ``polities`` a state or province with a government of its own too ("Karnataka").

    Only for objects of relations whose value must be a country: elsewhere "French" is a
    language, not France.
    """
    table = _countries(polities)
    key = fold(clean_entity(text))
    # (the raw form first: cleaning takes "DR" in "DR Congo" for a doctor's title)
    found = table.get(fold(text)) or table.get(key) or table.get(_ARTICLE_RE.sub("", key))
    if found is None and key.endswith("ans") and " " not in key:
        found = table.get(key[:-1])  # "Austrians", "Nigerians": the people
    return found


def polity_name(text: str) -> str | None:
    """The country, breakaway state, state or province a name denotes: what the news
    reader types as a country, the subject of a head of government ("Karnataka")."""
    return country_name(text, polities=True)
