"""ImageFolder: one folder per tag (classification projects).

Layout::

    dataset/
      cat/   a.jpg  b.png  more/c.jpg     every image under cat/ (at any depth) gets "cat"
      dog/   d.jpg
      e.jpg                               an image at the top level: imported untagged

Import takes the folder or a ``.zip`` of it (a zip holding one folder that holds the tag
folders is read from that folder). Folder names are tag names (Unicode NFC); an empty tag
folder creates its tag. Multilabel: an image found in several tag folders (the same bytes,
matched by sha256, under any names) is added once with all those tags; in a multiclass
project it keeps the first tag (folders in sorted order) and the others are reported.
Hidden files and ``__MACOSX`` are ignored; other files that are not images are reported.
Option ``negative_tag="Negative"`` creates that folder's tag as the Negative tag.

Export writes ``dest/<tag>/<original name>`` (the stored bytes; names made unique per
folder, else ``<id>.<ext>``), an image with several tags into each of their folders, and a
folder for every tag, even without images. Untagged images are not exported unless
``untagged=True``, which writes them at the top level of ``dest`` (where import reads them
back as untagged). Detection projects have boxes, which this layout cannot hold: use coco,
voc, yolo or csv.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from .._types import ExportReport, ImportReport, Problem
from ..store import Store
from ._common import IMAGE_SUFFIXES, is_hidden, open_dataset, relative_label
from ._pipeline import (
    ImportTarget,
    Item,
    NameAllocator,
    copy_image,
    import_items,
    iter_images,
    prepare_dest,
    project_kind,
)

__all__ = ["import_imagefolder", "export_imagefolder"]


def _refuse_detection(kind: str, what: str) -> None:
    if kind == "detection":
        raise ValueError(
            f"imagefolder {what} holds one tag per image, not boxes; this project is detection: "
            "use format='coco', 'voc', 'yolo' or 'csv'"
        )


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _looks_complete(root: Path) -> bool:
    entries = [e for e in root.iterdir() if not is_hidden(e)]
    if any(e.is_file() and e.suffix.lower() in IMAGE_SUFFIXES for e in entries):
        return True
    dirs = [e for e in entries if e.is_dir()]
    # a single folder of images is a one-tag dataset; a folder of folders is a wrapper
    return len(dirs) == 1 and not any(c.is_dir() and not is_hidden(c) for c in dirs[0].iterdir())


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder`` at any depth, sorted, without hidden files and folders."""
    return [
        p for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(
            part.startswith(".") or part == "__MACOSX" for part in p.relative_to(folder).parts
        )
    ]


def import_imagefolder(project: ImportTarget, source: Path, *, negative_tag: str | None = None
                       ) -> ImportReport:
    """Import a folder (or ``.zip``) with one sub-folder per tag. See the module docstring."""
    _refuse_detection(project.kind, "import")
    report = ImportReport("imagefolder", str(source))
    with open_dataset(source, report.problem, looks_complete=_looks_complete) as root:
        if not root.is_dir():
            raise ValueError(
                f"{source} is not a folder or a .zip; imagefolder imports a folder with one "
                "sub-folder per tag"
            )
        items: list[Item] = []
        tag_names: list[str] = []
        for entry in sorted(root.iterdir()):
            if is_hidden(entry):
                continue
            label = relative_label(entry, root)
            if entry.is_dir():
                tag = _nfc(entry.name)
                tag_names.append(tag)
                for f in _walk(entry):
                    flabel = relative_label(f, root)
                    if f.suffix.lower() not in IMAGE_SUFFIXES:
                        report.problem(flabel, f"not an image file ({f.suffix or 'no suffix'}); "
                                       f"skipped (images: {', '.join(sorted(IMAGE_SUFFIXES))})")
                        continue
                    items.append(Item(f, flabel, name=_nfc(f.name), tags=[tag]))
            elif entry.suffix.lower() in IMAGE_SUFFIXES:
                items.append(Item(entry, label, name=_nfc(entry.name)))
            else:
                report.problem(label, "not an image file or a tag folder; skipped")
        import_items(project, report, items, tags=tag_names, negative=negative_tag,
                     file=str(source))
    return report


def _folder_problem(tag: str) -> str | None:
    if tag in (".", "..") or tag.startswith(".") or any(c in tag for c in "/\\\0"):
        return (
            f"tag {tag!r} cannot be a folder name (it contains '/', '\\' or starts with '.'); "
            "its images were not exported under it — rename the tag"
        )
    return None


def export_imagefolder(store: Store, dest: Path, *, untagged: bool = False) -> ExportReport:
    """Write ``dest/<tag>/<file>`` for every tagged image. See the module docstring."""
    _refuse_detection(project_kind(store), "export")
    dest = prepare_dest(dest)
    report = ExportReport("imagefolder", str(dest))
    folders: dict[str, tuple[Path, NameAllocator]] = {}
    for tag in store.tags.all():
        why = _folder_problem(tag.name)
        if why:
            report.problems.append(_tag_problem(tag.name, why))
            continue
        (dest / tag.name).mkdir(parents=True, exist_ok=True)
        folders[tag.name] = (dest / tag.name, NameAllocator())
    report.tags = len(folders)
    top = NameAllocator()
    for name in folders:
        top.reserve(name)
    for image in iter_images(store):
        targets = []
        if image.tags:
            targets = [folders[t] for t in image.tags if t in folders]
        elif untagged:
            targets = [(dest, top)]
        written = False
        for folder, names in targets:
            written = copy_image(image, folder / names.name(image), report) or written
        report.images += int(written)
    return report


def _tag_problem(tag: str, message: str) -> Problem:
    return Problem(f"tag {tag!r}", message)
