"""Opening the memoird database.

One connection per thread: ``open_db`` returns a ``sqlite_utils.Database`` over a fresh
``sqlite3`` connection, which Python binds to the thread that opened it (sharing it raises
``ProgrammingError``). The daemon's scheduler jobs and uvicorn workers therefore each call
``open_db`` once (for example through a ``threading.local``). WAL mode lets readers run
while one writer commits; ``busy_timeout`` makes a second writer wait instead of failing.

Multi-statement writes go through ``write_transaction``: it starts with
``BEGIN IMMEDIATE`` so the write lock is taken up front. A deferred transaction that
reads first and writes later can fail with SQLITE_BUSY without waiting, busy_timeout or
not, when another connection committed in between.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlite_utils import Database

from .errors import SchemaTooNew
from .schema import migrations

#: how long a connection waits for another writer before raising "database is locked"
BUSY_TIMEOUT_MS = 10_000

# Serialises migrations between threads of this process; BEGIN IMMEDIATE does the same
# between processes.
_migrate_lock = threading.Lock()


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    Safe to call once per thread, concurrently, and on an existing file: migrations
    already applied are skipped. ``synchronous=NORMAL`` in WAL mode survives a killed
    process (SIGKILL) without losing a commit; only a power cut can lose the last ones.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA foreign_keys = ON")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        _migrate(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: Database, path: Path) -> None:
    known = {m.name for m in migrations._migrations}
    with _migrate_lock, write_transaction(db):
        unknown = sorted({m.name for m in migrations.applied(db)} - known)
        if unknown:
            raise SchemaTooNew(
                f"{path}: migrated by a newer memoird (unknown migrations: "
                f"{', '.join(unknown)}); upgrade memoird instead of opening it with this one"
            )
        migrations.apply(db)


def schema_version(db: Database) -> list[str]:
    """Names of the migrations applied to ``db``, oldest first (for ``memoird status``)."""
    return [m.name for m in migrations.applied(db)]


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """Run a block of writes as one transaction holding the write lock from the start.

    Nested use (already inside a transaction) becomes a savepoint of the outer one, so
    store functions can be composed inside a caller's transaction.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
