"""The train/validation split, kept up to date in the store as tags change.

The split is deterministic and stratified: tagged images are grouped by their rarest tag
(fewest images; ties by tag id), ranked within the group by a hash of the project's split
seed and the image's content (:func:`split_rank`; ties by image id), and the first
``round(n * validation_fraction)`` (at least one of a group of two or more) go to
validation. Overrides (``images.split_override``) win and change no other image's split.
Untagged images have no split unless one is set for them.

What is stored: ``images.split`` (the effective split, overrides included, so that a page
of a split is one indexed query), ``images.split_group`` (the group) and
``images.split_rank`` (the cached rank). Triggers log every change of an image's tags or
override in ``split_changes``; :meth:`SplitRepository.update` — run at the end of every
write transaction that changes tags, and by readers when another writer left the log
non-empty — brings only what those changes touch up to date:

* the images whose tags or override changed, and (multilabel) images with several tags
  one of which changed its count, get their group again;
* in every group whose members changed, the validation members are those ranked up to
  the ``n_val``-th, found with the covering index ``(split_group, split_rank, id, …)``:
  one indexed count, one indexed seek, and two indexed range updates that write only the
  rows whose split changes (at most a few when one image moves).

A first run, a change of seed or fraction, or a log that touches much of the project
computes everything in one pass over the images (the per-row count trigger paused, the
split counts set from the pass).
"""

from __future__ import annotations

import hashlib
import json

from ._sql import Sql, chunks, marks
from .repo_images import ImageRepository
from .repo_meta import MetaRepository
from .repo_tags import TagRepository

__all__ = ["SplitRepository", "split_rank", "validation_size", "RANK_VERSION"]

RANK_VERSION = "rank-v2"
#: What a whole-project pass pauses (see SplitRepository._full).
_PAUSED_TRIGGER = "count_split_changed"
_PAUSED_INDEXES = ("images_split", "images_split_group", "images_split_rank_missing")


def split_rank(seed: str, sha: str) -> str:
    """An image's place in its split group: a hash of the split seed and its content
    (64 bits of it; ties, with odds of 1 in 10^19 a pair, fall back on the image id)."""
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()[:16]


def validation_size(n: int, fraction: float) -> int:
    """How many of a group of ``n`` images validate."""
    return 0 if n < 2 else max(1, round(n * fraction))


