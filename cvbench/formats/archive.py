"""cvbench project archives: a zip of a whole project folder.

The zip holds::

    cvbench-archive.json   what it is: format, version, project id, name, kind, counts
    cvbench.db             a consistent copy of the database, made with SQLite's backup API
                           (so the archive is whole even while the project is open and
                           being written), in rollback-journal mode: one self-contained file
    images/ thumbs/ iterations/ …   every other file and folder of the project, as is

:func:`export_archive` (``project.export_dataset("p.zip", format="archive")``) writes it
(to a temporary name, renamed when complete). The database is copied first and the files
after it; files are written before the rows that point to them, so every image the copy
names is on disk — unless it was deleted in between, which is reported.

:func:`restore_archive` (``cvbench.import_project``) recreates the project, identical (same
ids, tags, boxes, splits, iterations and files), in a new or empty folder. The archive importer
(``project.import_dataset("other.zip", format="archive")``, also given a project folder)
instead merges another project's images, tags (with their type and description) and boxes
into this one, as new images with new ids; images already here (same bytes) are reported
as duplicates. A detection archive cannot be merged into a classification project, nor
the reverse.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from .._types import ExportReport, ImportReport, Problem
from ..errors import ProjectError, TagError
from ..store import Store
from ..store import db as _db
from ..store.archive import (
    UnreadableDatabase,
    add_project_folder,
    check_database,
    database_contents,
)
from ._common import is_hidden, open_dataset, safe_extract
from ._pipeline import BoxIn, ImportTarget, Item, import_items, iter_images, project_kind

__all__ = ["export_archive", "restore_archive", "import_archive", "MANIFEST",
           "ARCHIVE_FORMAT"]

MANIFEST = "cvbench-archive.json"
ARCHIVE_FORMAT = "cvbench-archive"
ARCHIVE_VERSION = 1
_DB_SIDE_FILES = {_db.DB_NAME, f"{_db.DB_NAME}-wal", f"{_db.DB_NAME}-shm",
                  f"{_db.DB_NAME}-journal", MANIFEST}


def export_archive(store: Store, dest: Path) -> ExportReport:
    """Write the whole project folder into the zip file ``dest``."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; choose a new file name for the archive")
    dest.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport("archive", str(dest))
    root = store.root
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex}")
    skip = {dest.resolve(), tmp.resolve()}
    try:
        with tempfile.TemporaryDirectory(prefix="cvbench-archive-") as td:
            db_copy = Path(td) / _db.DB_NAME
            store.snapshot(db_copy)
            counts, files = database_contents(db_copy)
            manifest = {
                "format": ARCHIVE_FORMAT,
                "version": ARCHIVE_VERSION,
                "project_id": store.meta.get("project_id", ""),
                "name": store.meta.get("name", ""),
                "kind": project_kind(store),
                "schema_version": _db.SCHEMA_VERSION,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **counts,
            }
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
                zf.write(db_copy, _db.DB_NAME)
                written = add_project_folder(zf, root, skip=skip, leave_out=_DB_SIDE_FILES,
                                             problem=lambda rel, why: report.problems.append(
                                                 Problem(rel, why)))
        missing = sorted(files - written)
        for rel in missing:
            report.problems.append(Problem(rel, "named by the database but gone from the "
                                           "project folder (deleted during the export?)"))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    report.images, report.regions, report.tags = counts["images"], counts["regions"], counts["tags"]
    return report


def _unwrap(root: Path) -> Path:
    while not (root / _db.DB_NAME).exists():
        entries = [e for e in root.iterdir() if not is_hidden(e)]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            break
    return root


