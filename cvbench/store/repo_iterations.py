"""Iterations: rows of ``iterations`` and ``iteration_images`` (what each one learnt from,
the truth at training time and the validation predictions of the stored model).

A training run writes its row when it starts (:meth:`IterationRepository.begin`: status
``Training``, its name, what was asked, the process that owns it) and completes it
(:meth:`~IterationRepository.complete`: status ``Completed``, the model's files named, its
images, in one transaction) or fails it (:meth:`~IterationRepository.fail`: status
``Failed`` and the error). Readers mark a ``Training`` row whose owner is gone ``Failed``
(see :mod:`cvbench.store._owner`), so a killed process never leaves a run in ``Training``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ProjectError
from ._owner import Owner
from ._sql import Sql
from .repo_meta import MetaRepository

__all__ = ["IterationRepository", "IterationRow", "ValidationRow", "STATUSES"]

#: The statuses of an iteration, as Custom Vision names them.
STATUSES = ("Training", "Completed", "Failed")

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
    error: str | None = None
    finished: str | None = None


@dataclass(frozen=True)
class ValidationRow:
    """One validation image of an iteration: the truth at training time and the stored
    model's predictions (Custom Vision dicts)."""

    image_id: str
    truth: list[Any]
    predictions: list[dict[str, Any]]


_COLUMNS = ("id, name, status, mode, domain, kind, created, trained_seconds, settings, tags, "
            "metrics, weights, published_name, error, finished")


