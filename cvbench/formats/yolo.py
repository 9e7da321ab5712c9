"""YOLO (darknet / Ultralytics): one label text file per image (detection projects).

Layout::

    dataset/
      classes.txt            one class name per line; line k (from 0) names class k
      images/a.jpg           (sub-folders allowed: images/train/a.jpg)
      labels/a.txt           (then labels/train/a.txt)
      data.yaml              (written by export for Ultralytics; import does not read it)

Each line of a label file is ``class cx cy w h``: the class index, then the box's center
and size normalized to [0, 1] of the image as displayed. An image without a label file, or
with an empty one, has no boxes. The class names come from ``classes=[...]`` if given,
else ``classes.txt``, ``obj.names`` (darknet) or ``labels/classes.txt``; without any, tags
are named by class number (and that is reported). Every class becomes a tag, even without
boxes. Without an ``images/`` folder, label files are read from beside their images
(``a.jpg`` + ``a.txt``, darknet's layout).

Problems carry the label file and line: malformed lines (not five numbers; segmentation
polygons are not read), unknown class indexes, boxes outside the image (clipped) or of zero
size (dropped), and label files whose image does not exist.

Import takes the folder or a ``.zip`` of it. Export writes ``images/<original name>`` (made
unique, with unique stems, else ``<id>.<ext>``), ``labels/<stem>.txt`` for every image
(empty for none), ``classes.txt`` (tags in name order) and ``data.yaml``; numbers are
written with ``repr`` so they read back exactly. YOLO has no classification form here:
Ultralytics' classification datasets are ImageFolder (``format="imagefolder"``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .._types import ExportReport, ImportReport
from ..store import Store
from ._common import IMAGE_SUFFIXES, open_dataset, relative_label
from ._pipeline import (
    BoxIn,
    ImportTarget,
    Item,
    NameAllocator,
    copy_image,
    fmt_float,
    import_items,
    iter_images,
    prepare_dest,
    project_kind,
)

__all__ = ["import_yolo", "export_yolo"]

_CLASS_FILES = ("classes.txt", "obj.names", "labels/classes.txt")


def _refuse_classification(kind: str, what: str) -> None:
    if kind != "detection":
        raise ValueError(
            f"yolo {what} holds boxes; this project is {kind}: use "
            "format='imagefolder' (Ultralytics' classification layout), 'csv' or 'coco'"
        )


def _files(folder: Path, root: Path) -> list[Path]:
    return [
        p for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(
            part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts
        )
    ]


def _read_classes(root: Path, classes: list[str] | None, report: ImportReport
                  ) -> tuple[list[str] | None, str]:
    if classes is not None:
        return [str(c).strip() for c in classes], ""
    for name in _CLASS_FILES:
        path = root / name
        if path.is_file():
            try:
                text = path.read_bytes().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                report.problem(name, f"not UTF-8 text ({exc.reason}); class names unread")
                return None, name
            lines = [line.strip() for line in text.splitlines()]
            while lines and not lines[-1]:
                lines.pop()
            names = []
            for k, line in enumerate(lines):
                if not line:
                    report.problem(name, f"class {k} has no name; it is named {str(k)!r}", k + 1)
                names.append(line or str(k))
            return names, name
    report.problem(
        "classes.txt",
        "no classes.txt or obj.names (one class name per line); tags are named by class "
        "number — pass classes=[...] to name them",
    )
    return None, ""


def import_yolo(project: ImportTarget, source: Path, *, classes: list[str] | None = None
                ) -> ImportReport:
    """Import a YOLO dataset (images + label text files). See the module docstring."""
    _refuse_classification(project.kind, "import")
    report = ImportReport("yolo", str(source))

    def complete(root: Path) -> bool:
        return any((root / n).is_file() for n in _CLASS_FILES) or (root / "images").is_dir()

    with open_dataset(source, report.problem, looks_complete=complete) as root:
        if not root.is_dir():
            raise ValueError(f"{source} is not a folder or a .zip; yolo imports a folder with "
                             "images/, labels/ and classes.txt")
        names, names_file = _read_classes(root, classes, report)
        if (root / "images").is_dir():
            image_root, label_root = root / "images", root / "labels"
        else:
            image_root = label_root = root
        images = [p for p in _files(image_root, root) if p.suffix.lower() in IMAGE_SUFFIXES]
        labels = [
            p for p in (_files(label_root, root) if label_root.is_dir() else [])
            if p.suffix.lower() == ".txt" and relative_label(p, root) != names_file
            and relative_label(p, root) not in _CLASS_FILES
        ]
        by_key: dict[str, list[Path]] = {}
        for img in images:
            key = img.relative_to(image_root).with_suffix("").as_posix()
            by_key.setdefault(key, []).append(img)
        label_of: dict[Path, Path] = {}
        for lab in labels:
            key = lab.relative_to(label_root).with_suffix("").as_posix()
            owners = by_key.get(key)
            lab_label = relative_label(lab, root)
            if not owners:
                where = "images/" if image_root != root else "beside it"
                report.problem(lab_label, f"a label file for an image that does not exist "
                               f"(no {key}.* in {where}); skipped")
                continue
            if len(owners) > 1:
                report.problem(lab_label, "several images share this label file's name "
                               f"({', '.join(p.name for p in owners)}); it applies to each")
            for img in owners:
                label_of[img] = lab
        items = []
        for img in images:
            item = Item(img, relative_label(img, root), name=img.name)
            if img in label_of:
                _parse_labels(label_of[img], relative_label(label_of[img], root), names,
                              item, report)
            items.append(item)
        import_items(project, report, items, tags=names or [], file=names_file)
    return report


def _parse_labels(path: Path, label: str, names: list[str] | None, item: Item,
                  report: ImportReport) -> None:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.problem(label, f"not UTF-8 text ({exc.reason}); its boxes were not read")
        return
    except OSError as exc:
        report.problem(label, f"cannot read the file: {exc.strerror or exc}")
        return
    for n, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 5:
            report.problem(label, f"expected 'class cx cy w h' (5 values), found {len(tokens)}"
                           f": {line.strip()[:80]!r}; line skipped", n)
            continue
        try:
            as_float = float(tokens[0])
            if not as_float.is_integer():
                raise ValueError
            index = int(as_float)
        except (ValueError, OverflowError):
            report.problem(label, f"class {tokens[0]!r} is not a whole number; line skipped", n)
            continue
        try:
            values = tuple(float(t) for t in tokens[1:])
            if not all(math.isfinite(v) for v in values):
                raise ValueError
        except ValueError:
            report.problem(label, f"box values {tokens[1:]} are not all finite numbers; line "
                           "skipped", n)
            continue
        if names is not None and not 0 <= index < len(names):
            report.problem(label, f"class index {index} is not in the class list (0 to "
                           f"{len(names) - 1}); line skipped", n)
            continue
        if names is None and index < 0:
            report.problem(label, f"class index {index} is negative; line skipped", n)
            continue
        tag = names[index] if names is not None else str(index)
        item.boxes.append(BoxIn(tag, "cxcywh", values, label, n))  # type: ignore[arg-type]


def export_yolo(store: Store, dest: Path) -> ExportReport:
    """Write ``images/``, ``labels/``, ``classes.txt`` and ``data.yaml`` under ``dest``."""
    _refuse_classification(project_kind(store), "export")
    dest = prepare_dest(dest)
    report = ExportReport("yolo", str(dest))
    tags = sorted(store.tags.all(), key=lambda t: t.name.lower())
    index = {t.id: k for k, t in enumerate(tags)}
    (dest / "labels").mkdir()
    names = NameAllocator(unique_stem=True)
    for image in iter_images(store):
        name = names.name(image)
        if not copy_image(image, dest / "images" / name, report):
            continue
        lines = []
        for r in image.regions:
            cx, cy, w, h = r.box.to_cxcywh()
            lines.append(" ".join([str(index[r.tag_id]), *(fmt_float(v) for v in (cx, cy, w, h))]))
        (dest / "labels" / f"{Path(name).stem}.txt").write_text(
            "".join(f"{line}\n" for line in lines), encoding="utf-8"
        )
        report.images += 1
        report.regions += len(lines)
    (dest / "classes.txt").write_text("".join(f"{t.name}\n" for t in tags), encoding="utf-8")
    # JSON strings are valid YAML scalars, so any tag name is quoted correctly
    (dest / "data.yaml").write_text(
        "path: .\ntrain: images\nval: images\n"
        f"nc: {len(tags)}\nnames: {json.dumps([t.name for t in tags], ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    report.tags = len(tags)
    return report
