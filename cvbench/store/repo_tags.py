"""Tags: rows of ``tags`` with the counts their triggers keep (images, images per split,
boxes)."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from .._types import Tag
from ._sql import Sql

__all__ = ["TagRepository", "TagStats"]

_COLUMNS = "id, name, type, image_count, description"


def _tag(row: sqlite3.Row) -> Tag:
    return Tag(row[0], row[1], row[2], row[3], row[4])


@dataclass(frozen=True)
class TagStats:
    """A tag's counts: images, images in each split, boxes (all kept by triggers)."""

    id: str
    name: str
    type: str
    images: int
    train: int
    validation: int
    regions: int


class TagRepository:
    """``tags``. Names are unique ignoring case (``COLLATE NOCASE``)."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    # -- reading --------------------------------------------------------------------------
    def all(self) -> list[Tag]:
        """All tags, by name (ignoring case), with their image counts."""
        return [_tag(r) for r in self._sql.rows(
            f"SELECT {_COLUMNS} FROM tags ORDER BY name COLLATE NOCASE")]

    def ids_by_creation(self) -> list[str]:
        """The ids of the tags, oldest first (the order they were created in)."""
        return [r[0] for r in self._sql.rows("SELECT id FROM tags ORDER BY created, rowid")]

    def counts(self) -> dict[str, int]:
        """Images per tag name."""
        return {r[0]: r[1] for r in self._sql.rows("SELECT name, image_count FROM tags")}

    def find(self, key: str) -> Tag | None:
        """The tag with id ``key``, else the one named ``key`` (ignoring case)."""
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM tags WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
            (key, key, key),
        )
        return None if row is None else _tag(row)

    def named(self, name: str, *, other_than: str | None = None) -> Tag | None:
        """The tag named ``name`` (ignoring case), except the one with id ``other_than``."""
        row = self._sql.one(
            f"SELECT {_COLUMNS} FROM tags WHERE name = ? AND id IS NOT ?", (name, other_than))
        return None if row is None else _tag(row)

    def names(self) -> list[str]:
        return [r[0] for r in self._sql.rows("SELECT name FROM tags ORDER BY name")]

    def negative_ids(self) -> list[str]:
        return [r[0] for r in self._sql.rows("SELECT id FROM tags WHERE type = 'Negative'")]

    def count(self) -> int:
        return int(self._sql.value("SELECT COUNT(*) FROM tags"))

    def links(self) -> int:
        """Image-tag links in all (the sum of the image counts)."""
        return int(self._sql.value("SELECT COALESCE(SUM(image_count), 0) FROM tags"))

    def stats(self) -> list[TagStats]:
        """Every tag's counts, by name (ignoring case)."""
        return [
            TagStats(*r) for r in self._sql.rows(
                "SELECT id, name, type, image_count, train_count, validation_count, "
                "region_count FROM tags ORDER BY name COLLATE NOCASE")
        ]

    # -- writing (inside a transaction) -----------------------------------------------------
    def insert(self, name: str, type: str, description: str = "") -> Tag:
        tag_id = str(uuid.uuid4())
        self._sql.write(
            "INSERT INTO tags (id, name, type, description, created) VALUES (?, ?, ?, ?, ?)",
            (tag_id, name, type, description,
             datetime.now(timezone.utc).isoformat(timespec="microseconds")),
        )
        return Tag(tag_id, name, type, 0, description)

    def images_beside_others(self, tag_id: str, limit: int = 5) -> list[str]:
        """Up to ``limit`` ids of images that carry tag ``tag_id`` and another tag too."""
        return [r[0] for r in self._sql.rows(
            "SELECT it.image_id FROM image_tags it WHERE it.tag_id = ? AND EXISTS ("
            "SELECT 1 FROM image_tags o WHERE o.image_id = it.image_id AND o.tag_id != ?) "
            "LIMIT ?", (tag_id, tag_id, int(limit)))]

    def rename(self, tag_id: str, name: str) -> None:
        self._sql.write("UPDATE tags SET name = ? WHERE id = ?", (name, tag_id))

    def update(self, tag_id: str, *, name: str, description: str, type: str) -> None:
        """Set a tag's name, description and type (the caller checked the rules)."""
        self._sql.write("UPDATE tags SET name = ?, description = ?, type = ? WHERE id = ?",
                        (name, description, type, tag_id))

    def merge(self, source_id: str, target_id: str) -> None:
        """Move the images and boxes of tag ``source_id`` onto ``target_id``; delete it."""
        self._sql.write(
            "INSERT OR IGNORE INTO image_tags (image_id, tag_id) "
            "SELECT image_id, ? FROM image_tags WHERE tag_id = ?",
            (target_id, source_id),
        )
        self._sql.write("UPDATE regions SET tag_id = ? WHERE tag_id = ?", (target_id, source_id))
        self.delete(source_id)

    def delete(self, tag_id: str) -> None:
        """Delete a tag; its image links and boxes go with it (``ON DELETE CASCADE``)."""
        self._sql.write("DELETE FROM tags WHERE id = ?", (tag_id,))
