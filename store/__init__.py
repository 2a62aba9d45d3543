"""memoird.store: the SQLite database (sqlite-utils 4, WAL) and crash-safe file writes.

Use one module per concern, each a set of functions taking ``db`` first::

    from memoird.store import open_db, feeds, edits
    from memoird.store.records import EditStatus
    db = open_db(data_dir / "memoird.db")      # one per thread
    feed = feeds.add_feed(db, "https://example.org/rss")
    edit = edits.create_edit(db, subject=..., prompt=..., target=..., actor="policy",
                             reason="2 domains agree")
    edits.transition(db, edit.id, EditStatus.APPLIED, actor="editor", reason="trained",
                     mask=[...])

Modules: feeds, articles, facts, probes, claims, edits (the edit log), checkpoints (the
registry), atomic (file writes); records holds the dataclasses, errors the exceptions.
Nothing here imports torch or transformers.
"""

from .db import open_db, schema_version, write_transaction
from .errors import (Duplicate, IllegalTransition, InvalidValue, NotFound, SchemaTooNew,
                     StoreError)

__all__ = ["open_db", "schema_version", "write_transaction", "StoreError", "NotFound",
           "Duplicate", "InvalidValue", "IllegalTransition", "SchemaTooNew"]
