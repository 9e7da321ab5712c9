"""``Project``: the one facade over a project's store, training, evaluation and prediction.

A project is a folder::

    cvbench.db              SQLite (WAL): settings, tags, images, regions, iterations, …
    images/ab/<sha256>.jpg  the original image bytes, content-addressed
    thumbs/ab/<sha256>.jpg  thumbnails (256 px)
    iterations/<id>/        trained weights (safetensors) of each iteration

Writes are atomic: files are written under a temporary name and renamed, then the rows that
point to them are committed; a killed process leaves the project as before or after an
operation, never in between.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from ._types import (
    KINDS,
    TAG_TYPES,
    AddResult,
    ExportReport,
    ImportReport,
    Region,
    StoredImage,
    Summary,
    Tag,
)
from .boxes import clip_box
from .errors import ImageError, ProjectError, TagError
from .fetch import URLError, fetch_url
from .store import db as _db
from .store.files import FileStore, sha256_bytes
from .store.images import (
    THUMBNAIL_SIZE,
    Limits,
    inspect_image,
    load_rgb,
    make_thumbnail,
    size_text,
)

__all__ = ["Project", "create_project", "open_project", "ImageSource"]

ImageSource = str | os.PathLike | bytes | PILImage.Image

#: Custom Vision asks this many images per tag (classification) or boxes (detection).
MIN_IMAGES_PER_TAG = {"multiclass": 5, "multilabel": 5, "detection": 15}
DEFAULT_VALIDATION_FRACTION = 0.2
_BATCH = 64
_URL_TIMEOUT = 20.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _new_id() -> str:
    return str(uuid.uuid4())


def _split_rank(seed: str, sha: str) -> str:
    """An image's place in its split group: a hash of the split seed and its content
    (64 bits of it; ties, with odds of 1 in 10^19 a pair, fall back on the image id)."""
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()[:16]


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[k:k + size] for k in range(0, len(items), size)]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


def create_project(
    path: str | os.PathLike,
    *,
    kind: str = "multiclass",
    domain: str | None = None,
    name: str | None = None,
    split_seed: int = 0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    limits: dict[str, int] | None = None,
) -> Project:
    """Create a new project in the folder ``path`` (created if missing; must hold no project).

    ``kind`` is ``"multiclass"``, ``"multilabel"`` or ``"detection"``; ``domain`` names the
    backbone family (Custom Vision's domains, see ``cvbench.domains``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a project kind; it should be one of {list(KINDS)}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction={validation_fraction!r} must lie strictly between 0 and 1"
        )
    lim = Limits.from_dict(limits)
    domain = _check_domain(domain, kind)
    root = Path(path)
    if (root / _db.DB_NAME).exists():
        raise ProjectError(
            f"{root} already holds a cvbench project; open it with cvbench.open_project({str(root)!r})"
            " or choose an empty folder"
        )
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file, not a folder; choose a folder for the project")
    root.mkdir(parents=True, exist_ok=True)
    conn = _db.connect(root / _db.DB_NAME, create=True)
    try:
        with _db.transaction(conn):
            settings = {
                "project_id": _new_id(),
                "name": name or root.resolve().name,
                "kind": kind,
                "domain": domain,
                "split_seed": str(int(split_seed)),
                "validation_fraction": repr(float(validation_fraction)),
                "limits": json.dumps(lim.__dict__),
                "created": _now(),
                "split_dirty": "0",
                "seq": "0",
            }
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)", list(settings.items())
            )
    finally:
        conn.close()
    return Project(root)


def open_project(path: str | os.PathLike) -> Project:
    """Open the project in folder ``path``."""
    return Project(Path(path))


def _check_domain(domain: str | None, kind: str) -> str:
    from . import domains as _domains  # light module: a registry of names

    if domain is None:
        return _domains.DEFAULT_DOMAIN
    _domains.get_domain(domain)  # raises ValueError naming the valid domains
    return domain


@dataclass
class _Prepared:
    """One source read, checked, and its files written; ready for its database row."""

    index: int
    label: str
    name: str
    sha: str = ""
    ext: str = ""
    width: int = 0
    height: int = 0
    size: int = 0
    data: bytes = b""  # kept until the row is written (see Project._insert)
    error: tuple[str, str] | None = None


