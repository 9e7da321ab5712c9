"""Settings and bookkeeping of a project: the ``meta`` table (key → text value), and what
the project holds against its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._sql import Sql

__all__ = ["Holdings", "MetaRepository"]


@dataclass(frozen=True)
class Holdings:
    """What a project holds, against the limits that count things: its tags and images,
    and the (up to five) images with the most boxes and with the most tags, as
    ``(image id, count)``, the most first."""

    tags: int
    images: int
    most_regions: list[tuple[str, int]]
    most_tags: list[tuple[str, int]]


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

    def limits_text(self) -> str | None:
        """The stored limits (JSON text), or None for a project without them."""
        return self.get("limits")

    def holdings(self) -> Holdings:
        """What the project holds now, to compare with new limits (a few indexed reads)."""
        def most(table: str) -> list[tuple[str, int]]:
            return [(str(r[0]), int(r[1])) for r in self._sql.tuples(
                f"SELECT image_id, COUNT(*) AS n FROM {table} GROUP BY image_id "
                "ORDER BY n DESC, image_id LIMIT 5")]

        return Holdings(
            tags=int(self._sql.value("SELECT COUNT(*) FROM tags")),
            images=int(self._sql.value(
                "SELECT value FROM counters WHERE name = 'images'", default=0)),
            most_regions=most("regions"),
            most_tags=most("image_tags"),
        )

    def images_over(self, *, max_bytes: int, max_pixels: int, max_side: int) -> dict[str, int]:
        """How many stored images are above each of these sizes: ``{"bytes": n,
        "pixels": n, "side": n}`` (one pass over the images)."""
        ((over_bytes, over_pixels, over_side),) = self._sql.tuples(
            "SELECT COALESCE(SUM(bytes > ?), 0), COALESCE(SUM(width * height > ?), 0), "
            "COALESCE(SUM(MAX(width, height) > ?), 0) FROM images",
            (int(max_bytes), int(max_pixels), int(max_side)))
        return {"bytes": int(over_bytes), "pixels": int(over_pixels), "side": int(over_side)}

    def insert_many(self, items: Mapping[str, str]) -> None:
        self._sql.write_many("INSERT INTO meta (key, value) VALUES (?, ?)", list(items.items()))
