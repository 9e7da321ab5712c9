"""Boxes of detection images: rows of ``regions`` (normalized left, top, width, height)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..boxes import Box
from ._sql import Sql
from .repo_images import ImageRepository

__all__ = ["RegionRepository", "RegionRow"]


@dataclass(frozen=True)
class RegionRow:
    """One box of one image, for training: the image, the tag and the box."""

    image_id: str
    tag_id: str
    box: Box


class RegionRepository:
    """``regions``. An image's tags follow its boxes: :meth:`replace` keeps ``image_tags``
    equal to the set of its boxes' tags."""

    def __init__(self, sql: Sql, images: ImageRepository) -> None:
        self._sql = sql
        self._images = images

    def replace(self, image_id: str, regions: Sequence[tuple[str, Box]]) -> None:
        """Make ``regions`` (tag id, box) the image's boxes, and their tags its tags."""
        self._sql.write("DELETE FROM regions WHERE image_id = ?", (image_id,))
        self._sql.write_many(
            "INSERT INTO regions (id, image_id, tag_id, left, top, width, height) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(str(uuid.uuid4()), image_id, tag_id, b.left, b.top, b.width, b.height)
             for tag_id, b in regions],
        )
        tag_ids = list(dict.fromkeys(tag_id for tag_id, _ in regions))
        self._images.unlink_except(image_id, tag_ids)
        self._images.link(image_id, tag_ids)

    def remove(self, image_id: str, tag_ids: Sequence[str] | None = None) -> None:
        """Remove the image's boxes of these tags (all its boxes when None)."""
        if tag_ids is None:
            self._sql.write("DELETE FROM regions WHERE image_id = ?", (image_id,))
            return
        self._sql.write_many("DELETE FROM regions WHERE image_id = ? AND tag_id = ?",
                             [(image_id, t) for t in tag_ids])

    def for_training(self) -> list[RegionRow]:
        """Every box, in image order (oldest first), then in the order drawn."""
        return [
            RegionRow(r[0], r[1], Box(r[2], r[3], r[4], r[5]))
            for r in self._sql.rows(
                "SELECT r.image_id, r.tag_id, r.left, r.top, r.width, r.height FROM regions r "
                "JOIN images i ON i.id = r.image_id ORDER BY i.seq, r.rowid")
        ]
