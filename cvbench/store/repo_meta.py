"""Settings and bookkeeping of a project: the ``meta`` table (key → text value)."""

from __future__ import annotations

from collections.abc import Mapping

from ._sql import Sql

__all__ = ["MetaRepository"]


class MetaRepository:
    """``meta``: the project's settings (id, name, kind, domain, split seed, limits, …)
    and counters (``seq``, ``iteration_seq``) as text."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def all(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._sql.rows("SELECT key, value FROM meta")}

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self._sql.value("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else str(value)

    def get_int(self, key: str, default: int = 0) -> int:
        value = self.get(key)
        return int(value) if value else default

    def set(self, key: str, value: str) -> None:
        self._sql.write(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def insert_many(self, items: Mapping[str, str]) -> None:
        self._sql.write_many("INSERT INTO meta (key, value) VALUES (?, ?)", list(items.items()))
