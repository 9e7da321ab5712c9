"""The one door to a project's SQLite connection, for the repositories of
:mod:`cvbench.store`: every call holds the lock; writes require an open transaction;
transactions are explicit and nest as savepoints."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["Sql", "chunks", "marks"]


class Sql:
    """A connection and its re-entrant lock. Repositories call :meth:`rows`, :meth:`one`,
    :meth:`value` to read and :meth:`write`, :meth:`write_many` inside
    :meth:`transaction` to write; nothing outside :mod:`cvbench.store` does."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.RLock()
        self._savepoints = 0

    # -- reading ----------------------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """As :meth:`rows`, as plain tuples (faster to unpack, for whole-table reads)."""
        with self.lock:
            cur = self.conn.cursor()
            cur.row_factory = None
            try:
                return cur.execute(sql, params).fetchall()
            finally:
                cur.close()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def value(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        row = self.one(sql, params)
        return default if row is None else row[0]

    # -- writing ----------------------------------------------------------------------------
    def _require_transaction(self) -> None:
        if not self.conn.in_transaction:
            raise RuntimeError(
                "a write outside a transaction; open one with `with store.transaction():`"
            )

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement; returns the number of rows it changed."""
        with self.lock:
            self._require_transaction()
            return self.conn.execute(sql, params).rowcount

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.lock:
            self._require_transaction()
            self.conn.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        with self.lock:
            return self.conn.in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error), holding the lock
        throughout. Opened again inside itself (by the same thread: the lock keeps other
        threads out), it nests as a ``SAVEPOINT``: a failure of the inner block undoes the
        inner block only — never a silent join."""
        with self.lock:
            if self.conn.in_transaction:
                self._savepoints += 1
                name = f"cvbench_{self._savepoints}"
                self.conn.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                else:
                    self.conn.execute(f"RELEASE {name}")
                finally:
                    self._savepoints -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size`` (SQLite's bound-parameter limit)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def marks(chunk: Sequence[Any]) -> str:
    """``?, ?, …`` for the items of ``chunk``."""
    return ",".join("?" * len(chunk))
