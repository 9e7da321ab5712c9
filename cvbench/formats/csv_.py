"""CSV: image paths with their tags (classification) or their boxes (detection).

The file is UTF-8 (a byte-order mark is fine), comma separated, with a header row; columns
are found by name (any order, any case; other columns are ignored). Paths are relative to
the CSV file's folder, with ``/`` (``\\`` is read as ``/``); absolute paths and paths that
leave that folder are refused.

Classification (multiclass, multilabel), one row per image::

    path,tags
    cat/a.jpg,cat
    b.jpg,cat;dog            several tags, separated by ';'
    c.jpg,                   untagged

or one row per image and tag (what the exporter writes when a tag name contains ';')::

    path,tag
    b.jpg,cat
    b.jpg,dog

Detection, one row per box, normalized ``left, top, width, height`` in [0, 1] of the image
as displayed (cvbench's box format, ``cvbench.boxes``)::

    path,tag,left,top,width,height
    a.jpg,cat,0.1,0.2,0.3,0.4
    a.jpg,dog,0.5,0.5,0.25,0.25
    b.jpg,,,,,               an image without boxes

Rows that name the same path add up (tags, boxes) on one image. A detection CSV imported
into a classification project gives each image the tags of its rows (the boxes are not
used); a classification CSV cannot fill a detection project (reported, nothing imported).
Problems carry the CSV's line number. ``negative_tag="Negative"`` creates that tag as the
Negative tag (classification).

Import takes the ``.csv`` file, a folder holding one (``labels.csv`` preferred), or a
``.zip`` of such a folder. Export writes ``dest/labels.csv`` and the images under
``dest/images/`` (paths ``images/<original name>``, made unique, else ``images/<id>.<ext>``),
every image of the project, untagged ones included; box numbers are written with
``repr`` (17 significant digits), so they read back exactly.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .._types import ExportReport, ImportReport
from ..store import Store
from ._common import PathEscapeError, is_hidden, open_dataset, safe_join
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

__all__ = ["import_csv", "export_csv", "CSV_NAME"]

#: The file name export writes and import prefers in a folder.
CSV_NAME = "labels.csv"
_BOX_COLUMNS = ("left", "top", "width", "height")


def _find_csv(root: Path) -> Path:
    if root.is_file():
        return root
    if (root / CSV_NAME).is_file():
        return root / CSV_NAME
    found = sorted(p for p in root.iterdir() if p.suffix.lower() == ".csv" and not is_hidden(p))
    if len(found) == 1:
        return found[0]
    names = [p.name for p in found]
    raise ValueError(
        f"{'no' if not found else 'several'} .csv files in the dataset folder "
        f"({names if found else 'found none'}); pass the .csv file itself as the source"
    )


def import_csv(project: ImportTarget, source: Path, *, negative_tag: str | None = None
               ) -> ImportReport:
    """Import images listed in a CSV file. See the module docstring for the columns."""
    report = ImportReport("csv", str(source))
    with open_dataset(
        source, report.problem, looks_complete=lambda r: any(r.glob("*.csv"))
    ) as root:
        csv_path = _find_csv(root)
        label = csv_path.name
        try:
            text = csv_path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = csv_path.read_bytes()[: exc.start].count(b"\n") + 1
            report.problem(label, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save "
                           "the CSV as UTF-8", line)
            return report
        items, tag_names = _parse(project, report, text, csv_path.parent, label)
        import_items(project, report, items, tags=tag_names, negative=negative_tag,
                     file=label)
    return report


def _parse(project: ImportTarget, report: ImportReport, text: str, base: Path, label: str
           ) -> tuple[list[Item], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    items: dict[Path, Item] = {}
    tag_names: list[str] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.problem(label, f"malformed CSV: {exc}", reader.line_num)
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [c.strip().lower() for c in row]
            found = _columns(header)
            if isinstance(found, str):
                report.problem(label, found, line)
                return [], []
            columns = found
            if project.kind == "detection" and "left" not in columns:
                report.problem(
                    label,
                    "this CSV has no box columns (tag,left,top,width,height); a detection "
                    "project needs boxes — see cvbench.formats.csv_ for the columns",
                    line,
                )
                return [], []
            continue
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in columns.items()}
        rel = cells["path"]
        if not rel:
            report.problem(label, "the row has no path; skipped", line)
            continue
        try:
            path = safe_join(base, rel)
        except PathEscapeError as exc:
            report.problem(label, str(exc), line)
            continue
        if not path.is_file():
            report.problem(label, f"no image file {rel!r} (paths are relative to the CSV's "
                           "folder); row skipped", line)
            continue
        tags, box = _row_labels(cells, report, label, line)
        if tags is None:
            continue
        tag_names += tags
        item = items.get(path)
        if item is None:
            item = items[path] = Item(path, label, line=line, name=path.name)
        if project.kind == "detection":
            if box is not None:
                item.boxes.append(box)
        else:
            item.tags += [t for t in tags if t not in item.tags]
    if header is None:
        report.problem(label, "the CSV is empty; it needs a header row (path,tags or "
                       "path,tag,left,top,width,height)")
    return list(items.values()), tag_names


def _columns(header: list[str]) -> dict[str, int] | str:
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    if "path" not in index:
        return (f"the header {header} has no 'path' column; the columns are path,tags "
                "(classification) or path,tag,left,top,width,height (detection)")
    columns = {"path": index["path"]}
    have_box = [c for c in _BOX_COLUMNS if c in index]
    if have_box and len(have_box) < 4:
        missing = [c for c in _BOX_COLUMNS if c not in index]
        return f"the header {header} has box columns {have_box} but lacks {missing}"
    if have_box:
        if "tag" not in index:
            return f"the header {header} has box columns but no 'tag' column"
        columns.update({c: index[c] for c in ("tag", *_BOX_COLUMNS)})
    elif "tags" in index:
        columns["tags"] = index["tags"]
    elif "tag" in index:
        columns["tag"] = index["tag"]
    else:
        return (f"the header {header} has neither 'tags' nor 'tag'; the columns are path,tags "
                "(classification) or path,tag,left,top,width,height (detection)")
    return columns


def _row_labels(cells: dict[str, str], report: ImportReport, label: str, line: int
                ) -> tuple[list[str] | None, BoxIn | None]:
    """The row's tags and box; (None, None) when the row is reported and skipped."""
    if "tags" in cells:
        return [t.strip() for t in cells["tags"].split(";") if t.strip()], None
    tag = cells["tag"]
    if "left" not in cells:
        return ([tag] if tag else []), None
    raw = [cells[c] for c in _BOX_COLUMNS]
    if not tag and not any(raw):
        return [], None  # an image without boxes
    if not tag:
        report.problem(label, "the box has no tag; fill the 'tag' column (row skipped)", line)
        return None, None
    if not all(raw):
        missing = [c for c, v in zip(_BOX_COLUMNS, raw, strict=True) if not v]
        report.problem(label, f"the box of tag {tag!r} lacks {', '.join(missing)}; row skipped", line)
        return None, None
    try:
        values = tuple(float(v) for v in raw)
    except ValueError:
        report.problem(label, f"box values {raw} are not all numbers; row skipped", line)
        return None, None
    if not all(math.isfinite(v) for v in values):
        report.problem(label, f"box values {raw} are not all finite numbers; row skipped", line)
        return None, None
    return [tag], BoxIn(tag, "ltwh", values, label, line)  # type: ignore[arg-type]


