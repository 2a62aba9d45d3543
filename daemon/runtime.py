"""What one memoird process holds: config, data paths, per-thread databases, the live model.

The CLI, the daemon and the tests all build one ``Runtime`` from a config and ask it for
what they need. Everything heavy (the model, the sentence encoder, the HTTP client) is
created on first use, so ``memoird feeds list`` never loads a model, and the daemon pays
for each part once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlite_utils import Database

from memoird.daemon.config import Config
from memoird.store.db import open_db


@dataclass(frozen=True)
class DataPaths:
    """Where a data directory keeps each kind of state (see README, "Backup")."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "memoird.db"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def runs(self) -> Path:
        """Scratch space of resumable jobs (distillation)."""
        return self.root / "runs"


class Runtime:
    def __init__(self, config: Config, config_path: Path | None = None):
        self.config = config
        self.config_path = config_path
        self.paths = DataPaths(Path(config.daemon.data_dir).expanduser().resolve())
        self._local = threading.local()
        self._lock = threading.Lock()

    def db(self) -> Database:
        """This thread's connection (SQLite connections are bound to their thread)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(self.paths.db)
        return db

    @cached_property
    def engine(self):
        from memoird.daemon.engine import Engine

        with self._lock:
            return Engine.open(self.config, self.paths, self.db())

    @cached_property
    def fetcher(self):
        from memoird.daemon.wiring import build_fetcher

        return build_fetcher(self.config)

    @cached_property
    def extractor(self):
        from memoird.daemon.wiring import build_extractor

        return build_extractor(self.config, self)

    @cached_property
    def pipeline(self):
        from memoird.daemon.pipeline import Pipeline

        return Pipeline(self)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        if "fetcher" in self.__dict__:
            close = getattr(self.fetcher, "close", None)
            if close:
                close()