def restore_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Recreate the project folder archived in ``archive`` in the new or empty folder
    ``dest`` (``cvbench.import_project`` then opens it). The result is identical to the
    archived project: the same ids, tags, boxes, splits, iterations and files. Returns
    ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"no archive at {archive}; check the path")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ProjectError(f"{dest} is not empty; import the project into a new or empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.importing-{uuid.uuid4().hex}"
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                escaping = safe_extract(zf, staging)
        except zipfile.BadZipFile as exc:
            raise ProjectError(f"{archive} is not a readable zip file ({exc})") from None
        if escaping:
            raise ProjectError(
                f"{archive} holds entries that lead outside the project folder "
                f"({escaping[:5]}); a cvbench archive never does — refusing it"
            )
        root = _unwrap(staging)
        if not (root / _db.DB_NAME).is_file():
            raise ProjectError(
                f"{archive} is not a cvbench project archive (no {_db.DB_NAME} in it); to add "
                "a dataset use project.import_dataset(..., format='imagefolder' / 'coco' / …)"
            )
        _check_manifest(root / MANIFEST, archive)
        (root / MANIFEST).unlink(missing_ok=True)
        _check_integrity(root / _db.DB_NAME, archive)
        if dest.exists():
            dest.rmdir()
        os.replace(root, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _check_manifest(path: Path, archive: Path) -> None:
    if not path.is_file():
        return  # a plain zip of a project folder is fine too
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{archive}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise ProjectError(f"{archive}: {MANIFEST} does not describe a cvbench archive")
    if int(manifest.get("version", 0)) > ARCHIVE_VERSION:
        raise ProjectError(
            f"{archive} was written by a newer cvbench (archive version "
            f"{manifest.get('version')}, this one reads {ARCHIVE_VERSION}); upgrade cvbench"
        )


def _check_integrity(db_path: Path, archive: Path) -> None:
    try:
        result = check_database(db_path)
    except UnreadableDatabase as exc:
        raise ProjectError(f"{archive}: the database cannot be read ({exc})") from None
    if result != ["ok"]:
        raise ProjectError(f"{archive}: the database is damaged ({result[:5]})")


def _is_detection(kind: str) -> bool:
    return kind == "detection"


def import_archive(project: ImportTarget, source: Path) -> ImportReport:
    """Merge the images, tags and boxes of another project (archive or folder) into
    ``project``. See the module docstring."""
    report = ImportReport("archive", str(source))
    with open_dataset(
        source, report.problem, looks_complete=lambda r: (r / _db.DB_NAME).is_file()
    ) as root:
        if not (root / _db.DB_NAME).is_file():
            raise ValueError(
                f"{source} is not a cvbench project archive or folder (no {_db.DB_NAME}); "
                "datasets import with format='imagefolder', 'csv', 'coco', 'voc' or 'yolo'"
            )
        if root.resolve() == project.root.resolve():
            raise ValueError("a project cannot be merged into itself")
        other = Store.open(root)
        try:
            other_kind = project_kind(other)
            if _is_detection(other_kind) != _is_detection(project.kind):
                raise ValueError(
                    f"the archive is a {other_kind} project and this one is {project.kind}; "
                    "boxes and image tags do not mix — import it into a new project with "
                    "cvbench.import_project(archive, folder)"
                )
            before = {t.name.lower() for t in project.tags}
            names = _merge_tags(project, other, report)
            items = []
            for image in iter_images(other):
                label = f"image {image.id} ({image.original_name or 'no name'})"
                item = Item(image.path, label, name=image.original_name)
                item.tags = [names[t] for t in image.tag_ids if t in names]
                if project.kind == "detection":
                    item.tags = []
                    item.boxes = [
                        BoxIn(names[r.tag_id], "ltwh", (r.left, r.top, r.width, r.height),
                              label, where=f"box {k}")
                        for k, r in enumerate(image.regions) if r.tag_id in names
                    ]
                items.append(item)
            import_items(project, report, items)
            report.tags_created = [t.name for t in project.tags if t.name.lower() not in before]
        finally:
            other.close()
    return report


def _merge_tags(project: ImportTarget, other: Store, report: ImportReport) -> dict[str, str]:
    """Create the other project's tags here; returns its tag ids -> tag names here."""
    mine = {t.name.lower(): t for t in project.tags}
    my_negative = next((t for t in mine.values() if t.type == "Negative"), None)
    names: dict[str, str] = {}
    for t in other.tags.all():
        if t.name.lower() in mine:
            names[t.id] = mine[t.name.lower()].name
            continue
        if t.type == "Negative" and my_negative is not None:
            names[t.id] = my_negative.name  # one Negative tag per project
            continue
        try:
            created = project.create_tag(t.name, t.type, t.description)
        except (TagError, ValueError) as exc:
            report.problem(f"tag {t.name!r}", f"cannot create the tag: {exc}")
            continue
        mine[created.name.lower()] = created
        names[t.id] = created.name
        if created.type == "Negative":
            my_negative = created
    return names
