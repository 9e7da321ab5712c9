"""Image metadata: key/value text pairs per image (``image_metadata``), and Custom
Vision's metadata filter evaluated on them (:mod:`cvbench.store._filter`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._filter import compile_filter
from ._sql import Sql, chunks, marks

__all__ = ["MetadataRepository"]


class MetadataRepository:
    """``image_metadata``: ``(image_id, key) -> value``, indexed by ``(key, value)``. The
    pairs of an image go with it (``ON DELETE CASCADE``)."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    # -- reading --------------------------------------------------------------------------
    def of(self, image_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The metadata of these images (images without any are absent)."""
        out: dict[str, dict[str, str]] = {}
        for chunk in chunks(list(image_ids)):
            for image_id, key, value in self._sql.tuples(
                    f"SELECT image_id, key, value FROM image_metadata WHERE image_id IN "
                    f"({marks(chunk)}) ORDER BY image_id, key", chunk):
                out.setdefault(image_id, {})[key] = value
        return out

    def most_pairs(self, image_ids: Sequence[str]) -> tuple[str, int] | None:
        """The image among these with the most pairs, and how many (None: none has any)."""
        best: tuple[str, int] | None = None
        for chunk in chunks(list(image_ids)):
            row = self._sql.one(
                f"SELECT image_id, COUNT(*) AS n FROM image_metadata WHERE image_id IN "
                f"({marks(chunk)}) GROUP BY image_id ORDER BY n DESC LIMIT 1", chunk)
            if row is not None and (best is None or row[1] > best[1]):
                best = (row[0], int(row[1]))
        return best

    @staticmethod
    def condition(expression: str) -> tuple[str, list[str]]:
        """The SQL condition (on ``images i``) of a metadata filter, and its parameters;
        a ValueError names what is wrong in the expression."""
        return compile_filter(expression)

    def matching(self, expression: str) -> set[str]:
        """Ids of the images that the metadata filter ``expression`` selects."""
        sql, params = compile_filter(expression)
        return {r[0] for r in self._sql.tuples(f"SELECT i.id FROM images i WHERE {sql}", params)}

    # -- writing (inside a transaction) -----------------------------------------------------
    def merge(self, image_ids: Sequence[str], metadata: Mapping[str, str | None]) -> None:
        """Set these pairs on each image (a value of None removes the key); the image's
        other pairs stay."""
        put = [(k, v) for k, v in metadata.items() if v is not None]
        drop = [k for k, v in metadata.items() if v is None]
        self._sql.write_many(
            "INSERT INTO image_metadata (image_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (image_id, key) DO UPDATE SET value = excluded.value "
            "WHERE value IS NOT excluded.value",
            [(i, k, v) for i in image_ids for k, v in put])
        self._sql.write_many("DELETE FROM image_metadata WHERE image_id = ? AND key = ?",
                             [(i, k) for i in image_ids for k in drop])