def export_csv(store: Store, dest: Path) -> ExportReport:
    """Write ``dest/labels.csv`` and ``dest/images/``. See the module docstring."""
    dest = prepare_dest(dest)
    report = ExportReport("csv", str(dest))
    names = NameAllocator()
    detection = project_kind(store) == "detection"
    long_tags = any(";" in t.name for t in store.tags.all())
    used_tags: set[str] = set()
    with open(dest / CSV_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if detection:
            writer.writerow(["path", "tag", *_BOX_COLUMNS])
        else:
            writer.writerow(["path", "tag" if long_tags else "tags"])
        for image in iter_images(store):
            name = names.name(image)
            if not copy_image(image, dest / "images" / name, report):
                continue
            report.images += 1
            rel = f"images/{name}"
            if detection:
                for r in image.regions:
                    writer.writerow([rel, r.tag_name, *(fmt_float(v) for v in
                                                        (r.left, r.top, r.width, r.height))])
                    used_tags.add(r.tag_name)
                report.regions += len(image.regions)
                if not image.regions:
                    writer.writerow([rel, "", "", "", "", ""])
            elif long_tags:
                for t in image.tags or [""]:
                    writer.writerow([rel, t])
            else:
                writer.writerow([rel, ";".join(image.tags)])
            used_tags.update(image.tags)
    report.tags = len(used_tags)
    return report
