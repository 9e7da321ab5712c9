"""The feature cache: pooled backbone features per image content and preprocessing
(``features``: ``(sha256, key) -> float32 little-endian BLOB``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._sql import Sql, chunks, marks

__all__ = ["FeatureRepository"]


class FeatureRepository:
    """``features``. Vectors are keyed by image content (sha256) and by what produced
    them (``key``: see :func:`cvbench.train.features.feature_key`), so that every
    iteration and every project kind reuses them."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    def get(self, shas: Sequence[str], key: str) -> dict[str, np.ndarray]:
        """The cached vectors of ``shas`` under ``key`` (missing ones are absent)."""
        out: dict[str, np.ndarray] = {}
        for chunk in chunks(list(dict.fromkeys(shas))):
            for sha, blob in self._sql.rows(
                f"SELECT sha256, vector FROM features WHERE key = ? AND sha256 IN "
                f"({marks(chunk)})",
                [key, *chunk],
            ):
                out[sha] = np.frombuffer(blob, dtype="<f4")
        return out

    def put(self, key: str, shas: Sequence[str], vectors: np.ndarray) -> None:
        """Cache ``vectors`` (one row per sha) under ``key``, in one transaction."""
        rows = [
            (sha, key, np.ascontiguousarray(v, dtype="<f4").tobytes())
            for sha, v in zip(shas, vectors, strict=True)
        ]
        with self._sql.transaction():
            self._sql.write_many(
                "INSERT OR REPLACE INTO features (sha256, key, vector) VALUES (?, ?, ?)", rows)

    def count(self) -> int:
        return int(self._sql.value("SELECT COUNT(*) FROM features"))
