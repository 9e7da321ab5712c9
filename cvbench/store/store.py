"""``Store``: one project's persistence — the database connection, its lock, the files,
and explicit transactions — with one repository per concern on top: ``meta``, ``tags``, ``images``, ``regions``,
``metadata`` (image key/value pairs), ``split``, ``iterations`` (training runs included),
``predictions`` and ``features``.

    store = Store.open(root)
    with store.transaction():                  # BEGIN IMMEDIATE … COMMIT
        tag = store.tags.insert("cat", "Regular", "")
        with store.transaction():              # nested: a SAVEPOINT, never a silent join
            ...
    store.tags.all()                          # reads take the lock too

**Threads.** The connection is shared by the threads of one process (the TrainPanel trains
in one); every use of it — each read, each write, a whole transaction — holds the store's
re-entrant lock, so a thread never sees another one's transaction half done and never
uses the connection at the same time as another. Other processes queue behind
``BEGIN IMMEDIATE`` (SQLite's busy timeout).

**Writes** are only allowed inside :meth:`Store.transaction`; a repository that is asked to
write outside one raises. Files are written before the rows that point to them (see
:mod:`cvbench.store.files`).

**Dialects.** All SQL lives in the repository classes (``repo_*.py``) and goes through the
small :class:`~cvbench.store._sql.Sql` helper; a second database (PostgreSQL through SQLAlchemy Core) is a
second implementation of those classes over another helper, not a change to their callers.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from . import db as _db
from ._sql import Sql
from .files import FileStore, IterationFiles
from .repo_features import FeatureRepository
from .repo_images import ImageRepository
from .repo_iterations import IterationRepository
from .repo_meta import MetaRepository
from .repo_metadata import MetadataRepository
from .repo_predictions import PredictionRepository
from .repo_regions import RegionRepository
from .repo_split import SplitRepository
from .repo_tags import TagRepository

__all__ = ["Store", "PREDICTIONS_DIR", "ITERATIONS_DIR"]

#: Folder (inside the project) of the images kept by ``predict(..., store=True)``.
PREDICTIONS_DIR = "predictions"
#: Folder (inside the project) of the iterations' weights.
ITERATIONS_DIR = "iterations"


class Store:
    """A project's database, files and repositories. Open with :meth:`open` or
    :meth:`create`; close with :meth:`close` (or use it as a context manager)."""

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self.root = Path(root)
        self._conn = conn
        self.sql = Sql(conn)
        self._lock = self.sql.lock
        #: image and thumbnail files (content-addressed)
        self.files = FileStore(self.root)
        #: files of the images kept by ``predict(store=True)``
        self.prediction_files = FileStore(self.root / PREDICTIONS_DIR)
        #: weights and configs of the iterations
        self.iteration_files = IterationFiles(self.root / ITERATIONS_DIR)
        sql = self.sql
        self.meta = MetaRepository(sql)
        self.tags = TagRepository(sql)
        self.images = ImageRepository(sql, self.files, self.meta)
        self.regions = RegionRepository(sql, self.images)
        self.metadata = MetadataRepository(sql)
        self.split = SplitRepository(sql, self.meta, self.images, self.tags)
        self.iterations = IterationRepository(sql, self.meta)
        self.predictions = PredictionRepository(sql, self.prediction_files)
        self.features = FeatureRepository(sql)

    # -- opening and closing --------------------------------------------------------------
    @classmethod
    def exists(cls, root: str | Path) -> bool:
        """Whether ``root`` holds a project database."""
        return (Path(root) / _db.DB_NAME).exists()

    @classmethod
    def open(cls, root: str | Path, *, sweep: bool = True) -> Store:
        """Open (and migrate) the project database in ``root``. ``sweep`` removes the
        temporary files that killed writers left behind."""
        root = Path(root)
        store = cls(root, _db.connect(root / _db.DB_NAME))
        if sweep:
            store.files.sweep_temporaries()
        return store

    @classmethod
    def create(cls, root: str | Path, meta: dict[str, str]) -> Store:
        """A new project database in ``root`` with its ``meta`` settings."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root, _db.connect(root / _db.DB_NAME, create=True))
        try:
            with store.transaction():
                store.meta.insert_many(meta)
        except BaseException:
            store.close()
            raise
        return store

    @property
    def database_path(self) -> Path:
        return self.root / _db.DB_NAME

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -----------------------------------------------------------------------
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` on any error)
        holding the lock throughout. Opened again inside itself (by the same thread), it
        nests as a ``SAVEPOINT``: the inner block's failure undoes only the inner block."""
        return self.sql.transaction()

    @property
    def in_transaction(self) -> bool:
        return self.sql.in_transaction

    def revision(self) -> int:
        """The project's change counter: triggers move it on every change of images, their
        tags, boxes and metadata, tags, iterations, stored predictions and settings, by
        any process (one indexed row read; see migration 5 in :mod:`cvbench.store.db`)."""
        return int(self.sql.value("SELECT value FROM counters WHERE name = 'revision'",
                                  default=0))

    @property
    def lock(self) -> Any:
        """The re-entrant lock every use of the connection holds (hold it to read several
        things as one consistent view)."""
        return self._lock

    # -- maintenance ----------------------------------------------------------------------
    def check(self) -> list[str]:
        """Integrity check: SQLite's own, and every image row's file. Returns problems."""
        problems: list[str] = []
        with self._lock:
            res = [r[0] for r in self.sql.rows("PRAGMA integrity_check")]
            if res != ["ok"]:
                problems += [f"database: {r}" for r in res]
            for image_id, sha, ext in self.images.files():
                if not self.files.image_path(sha, ext).exists():
                    problems.append(f"image {image_id}: its file is missing")
        return problems

    def foreign_key_problems(self) -> list[tuple[Any, ...]]:
        """SQLite's ``foreign_key_check``: rows pointing at rows that do not exist."""
        return [tuple(r) for r in self.sql.rows("PRAGMA foreign_key_check")]

    def schema_version(self) -> int:
        return int(self.sql.value("PRAGMA user_version"))

    def snapshot(self, target: Path) -> None:
        """A consistent copy of the database at ``target`` (SQLite's backup API, while
        other connections may be writing), in rollback-journal mode: one file."""
        from .archive import snapshot_database

        snapshot_database(self.database_path, target)
