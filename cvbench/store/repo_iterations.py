"""Iterations: rows of ``iterations`` and ``iteration_images`` (what each one learnt from,
the truth at training time and the validation predictions of the stored model)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ProjectError
from ._sql import Sql
from .repo_meta import MetaRepository

__all__ = ["IterationRepository", "IterationRow", "ValidationRow"]

_NAME = re.compile(r"^Iteration (\d+)$")
_ORDER = "ORDER BY created DESC, name DESC"


@dataclass(frozen=True)
class IterationRow:
    """One stored iteration (JSON columns as text)."""

    id: str
    name: str
    status: str
    mode: str
    domain: str
    kind: str
    created: str
    trained_seconds: float
    settings: str
    tags: str
    metrics: str
    weights: str
    published_name: str | None


@dataclass(frozen=True)
class ValidationRow:
    """One validation image of an iteration: the truth at training time and the stored
    model's predictions (Custom Vision dicts)."""

    image_id: str
    truth: list[Any]
    predictions: list[dict[str, Any]]


_COLUMNS = ("id, name, status, mode, domain, kind, created, trained_seconds, settings, tags, "
            "metrics, weights, published_name")


class IterationRepository:
    """``iterations`` and ``iteration_images``. An iteration is written once, in one
    transaction with its images; only its published name changes later."""

    def __init__(self, sql: Sql, meta: MetaRepository) -> None:
        self._sql = sql
        self._meta = meta

    # -- reading --------------------------------------------------------------------------
    def all(self) -> list[IterationRow]:
        """Every iteration, newest first."""
        return [IterationRow(*r) for r in self._sql.rows(
            f"SELECT {_COLUMNS} FROM iterations {_ORDER}")]

    def find(self, key: str) -> IterationRow | None:
        """The newest iteration whose id, name or published name is ``key``."""
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM iterations WHERE id = ? OR name = ? OR published_name = ? "
            f"{_ORDER} LIMIT 1", (key, key, key))
        return None if row is None else IterationRow(*row)

    def newest_published(self) -> str | None:
        """The id of the most recently created published iteration."""
        value = self._sql.value(
            "SELECT id FROM iterations WHERE published_name IS NOT NULL "
            "ORDER BY created DESC LIMIT 1")
        return None if value is None else str(value)

    def exists(self, iteration_id: str) -> bool:
        return self._sql.one("SELECT 1 FROM iterations WHERE id = ?", (iteration_id,)) is not None

    def published_name(self, iteration_id: str) -> tuple[bool, str | None]:
        """``(exists, published name)``."""
        row = self._sql.one("SELECT published_name FROM iterations WHERE id = ?",
                            (iteration_id,))
        return (False, None) if row is None else (True, row[0])

    def ids(self) -> set[str]:
        return {r[0] for r in self._sql.rows("SELECT id FROM iterations")}

    def count(self) -> int:
        return int(self._sql.value("SELECT COUNT(*) FROM iterations"))

    def split_of(self, iteration_id: str) -> dict[str, str]:
        """Image id -> ``"train"`` or ``"validation"``, as the iteration used them."""
        return {r[0]: r[1] for r in self._sql.rows(
            "SELECT image_id, split FROM iteration_images WHERE iteration_id = ?",
            (iteration_id,))}

    def validation_rows(self, iteration_id: str) -> list[ValidationRow]:
        """The iteration's validation images, by image id."""
        return [
            ValidationRow(r[0], json.loads(r[1]), json.loads(r[2] or "[]"))
            for r in self._sql.rows(
                "SELECT image_id, truth, predictions FROM iteration_images "
                "WHERE iteration_id = ? AND split = 'validation' ORDER BY image_id",
                (iteration_id,))
        ]

    def image_count(self) -> int:
        return int(self._sql.value("SELECT COUNT(*) FROM iteration_images"))

    # -- writing ----------------------------------------------------------------------------
    def insert(self, row: IterationRow, images: Sequence[tuple[str, str, str, str | None]]
               ) -> str:
        """Store a new iteration and its images ``(image_id, split, truth JSON, predictions
        JSON or None)`` in one transaction, named ``"Iteration N"`` with N one more than
        any before (deleted ones included). ``row.name`` is ignored; returns the name."""
        meta = self._meta
        with self._sql.transaction():
            number = 1 + max(
                [int(m.group(1)) for (n,) in self._sql.rows("SELECT name FROM iterations")
                 if (m := _NAME.match(n))]
                + [meta.get_int("iteration_seq")]
            )
            name = f"Iteration {number}"
            meta.set("iteration_seq", str(number))
            self._sql.write(
                f"INSERT INTO iterations ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, name, row.status, row.mode, row.domain, row.kind, row.created,
                 float(row.trained_seconds), row.settings, row.tags, row.metrics, row.weights,
                 row.published_name),
            )
            self._sql.write_many(
                "INSERT INTO iteration_images (iteration_id, image_id, split, truth, "
                "predictions) VALUES (?, ?, ?, ?, ?)",
                [(row.id, *image) for image in images],
            )
        return name

    def publish(self, iteration_id: str, name: str) -> None:
        """Set the published name (unique in the project; ProjectError names the other)."""
        with self._sql.transaction():
            other = self._sql.one(
                "SELECT name FROM iterations WHERE published_name = ? AND id != ?",
                (name, iteration_id))
            if other is not None:
                raise ProjectError(
                    f"{other[0]!r} is already published as {name!r}; unpublish it first or "
                    "choose another name"
                )
            self._sql.write("UPDATE iterations SET published_name = ? WHERE id = ?",
                            (name, iteration_id))

    def unpublish(self, iteration_id: str) -> None:
        with self._sql.transaction():
            self._sql.write("UPDATE iterations SET published_name = NULL WHERE id = ?",
                            (iteration_id,))

    def delete(self, iteration_id: str) -> None:
        """Delete the iteration's rows (its images go with them); the facade removes its
        files after."""
        with self._sql.transaction():
            self._sql.write("DELETE FROM iterations WHERE id = ?", (iteration_id,))