class Project:
    """A cvbench project: images, tags, boxes, iterations. Open with :func:`open_project`."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).resolve()
        dbfile = self.path / _db.DB_NAME
        if not dbfile.exists():
            raise ProjectError(
                f"{self.path} holds no cvbench project (no {_db.DB_NAME}); create one with "
                f"cvbench.create_project({str(path)!r}, kind='multiclass')"
            )
        self._conn = _db.connect(dbfile)
        self._lock = threading.RLock()
        self.files = FileStore(self.path)
        self.files.sweep_temporaries()
        meta = self._meta()
        self.id: str = meta["project_id"]
        self.kind: str = meta["kind"]
        self.limits = Limits.from_dict(json.loads(meta["limits"]))

    # -- plumbing ------------------------------------------------------------------------
    def _meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._conn.execute("SELECT key, value FROM meta")}

    def _get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _tx(self):
        return _db.transaction(self._conn)

    @property
    def connection(self) -> sqlite3.Connection:
        """The project's SQLite connection (for the engine's own modules)."""
        return self._conn

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<cvbench.Project {self.name!r} {self.kind} at {self.path}>"

    # -- settings ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._get_meta("name", "") or ""

    @property
    def domain(self) -> str:
        return self._get_meta("domain", "") or ""

    @domain.setter
    def domain(self, value: str) -> None:
        value = _check_domain(value, self.kind)
        with self._lock, self._tx():
            self._set_meta("domain", value)

    @property
    def settings(self) -> dict[str, Any]:
        meta = self._meta()
        return {
            "id": meta["project_id"],
            "name": meta["name"],
            "kind": meta["kind"],
            "domain": meta["domain"],
            "split_seed": int(meta["split_seed"]),
            "validation_fraction": float(meta["validation_fraction"]),
            "limits": json.loads(meta["limits"]),
            "created": meta["created"],
        }

    @property
    def is_classification(self) -> bool:
        return self.kind != "detection"

    # -- tags ----------------------------------------------------------------------------
    @property
    def tags(self) -> list[Tag]:
        """All tags, by name, with their image counts."""
        with self._lock:  # image_count is kept by triggers (schema version 3)
            rows = self._conn.execute(
                "SELECT id, name, type, image_count, description FROM tags "
                "ORDER BY name COLLATE NOCASE"
            ).fetchall()
        return [Tag(*r) for r in rows]

    def tag_counts(self) -> dict[str, int]:
        """Images per tag name (counts kept by triggers: one row per tag)."""
        with self._lock:
            rows = self._conn.execute("SELECT name, image_count FROM tags").fetchall()
        return {name: n for name, n in rows}

    def get_tag(self, tag: str | Tag) -> Tag:
        """A tag by id or name (names are case-insensitive)."""
        key = tag.id if isinstance(tag, Tag) else str(tag)
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, type, image_count, description FROM tags "
                "WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
                (key, key, key),
            ).fetchone()
            if row is None:
                names = [r[0] for r in self._conn.execute("SELECT name FROM tags ORDER BY name")]
                raise TagError(
                    f"no tag {key!r} in this project; it has {names[:20]}"
                    + (" …" if len(names) > 20 else "")
                    + " — create it with project.create_tag(name)"
                )
        return Tag(*row)

    def create_tag(self, name: str, type: str = "Regular", description: str = "") -> Tag:
        """Create a tag. ``type`` is ``"Regular"`` or ``"Negative"`` (classification only)."""
        name = self._check_tag_name(name)
        if type not in TAG_TYPES:
            raise ValueError(f"type={type!r} is not a tag type; it should be one of {list(TAG_TYPES)}")
        with self._lock, self._tx():
            self._check_new_tag(name, type)
            tag_id = _new_id()
            self._conn.execute(
                "INSERT INTO tags (id, name, type, description, created) VALUES (?, ?, ?, ?, ?)",
                (tag_id, name, type, description, _now()),
            )
        return Tag(tag_id, name, type, 0, description)

    def _check_tag_name(self, name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise TagError(f"tag name {name!r} is empty; give the tag a name")
        name = name.strip()
        if len(name) > 256:
            raise TagError(f"tag name {name[:40]!r}… is {len(name)} characters; the most is 256")
        return name

    def _check_new_tag(self, name: str, type: str) -> None:
        row = self._conn.execute("SELECT name FROM tags WHERE name = ?", (name,)).fetchone()
        if row is not None:
            raise TagError(f"a tag named {row[0]!r} already exists (names ignore case)")
        if type == "Negative":
            if self.kind == "detection":
                raise TagError(
                    "detection projects have no Negative tag (as in Custom Vision): images "
                    "without boxes already teach the detector what is not an object"
                )
            if self._conn.execute("SELECT 1 FROM tags WHERE type = 'Negative'").fetchone():
                raise TagError("this project already has a Negative tag; a project has at most one")
        (n,) = self._conn.execute("SELECT COUNT(*) FROM tags").fetchone()
        if n >= self.limits.max_tags:
            raise TagError(
                f"the project has {n} tags, the limit (max_tags={self.limits.max_tags}); "
                "delete or merge tags first"
            )

    def _resolve_tags(self, tags: Iterable[str | Tag] | str | Tag | None, *,
                      create: bool) -> list[Tag]:
        if tags is None:
            return []
        if isinstance(tags, (str, Tag)):
            tags = [tags]
        out: list[Tag] = []
        for t in tags:
            try:
                tag = self.get_tag(t)
            except TagError:
                if not create or isinstance(t, Tag):
                    raise
                try:
                    tag = self.create_tag(str(t))
                except TagError as exc:
                    try:  # another process (or thread) created it since get_tag looked
                        tag = self.get_tag(str(t).strip())
                    except TagError:
                        raise exc from None
            if tag.id not in {x.id for x in out}:
                out.append(tag)
        return out

    def rename_tag(self, tag: str | Tag, new_name: str) -> Tag:
        t = self.get_tag(tag)
        new_name = self._check_tag_name(new_name)
        with self._lock, self._tx():
            row = self._conn.execute(
                "SELECT id FROM tags WHERE name = ? AND id != ?", (new_name, t.id)
            ).fetchone()
            if row is not None:
                raise TagError(
                    f"a tag named {new_name!r} already exists; merge the two with "
                    f"project.merge_tags([{t.name!r}], into={new_name!r})"
                )
            self._conn.execute("UPDATE tags SET name = ? WHERE id = ?", (new_name, t.id))
        return self.get_tag(t.id)

    def merge_tags(self, sources: Sequence[str | Tag], into: str | Tag) -> Tag:
        """Move every image and box of ``sources`` onto ``into``, then delete ``sources``."""
        target = self.get_tag(into)
        srcs = [self.get_tag(s) for s in sources]
        srcs = [s for s in srcs if s.id != target.id]
        if any(s.type != target.type for s in srcs):
            raise TagError("a Negative tag cannot be merged with a Regular tag")
        with self._lock, self._tx():
            for s in srcs:
                self._conn.execute(
                    "INSERT OR IGNORE INTO image_tags (image_id, tag_id) "
                    "SELECT image_id, ? FROM image_tags WHERE tag_id = ?",
                    (target.id, s.id),
                )
                self._conn.execute(
                    "UPDATE regions SET tag_id = ? WHERE tag_id = ?", (target.id, s.id)
                )
                self._conn.execute("DELETE FROM tags WHERE id = ?", (s.id,))
            self._mark_split_dirty()
        return self.get_tag(target.id)

    def delete_tag(self, tag: str | Tag) -> None:
        """Delete a tag, its image links and its boxes (the images stay)."""
        t = self.get_tag(tag)
        with self._lock, self._tx():
            self._conn.execute("DELETE FROM tags WHERE id = ?", (t.id,))
            self._mark_split_dirty()

    # -- adding images -------------------------------------------------------------------
    def add_images(
        self,
        sources: ImageSource | Sequence[ImageSource],
        tags: Sequence[str | Tag] | str | Tag | None = None,
        regions: Sequence[Sequence[Region | dict | tuple]] | None = None,
        *,
        names: Sequence[str] | None = None,
        create_tags: bool = True,
        progress: Any = None,
    ) -> list[AddResult]:
        """Add images from paths, bytes, PIL images or http(s) URLs.

        ``tags`` apply to every image (names or ids; unknown names are created unless
        ``create_tags=False``). ``regions`` (detection) gives one list of boxes per source,
        each a :class:`Region`, a dict ``{"tag": name, "left":…, "top":…, "width":…,
        "height":…}`` or a tuple ``(tag, left, top, width, height)``, normalized.
        ``names`` overrides the original file names. ``progress(done, total)`` is called as
        images are stored. Returns one :class:`AddResult` per source, in order, with Custom
        Vision's status words; one bad source never stops the others.
        """
        if isinstance(sources, (str, os.PathLike, bytes, PILImage.Image)):
            sources = [sources]
        sources = list(sources)
        if regions is not None and len(regions) != len(sources):
            raise ValueError(
                f"regions has {len(regions)} entries for {len(sources)} sources; give one "
                "list of regions per source (an empty list for none)"
            )
        if names is not None and len(names) != len(sources):
            raise ValueError(f"names has {len(names)} entries for {len(sources)} sources")
        if tags and self.kind == "detection":
            raise TagError(
                "detection images are tagged through their boxes: pass regions=[[{'tag': …, "
                "'left': …, 'top': …, 'width': …, 'height': …}], …] instead of tags"
            )
        if regions is not None and any(regions) and self.kind != "detection":
            raise TagError(
                f"regions (boxes) belong to detection projects; this one is {self.kind}: "
                "pass tags= instead"
            )
        tag_objs = self._resolve_tags(tags, create=create_tags)
        tag_error = self._check_tag_combination(tag_objs)

        results: list[AddResult | None] = [None] * len(sources)
        # regions are resolved before any file is written: a bad tag name is the
        # user's mistake to fix, reported per image
        region_lists: list[list[tuple[str, float, float, float, float]]] = [
            [] for _ in sources
        ]
        region_notes: list[str] = [""] * len(sources)
        if regions is not None:
            for i, regs in enumerate(regions):
                try:
                    region_lists[i], region_notes[i] = self._prepare_regions(regs, create_tags)
                except (TagError, ValueError) as exc:
                    results[i] = AddResult(self._label(sources[i]), "ErrorInvalidTag", str(exc))
                    continue
                if len(region_lists[i]) > self.limits.max_regions_per_image:
                    results[i] = AddResult(
                        self._label(sources[i]),
                        "ErrorRegionLimitExceed",
                        f"{len(region_lists[i])} regions, above the limit of "
                        f"{self.limits.max_regions_per_image} per image; split the boxes over "
                        "fewer tags or raise max_regions_per_image",
                    )
        if tag_error is not None:
            for i in range(len(sources)):
                results[i] = results[i] or AddResult(self._label(sources[i]), *tag_error)

        todo = [i for i in range(len(sources)) if results[i] is None]
        done = 0
        total = len(sources)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for start in range(0, len(todo), _BATCH):
                chunk = todo[start:start + _BATCH]
                prepared = list(
                    pool.map(
                        lambda i: self._prepare(
                            i, sources[i], names[i] if names is not None else None
                        ),
                        chunk,
                    )
                )
                with self._lock, self._tx():
                    (n_images,) = self._conn.execute("SELECT COUNT(*) FROM images").fetchone()
                    state = {"images": n_images, "seq": int(self._get_meta("seq", "0") or 0)}
                    for p in prepared:
                        results[p.index] = self._insert(
                            p, tag_objs, region_lists[p.index], region_notes[p.index], state
                        )
                        p.data = b""
                    self._set_meta("seq", str(state["seq"]))
                done += len(chunk)
                if progress is not None:
                    progress(min(done + (total - len(todo)), total), total)
        if progress is not None and not todo:
            progress(total, total)
        return [r for r in results if r is not None]

    def _check_tag_combination(self, tags: list[Tag]) -> tuple[str, str] | None:
        if not tags:
            return None
        negative = [t for t in tags if t.type == "Negative"]
        if negative and len(tags) > 1:
            return (
                "ErrorNegativeAndRegularTagOnSameImage",
                f"the Negative tag {negative[0].name!r} cannot stand beside other tags "
                f"({', '.join(t.name for t in tags if t.type != 'Negative')})",
            )
        if self.kind == "multiclass" and len(tags) > 1:
            return (
                "ErrorTagLimitExceed",
                f"a multiclass project takes one tag per image; got {[t.name for t in tags]}",
            )
        if len(tags) > self.limits.max_tags_per_image:
            return ("ErrorTagLimitExceed", f"{len(tags)} tags on one image; the limit is "
                    f"{self.limits.max_tags_per_image}")
        return None

    def _prepare_regions(self, regs: Sequence[Region | dict | tuple], create: bool
                         ) -> tuple[list[tuple[str, float, float, float, float]], str]:
        out: list[tuple[str, float, float, float, float]] = []
        notes: list[str] = []
        for k, reg in enumerate(regs or []):
            tag, left, top, width, height = _region_fields(reg)
            (tag_obj,) = self._resolve_tags([tag], create=create)
            if tag_obj.type == "Negative":
                raise TagError(f"region {k}: a box cannot carry the Negative tag")
            box, clipped = clip_box(left, top, width, height)
            if box is None:
                notes.append(
                    f"box {k} ({tag_obj.name}: left={left}, top={top}, width={width}, "
                    f"height={height}) has no area inside the image and was dropped"
                )
                continue
            if clipped:
                notes.append(f"box {k} ({tag_obj.name}) reached outside the image and was clipped")
            out.append((tag_obj.id, box.left, box.top, box.width, box.height))
        return out, "; ".join(notes)

    @staticmethod
    def _label(source: ImageSource) -> str:
        if isinstance(source, bytes):
            return f"<{len(source)} bytes>"
        if isinstance(source, PILImage.Image):
            return f"<PIL image {source.size[0]}x{source.size[1]}>"
        return str(source)

    def _read_source(self, source: ImageSource) -> tuple[bytes, str]:
        """The bytes of a source and its original name. Raises ImageError(ErrorSource)."""
        if isinstance(source, bytes):
            return source, ""
        if isinstance(source, PILImage.Image):
            buf = io.BytesIO()
            img = source
            if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
                img = load_rgb(img)  # modes PNG cannot hold ("I", "F", "CMYK", …): 8-bit RGB
            img.save(buf, "PNG")
            return buf.getvalue(), ""
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if text.lower().startswith(("http://", "https://")):
            return self._download(text), text.rsplit("/", 1)[-1].split("?", 1)[0]
        path = Path(text)
        try:
            if not path.is_file():
                raise ImageError(
                    "ErrorSource",
                    f"no file at {path}" + ("" if path.exists() else "; check the path"),
                )
            size = path.stat().st_size
            if size > self.limits.max_image_bytes:
                raise ImageError(
                    "ErrorImageSize",
                    f"the file is {size_text(size)}, above the limit of "
                    f"{size_text(self.limits.max_image_bytes)}; resize or recompress it",
                )
            return path.read_bytes(), path.name
        except OSError as exc:
            raise ImageError("ErrorSource", f"cannot read {path}: {exc.strerror or exc}") from None

    def _download(self, url: str) -> bytes:
        # a local user's own API: any address (the public faces pass allow_private=False)
        try:
            return fetch_url(url, max_bytes=self.limits.max_image_bytes,
                             timeout=_URL_TIMEOUT, allow_private=True)
        except URLError as exc:
            if exc.status == "ErrorSource" and exc.reason not in ("truncated", "scheme"):
                raise URLError(exc.status, f"{exc.message}; check the address and the "
                               "network, or download the file and add it by path",
                               exc.reason) from None
            raise

    def _prepare(self, index: int, source: ImageSource, name: str | None) -> _Prepared:
        p = _Prepared(index=index, label=self._label(source), name=name or "")
        try:
            data, original = self._read_source(source)
            p.name = name or original
            info = inspect_image(data, self.limits, decode=False)
            p.sha = sha256_bytes(data)
            p.ext, p.width, p.height, p.size = info.ext, info.width, info.height, len(data)
            p.data = data
            if not self.files.thumb_path(p.sha).exists():
                try:
                    img = load_rgb(data, draft=(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                except Exception as exc:  # decoding the pixels is where truncation shows
                    raise ImageError(
                        "ErrorImageFormat",
                        f"the image data is truncated or corrupt ({exc}); re-save or "
                        "re-download it",
                    ) from None
                thumb = make_thumbnail(img)
                self.files.put_image(p.sha, p.ext, data)
                self.files.put_thumb(p.sha, thumb)
            else:
                self.files.put_image(p.sha, p.ext, data)
        except ImageError as exc:
            p.error = (exc.status, exc.message)
        except Exception as exc:  # one bad source never aborts a batch; say what it was
            p.error = ("ErrorUnknown", f"{type(exc).__name__}: {exc}")
        return p

    def _insert(self, p: _Prepared, tags: list[Tag],
                regions: list[tuple[str, float, float, float, float]], note: str,
                state: dict[str, int]) -> AddResult:
        """Write the row of one prepared image (inside the batch's write transaction).

        ``state`` carries the image count and the last ``seq`` through the batch, so that
        each image costs no count over the whole table.
        """
        if p.error is not None:
            return AddResult(p.label, p.error[0], p.error[1])
        row = self._conn.execute(
            "SELECT id FROM images WHERE sha256 = ?", (p.sha,)
        ).fetchone()
        if row is not None:
            return AddResult(
                p.label, "OKDuplicate",
                f"the same image is already in the project as {row[0]}", row[0],
            )
        count = state["images"]
        if count >= self.limits.max_images:
            return AddResult(
                p.label, "ErrorLimitExceed",
                f"the project holds {count} images, its limit (max_images); delete images or "
                "raise the limit",
            )
        # the file must exist before its row: a delete_images of the same bytes may have
        # removed it since _prepare wrote it (deletes remove files under this write lock)
        if not self.files.image_path(p.sha, p.ext).exists():
            self.files.put_image(p.sha, p.ext, p.data)
        state["seq"] += 1
        state["images"] += 1
        seq = state["seq"]
        image_id = _new_id()
        self._conn.execute(
            "INSERT INTO images (id, sha256, ext, width, height, bytes, original_name, created, seq)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (image_id, p.sha, p.ext, p.width, p.height, p.size, p.name, _now(), seq),
        )
        if tags:
            self._conn.executemany(
                "INSERT OR IGNORE INTO image_tags (image_id, tag_id) VALUES (?, ?)",
                [(image_id, t.id) for t in tags],
            )
        if regions:
            self._write_regions(image_id, regions)
        if tags or regions:
            self._mark_split_dirty()
        return AddResult(p.label, "OK", note, image_id)

    def _write_regions(self, image_id: str,
                       regions: list[tuple[str, float, float, float, float]]) -> None:
        self._conn.execute("DELETE FROM regions WHERE image_id = ?", (image_id,))
        self._conn.executemany(
            "INSERT INTO regions (id, image_id, tag_id, left, top, width, height) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(_new_id(), image_id, *r) for r in regions],
        )
        self._conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
        self._conn.executemany(
            "INSERT OR IGNORE INTO image_tags (image_id, tag_id) VALUES (?, ?)",
            [(image_id, r[0]) for r in regions],
        )

    # -- reading images ------------------------------------------------------------------
    def image(self, image_id: str) -> StoredImage:
        found = self._load_images([image_id])
        if not found:
            raise KeyError(f"no image with id {image_id!r} in this project")
        return found[0]

    def images(
        self,
        tag: str | Tag | None = None,
        untagged: bool = False,
        split: str | None = None,
        skip: int = 0,
        take: int | None = None,
        *,
        ids: Sequence[str] | None = None,
        order: str = "newest",
    ) -> list[StoredImage]:
        """Images, newest first, filtered by tag, untagged, or split; paged by skip/take."""
        sql, params = self._image_query("i.id", tag, untagged, split, ids, page=True)
        direction = {"newest": "DESC", "oldest": "ASC"}.get(order)
        if direction is None:
            raise ValueError(f"order={order!r} should be 'newest' or 'oldest'")
        sql += f" ORDER BY i.seq {direction} LIMIT ? OFFSET ?"
        params += [-1 if take is None else int(take), int(skip)]
        with self._lock:
            ids_found = [r[0] for r in self._conn.execute(sql, params)]
        return self._load_images(ids_found)

    def count_images(self, tag: str | Tag | None = None, untagged: bool = False,
                     split: str | None = None) -> int:
        sql, params = self._image_query("COUNT(*)", tag, untagged, split, None)
        with self._lock:
            return int(self._conn.execute(sql, params).fetchone()[0])

    def _image_query(self, what: str, tag, untagged, split, ids, page: bool = False
                     ) -> tuple[str, list[Any]]:
        params: list[Any] = []
        where: list[str] = []
        if tag is not None and untagged:
            raise ValueError("choose tag= or untagged=True, not both")
        if tag is not None:
            t = self.get_tag(tag)
            if page and t.image_count * 20 > int(self._get_meta("seq", "0") or 0):
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
            params.append(t.id)
        else:
            sql = f"SELECT {what} FROM images i"
        if untagged:
            where.append("NOT EXISTS (SELECT 1 FROM image_tags x WHERE x.image_id = i.id)")
        if split is not None:
            if split not in ("train", "validation"):
                raise ValueError(f"split={split!r} should be 'train' or 'validation'")
            self.ensure_split()
            where.append("i.split = ?")
            params.append(split)
        if ids is not None:
            ids = list(ids)
            where.append(f"i.id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def _load_images(self, ids: Sequence[str]) -> list[StoredImage]:
        if not ids:
            return []
        out: list[StoredImage] = []
        with self._lock:
            self.ensure_split()
            for start in range(0, len(ids), 500):
                chunk = list(ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = {
                    r["id"]: r
                    for r in self._conn.execute(
                        f"SELECT * FROM images WHERE id IN ({marks})", chunk
                    )
                }
                tag_rows: dict[str, list[tuple[str, str]]] = {}
                for r in self._conn.execute(
                    f"SELECT it.image_id, t.id, t.name FROM image_tags it JOIN tags t "
                    f"ON t.id = it.tag_id WHERE it.image_id IN ({marks}) ORDER BY t.name",
                    chunk,
                ):
                    tag_rows.setdefault(r[0], []).append((r[1], r[2]))
                reg_rows: dict[str, list[Region]] = {}
                for r in self._conn.execute(
                    f"SELECT r.image_id, r.id, r.tag_id, t.name, r.left, r.top, r.width, r.height "
                    f"FROM regions r JOIN tags t ON t.id = r.tag_id "
                    f"WHERE r.image_id IN ({marks}) ORDER BY r.rowid",
                    chunk,
                ):
                    reg_rows.setdefault(r[0], []).append(
                        Region(r[2], r[3], r[4], r[5], r[6], r[7], id=r[1])
                    )
                for image_id in chunk:
                    row = rows.get(image_id)
                    if row is None:
                        continue
                    trs = tag_rows.get(image_id, [])
                    out.append(
                        StoredImage(
                            id=row["id"],
                            sha256=row["sha256"],
                            path=self.files.image_path(row["sha256"], row["ext"]),
                            thumbnail_path=self.files.thumb_path(row["sha256"]),
                            width=row["width"],
                            height=row["height"],
                            original_name=row["original_name"],
                            created=row["created"],
                            tags=tuple(n for _, n in trs),
                            tag_ids=tuple(i for i, _ in trs),
                            regions=tuple(reg_rows.get(image_id, [])),
                            split=row["split_override"] or row["split"],
                        )
                    )
        return out

    def thumbnail(self, image_id: str) -> bytes:
        """The JPEG thumbnail of an image (re-made if its file was removed)."""
        img = self.image(image_id)
        try:
            return img.thumbnail_path.read_bytes()
        except FileNotFoundError:
            data = make_thumbnail(load_rgb(img.path, draft=(THUMBNAIL_SIZE, THUMBNAIL_SIZE)))
            self.files.put_thumb(img.sha256, data)
            return data

    def load_image(self, image: str | StoredImage, max_side: int | None = None) -> PILImage.Image:
        """The pixels of an image as displayed (EXIF orientation applied, 8-bit RGB), made to
        fit ``max_side`` pixels when given. Normalized boxes hold on the result."""
        img = image if isinstance(image, StoredImage) else self.image(image)
        draft = (max_side, max_side) if max_side else None
        pixels = load_rgb(img.path, draft=draft)
        if max_side and max(pixels.size) > max_side:
            pixels = pixels.copy()
            pixels.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
        return pixels

    # -- tagging -------------------------------------------------------------------------
    def tag_images(self, image_ids: Sequence[str] | str, tags: Sequence[str | Tag] | str | Tag,
                   *, create_tags: bool = True) -> None:
        """Add tags to images (classification). In a multiclass project the tag replaces the
        image's tag; a Negative tag replaces the image's other tags, and a Regular tag
        replaces a Negative one."""
        if self.kind == "detection":
            raise TagError(
                "detection images are tagged through their boxes: use "
                "project.set_regions(image_id, [...])"
            )
        ids = [image_ids] if isinstance(image_ids, str) else list(image_ids)
        tag_objs = self._resolve_tags(tags, create=create_tags)
        err = self._check_tag_combination(tag_objs)
        if err is not None:
            raise TagError(err[1])
        if not tag_objs:
            return
        with self._lock, self._tx():
            self._require_images(ids)
            negative_ids = [
                r[0] for r in self._conn.execute("SELECT id FROM tags WHERE type = 'Negative'")
            ]
            for image_id in ids:
                if self.kind == "multiclass" or tag_objs[0].type == "Negative":
                    self._conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
                elif negative_ids:
                    self._conn.execute(
                        f"DELETE FROM image_tags WHERE image_id = ? AND tag_id IN "
                        f"({','.join('?' * len(negative_ids))})",
                        [image_id, *negative_ids],
                    )
                self._conn.executemany(
                    "INSERT OR IGNORE INTO image_tags (image_id, tag_id) VALUES (?, ?)",
                    [(image_id, t.id) for t in tag_objs],
                )
                if self.kind == "multilabel":
                    (n,) = self._conn.execute(
                        "SELECT COUNT(*) FROM image_tags WHERE image_id = ?", (image_id,)
                    ).fetchone()
                    if n > self.limits.max_tags_per_image:
                        raise TagError(
                            f"image {image_id} would have {n} tags; the limit is "
                            f"{self.limits.max_tags_per_image}"
                        )
            self._mark_split_dirty()

    def untag_images(self, image_ids: Sequence[str] | str,
                     tags: Sequence[str | Tag] | str | Tag | None = None) -> None:
        """Remove tags from images (all their tags, and boxes, when ``tags`` is None)."""
        ids = [image_ids] if isinstance(image_ids, str) else list(image_ids)
        tag_objs = self._resolve_tags(tags, create=False) if tags is not None else None
        with self._lock, self._tx():
            for image_id in ids:
                if tag_objs is None:
                    self._conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
                    self._conn.execute("DELETE FROM regions WHERE image_id = ?", (image_id,))
                else:
                    for t in tag_objs:
                        self._conn.execute(
                            "DELETE FROM image_tags WHERE image_id = ? AND tag_id = ?",
                            (image_id, t.id),
                        )
                        self._conn.execute(
                            "DELETE FROM regions WHERE image_id = ? AND tag_id = ?",
                            (image_id, t.id),
                        )
            self._mark_split_dirty()

    def set_regions(self, image_id: str, regions: Sequence[Region | dict | tuple], *,
                    create_tags: bool = True) -> list[str]:
        """Replace the boxes of an image (detection). Boxes reaching outside the image are
        clipped; boxes with no area inside it are dropped. Returns notes on what was changed.
        """
        if self.kind != "detection":
            raise TagError(
                f"boxes belong to detection projects; this one is {self.kind}: use tag_images"
            )
        prepared, note = self._prepare_regions(regions, create_tags)
        if len(prepared) > self.limits.max_regions_per_image:
            raise TagError(
                f"{len(prepared)} boxes on one image, above the limit of "
                f"{self.limits.max_regions_per_image} (max_regions_per_image)"
            )
        with self._lock, self._tx():
            self._require_images([image_id])
            self._write_regions(image_id, prepared)
            self._mark_split_dirty()
        return [n for n in note.split("; ") if n]

    def delete_images(self, image_ids: Sequence[str] | str) -> int:
        """Delete images, their tags and boxes, and then their files. Returns how many."""
        ids = [image_ids] if isinstance(image_ids, str) else list(image_ids)
        gone: list[tuple[str, str]] = []
        with self._lock, self._tx():
            for image_id in ids:
                row = self._conn.execute(
                    "SELECT sha256, ext FROM images WHERE id = ?", (image_id,)
                ).fetchone()
                if row is None:
                    continue
                self._conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
                gone.append((row[0], row[1]))
            self._mark_split_dirty()
        # the rows are gone first; a killed process leaves at worst an unreferenced file.
        # Files go under the write lock, and only when no row points at them any more: a
        # concurrent add of the same bytes checks its file under that lock (see _insert).
        if gone:
            with self._lock, self._tx():
                for sha, ext in gone:
                    if self._conn.execute(
                        "SELECT 1 FROM images WHERE sha256 = ?", (sha,)
                    ).fetchone() is None:
                        self.files.remove(sha, ext)
        return len(gone)

    def _require_images(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            found = {
                r[0] for r in self._conn.execute(
                    f"SELECT id FROM images WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
            }
            missing = [i for i in chunk if i not in found]
            if missing:
                raise KeyError(f"no image with id {missing[0]!r} in this project")

    # -- split ---------------------------------------------------------------------------
    def _mark_split_dirty(self) -> None:
        self._set_meta("split_dirty", "1")

    def set_split(self, image_ids: Sequence[str] | str, split: str | None) -> None:
        """Override the split of images: ``"train"``, ``"validation"``, or None for automatic."""
        if split not in ("train", "validation", None):
            raise ValueError(f"split={split!r} should be 'train', 'validation' or None")
        ids = [image_ids] if isinstance(image_ids, str) else list(image_ids)
        with self._lock, self._tx():
            self._require_images(ids)
            self._conn.executemany(
                "UPDATE images SET split_override = ? WHERE id = ?", [(split, i) for i in ids]
            )
            self._mark_split_dirty()

    def ensure_split(self) -> None:
        """Bring the train/validation split up to date with the tags.

        The split is deterministic and stratified: tagged images are grouped by their
        rarest tag (images with boxes and no tag alike), ranked within the group by a hash
        of the project's split seed and the image's content, and the first
        ``round(n * validation_fraction)`` (at least one of a group of two or more) go to
        validation. Overrides from :meth:`set_split` win (and change no other image's
        split). Untagged images have no split unless one is set for them.
        """
        with self._lock:
            if self._get_meta("split_dirty", "1") == "0":
                return
            with self._tx():
                if self._get_meta("split_dirty", "1") == "0":
                    return
                self._recompute_split()
                self._set_meta("split_dirty", "0")

    def _recompute_split(self) -> None:
        """Write each image's effective split (its override, else the automatic one) into
        ``images.split``, so that ``images(split=…)`` is one indexed query.

        Incremental: triggers log every change of an image's tags or override
        (``split_changes``); only the groups those changes touch are ranked again. Each
        image keeps its group (``split_group``, its rarest tag) and its rank
        (``split_rank``, a hash of the split seed and its content, cached). A first run, a change of seed or fraction, or a log that
        touches much of the project recompute everything, in one pass over the images.
        Only rows whose split, group or rank change are written.
        """
        c = self._conn
        seed = self._get_meta("split_seed", "0") or "0"
        frac = float(self._get_meta("validation_fraction", "0.2") or 0.2)
        basis = json.dumps([seed, frac, "rank-v2"])  # what the cached groups and ranks hold
        old_basis = self._get_meta("split_basis")
        counts = dict(c.execute("SELECT id, image_count FROM tags"))
        (n_images,) = c.execute("SELECT COUNT(*) FROM images").fetchone()
        (n_changes,) = c.execute("SELECT COUNT(*) FROM split_changes").fetchone()
        full = old_basis != basis or n_changes > n_images // 4
        # a full pass ranks every image anew (from its content); an incremental one reads
        # the cached ranks, which the UPDATE below fills in for images added since
        columns = "id, split_rank, split, split_override, split_group, rowid, " + (
            "sha256" if full else "NULL"
        )

        tags_of: dict[str, list[str]] = {}
        touched: set[str] = set()
        if full:
            for image_id, tag_id in c.execute("SELECT image_id, tag_id FROM image_tags"):
                tags_of.setdefault(image_id, []).append(tag_id)
            rows = c.execute(f"SELECT {columns} FROM images").fetchall()
        else:
            # ranks of the images added since; then the images whose group may change:
            # those whose tags changed, and those with several tags, one of which changed
            # its count (an image with one tag stays in that tag's group)
            c.create_function("cvbench_split_rank", 2, _split_rank, deterministic=True)
            c.execute(
                "UPDATE images SET split_rank = cvbench_split_rank(?, sha256) "
                "WHERE split_rank IS NULL",
                (seed,),
            )
            changes = c.execute("SELECT DISTINCT image_id, tag_id FROM split_changes").fetchall()
            touched_tags = {t for _, t in changes if t}
            touched = {i for i, _ in changes}
            for chunk in _chunks(sorted(touched_tags)):
                touched.update(r[0] for r in c.execute(
                    f"SELECT it.image_id FROM image_tags it WHERE it.tag_id IN ({_marks(chunk)}) "
                    "AND EXISTS (SELECT 1 FROM image_tags o WHERE o.image_id = it.image_id "
                    "AND o.tag_id != it.tag_id)",
                    chunk,
                ))
            rows = []
            for chunk in _chunks(sorted(touched)):
                marks = _marks(chunk)
                for image_id, tag_id in c.execute(
                    f"SELECT image_id, tag_id FROM image_tags WHERE image_id IN ({marks})", chunk
                ):
                    tags_of.setdefault(image_id, []).append(tag_id)
                rows += c.execute(f"SELECT {columns} FROM images WHERE id IN ({marks})", chunk)
        new_group = {
            image_id: min(tags, key=lambda t: (counts[t], t)) for image_id, tags in tags_of.items()
        }
        if not full:  # every member of every group the changes touched
            groups = touched_tags | {r[4] for r in rows if r[4]} | set(new_group.values())
            for chunk in _chunks(sorted(groups)):
                rows += [
                    r for r in c.execute(
                        f"SELECT {columns} FROM images WHERE split_group IN ({_marks(chunk)})",
                        chunk,
                    ) if r[0] not in touched
                ]

        members: dict[str, list[tuple[str, str]]] = {}
        ranks: dict[str, str] = {}
        for image_id, rank, _, _, group, _, sha in rows:
            if full:
                rank = _split_rank(seed, sha)
            ranks[image_id] = rank
            g = new_group.get(image_id) if full or image_id in touched else group
            if g is not None:
                members.setdefault(g, []).append((rank, image_id))
        auto: dict[str, tuple[str, str]] = {}
        for g, ranked in members.items():
            ranked.sort()
            n = len(ranked)
            n_val = 0 if n < 2 else max(1, round(n * frac))
            for k, (_, image_id) in enumerate(ranked):
                auto[image_id] = ("validation" if k < n_val else "train", g)
        updates = []
        for image_id, rank, split, override, group, rowid, _ in rows:
            want, g = auto.get(image_id, (None, None))
            want = override or want
            if (want, g, ranks[image_id]) != (split, group, rank):
                updates.append((want, g, ranks[image_id], rowid))
        c.executemany(
            "UPDATE images SET split = ?, split_group = ?, split_rank = ? WHERE rowid = ?",
            updates,
        )
        c.execute("DELETE FROM split_changes")
        self._set_meta("split_basis", basis)

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> Summary:
        """Counts per tag, untagged images, the split, and warnings worth acting on."""
        with self._lock:
            self.ensure_split()
            c = self._conn
            (n_images,) = c.execute("SELECT COUNT(*) FROM images").fetchone()
            (n_tagged,) = c.execute(
                "SELECT COUNT(DISTINCT image_id) FROM image_tags"
            ).fetchone()
            split_counts = dict(
                c.execute(
                    "SELECT COALESCE(split_override, split), COUNT(*) FROM images "
                    "WHERE COALESCE(split_override, split) IS NOT NULL GROUP BY 1"
                ).fetchall()
            )
            per_tag_split: dict[tuple[str, str], int] = {
                (r[0], r[1]): r[2]
                for r in c.execute(
                    "SELECT it.tag_id, COALESCE(i.split_override, i.split), COUNT(*) "
                    "FROM image_tags it JOIN images i ON i.id = it.image_id GROUP BY 1, 2"
                )
            }
            region_counts = dict(
                c.execute("SELECT tag_id, COUNT(*) FROM regions GROUP BY tag_id").fetchall()
            )
            (n_iter,) = c.execute("SELECT COUNT(*) FROM iterations").fetchone()
        tags = self.tags
        rows: list[dict[str, Any]] = []
        for t in tags:
            row: dict[str, Any] = {
                "id": t.id,
                "name": t.name,
                "type": t.type,
                "images": t.image_count,
                "train": per_tag_split.get((t.id, "train"), 0),
                "validation": per_tag_split.get((t.id, "validation"), 0),
            }
            if self.kind == "detection":
                row["regions"] = region_counts.get(t.id, 0)
            rows.append(row)
        warnings: list[str] = []
        minimum = MIN_IMAGES_PER_TAG[self.kind]
        unit = "boxes" if self.kind == "detection" else "images"
        regular = [r for r in rows if r["type"] == "Regular"]
        for r in regular:
            have = r.get("regions", r["images"])
            if have < minimum:
                warnings.append(
                    f"tag {r['name']!r} has {have} {unit}; at least {minimum} are needed to "
                    "train (more is better)"
                )
        sizes = [r["images"] for r in regular if r["images"] > 0]
        if len(sizes) >= 2 and max(sizes) > 2 * min(sizes):
            big = max(regular, key=lambda r: r["images"])
            small = min((r for r in regular if r["images"] > 0), key=lambda r: r["images"])
            warnings.append(
                f"the tags are imbalanced: {big['name']!r} has {big['images']} images and "
                f"{small['name']!r} {small['images']} (worse than 1:2); add images to the "
                "smaller tags"
            )
        if len(regular) < (1 if self.kind == "detection" else 2):
            need = "one tag" if self.kind == "detection" else "two tags"
            warnings.append(f"training needs at least {need}")
        if n_images - n_tagged:
            warnings.append(
                f"{n_images - n_tagged} images are untagged and will not be used for training"
            )
        return Summary(
            kind=self.kind,
            domain=self.domain,
            images=n_images,
            tagged=n_tagged,
            untagged=n_images - n_tagged,
            train=split_counts.get("train", 0),
            validation=split_counts.get("validation", 0),
            tags=rows,
            iterations=n_iter,
            warnings=warnings,
        )

    # -- formats -------------------------------------------------------------------------
    def import_dataset(self, source: str | os.PathLike, format: str, **options: Any
                       ) -> ImportReport:
        """Import a dataset: ``format`` is one of ``cvbench.formats.FORMATS``
        (imagefolder, csv, coco, voc, yolo, archive)."""
        from . import formats

        return formats.get_format(format).importer(self, Path(source), **options)

    def export_dataset(self, dest: str | os.PathLike, format: str, **options: Any
                       ) -> ExportReport:
        """Export the images, tags and boxes in ``format`` to ``dest``."""
        from . import formats

        return formats.get_format(format).exporter(self, Path(dest), **options)

    # -- training, iterations, predictions (cvbench.iteration, cvbench.predict) ------------
    def train(
        self,
        mode: str = "quick",
        budget_minutes: float | None = None,
        tags: Sequence[str | Tag] | None = None,
        domain: str | None = None,
        *,
        size: int | None = None,
        settings: dict[str, Any] | None = None,
        on_progress: Any = None,
        cancel: Any = None,
        progress_bar: bool = True,
    ) -> Any:
        """Train a new iteration and return it (a :class:`cvbench.Iteration`).

        ``mode="quick"`` (Custom Vision's Regular): the domain's backbone stays frozen, its
        features are cached per image, and a linear head is fitted in seconds.
        ``mode="advanced"``: the quick model, then fastai fine-tuning of the backbone
        within ``budget_minutes`` (default 10), kept only if it beats the quick model on
        the validation images. ``tags`` restricts training to some tags; ``domain``
        overrides the project's; ``size`` is the input side in pixels (default: the
        domain's); ``settings`` tunes the recipe (see ``cvbench.train.classify``).

        ``on_progress(event)`` receives dicts ``{"stage", "fraction", "loss",
        "eta_seconds", "elapsed_seconds", "message"}``; ``cancel`` (a
        ``threading.Event``) stops the run with :class:`~cvbench.errors.CancelledError`
        and nothing written; ``progress_bar`` shows a tqdm bar. Refuses with
        :class:`~cvbench.errors.TrainingError` when the project cannot be trained
        (fewer than 2 tags, a tag with fewer than 5 images, an empty validation split).
        """
        from .iteration import train as _train

        return _train(self, mode, budget_minutes, tags, domain, size=size,
                      settings=settings, on_progress=on_progress, cancel=cancel,
                      progress_bar=progress_bar)

    @property
    def iterations(self) -> list[Any]:
        """The trained iterations (:class:`cvbench.Iteration`), newest first."""
        from .iteration import list_iterations

        return list_iterations(self)

    def iteration(self, id_or_name: Any = None) -> Any:
        """An iteration by id, name (``"Iteration 3"``) or published name; the newest one
        when ``id_or_name`` is None."""
        from .iteration import get_iteration

        return get_iteration(self, id_or_name)

    def _default_iteration(self, iteration: Any) -> Any:
        from .iteration import get_iteration

        if iteration is not None:
            return get_iteration(self, iteration)
        published = self._conn.execute(
            "SELECT id FROM iterations WHERE published_name IS NOT NULL "
            "ORDER BY created DESC LIMIT 1"
        ).fetchone()
        return get_iteration(self, published[0] if published else None)

    def predict(self, images: Any, iteration: Any = None, *, store: bool = False) -> Any:
        """Predict with ``iteration`` (default: the newest published one, else the newest);
        see :meth:`cvbench.Iteration.predict`."""
        return self._default_iteration(iteration).predict(images, store=store)

    def stored_predictions(self, order: str = "uncertainty", skip: int = 0,
                           take: int | None = None, *, iteration: Any = None) -> list[Any]:
        """Images predicted with ``store=True`` (:class:`cvbench.StoredPrediction`), most
        uncertain first (or ``order="newest"``), paged by ``skip``/``take``."""
        from .predict import stored_predictions

        it_id = None if iteration is None else self.iteration(iteration).id
        return stored_predictions(self, order=order, skip=skip, take=take, iteration=it_id)

    def delete_stored_predictions(self, ids: Sequence[str] | str) -> int:
        """Delete stored predictions and their image files. Returns how many."""
        from .predict import delete_stored_predictions

        return delete_stored_predictions(self, ids)

    def add_stored_prediction(self, prediction_id: str, tags: Any = None, regions: Any = None,
                              *, delete: bool = True) -> AddResult:
        """Add a stored prediction's image to the training images with ``tags`` (or
        ``regions`` for detection); the stored prediction is deleted unless ``delete=False``."""
        from .predict import add_stored_prediction

        return add_stored_prediction(self, prediction_id, tags, regions, delete=delete)

    def suggest_tags(self, iteration: Any = None, take: int | None = None, *,
                     threshold: float = 0.5, order: str = "uncertainty") -> list[Any]:
        """Smart labeler: suggested tags (:class:`cvbench.TagSuggestion`) for the untagged
        images, most uncertain first; confirm them with ``project.tag_images``."""
        from .predict import suggest_tags

        return suggest_tags(self, self._default_iteration(iteration), take=take,
                            threshold=threshold, order=order)

    # -- maintenance ---------------------------------------------------------------------
    def check(self) -> list[str]:
        """Integrity check: SQLite's own, and every image row's file. Returns problems."""
        problems: list[str] = []
        with self._lock:
            res = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
            if res != ["ok"]:
                problems += [f"database: {r}" for r in res]
            for row in self._conn.execute("SELECT id, sha256, ext FROM images"):
                if not self.files.image_path(row[1], row[2]).exists():
                    problems.append(f"image {row[0]}: its file is missing")
        return problems


def _region_fields(reg: Region | dict | tuple) -> tuple[str, float, float, float, float]:
    """(tag, left, top, width, height) from a Region, dict or tuple; tag is a name or id."""
    if isinstance(reg, Region):
        return reg.tag_id or reg.tag_name, reg.left, reg.top, reg.width, reg.height
    if isinstance(reg, dict):
        tag = reg.get("tag", reg.get("tag_id", reg.get("tagId", reg.get("tag_name"))))
        try:
            vals = [float(reg[k]) for k in ("left", "top", "width", "height")]
        except KeyError as exc:
            raise ValueError(
                f"region {reg!r} lacks {exc.args[0]!r}; a region needs tag, left, top, width, "
                "height (normalized to [0, 1])"
            ) from None
        if tag is None:
            raise ValueError(f"region {reg!r} has no tag; add 'tag': name")
        return str(tag), vals[0], vals[1], vals[2], vals[3]
    if isinstance(reg, (tuple, list)) and len(reg) == 5:
        return str(reg[0]), float(reg[1]), float(reg[2]), float(reg[3]), float(reg[4])
    raise ValueError(
        f"region {reg!r} is not a Region, a dict or a (tag, left, top, width, height) tuple"
    )