class IterationRepository:
    """``iterations`` and ``iteration_images``. A trained iteration's model never changes;
    only its name and published name do."""

    def __init__(self, sql: Sql, meta: MetaRepository) -> None:
        self._sql = sql
        self._meta = meta

    # -- reading --------------------------------------------------------------------------
    def all(self, status: str | None = None) -> list[IterationRow]:
        """Every iteration (of ``status`` when given), newest first."""
        if status is None:
            return [IterationRow(*r) for r in self._sql.rows(
                f"SELECT {_COLUMNS} FROM iterations {_ORDER}")]
        return [IterationRow(*r) for r in self._sql.rows(
            f"SELECT {_COLUMNS} FROM iterations WHERE status = ? {_ORDER}", (status,))]

    def get(self, iteration_id: str) -> IterationRow | None:
        row = self._sql.one(f"SELECT {_COLUMNS} FROM iterations WHERE id = ?", (iteration_id,))
        return None if row is None else IterationRow(*row)

    def running(self) -> list[tuple[str, Owner]]:
        """``(id, owner)`` of the runs in ``Training``."""
        return [(r[0], Owner(r[1] or "", int(r[2] or 0), r[3] or "")) for r in self._sql.rows(
            "SELECT id, owner_host, owner_pid, owner_started FROM iterations "
            "WHERE status = 'Training'")]

    def find(self, key: str) -> IterationRow | None:
        """The newest iteration whose id, name or published name is ``key``."""
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM iterations WHERE id = ? OR name = ? OR published_name = ? "
            f"{_ORDER} LIMIT 1", (key, key, key))
        return None if row is None else IterationRow(*row)

    def newest_published(self) -> str | None:
        """The id of the most recently created published iteration (only a Completed one
        can be published)."""
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

    def learnt(self, iteration_id: str) -> dict[str, tuple[str, str]]:
        """Image id -> ``(split, truth JSON)`` of every image the iteration learnt from or
        was validated on."""
        return {r[0]: (r[1], r[2]) for r in self._sql.tuples(
            "SELECT image_id, split, truth FROM iteration_images WHERE iteration_id = ?",
            (iteration_id,))}

    # -- writing ----------------------------------------------------------------------------
    def _next_name(self) -> str:
        """``"Iteration N"`` with N one more than any before (deleted ones included)."""
        number = 1 + max(
            [int(m.group(1)) for (n,) in self._sql.rows("SELECT name FROM iterations")
             if (m := _NAME.match(n))]
            + [self._meta.get_int("iteration_seq")]
        )
        self._meta.set("iteration_seq", str(number))
        return f"Iteration {number}"

    def _insert_row(self, row: IterationRow, owner: Owner | None) -> str:
        name = self._next_name()
        self._sql.write(
            f"INSERT INTO iterations ({_COLUMNS}, owner_host, owner_pid, owner_started) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.id, name, row.status, row.mode, row.domain, row.kind, row.created,
             float(row.trained_seconds), row.settings, row.tags, row.metrics, row.weights,
             row.published_name, row.error, row.finished,
             None if owner is None else owner.host, None if owner is None else owner.pid,
             None if owner is None else owner.started),
        )
        return name

    def _insert_images(self, iteration_id: str,
                       images: Sequence[tuple[str, str, str, str | None]]) -> None:
        self._sql.write_many(
            "INSERT INTO iteration_images (iteration_id, image_id, split, truth, "
            "predictions) VALUES (?, ?, ?, ?, ?)",
            [(iteration_id, *image) for image in images],
        )

    def insert(self, row: IterationRow, images: Sequence[tuple[str, str, str, str | None]]
               ) -> str:
        """Store a new, finished iteration and its images ``(image_id, split, truth JSON,
        predictions JSON or None)`` in one transaction, named ``"Iteration N"`` (see
        :meth:`_next_name`). ``row.name`` is ignored; returns the name."""
        with self._sql.transaction():
            name = self._insert_row(row, None)
            self._insert_images(row.id, images)
        return name

    def begin(self, row: IterationRow, owner: Owner) -> str:
        """Record a training run as it starts: ``row`` (status ``Training``; its name is
        ignored) owned by process ``owner``. Returns the run's name."""
        if row.status != "Training":
            raise ValueError(f"a run begins in status 'Training', not {row.status!r}")
        with self._sql.transaction():
            return self._insert_row(row, owner)

    def complete(self, iteration_id: str, *, trained_seconds: float, settings: str,
                 tags: str, metrics: str, weights: str, finished: str,
                 images: Sequence[tuple[str, str, str, str | None]]) -> bool:
        """Turn a run in ``Training`` into a ``Completed`` iteration with its model and
        images, in one transaction. False (and nothing written) when no such run is in
        ``Training`` any more (deleted, or marked Failed)."""
        with self._sql.transaction():
            changed = self._sql.write(
                "UPDATE iterations SET status = 'Completed', trained_seconds = ?, "
                "settings = ?, tags = ?, metrics = ?, weights = ?, finished = ?, error = NULL, "
                "owner_host = NULL, owner_pid = NULL, owner_started = NULL "
                "WHERE id = ? AND status = 'Training'",
                (float(trained_seconds), settings, tags, metrics, weights, finished,
                 iteration_id))
            if not changed:
                return False
            self._insert_images(iteration_id, images)
        return True

    def fail(self, iteration_id: str, error: str, finished: str) -> bool:
        """Mark a run in ``Training`` ``Failed`` with ``error``. False when it is not in
        ``Training`` (it ended meanwhile, or is gone)."""
        with self._sql.transaction():
            return bool(self._sql.write(
                "UPDATE iterations SET status = 'Failed', error = ?, finished = ?, "
                "owner_host = NULL, owner_pid = NULL, owner_started = NULL "
                "WHERE id = ? AND status = 'Training'", (error, finished, iteration_id)))

    def discard(self, iteration_id: str) -> None:
        """Delete a run that is still in ``Training`` (a cancelled one: nothing is kept)."""
        with self._sql.transaction():
            self._sql.write("DELETE FROM iterations WHERE id = ? AND status = 'Training'",
                            (iteration_id,))

    def rename(self, iteration_id: str, name: str) -> None:
        """Set the name (unique among the project's iteration names and published names;
        ProjectError names the other)."""
        with self._sql.transaction():
            other = self._sql.one(
                "SELECT name, published_name = ? FROM iterations WHERE id != ? AND "
                "(name = ? OR published_name = ?) LIMIT 1", (name, iteration_id, name, name))
            if other is not None:
                what = "published as" if other[1] else "named"
                raise ProjectError(
                    f"{other[0]!r} is already {what} {name!r}; iteration names are unique in "
                    "a project: choose another name"
                )
            self._sql.write("UPDATE iterations SET name = ? WHERE id = ?", (name, iteration_id))

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
