"""Opening, migrating and sharing the database file."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from memoird.store import SchemaTooNew, edits, feeds, open_db, schema_version

TABLES = {"feeds", "articles", "facts", "probes", "claims", "claim_sources", "edits",
          "edit_events", "checkpoints", "entities", "entity_aliases"}
#: every shipped migration, in order; each runs exactly once per database
MIGRATIONS = ["m001_initial", "m002_entities"]


def test_migrates_an_empty_file_and_creates_parent_dirs(tmp_path):
    path = tmp_path / "deep" / "er" / "memoird.db"
    path.parent.mkdir(parents=True)
    path.touch()                                  # an empty file, as `touch` leaves it
    db = open_db(path)
    assert TABLES <= set(db.table_names())
    assert schema_version(db) == MIGRATIONS
    db.close()
    db = open_db(tmp_path / "new" / "sub" / "x.db")  # missing parents are created
    assert TABLES <= set(db.table_names())


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path):
    path = tmp_path / "memoird.db"
    db = open_db(path)
    feed = feeds.add_feed(db, "https://example.org/rss", title="Example")
    db.close()
    db = open_db(path)
    assert feeds.get_feed(db, feed.id) == feed
    assert db.execute("SELECT COUNT(*) FROM _sqlite_migrations").fetchone()[0] == len(MIGRATIONS)


def test_wal_foreign_keys_and_busy_timeout_are_on(store_db):
    assert store_db.journal_mode == "wal"
    assert store_db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store_db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store_db.execute(
            "INSERT INTO articles (feed_id, guid, content_hash, created_at) VALUES (999, 'g', 'h', 'now')")
    assert store_db["articles"].count == 0


def test_refuses_a_database_migrated_by_a_newer_version(tmp_path):
    path = tmp_path / "memoird.db"
    db = open_db(path)
    db["_sqlite_migrations"].insert({"migration_set": "memoird", "name": "m999_future",
                                     "applied_at": "2030-01-01"})
    db.close()
    with pytest.raises(SchemaTooNew, match="m999_future"):
        open_db(path)


def test_connection_belongs_to_its_thread(store_db):
    errors = []
    thread = threading.Thread(target=lambda: _try(errors, lambda: feeds.list_feeds(store_db)))
    thread.start()
    thread.join()
    assert errors and isinstance(errors[0], sqlite3.ProgrammingError)


def _try(errors, fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - collected for the assertion
        errors.append(exc)


def test_two_threads_write_through_their_own_connections(tmp_path):
    path = tmp_path / "memoird.db"
    open_db(path).close()
    errors: list[Exception] = []
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        db = open_db(path)
        try:
            start.wait()
            for i in range(60):
                edit = edits.create_edit(db, subject=f"{name} {i}", prompt=f"{name} {i} is",
                                         target="x", actor=name, reason="thread test")
                edits.transition(db, edit.id, "approved", actor=name, reason="go")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = open_db(path)
    assert edits.count_edits(db, status="approved") == 120
    assert db["edit_events"].count == 240


def test_concurrent_first_open_migrates_once(tmp_path):
    path = tmp_path / "memoird.db"
    errors: list[Exception] = []
    threads = [threading.Thread(target=lambda: _try(errors, lambda: open_db(path).close()))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert schema_version(open_db(path)) == MIGRATIONS
