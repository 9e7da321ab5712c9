"""The import and export machinery every format shares.

Importers add to an :class:`ImportTarget` (a project's kind, limits and the project's own
operations to create tags and add images, built by ``Project.import_dataset``); exporters
read a project's :class:`~cvbench.store.Store`. Neither sees the ``Project`` facade.

A format's importer parses its labels into :class:`Item` objects (one per image file, with
tags or boxes and where they came from) and hands them to :func:`import_items`, which

1. reads each file once: its sha256 and its size *as displayed* (EXIF orientation applied),
   refusing unreadable files with Custom Vision's status words;
2. converts boxes to cvbench's one format, :class:`~cvbench.boxes.Region` (normalized
   ``left, top, width, height``), with :func:`cvbench.boxes.box_from`, clipping boxes that
   reach outside the image and dropping boxes of zero or negative size, each with a problem
   entry;
3. merges items with identical bytes (an image in two tag folders of a multilabel dataset
   gets both tags; an exact repeat is counted as a duplicate);
4. adds them with the project's ``add_images`` in batches; one bad item never stops the
   others.

Exporters use :func:`iter_images`, :class:`NameAllocator` (original names, made unique,
``<id>.<ext>`` as the fallback) and :func:`copy_image` (the stored bytes, unchanged).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .._types import AddResult, ExportReport, ImportReport, Problem, StoredImage, Tag
from ..boxes import BOX_FORMATS, Region, box_from
from ..errors import ImageError, TagError
from ..store import Store
from ..store.files import sha256_bytes
from ..store.images import Limits, inspect_image
from ._common import IMAGE_SUFFIXES

__all__ = [
    "ImportTarget",
    "BoxIn",
    "Item",
    "import_items",
    "project_kind",
    "ensure_tags",
    "iter_images",
    "NameAllocator",
    "copy_image",
    "prepare_dest",
    "fmt_float",
    "BOX_KINDS",
    "export_problem",
    "to_region",
]

_BATCH = 64
_ILLEGAL_NAME_CHARS = set('<>:"|?*') | {chr(c) for c in range(32)}


#: How a dataset writes a box, and the names of its four numbers (for messages).
BOX_KINDS = BOX_FORMATS


@dataclass(frozen=True)
class ImportTarget:
    """What an importer adds to: the project's kind, limits and folder, and the project's
    own operations (the facade's, with their rules) to list and create tags, add images
    and read one back."""

    kind: str
    limits: Limits
    root: Path
    list_tags: Callable[[], list[Tag]]
    create_tag: Callable[[str, str, str], Tag]
    add_images: Callable[..., list[AddResult]]
    image: Callable[[str], StoredImage]

    @property
    def tags(self) -> list[Tag]:
        return self.list_tags()


def project_kind(store: Store) -> str:
    """The kind of the project whose store this is."""
    return store.meta.get("kind", "") or ""


@dataclass
class BoxIn:
    """A box as a dataset writes it: ``kind`` is ``"ltwh"`` (COCO, CSV), ``"xyxy"`` (VOC)
    or ``"cxcywh"`` (YOLO); the values are pixels of the displayed image when the box's
    :class:`Item` has ``pixels=True``, else normalized to [0, 1]."""

    tag: str
    kind: str
    values: tuple[float, float, float, float]
    file: str
    line: int | None = None
    where: str = ""


@dataclass
class Item:
    """One image file of a dataset with its labels, and where it was named (for problems)."""

    path: Path
    file: str
    line: int | None = None
    name: str = ""
    tags: list[str] = field(default_factory=list)
    boxes: list[BoxIn] = field(default_factory=list)
    pixels: bool = False
    declared_size: tuple[float, float] | None = None


@dataclass
class _Ready:
    item: Item
    sha: str
    width: int
    height: int
    tags: list[str]
    regions: list[Region]
    files: list[str]


def fmt_float(value: float) -> str:
    """A float as text that reads back to the same float (``repr``), ints without ``.0``."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# -- import ---------------------------------------------------------------------------------
def ensure_tags(project: ImportTarget, report: ImportReport, names: Iterable[str], *,
                negative: str | None = None, file: str = "") -> None:
    """Create the tags ``names`` that the project lacks (a dataset's category list, empty
    tag folders); the one named ``negative``, if among them, is created as Custom Vision's
    Negative tag."""
    existing = {t.name.lower(): t for t in project.tags}
    wanted = dict.fromkeys(n.strip() for n in names if n and n.strip())
    for name in wanted:
        kind = "Negative" if negative and name.lower() == negative.strip().lower() else "Regular"
        tag = existing.get(name.lower())
        if tag is not None:
            if kind == "Negative" and tag.type != "Negative":
                report.problem(file, f"tag {tag.name!r} already exists as a Regular tag; it "
                               "stays Regular")
            continue
        try:
            existing[name.lower()] = project.create_tag(name, kind, "")
        except (TagError, ValueError) as exc:
            report.problem(file, f"cannot create tag {name!r}: {exc}")


def _scan(project: ImportTarget, item: Item) -> tuple[str, int, int] | tuple[str, str]:
    """(sha256, width, height) of the item's file, or (status, message)."""
    try:
        if not item.path.is_file():
            return ("ErrorSource", "the image file does not exist; check the path")
        size = item.path.stat().st_size
        if size > project.limits.max_image_bytes:
            return (
                "ErrorImageSize",
                f"the file is {size / 1e6:.1f} MB, above the limit of "
                f"{project.limits.max_image_bytes / 1e6:.1f} MB; resize or recompress it",
            )
        data = item.path.read_bytes()
    except OSError as exc:
        return ("ErrorSource", f"cannot read the file: {exc.strerror or exc}")
    try:
        info = inspect_image(data, project.limits, decode=False)
    except ImageError as exc:
        return (exc.status, exc.message)
    return (sha256_bytes(data), info.width, info.height)


def to_region(box: BoxIn, width: float, height: float) -> tuple[Region | None, str]:
    """A dataset box as a :class:`~cvbench.boxes.Region` (tag by name, normalized, clipped
    to the image), converted by :func:`cvbench.boxes.box_from`.

    Returns ``(None, why)`` for a box that cannot be kept (not a number, zero or negative
    size, nothing inside the image), ``(region, note)`` for a clipped one, ``(region, "")``
    otherwise.
    """
    shown = f"{BOX_KINDS[box.kind]} = {', '.join(fmt_float(v) for v in box.values)}"
    size = f"{fmt_float(width)}x{fmt_float(height)}" if (width, height) != (1.0, 1.0) else ""
    image = f"the image ({size} pixels)" if size else "the image"
    b, what = box_from(box.kind, box.values, width, height)
    if what == "not finite":
        return None, f"box {box.tag!r} ({shown}) has a value that is not a finite number; dropped"
    if what == "empty":
        return None, f"box {box.tag!r} has zero or negative size ({shown}); dropped"
    if b is None:
        return None, f"box {box.tag!r} ({shown}) lies outside {image}; dropped"
    region = Region("", box.tag, b.left, b.top, b.width, b.height)
    if what == "clipped":
        return region, f"box {box.tag!r} ({shown}) reached outside {image} and was clipped"
    return region, ""


def import_items(project: ImportTarget, report: ImportReport, items: list[Item], *,
                 tags: Iterable[str] = (), negative: str | None = None, file: str = "") -> None:
    """Add ``items`` to ``project``, recording every outcome in ``report``.

    ``tags`` are created first even when no item carries them (a dataset's category
    list); ``negative`` names the tag to create as the Negative tag (see ensure_tags).
    """
    before = {t.name.lower() for t in project.tags}
    ensure_tags(project, report, tags, negative=negative, file=file)
    workers = min(4, os.cpu_count() or 1)
    ready: dict[str, _Ready] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        scans = list(pool.map(lambda it: _scan(project, it), items))
    for item, scan in zip(items, scans, strict=True):
        if len(scan) == 2:
            status, message = scan
            report.problem(item.file, f"{status}: {message}", item.line)
            report.results.append(AddResult(str(item.path), status, message))
            continue
        sha, w, h = scan  # type: ignore[misc]
        if item.declared_size is not None:
            dw, dh = item.declared_size
            if (dw, dh) != (w, h):
                why = " (EXIF orientation)" if (dw, dh) == (h, w) else ""
                report.problem(
                    item.file,
                    f"the dataset gives the size {fmt_float(dw)}x{fmt_float(dh)} but the image "
                    f"displays as {w}x{h}{why}; its boxes were read in the displayed image",
                    item.line,
                )
        regions = []
        scale = (float(w), float(h)) if item.pixels else (1.0, 1.0)
        for b in item.boxes:
            region, note = to_region(b, *scale)
            if note:
                report.problem(b.file, f"{b.where}: {note}" if b.where else note, b.line)
            if region is not None:
                regions.append(region)
        first = ready.get(sha)
        if first is None:
            tags = list(dict.fromkeys(item.tags))
            ready[sha] = _Ready(item, sha, w, h, tags, regions, [item.file])
            continue
        _merge(first, item, regions, report)
    _check_tag_rules(project, report, ready.values())
    _add(project, report, list(ready.values()))
    report.tags_created = [t.name for t in project.tags if t.name.lower() not in before]
    report.problems.sort(key=lambda p: (p.file, p.line or 0))  # stable: same line keeps order


def _merge(first: _Ready, item: Item, regions: list[Region], report: ImportReport) -> None:
    known = {t.lower() for t in first.tags}
    new_tags = [t for t in dict.fromkeys(item.tags) if t.lower() not in known]
    new_regions = [r for r in regions if r not in first.regions]
    where = first.files[0] + (f":{first.item.line}" if first.item.line is not None else "")
    if not new_tags and not new_regions:
        report.duplicates += 1
        report.problem(item.file, f"the same image as {where} (identical bytes); imported once",
                       item.line)
        return
    first.tags += new_tags
    first.files.append(item.file)
    if new_regions:
        first.regions += new_regions
        report.problem(item.file, f"the same image as {where} (identical bytes); its boxes "
                       "were merged into that image", item.line)


def _check_tag_rules(project: ImportTarget, report: ImportReport, ready: Iterable[_Ready]
                     ) -> None:
    if project.kind != "multiclass":
        return
    for r in ready:
        if len(r.tags) > 1:
            report.problem(
                r.item.file,
                f"a multiclass image takes one tag; this image has {r.tags} (from "
                f"{', '.join(dict.fromkeys(r.files))}); kept {r.tags[0]!r}",
                r.item.line,
            )
            r.tags = r.tags[:1]


def _add(project: ImportTarget, report: ImportReport, ready: list[_Ready]) -> None:
    # add_images gives one tag list to all its sources: group images by their tags
    detection = project.kind == "detection"
    groups: dict[tuple[str, ...], list[_Ready]] = {}
    for r in ready:
        key = () if detection else tuple(
            sorted({t.lower(): t for t in r.tags}.values(), key=str.lower)
        )
        groups.setdefault(key, []).append(r)
    for key, members in groups.items():
        for start in range(0, len(members), _BATCH):
            chunk = members[start:start + _BATCH]
            try:
                results = project.add_images(
                    [r.item.path for r in chunk],
                    tags=list(key) or None,
                    regions=[list(r.regions) for r in chunk] if detection else None,
                    names=[r.item.name or r.item.path.name for r in chunk],
                )
            except (TagError, ValueError) as exc:
                results = [AddResult(str(r.item.path), "ErrorInvalidTag", str(exc)) for r in chunk]
            for r, res in zip(chunk, results, strict=True):
                _record(project, report, r, res)


def _record(project: ImportTarget, report: ImportReport, r: _Ready, res: AddResult) -> None:
    report.results.append(res)
    item = r.item
    if res.status == "OK":
        report.imported += 1
        if res.message:
            report.problem(item.file, res.message, item.line)
        return
    if res.status != "OKDuplicate":
        report.problem(item.file, f"{res.status}: {res.message}", item.line)
        return
    report.duplicates += 1
    if res.image_id is None:
        return
    existing = project.image(res.image_id)
    if _detection_differs(project, existing, r) or (
        project.kind != "detection"
        and {t.lower() for t in existing.tags} != {t.lower() for t in r.tags}
    ):
        what = "boxes" if project.kind == "detection" else "tags"
        report.problem(
            item.file,
            f"already in the project as image {res.image_id} (identical bytes), with other "
            f"{what}; the {what} of this dataset were not applied to it",
            item.line,
        )


def _detection_differs(project: ImportTarget, existing: StoredImage, r: _Ready) -> bool:
    if project.kind != "detection":
        return False
    have = sorted((g.tag_name.lower(), g.left, g.top, g.width, g.height) for g in existing.regions)
    if len(have) != len(r.regions):
        return True
    want = sorted((g.tag_name.lower(), g.left, g.top, g.width, g.height) for g in r.regions)
    return any(
        a[0] != b[0] or any(abs(x - y) > 1e-9 for x, y in zip(a[1:], b[1:], strict=True))
        for a, b in zip(have, want, strict=True)
    )


# -- export ---------------------------------------------------------------------------------
def prepare_dest(dest: Path) -> Path:
    """Create the export folder ``dest``; refuse one that already holds files."""
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise FileExistsError(f"{dest} is a file; export into a new or empty folder")
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(
            f"{dest} is not empty; export into a new or empty folder (nothing was written)"
        )
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def iter_images(store: Store, *, page: int = 500) -> Iterator[StoredImage]:
    """Every image of the project, oldest first, read a page at a time."""
    skip = 0
    while True:
        batch = store.images.load(store.images.page_ids(newest_first=False, skip=skip,
                                                        take=page))
        yield from batch
        if len(batch) < page:
            return
        skip += page


class NameAllocator:
    """File names for exported images: the original name where it is usable and free, else
    ``<id>.<ext>``. Names are unique ignoring case (and, with ``unique_stem``, so are their
    stems, for formats that pair ``x.jpg`` with ``x.txt`` or ``x.xml``)."""

    def __init__(self, *, unique_stem: bool = False) -> None:
        self._used: set[str] = set()
        self._unique_stem = unique_stem

    def reserve(self, name: str) -> None:
        """Keep ``name`` from being given to an image (a folder beside the files)."""
        self._used.add(self._key(name))

    def _key(self, name: str) -> str:
        return (Path(name).stem if self._unique_stem else name).lower()

    def name(self, image: StoredImage) -> str:
        ext = image.path.suffix.lower() or ".jpg"
        candidate = image.original_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if (
            not candidate
            or candidate.startswith(".")
            or len(candidate) > 200
            or any(c in _ILLEGAL_NAME_CHARS for c in candidate)
        ):
            candidate = ""
        elif Path(candidate).suffix.lower() not in IMAGE_SUFFIXES:
            candidate = f"{candidate}{ext}"
        options = [candidate] if candidate else []
        options.append(f"{image.id}{ext}")
        options += [f"{image.id}-{k}{ext}" for k in range(1, 1000)]
        for name in options:
            if self._key(name) not in self._used:
                self._used.add(self._key(name))
                return name
        raise RuntimeError(f"no free file name for image {image.id}")  # pragma: no cover


def copy_image(image: StoredImage, target: Path, report: ExportReport) -> bool:
    """Copy the stored bytes of ``image`` to ``target``; a problem entry if they are gone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(image.path, target)
    except OSError as exc:
        report.problems.append(
            _problem(image, f"its stored file cannot be read ({exc.strerror or exc}); skipped")
        )
        return False
    return True


def _problem(image: StoredImage, message: str) -> Problem:
    return Problem(f"image {image.id} ({image.original_name or 'no name'})", message)


def export_problem(report: ExportReport, image: StoredImage, message: str) -> None:
    report.problems.append(_problem(image, message))