class SplitRepository:
    """The split columns of ``images`` and the change log ``split_changes``."""

    def __init__(self, sql: Sql, meta: MetaRepository, images: ImageRepository,
                 tags: TagRepository) -> None:
        self._sql = sql
        self._meta = meta
        self._images = images
        self._tags = tags
        with sql.lock:
            sql.conn.create_function("cvbench_split_rank", 2, split_rank, deterministic=True)

    # -- public ---------------------------------------------------------------------------
    def is_current(self) -> bool:
        """Whether every image's stored split is up to date (no change left to apply)."""
        if self._meta.get("split_dirty", "1") != "0":
            return False
        return self._sql.one("SELECT 1 FROM split_changes LIMIT 1") is None

    def ensure(self) -> None:
        """Bring the split up to date (a read when it already is)."""
        with self._sql.lock:
            if self.is_current():
                return
            with self._sql.transaction():
                self.update()

    def update(self) -> None:
        """Apply the logged changes (inside a write transaction)."""
        if self.is_current():
            return
        meta = self._meta
        seed = meta.get("split_seed", "0") or "0"
        frac = float(meta.get("validation_fraction", "0.2") or 0.2)
        basis = json.dumps([seed, frac, RANK_VERSION])  # what the cached groups and ranks hold
        old_basis = meta.get("split_basis")
        n_images = self._images.count()
        n_changes = int(self._sql.value("SELECT COUNT(*) FROM split_changes"))
        if old_basis != basis or n_changes > n_images // 4:
            self._full(seed, frac, ranks_valid=_same_seed(old_basis, seed))
        else:
            self._incremental(frac)
        self._sql.write("DELETE FROM split_changes")
        meta.set("split_basis", basis)
        meta.set("split_dirty", "0")

    # -- the incremental pass -----------------------------------------------------------------
    def _incremental(self, frac: float) -> None:
        sql = self._sql
        seed = self._meta.get("split_seed", "0") or "0"
        sql.write("UPDATE images SET split_rank = cvbench_split_rank(?, sha256) "
                  "WHERE split_rank IS NULL", (seed,))
        changes = sql.rows("SELECT DISTINCT image_id, tag_id FROM split_changes")
        touched_tags = {t for _, t in changes if t}
        logged: dict[str, set[str]] = {}
        for image_id, tag_id in changes:
            logged.setdefault(image_id, set()).add(tag_id)
        touched = set(logged)
        # an image with one tag stays in that tag's group whatever the counts do; an image
        # with several may move when one of its tags changes its count
        if touched_tags and self._tags.links() > self._images.count_tagged():
            for chunk in chunks(sorted(touched_tags)):
                touched.update(r[0] for r in sql.rows(
                    f"SELECT it.image_id FROM image_tags it WHERE it.tag_id IN ({marks(chunk)}) "
                    "AND EXISTS (SELECT 1 FROM image_tags o WHERE o.image_id = it.image_id "
                    "AND o.tag_id != it.tag_id)",
                    chunk,
                ))
        counts = {r[0]: r[1] for r in sql.rows("SELECT id, image_count FROM tags")}
        tags_of: dict[str, list[str]] = {}
        groups: dict[str, str | None] = {}
        ordered = sorted(touched)
        for chunk in chunks(ordered):
            m = marks(chunk)
            for image_id, tag_id in sql.rows(
                    f"SELECT image_id, tag_id FROM image_tags WHERE image_id IN ({m})", chunk):
                tags_of.setdefault(image_id, []).append(tag_id)
            for image_id, group in sql.rows(
                    f"SELECT id, split_group FROM images WHERE id IN ({m})", chunk):
                groups[image_id] = group
        to_fix: set[str] = set()
        moves: list[tuple[str | None, str]] = []
        for image_id in ordered:
            if image_id not in groups:  # deleted: its group was one of its logged tags
                to_fix.update(t for t in logged.get(image_id, ()) if t)
                continue
            old = groups[image_id]
            tags = tags_of.get(image_id)
            new = min(tags, key=lambda t: (counts[t], t)) if tags else None
            to_fix.update(g for g in (old, new) if g)
            if new != old:
                moves.append((new, image_id))
        sql.write_many("UPDATE images SET split_group = ? WHERE id = ?", moves)
        # overridden and ungrouped images: the override is the split (None: no split)
        for chunk in chunks(ordered):
            sql.write(
                f"UPDATE images SET split = split_override WHERE id IN ({marks(chunk)}) "
                "AND (split_override IS NOT NULL OR split_group IS NULL) "
                "AND split IS NOT split_override",
                chunk,
            )
        for group in sorted(to_fix):
            self._fix_group(group, frac)

    def _fix_group(self, group: str, frac: float) -> None:
        """Give the members of ``group`` without an override their automatic split,
        writing only the rows whose split changes."""
        sql = self._sql
        n = int(sql.value("SELECT COUNT(*) FROM images WHERE split_group = ?", (group,)))
        n_val = validation_size(n, frac)
        if n_val == 0:
            sql.write("UPDATE images SET split = 'train' WHERE split_group = ? "
                      "AND split_override IS NULL AND split IS NOT 'train'", (group,))
            return
        # the last validation member: everything up to it validates, everything after trains
        boundary = sql.one(
            "SELECT split_rank, id FROM images WHERE split_group = ? "
            "ORDER BY split_rank, id LIMIT 1 OFFSET ?", (group, n_val - 1))
        assert boundary is not None  # n_val <= n
        rank, image_id = boundary
        sql.write("UPDATE images SET split = 'validation' WHERE split_group = ? "
                  "AND (split_rank, id) <= (?, ?) AND split_override IS NULL "
                  "AND split IS NOT 'validation'", (group, rank, image_id))
        sql.write("UPDATE images SET split = 'train' WHERE split_group = ? "
                  "AND (split_rank, id) > (?, ?) AND split_override IS NULL "
                  "AND split IS NOT 'train'", (group, rank, image_id))

    # -- the full pass --------------------------------------------------------------------
    def _full(self, seed: str, frac: float, *, ranks_valid: bool) -> None:
        """Every image's group, rank and split anew, in one pass over the images; only the
        rows that change are written, without the per-row count trigger (the split counts
        are set from the pass itself)."""
        sql = self._sql
        counts = dict(sql.tuples("SELECT id, image_count FROM tags"))
        tags_of: dict[str, list[str]] = {}
        for image_id, tag_id in sql.tuples("SELECT image_id, tag_id FROM image_tags"):
            tags_of.setdefault(image_id, []).append(tag_id)
        rows = sql.tuples("SELECT id, split_rank, split, split_override, split_group, rowid, "
                          "sha256 FROM images")
        members: dict[str, list[tuple[str, str]]] = {}
        ranks: dict[str, str] = {}
        no_tags: list[str] = []
        for image_id, rank, _, _, _, _, sha in rows:
            if rank is None or not ranks_valid:
                rank = split_rank(seed, sha)
            ranks[image_id] = rank
            tags = tags_of.get(image_id, no_tags)
            if len(tags) == 1:
                members.setdefault(tags[0], []).append((rank, image_id))
            elif tags:
                g = min(tags, key=lambda t: (counts[t], t))
                members.setdefault(g, []).append((rank, image_id))
        auto: dict[str, tuple[str | None, str | None]] = {}
        for g, ranked in members.items():
            ranked.sort()
            n_val = validation_size(len(ranked), frac)
            for k, (_, image_id) in enumerate(ranked):
                auto[image_id] = ("validation" if k < n_val else "train", g)
        updates = []
        in_split = {"train": 0, "validation": 0}
        per_tag = {t: [0, 0] for t in counts}
        unsplit: tuple[str | None, str | None] = (None, None)
        for image_id, rank, split, override, group, rowid, _ in rows:
            auto_split, new_group = auto.get(image_id, unsplit)
            want = override or auto_split
            if want is not None:
                in_split[want] += 1
                v = want == "validation"
                for t in tags_of.get(image_id, no_tags):
                    per_tag[t][v] += 1
            new_rank = ranks[image_id]
            if want != split or new_group != group or new_rank != rank:
                updates.append((want, new_group, new_rank, rowid))
        if not updates:
            return
        # the per-row count trigger is paused for the pass, and so are the split indexes
        # when much of the table changes (rebuilt at the end: a third faster than updating
        # them row by row). All inside the write transaction: no other connection ever
        # sees the schema without them.
        paused = [r for r in sql.rows(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'images' AND name IN "
            f"({marks(_PAUSED_INDEXES) + ', ?'})", [*_PAUSED_INDEXES, _PAUSED_TRIGGER])
            if r[0] == "trigger" or len(updates) > len(rows) // 10]
        for kind, name, _ in paused:
            sql.write(f"DROP {kind.upper()} {name}")
        sql.write_many(
            "UPDATE images SET split = ?, split_group = ?, split_rank = ? WHERE rowid = ?",
            updates,
        )
        for _, _, ddl in paused:
            sql.write(ddl)
        sql.write_many("UPDATE counters SET value = ? WHERE name = ?",
                       [(n, split) for split, n in in_split.items()])
        sql.write_many(
            "UPDATE tags SET train_count = ?, validation_count = ? WHERE id = ? "
            "AND (train_count, validation_count) IS NOT (?, ?)",
            [(tr, va, t, tr, va) for t, (tr, va) in per_tag.items()],
        )

    # -- overrides ------------------------------------------------------------------------
    def set_override(self, ids: list[str], split: str | None) -> None:
        """Set (or clear, with None) the split override of images (inside a transaction;
        the split follows at :meth:`update`)."""
        self._images.set_override(ids, split)


def _same_seed(old_basis: str | None, seed: str) -> bool:
    """Whether the cached ranks were computed with ``seed`` (and this rank version)."""
    try:
        old = json.loads(old_basis or "null")
    except ValueError:
        return False
    return isinstance(old, list) and len(old) == 3 and old[0] == seed and old[2] == RANK_VERSION
