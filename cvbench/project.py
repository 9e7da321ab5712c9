"""``Project``: the one facade over a project's store, training, evaluation and prediction.

A project is a folder::

    cvbench.db              SQLite (WAL): settings, tags, images, regions, iterations, …
    images/ab/<sha256>.jpg  the original image bytes, content-addressed
    thumbs/ab/<sha256>.jpg  thumbnails (256 px)
    iterations/<id>/        trained weights (safetensors) of each iteration
    predictions/            images kept by ``predict(..., store=True)``

Writes are atomic: files are written under a temporary name and renamed, then the rows that
point to them are committed; a killed process leaves the project as before or after an
operation, never in between.

``Project`` composes the store (:class:`cvbench.store.Store`: all SQL and files) with the
engine (formats, training, evaluation, prediction, export), which it hands plain data or
the store. Its methods come in parts: settings (:mod:`cvbench._project_base`), tags
(:mod:`cvbench._project_tags`), adding images (:mod:`cvbench._project_ingest`), reading,
querying, tagging, boxing, splitting them and their metadata (:mod:`cvbench._project_images`),
training runs, iterations and predictions (:mod:`cvbench._project_models`, with
:mod:`cvbench._training` and :mod:`cvbench._runs`), and, here, the summary, datasets and
maintenance. ``Project.revision`` is a change counter any face can poll.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

from . import formats
from ._project_base import check_domain, now
from ._project_insight import InsightMixin
from ._types import KINDS, ExportReport, ImportReport, Summary
from .errors import ProjectError
from .formats import ImportTarget, restore_archive
from .sources import ImageSource
from .store import Store
from .store.images import Limits

__all__ = [
    "Project",
    "create_project",
    "open_project",
    "import_project",
    "ImageSource",
    "MIN_IMAGES_PER_TAG",
    "DEFAULT_VALIDATION_FRACTION",
]

#: Custom Vision asks this many images per tag (classification) or boxes (detection).
MIN_IMAGES_PER_TAG = {"multiclass": 5, "multilabel": 5, "detection": 15}
DEFAULT_VALIDATION_FRACTION = 0.2


def create_project(
    path: str | os.PathLike,
    *,
    kind: str = "multiclass",
    domain: str | None = None,
    name: str | None = None,
    split_seed: int = 0,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    limits: dict[str, int] | None = None,
    description: str = "",
) -> Project:
    """Create a new project in the folder ``path`` (created if missing; must hold no project).

    ``kind`` is ``"multiclass"``, ``"multilabel"`` or ``"detection"``; ``domain`` names the
    backbone family (Custom Vision's domains, see ``cvbench.domains``); ``name`` (default:
    the folder's) and ``description`` are for people (``rename``, ``set_description``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a project kind; it should be one of {list(KINDS)}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction={validation_fraction!r} must lie strictly between 0 and 1"
        )
    lim = Limits.from_dict(limits)
    domain = check_domain(domain, kind)
    if not isinstance(description, str) or len(description) > 4000:
        raise ValueError("description should be text of at most 4,000 characters")
    root = Path(path)
    if Store.exists(root):
        raise ProjectError(
            f"{root} already holds a cvbench project; open it with cvbench.open_project({str(root)!r})"
            " or choose an empty folder"
        )
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file, not a folder; choose a folder for the project")
    root.mkdir(parents=True, exist_ok=True)
    Store.create(root, {
        "project_id": str(uuid.uuid4()),
        "name": name or root.resolve().name,
        "kind": kind,
        "domain": domain,
        "split_seed": str(int(split_seed)),
        "validation_fraction": repr(float(validation_fraction)),
        "limits": json.dumps(lim.__dict__),
        "created": now(),
        "split_dirty": "0",
        "seq": "0",
        "description": description,
    }).close()
    return Project(root)


def open_project(path: str | os.PathLike) -> Project:
    """Open the project in folder ``path``."""
    return Project(Path(path))


