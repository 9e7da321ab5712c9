"""Boxes of detection images: rows of ``regions`` (normalized left, top, width, height)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..boxes import Box
from ._sql import Sql, chunks, marks
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

    def add(self, image_id: str, regions: Sequence[tuple[str, Box]]) -> list[str]:
        """Add boxes ``(tag id, box)`` to the image beside its others, and their tags to
        its tags. Returns the new boxes' ids, in order."""
        ids = [str(uuid.uuid4()) for _ in regions]
        self._sql.write_many(
            "INSERT INTO regions (id, image_id, tag_id, left, top, width, height) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(rid, image_id, tag_id, b.left, b.top, b.width, b.height)
             for rid, (tag_id, b) in zip(ids, regions, strict=True)],
        )
        self._images.link(image_id, list(dict.fromkeys(tag_id for tag_id, _ in regions)))
        return ids

    def count_on(self, image_id: str) -> int:
        """How many boxes the image has."""
        return int(self._sql.value("SELECT COUNT(*) FROM regions WHERE image_id = ?",
                                   (image_id,)))

    def images_of(self, region_ids: Sequence[str]) -> dict[str, str]:
        """Region id -> image id, for the ids among ``region_ids`` that exist."""
        out: dict[str, str] = {}
        for chunk in chunks(list(region_ids)):
            out.update((r[0], r[1]) for r in self._sql.tuples(
                f"SELECT id, image_id FROM regions WHERE id IN ({marks(chunk)})", chunk))
        return out

    def delete(self, region_ids: Sequence[str]) -> list[str]:
        """Delete boxes by id; each image keeps the tags of the boxes it still has. Returns
        the ids of the images that lost a box."""
        found = self.images_of(region_ids)
        for chunk in chunks(list(found)):
            self._sql.write(f"DELETE FROM regions WHERE id IN ({marks(chunk)})", chunk)
        images = sorted(set(found.values()))
        self._sql.write_many(
            "DELETE FROM image_tags WHERE image_id = ? AND tag_id NOT IN "
            "(SELECT tag_id FROM regions WHERE image_id = ?)", [(i, i) for i in images])
        return images

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
