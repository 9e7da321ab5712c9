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


def _tags(tag: Tag | None, tags: Sequence[Tag]) -> list[Tag]:
    """``tag`` and ``tags`` as one list without repeats."""
    out: list[Tag] = []
    for t in ([tag] if tag is not None else []) + list(tags):
        if t.id not in {o.id for o in out}:
            out.append(t)
    return out


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
                    split: str | None = None, tags: Sequence[Tag] = (),
                    tagged: bool = False, iteration_id: str | None = None,
                    metadata: tuple[str, Sequence[str]] | None = None) -> int:
        """How many images pass the filters (see :meth:`page_ids`). The common ones read
        a counter kept by triggers; the others are one indexed count."""
        chosen = _tags(tag, tags)
        plain = iteration_id is None and metadata is None
        if plain and not chosen and not untagged and not tagged:
            return self.count() if split is None else self.count_in_split(split)
        if plain and len(chosen) == 1 and not untagged:  # tagged adds nothing to a tag
            column = {None: "image_count", "train": "train_count",
                      "validation": "validation_count"}[split]
            return int(self._sql.value(f"SELECT {column} FROM tags WHERE id = ?",
                                       (chosen[0].id,), 0))
        if plain and split is None and not chosen:
            return self.count_tagged() if tagged else self.count() - self.count_tagged()
        if plain and split is None and not untagged:  # several tags: their links
            ids = [t.id for t in chosen]
            return int(self._sql.value(
                f"SELECT COUNT(DISTINCT image_id) FROM image_tags WHERE tag_id IN "
                f"({marks(ids)})", ids))
        sql, params = self._query("COUNT(*)", chosen, untagged, tagged, split, None,
                                  iteration_id, metadata, page=False)
        return int(self._sql.value(sql, params))

    # -- queries --------------------------------------------------------------------------
    def _query(self, what: str, tags: Sequence[Tag], untagged: bool, tagged: bool,
               split: str | None, ids: Sequence[str] | None, iteration_id: str | None,
               metadata: tuple[str, Sequence[str]] | None, *, page: bool
               ) -> tuple[str, list[Any]]:
        params: list[Any] = []
        where: list[str] = []
        # a page of a large selection (5% of the images or more): walk the images newest
        # first and keep the selected ones, rather than sort all of them
        walk = page and sum(t.image_count for t in tags) * 20 > self._meta.get_int("seq")
        if len(tags) == 1 and not walk:
            sql = f"SELECT {what} FROM image_tags it JOIN images i ON i.id = it.image_id"
            where.append("it.tag_id = ?")
            params.append(tags[0].id)
        else:
            sql = f"SELECT {what} FROM images i"
            if tags:
                tag_ids = [t.id for t in tags]
                where.append(
                    f"EXISTS (SELECT 1 FROM image_tags it WHERE it.image_id = i.id AND "
                    f"it.tag_id IN ({marks(tag_ids)}))" if walk else
                    f"i.id IN (SELECT image_id FROM image_tags WHERE tag_id IN "
                    f"({marks(tag_ids)}))")
                params.extend(tag_ids)
        if untagged:
            where.append("NOT EXISTS (SELECT 1 FROM image_tags x WHERE x.image_id = i.id)")
        if tagged and not tags:
            where.append("EXISTS (SELECT 1 FROM image_tags x WHERE x.image_id = i.id)")
        if split is not None:
            where.append("i.split = ?")
            params.append(split)
        if ids is not None:
            ids = list(ids)
            where.append(f"i.id IN ({marks(ids)})")
            params.extend(ids)
        if iteration_id is not None:
            where.append("i.id IN (SELECT image_id FROM iteration_images WHERE "
                         "iteration_id = ?)")
            params.append(iteration_id)
        if metadata is not None:
            where.append(metadata[0])
            params.extend(metadata[1])
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def page_ids(self, *, tag: Tag | None = None, untagged: bool = False,
                 split: str | None = None, ids: Sequence[str] | None = None,
                 newest_first: bool = True, skip: int = 0, take: int | None = None,
                 tags: Sequence[Tag] = (), tagged: bool = False,
                 iteration_id: str | None = None,
                 metadata: tuple[str, Sequence[str]] | None = None) -> list[str]:
        """Ids of the images that pass every filter given, newest (or oldest) first,
        paged: of ``tag`` or any of ``tags``, untagged or ``tagged``, in ``split``, among
        ``ids``, learnt from by iteration ``iteration_id``, and selected by ``metadata``
        (a condition from :meth:`MetadataRepository.condition`)."""
        sql, params = self._query("i.id", _tags(tag, tags), untagged, tagged, split, ids,
                                  iteration_id, metadata, page=True)
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
                meta: dict[str, dict[str, str]] = {}
                for image_id, key, value in self._sql.tuples(
                        f"SELECT image_id, key, value FROM image_metadata WHERE image_id IN "
                        f"({m}) ORDER BY key", chunk):
                    meta.setdefault(image_id, {})[key] = value
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
                        metadata=meta.get(image_id, {}),
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

    def with_several_tags(self, limit: int = 5) -> list[str]:
        """Up to ``limit`` ids of images with more than one tag."""
        if self._tags_links() <= self.count_tagged():
            return []  # one link per tagged image: none has two
        return [r[0] for r in self._sql.rows(
            "SELECT image_id FROM image_tags GROUP BY image_id HAVING COUNT(*) > 1 LIMIT ?",
            (int(limit),))]

    def _tags_links(self) -> int:
        return int(self._sql.value("SELECT COALESCE(SUM(image_count), 0) FROM tags"))

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
