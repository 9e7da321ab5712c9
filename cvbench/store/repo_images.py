"""Images: rows of ``images``, their tag links (``image_tags``), queries and counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._types import Region, StoredImage, Tag
from ._sql import Sql, chunks, marks
from .files import FileStore
from .repo_meta import MetaRepository

__all__ = ["ImageRepository", "NewImage", "LabelledRow", "SPLITS"]

SPLITS = ("train", "validation")


@dataclass(frozen=True)
class NewImage:
    """The row of an image about to be added (its files are already written)."""

    id: str
    sha256: str
    ext: str
    width: int
    height: int
    size: int
    original_name: str
    created: str
    seq: int


@dataclass(frozen=True)
class LabelledRow:
    """One image in a split with one of its tags (classification training reads these)."""

    id: str
    sha256: str
    ext: str
    split: str | None
    tag_id: str


class ImageRepository:
    """``images`` and ``image_tags``. The counts come from ``counters`` and ``tags``
    (kept by triggers), so that counting reads a row, not the table."""

    def __init__(self, sql: Sql, files: FileStore, meta: MetaRepository) -> None:
        self._sql = sql
        self._files = files
        self._meta = meta

    # -- counts ---------------------------------------------------------------------------
    def _counter(self, name: str) -> int:
        return int(self._sql.value("SELECT value FROM counters WHERE name = ?", (name,), 0))

    def count(self) -> int:
        return self._counter("images")

    def count_tagged(self) -> int:
        """Images with at least one tag (detection: with at least one box)."""
        return self._counter("tagged")

    def count_in_split(self, split: str) -> int:
        return self._counter(split)

    def count_where(self, *, tag: Tag | None = None, untagged: bool = False,
                    split: str | None = None) -> int:
        """Images of ``tag``, or untagged ones, in ``split`` (all when None)."""
        if tag is None and not untagged:
            return self.count() if split is None else self.count_in_split(split)
        if tag is not None and split is None:
            return int(self._sql.value("SELECT image_count FROM tags WHERE id = ?", (tag.id,), 0))
        if tag is not None:
            column = "train_count" if split == "train" else "validation_count"
            return int(self._sql.value(f"SELECT {column} FROM tags WHERE id = ?", (tag.id,), 0))
        if split is None:
            return self.count() - self.count_tagged()
        sql, params = self._query("COUNT(*)", None, True, split, None, page=False)
        return int(self._sql.value(sql, params))

    # -- queries --------------------------------------------------------------------------
    def _query(self, what: str, tag: Tag | None, untagged: bool, split: str | None,
               ids: Sequence[str] | None, *, page: bool) -> tuple[str, list[Any]]:
        params: list[Any] = []
        where: list[str] = []
        if tag is not None:
            if page and tag.image_count * 20 > self._meta.get_int("seq"):
                # a page of a tag that holds 5% of the images or more: walk the images
                # newest first and keep the tag's, rather than sort all of the tag's
                sql = f"SELECT {what} FROM images i"
                where.append(
                    "EXISTS (SELECT 1 FROM image_tags it WHERE it.image_id = i.id "
                    "AND it.tag_id = ?)"
                )
            else:
                sql = f"SELECT {what} FROM image_tags it JOIN images i ON i.id = it.image_id"
                where.append("it.tag_id = ?")
            params.append(tag.id)
        else:
            sql = f"SELECT {what} FROM images i"
        if untagged:
            where.append("NOT EXISTS (SELECT 1 FROM image_tags x WHERE x.image_id = i.id)")
        if split is not None:
            where.append("i.split = ?")
            params.append(split)
        if ids is not None:
            ids = list(ids)
            where.append(f"i.id IN ({marks(ids)})")
            params.extend(ids)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def page_ids(self, *, tag: Tag | None = None, untagged: bool = False,
                 split: str | None = None, ids: Sequence[str] | None = None,
                 newest_first: bool = True, skip: int = 0, take: int | None = None
                 ) -> list[str]:
        """Ids of the images that pass the filters, newest (or oldest) first, paged."""
        sql, params = self._query("i.id", tag, untagged, split, ids, page=True)
        sql += f" ORDER BY i.seq {'DESC' if newest_first else 'ASC'} LIMIT ? OFFSET ?"
        params += [-1 if take is None else int(take), int(skip)]
        return [r[0] for r in self._sql.rows(sql, params)]

    def load(self, ids: Sequence[str]) -> list[StoredImage]:
        """The images with these ids, in this order (unknown ids are left out)."""
        files = self._files
        out: list[StoredImage] = []
        with self._sql.lock:  # one consistent view of rows, tags and boxes
            for chunk in chunks(ids):
                m = marks(chunk)
                rows = {r["id"]: r for r in self._sql.rows(
                    f"SELECT * FROM images WHERE id IN ({m})", chunk)}
                tag_rows: dict[str, list[tuple[str, str]]] = {}
                for r in self._sql.rows(
                    f"SELECT it.image_id, t.id, t.name FROM image_tags it JOIN tags t "
                    f"ON t.id = it.tag_id WHERE it.image_id IN ({m}) ORDER BY t.name",
                    chunk,
                ):
                    tag_rows.setdefault(r[0], []).append((r[1], r[2]))
                reg_rows: dict[str, list[Region]] = {}
                for r in self._sql.rows(
                    f"SELECT r.image_id, r.id, r.tag_id, t.name, r.left, r.top, r.width, "
                    f"r.height FROM regions r JOIN tags t ON t.id = r.tag_id "
                    f"WHERE r.image_id IN ({m}) ORDER BY r.rowid",
                    chunk,
                ):
                    reg_rows.setdefault(r[0], []).append(
                        Region(r[2], r[3], r[4], r[5], r[6], r[7], id=r[1]))
                for image_id in chunk:
                    row = rows.get(image_id)
                    if row is None:
                        continue
                    trs = tag_rows.get(image_id, [])
                    out.append(StoredImage(
                        id=row["id"],
                        sha256=row["sha256"],
                        path=files.image_path(row["sha256"], row["ext"]),
                        thumbnail_path=files.thumb_path(row["sha256"]),
                        width=row["width"],
                        height=row["height"],
                        original_name=row["original_name"],
                        created=row["created"],
                        tags=tuple(n for _, n in trs),
                        tag_ids=tuple(i for i, _ in trs),
                        regions=tuple(reg_rows.get(image_id, [])),
                        split=row["split_override"] or row["split"],
                    ))
        return out

    def id_by_sha(self, sha: str) -> str | None:
        value = self._sql.value("SELECT id FROM images WHERE sha256 = ?", (sha,))
        return None if value is None else str(value)

    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` that name no image."""
        out: list[str] = []
        for chunk in chunks(ids):
            found = {r[0] for r in self._sql.rows(
                f"SELECT id FROM images WHERE id IN ({marks(chunk)})", chunk)}
            out += [i for i in chunk if i not in found]
        return out

    def files(self) -> list[tuple[str, str, str]]:
        """``(id, sha256, ext)`` of every image."""
        return [(r[0], r[1], r[2]) for r in self._sql.rows("SELECT id, sha256, ext FROM images")]

    def sha_in_use(self, sha: str) -> bool:
        return self._sql.one("SELECT 1 FROM images WHERE sha256 = ?", (sha,)) is not None

    def tag_count(self, image_id: str) -> int:
        return int(self._sql.value(
            "SELECT COUNT(*) FROM image_tags WHERE image_id = ?", (image_id,)))

    def labelled(self) -> list[LabelledRow]:
        """Every image-tag link with its image, oldest image first."""
        return [LabelledRow(*r) for r in self._sql.rows(
            "SELECT i.id, i.sha256, i.ext, i.split, it.tag_id FROM images i "
            "JOIN image_tags it ON it.image_id = i.id ORDER BY i.seq")]

    def in_splits(self) -> list[tuple[str, str, str, str]]:
        """``(id, sha256, ext, split)`` of every image in a split, oldest first."""
        return [(r[0], r[1], r[2], r[3]) for r in self._sql.rows(
            "SELECT id, sha256, ext, split FROM images WHERE split IS NOT NULL ORDER BY seq")]

    # -- writing (inside a transaction) -----------------------------------------------------
    def insert(self, image: NewImage) -> None:
        self._sql.write(
            "INSERT INTO images (id, sha256, ext, width, height, bytes, original_name, "
            "created, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (image.id, image.sha256, image.ext, image.width, image.height, image.size,
             image.original_name, image.created, image.seq),
        )

    def link(self, image_id: str, tag_ids: Iterable[str]) -> None:
        """Give the image these tags (those it has already stay as they are)."""
        self._sql.write_many(
            "INSERT OR IGNORE INTO image_tags (image_id, tag_id) VALUES (?, ?)",
            [(image_id, t) for t in tag_ids],
        )

    def unlink(self, image_id: str, tag_ids: Sequence[str] | None = None) -> None:
        """Take these tags (all when None) off the image."""
        if tag_ids is None:
            self._sql.write("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
            return
        for chunk in chunks(tag_ids):
            self._sql.write(
                f"DELETE FROM image_tags WHERE image_id = ? AND tag_id IN ({marks(chunk)})",
                [image_id, *chunk],
            )

    def unlink_except(self, image_id: str, keep: Sequence[str]) -> None:
        """Take every tag but ``keep`` off the image."""
        if not keep:
            self.unlink(image_id)
            return
        self._sql.write(
            f"DELETE FROM image_tags WHERE image_id = ? AND tag_id NOT IN ({marks(keep)})",
            [image_id, *keep],
        )

    def set_override(self, ids: Sequence[str], split: str | None) -> None:
        self._sql.write_many(
            "UPDATE images SET split_override = ? WHERE id = ?", [(split, i) for i in ids])

    def delete(self, ids: Sequence[str]) -> list[tuple[str, str]]:
        """Delete images (their tags and boxes go with them). Returns ``(sha256, ext)`` of
        those that existed, for their files."""
        gone: list[tuple[str, str]] = []
        for image_id in ids:
            row = self._sql.one("SELECT sha256, ext FROM images WHERE id = ?", (image_id,))
            if row is None:
                continue
            self._sql.write("DELETE FROM images WHERE id = ?", (image_id,))
            gone.append((row[0], row[1]))
        return gone
