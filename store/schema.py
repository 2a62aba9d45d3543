"""Schema of the memoird database, as sqlite-utils ``Migrations``.

Migrations are append-only: never edit one that has shipped, add a new function below
it. Each runs in its own transaction with the record of it having run, so a crash mid-way
leaves it pending and the next start retries it.

The DDL is written out in SQL rather than built with ``Table.create`` because the
guarantees live in it: CHECK constraints on statuses and ranges, UNIQUE keys that make
dedup race-free, partial indexes, and the triggers that make the edit log append-only.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from .records import (ARTICLE_STATUSES, CHECKPOINT_STATUSES, CLAIM_STATUSES, EDIT_STATUSES,
                      FACT_STATUSES, FEED_STATUSES, VERDICTS)

migrations = Migrations("memoird")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"CHECK ({column} IN ({quoted}))"


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(f"""
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        site_url TEXT,
        etag TEXT,
        last_modified TEXT,
        next_check_at TEXT,
        last_checked_at TEXT,
        error_count INTEGER NOT NULL DEFAULT 0 CHECK (error_count >= 0),
        last_error TEXT,
        status TEXT NOT NULL DEFAULT 'active' {_one_of('status', FEED_STATUSES)},
        paused_reason TEXT,
        trust REAL NOT NULL DEFAULT 0.5 CHECK (trust >= 0 AND trust <= 1),
        fetch_full_article INTEGER NOT NULL DEFAULT 0 CHECK (fetch_full_article IN (0, 1)),
        created_at TEXT NOT NULL
    );
    CREATE INDEX feeds_due ON feeds(status, next_check_at);

    CREATE TABLE articles (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id),
        guid TEXT NOT NULL,
        url TEXT,
        title TEXT,
        published_at TEXT,
        text TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'new' {_one_of('status', ARTICLE_STATUSES)},
        error TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (feed_id, guid)
    );
    CREATE INDEX articles_feed_url ON articles(feed_id, url);
    CREATE INDEX articles_feed_hash ON articles(feed_id, content_hash);
    CREATE INDEX articles_status ON articles(status, id);

    CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles(id),
        subject TEXT NOT NULL,
        relation TEXT,
        raw_relation TEXT NOT NULL,
        object TEXT NOT NULL,
        evidence TEXT,
        extractor_model TEXT,
        prompt_version TEXT,
        confidence REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
        status TEXT NOT NULL DEFAULT 'new' {_one_of('status', FACT_STATUSES)},
        created_at TEXT NOT NULL
    );
    CREATE INDEX facts_article ON facts(article_id);
    CREATE INDEX facts_status ON facts(status, id);

    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES checkpoints(id),
        created_at TEXT NOT NULL,
        edits_distilled TEXT NOT NULL DEFAULT '[]',
        gate_metrics TEXT NOT NULL DEFAULT '{{}}',
        status TEXT NOT NULL DEFAULT 'candidate' {_one_of('status', CHECKPOINT_STATUSES)},
        size_bytes INTEGER CHECK (size_bytes IS NULL OR size_bytes >= 0),
        note TEXT
    );
    -- at most one active checkpoint, enforced by SQLite itself
    CREATE UNIQUE INDEX checkpoints_one_active ON checkpoints(status) WHERE status = 'active';

    CREATE TABLE probes (
        id INTEGER PRIMARY KEY,
        fact_id INTEGER NOT NULL REFERENCES facts(id),
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        memory_generation INTEGER,
        template TEXT NOT NULL,
        answer TEXT,
        scores TEXT NOT NULL DEFAULT '{{}}',
        verdict TEXT NOT NULL {_one_of('verdict', VERDICTS)},
        created_at TEXT NOT NULL
    );
    CREATE INDEX probes_fact ON probes(fact_id, id);

    CREATE TABLE claims (
        id INTEGER PRIMARY KEY,
        subject TEXT NOT NULL,
        relation TEXT NOT NULL,
        object TEXT NOT NULL,
        subject_key TEXT NOT NULL,
        object_key TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' {_one_of('status', CLAIM_STATUSES)},
        edit_id INTEGER REFERENCES edits(id),
        UNIQUE (subject_key, relation, object_key)
    );
    CREATE INDEX claims_status ON claims(status, id);

    CREATE TABLE claim_sources (
        id INTEGER PRIMARY KEY,
        claim_id INTEGER NOT NULL REFERENCES claims(id),
        fact_id INTEGER NOT NULL REFERENCES facts(id),
        article_id INTEGER NOT NULL REFERENCES articles(id),
        domain TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        UNIQUE (claim_id, fact_id)
    );
    CREATE INDEX claim_sources_domain ON claim_sources(claim_id, domain, seen_at);
    CREATE INDEX claim_sources_fact ON claim_sources(fact_id);

    CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        claim_id INTEGER REFERENCES claims(id),
        subject TEXT NOT NULL,
        relation TEXT,
        prompt TEXT NOT NULL,
        prompts TEXT NOT NULL DEFAULT '[]',
        target TEXT NOT NULL,
        old_answer TEXT,
        status TEXT NOT NULL {_one_of('status', EDIT_STATUSES)},
        policy_rule TEXT,
        why TEXT,
        mask BLOB,
        verification TEXT,
        memory_generation INTEGER,
        checkpoint_id INTEGER REFERENCES checkpoints(id),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX edits_created ON edits(created_at, id);
    CREATE INDEX edits_status ON edits(status, created_at, id);
    CREATE INDEX edits_relation ON edits(relation, created_at, id);
    CREATE INDEX edits_claim ON edits(claim_id);
    CREATE INDEX edits_checkpoint ON edits(checkpoint_id);

    CREATE TABLE edit_events (
        id INTEGER PRIMARY KEY,
        edit_id INTEGER NOT NULL REFERENCES edits(id),
        from_status TEXT,
        to_status TEXT NOT NULL {_one_of('to_status', EDIT_STATUSES)},
        actor TEXT NOT NULL,
        reason TEXT,
        at TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX edit_events_edit ON edit_events(edit_id, id);

    -- The edit log is evidence: events can be added, never changed or removed,
    -- and an edit row, once written, is never deleted.
    CREATE TRIGGER edit_events_no_update BEFORE UPDATE ON edit_events
    BEGIN SELECT RAISE(ABORT, 'edit_events is append-only: UPDATE refused'); END;
    CREATE TRIGGER edit_events_no_delete BEFORE DELETE ON edit_events
    BEGIN SELECT RAISE(ABORT, 'edit_events is append-only: DELETE refused'); END;
    CREATE TRIGGER edits_no_delete BEFORE DELETE ON edits
    BEGIN SELECT RAISE(ABORT, 'the edit log keeps every edit: DELETE refused'); END;

    -- A status change must be explained by the latest event of that edit, so no code
    -- path can move an edit without leaving who/when/why behind.
    CREATE TRIGGER edits_status_needs_event BEFORE UPDATE OF status ON edits
    WHEN NEW.status IS NOT OLD.status AND NOT EXISTS (
        SELECT 1 FROM edit_events
        WHERE id = (SELECT MAX(id) FROM edit_events WHERE edit_id = NEW.id)
          AND from_status IS OLD.status AND to_status = NEW.status)
    BEGIN SELECT RAISE(ABORT, 'edit status changed without an edit_events row'); END;
    """)


@migrations()
def m002_entities(db: Database) -> None:
    """Canonical entities with aliases; facts point at them and carry their types; an
    edit keeps its subject's aliases so routing recognises "Britain" as well."""
    db.executescript("""
    CREATE TABLE entities (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        type TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (key, type)
    );
    CREATE TABLE entity_aliases (
        id INTEGER PRIMARY KEY,
        entity_id INTEGER NOT NULL REFERENCES entities(id),
        alias TEXT NOT NULL,
        alias_key TEXT NOT NULL,
        how TEXT NOT NULL,
        UNIQUE (alias_key, entity_id)
    );
    CREATE INDEX entity_aliases_key ON entity_aliases(alias_key);
    ALTER TABLE facts ADD COLUMN subject_type TEXT;
    ALTER TABLE facts ADD COLUMN object_type TEXT;
    ALTER TABLE facts ADD COLUMN subject_entity_id INTEGER REFERENCES entities(id);
    ALTER TABLE facts ADD COLUMN object_entity_id INTEGER REFERENCES entities(id);
    ALTER TABLE edits ADD COLUMN subject_aliases TEXT NOT NULL DEFAULT '[]';
    """)
