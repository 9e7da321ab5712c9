"""Stored predictions: images predicted with ``store=True`` (rows of ``predictions``, their
files under ``predictions/``), for Custom Vision's Predictions tab."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._sql import Sql, chunks, marks
from .files import FileStore, sha256_bytes

__all__ = ["PredictionRepository", "PredictionRow", "ORDERS"]

#: Orders of :meth:`PredictionRepository.page`.
ORDERS = {"uncertainty": "uncertainty DESC, created DESC", "newest": "created DESC"}


@dataclass(frozen=True)
class PredictionRow:
    """One stored prediction: where its image is, and what the model said (Custom Vision
    dicts, most probable first)."""

    id: str
    iteration_id: str
    path: Path
    thumbnail_path: Path
    width: int
    height: int
    original_name: str
    created: str
    uncertainty: float
    predictions: list[dict[str, Any]]
    application: str | None = None


class PredictionRepository:
    """``predictions`` and the content-addressed files of their images."""

    def __init__(self, sql: Sql, files: FileStore) -> None:
        self._sql = sql
        self._files = files

    def add(self, *, id: str, iteration_id: str, data: bytes, ext: str, width: int,
            height: int, original_name: str, created: str, uncertainty: float,
            predictions: Sequence[dict[str, Any]], thumbnail: Callable[[], bytes],
            application: str | None = None) -> None:
        """Keep an image (its files first, then its row). ``thumbnail()`` makes the JPEG
        thumbnail when the same image has none yet; ``application`` is the client's label."""
        sha = sha256_bytes(data)
        self._files.put_image(sha, ext, data)
        if not self._files.thumb_path(sha).exists():
            self._files.put_thumb(sha, thumbnail())
        with self._sql.transaction():
            self._sql.write(
                "INSERT INTO predictions (id, iteration_id, sha256, ext, width, height, "
                "original_name, created, uncertainty, predictions, application) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (id, iteration_id, sha, ext, width, height, original_name, created,
                 float(uncertainty), json.dumps(list(predictions)), application),
            )

    def page(self, *, order: str = "uncertainty", skip: int = 0, take: int | None = None,
             iteration: str | None = None, ids: Sequence[str] | None = None,
             application: str | None = None) -> list[PredictionRow]:
        """Stored predictions in ``order`` (see :data:`ORDERS`), paged, optionally of one
        iteration, with these ids, or kept for one ``application``."""
        if order not in ORDERS:
            raise ValueError(f"order={order!r} should be one of {list(ORDERS)}")
        where: list[str] = []
        params: list[Any] = []
        if iteration is not None:
            where.append("iteration_id = ?")
            params.append(iteration)
        if ids is not None:
            ids = list(ids)
            where.append(f"id IN ({marks(ids)})")
            params.extend(ids)
        if application is not None:
            where.append("application = ?")
            params.append(application)
        sql = "SELECT * FROM predictions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {ORDERS[order]} LIMIT ? OFFSET ?"
        params += [-1 if take is None else int(take), int(skip)]
        return [
            PredictionRow(
                id=r["id"],
                iteration_id=r["iteration_id"],
                path=self._files.image_path(r["sha256"], r["ext"]),
                thumbnail_path=self._files.thumb_path(r["sha256"]),
                width=r["width"],
                height=r["height"],
                original_name=r["original_name"],
                created=r["created"],
                uncertainty=float(r["uncertainty"]),
                predictions=json.loads(r["predictions"]),
                application=r["application"],
            )
            for r in self._sql.rows(sql, params)
        ]

    def delete(self, ids: Sequence[str]) -> int:
        """Delete stored predictions: the rows, then the files no other one uses."""
        gone: list[tuple[str, str]] = []
        still: set[str] = set()
        with self._sql.transaction():
            for pid in ids:
                row = self._sql.one("SELECT sha256, ext FROM predictions WHERE id = ?", (pid,))
                if row is None:
                    continue
                self._sql.write("DELETE FROM predictions WHERE id = ?", (pid,))
                gone.append((row[0], row[1]))
            for chunk in chunks([g[0] for g in gone]):
                still.update(r[0] for r in self._sql.rows(
                    f"SELECT sha256 FROM predictions WHERE sha256 IN ({marks(chunk)})", chunk))
        for sha, ext in gone:
            if sha not in still:
                self._files.remove(sha, ext)
        return len(gone)