def import_project(archive: str | os.PathLike, dest: str | os.PathLike, *,
                   new_id: bool = False) -> Project:
    """Recreate the project archived in ``archive`` (``export_dataset(…, format="archive")``)
    in the new or empty folder ``dest``.

    The result is identical to the archived project: the same ids, tags, boxes, splits,
    iterations and files — with ``new_id=True``, under a new project id, so that the copy
    can live beside its original (a server lists projects by id). Runs that were training
    when the archive was made are Failed in the copy (nothing runs them there). Returns
    the opened :class:`Project`.
    """
    root = restore_archive(archive, dest)
    with Store.open(root) as store, store.transaction():
        if new_id:
            store.meta.set("project_id", str(uuid.uuid4()))
        for iteration_id, _ in store.iterations.running():
            store.iterations.fail(iteration_id, "the archive was made while this iteration "
                                  "trained; the copy holds no model: train again", now())
    project = Project(root)
    problems = project.check()
    if problems:
        warnings.warn(
            f"the project imported from {archive} has {len(problems)} problems, e.g. "
            f"{problems[:3]}; see project.check()",
            stacklevel=2,
        )
    return project


class Project(InsightMixin):
    """A cvbench project: images, tags, boxes, iterations. Open with :func:`open_project`."""

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> Summary:
        """Counts per tag, untagged images, the split, and warnings worth acting on."""
        store = self.store
        with store.lock:  # one consistent view; every count is kept by triggers
            store.split.ensure()
            n_images = store.images.count()
            n_tagged = store.images.count_tagged()
            n_train = store.images.count_in_split("train")
            n_validation = store.images.count_in_split("validation")
            stats = store.tags.stats()
            n_iter = store.iterations.count()
            domain = self.domain
            kind = self.kind  # one read: settings live in the project, not in this object
        rows: list[dict[str, Any]] = []
        for t in stats:
            row: dict[str, Any] = {
                "id": t.id,
                "name": t.name,
                "type": t.type,
                "images": t.images,
                "train": t.train,
                "validation": t.validation,
            }
            if kind == "detection":
                row["regions"] = t.regions
            rows.append(row)
        warnings: list[str] = []
        minimum = MIN_IMAGES_PER_TAG[kind]
        unit = "boxes" if kind == "detection" else "images"
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
        if len(regular) < (1 if kind == "detection" else 2):
            need = "one tag" if kind == "detection" else "two tags"
            warnings.append(f"training needs at least {need}")
        if n_images - n_tagged:
            n = n_images - n_tagged
            warnings.append(
                f"{n} image{' is' if n == 1 else 's are'} untagged and will not be used for "
                "training"
            )
        return Summary(
            kind=kind,
            domain=domain,
            images=n_images,
            tagged=n_tagged,
            untagged=n_images - n_tagged,
            train=n_train,
            validation=n_validation,
            tags=rows,
            iterations=n_iter,
            warnings=warnings,
        )

    # -- formats -------------------------------------------------------------------------
    def import_dataset(self, source: str | os.PathLike, format: str, **options: Any
                       ) -> ImportReport:
        """Import a dataset: ``format`` is one of ``cvbench.formats.FORMATS``
        (imagefolder, csv, coco, voc, yolo, archive)."""
        return formats.get_format(format).importer(self._import_target(), Path(source),
                                                   **options)

    def export_dataset(self, dest: str | os.PathLike, format: str, **options: Any
                       ) -> ExportReport:
        """Export the images, tags and boxes in ``format`` to ``dest``."""
        return formats.get_format(format).exporter(self.store, Path(dest), **options)

    def _import_target(self) -> ImportTarget:
        """This project as the importers see it: its kind, limits and folder, and its own
        methods (with their rules) to read and create tags and to add images."""
        return ImportTarget(
            kind=self.kind, limits=self.limits, root=self.path,
            list_tags=lambda: self.tags, create_tag=self.create_tag,
            add_images=self.add_images, image=self.image,
        )

    # -- maintenance ---------------------------------------------------------------------
    def check(self) -> list[str]:
        """Integrity check: SQLite's own, and every image row's file. Returns problems."""
        return self.store.check()
