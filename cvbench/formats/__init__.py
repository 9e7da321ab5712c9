"""Dataset import and export: imagefolder, csv, coco, voc, yolo, and cvbench archives.

Every format has an importer ``(target: ImportTarget, source: Path, **options) ->
ImportReport`` and an exporter ``(store: Store, dest: Path, **options) -> ExportReport``;
``Project.import_dataset`` and ``Project.export_dataset`` look them up here by name::

    report = project.import_dataset("pets/", format="imagefolder")
    print(report)                       # imported, duplicates, every problem with its file
    project.export_dataset("out/", format="coco")

Each format's module docstring states its exact conventions. ``cvbench.import_project``
recreates a whole project from an archive written by ``format="archive"``
(:func:`restore_archive`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._types import ExportReport, ImportReport
from . import archive, coco, csv_, imagefolder, voc, yolo
from ._pipeline import ImportTarget
from .archive import restore_archive

__all__ = ["Format", "FORMATS", "get_format", "ImportTarget", "restore_archive"]


@dataclass(frozen=True)
class Format:
    """A dataset format: its name, what it holds, and its importer and exporter."""

    name: str
    description: str
    importer: Callable[..., ImportReport]
    exporter: Callable[..., ExportReport]


FORMATS: dict[str, Format] = {
    "imagefolder": Format(
        "imagefolder",
        "one folder per tag (classification); a folder or a .zip",
        imagefolder.import_imagefolder,
        imagefolder.export_imagefolder,
    ),
    "csv": Format(
        "csv",
        "path,tags (classification) or path,tag,left,top,width,height (detection)",
        csv_.import_csv,
        csv_.export_csv,
    ),
    "coco": Format(
        "coco",
        "COCO JSON: boxes in pixels [x, y, w, h]; image-level categories for classification",
        coco.import_coco,
        coco.export_coco,
    ),
    "voc": Format(
        "voc",
        "Pascal VOC: one XML file per image, boxes in pixels xmin, ymin, xmax, ymax",
        voc.import_voc,
        voc.export_voc,
    ),
    "yolo": Format(
        "yolo",
        "YOLO: images/, labels/*.txt with 'class cx cy w h' normalized, classes.txt (detection)",
        yolo.import_yolo,
        yolo.export_yolo,
    ),
    "archive": Format(
        "archive",
        "a zip of a whole cvbench project; importing merges it into this project",
        archive.import_archive,
        archive.export_archive,
    ),
}


def get_format(name: str) -> Format:
    """The format called ``name``; a ValueError names the valid ones."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"format={name!r} is not a dataset format; it should be one of {list(FORMATS)}"
        ) from None
