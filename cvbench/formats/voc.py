"""Pascal VOC: one XML file per image.

Layout::

    dataset/
      Annotations/a.xml        <annotation> with <filename>, <size>, <object>s
      JPEGImages/a.jpg
      ImageSets/Main/default.txt   (written by export; import does not need it)

Each ``<object>`` has a ``<name>`` (the tag) and, for detection, a ``<bndbox>`` with
``xmin, ymin, xmax, ymax`` in pixels of the image *as displayed* (EXIF orientation applied).
cvbench reads and writes these as continuous coordinates of the box's edges (0 is the left
edge of the image, ``width`` its right edge), like most tools today, without the 1-based
pixel indices of the original VOC devkit; export writes floats, not rounded pixels, so that
a round trip keeps boxes to 1e-6. Classification projects: each ``<object>``'s ``<name>``
becomes a tag of the image (a ``<bndbox>`` is not used); export writes objects without
``<bndbox>``. An XML with no objects is an untagged image (or one without boxes);
``negative_tag="Negative"`` creates that tag as the Negative tag (classification).

Import takes the folder (with ``Annotations/``, or XML files anywhere in it) or a ``.zip``
of it. The image named by ``<filename>`` is looked for in ``images_dir`` if given (relative
to the dataset folder), else in ``JPEGImages/``, beside the XML, at the top of the dataset
and in ``images/``; ``<path>`` (usually an absolute path on someone else's machine) is not
used. XML is parsed with ``defusedxml``: files that declare entities (the "billion laughs"
attack) or refer to external ones are refused and reported. Problems name the XML file and
the object.

Export writes ``dest/Annotations/<stem>.xml`` and ``dest/JPEGImages/<original name>``
(names made unique, with unique stems, else ``<id>.<ext>``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET  # building XML only; parsing goes through defusedxml
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as SafeET

from .._types import ExportReport, ImportReport
from ..store import Store
from ._common import (
    IMAGE_SUFFIXES,
    PathEscapeError,
    open_dataset,
    relative_label,
    safe_join,
)
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

__all__ = ["import_voc", "export_voc"]

_CORNERS = ("xmin", "ymin", "xmax", "ymax")


def _xml_files(root: Path) -> list[Path]:
    folder = root / "Annotations" if (root / "Annotations").is_dir() else root
    return [
        p for p in sorted(folder.rglob("*.xml"))
        if p.is_file() and not any(
            part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts
        )
    ]


def import_voc(project: ImportTarget, source: Path, *, images_dir: str | Path | None = None,
               negative_tag: str | None = None) -> ImportReport:
    """Import Pascal VOC XML files and their images. See the module docstring."""
    report = ImportReport("voc", str(source))

    def complete(root: Path) -> bool:
        return (root / "Annotations").is_dir() or any(root.glob("*.xml"))

    with open_dataset(source, report.problem, looks_complete=complete) as root:
        if not root.is_dir():
            raise ValueError(f"{source} is not a folder or a .zip; voc imports a folder with "
                             "Annotations/ and JPEGImages/")
        items: list[Item] = []
        tag_names: list[str] = []
        for xml_path in _xml_files(root):
            item = _parse(project, report, xml_path, root, images_dir)
            if item is not None:
                items.append(item)
                tag_names += item.tags + [b.tag for b in item.boxes]
        if not items and not report.problems:
            report.problem(str(source), "no .xml annotation files found (looked in "
                           "Annotations/, or the whole folder)")
        import_items(project, report, items, tags=tag_names, negative=negative_tag,
                     file=str(source))
    return report


def _text(node: ET.Element | None, tag: str) -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None else ""


def _find_image(root: Path, xml_path: Path, filename: str,
                images_dir: str | Path | None) -> tuple[Path | None, str]:
    if images_dir is not None:
        bases = [root / Path(images_dir)]
    else:
        bases = [root / "JPEGImages", xml_path.parent, root, root / "images"]
    names = [filename] if filename else [
        xml_path.stem + s for s in sorted(IMAGE_SUFFIXES)
    ]
    escape = ""
    for base in bases:
        for name in names:
            try:
                path = safe_join(base, name)
            except PathEscapeError as exc:
                escape = str(exc)
                continue
            if path.is_file():
                return path, ""
    if escape:
        return None, escape
    what = f"image file {filename!r}" if filename else f"image named {xml_path.stem}.*"
    return None, (f"no {what} (looked in JPEGImages/, beside the XML, the dataset folder and "
                  "images/; give images_dir= to say where the images are)")


def _parse(project: ImportTarget, report: ImportReport, xml_path: Path, root: Path,
           images_dir: str | Path | None) -> Item | None:
    label = relative_label(xml_path, root)
    try:
        tree = SafeET.parse(xml_path)
    except defusedxml.DefusedXmlException as exc:
        report.problem(label, f"refused: the XML declares or refers to entities ({exc}); "
                       "cvbench does not expand them (a defence against 'billion laughs' and "
                       "external-entity attacks)")
        return None
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        report.problem(label, f"malformed XML: {exc}", line)
        return None
    except OSError as exc:
        report.problem(label, f"cannot read the file: {exc.strerror or exc}")
        return None
    ann = tree.getroot()
    if ann.tag != "annotation":
        report.problem(label, f"the root element is <{ann.tag}>, not <annotation>; is it a "
                       "Pascal VOC file? skipped")
        return None
    filename = _text(ann, "filename")
    path, why = _find_image(root, xml_path, filename, images_dir)
    if path is None:
        report.problem(label, why)
        return None
    declared = None
    size = ann.find("size")
    try:
        declared = (float(_text(size, "width")), float(_text(size, "height")))
        if not all(math.isfinite(v) and v > 0 for v in declared):
            declared = None
    except ValueError:
        pass
    item = Item(path, label, name=path.name, pixels=True, declared_size=declared)
    detection = project.kind == "detection"
    for k, obj in enumerate(ann.findall("object"), start=1):
        name = _text(obj, "name")
        where = f"object {k}" + (f" ({name})" if name else "")
        if not name:
            report.problem(label, f"{where}: has no <name>; ignored")
            continue
        if not detection:
            if name not in item.tags:
                item.tags.append(name)
            continue
        bndbox = obj.find("bndbox")
        if bndbox is None:
            report.problem(label, f"{where}: has no <bndbox>; ignored")
            continue
        raw = [_text(bndbox, c) for c in _CORNERS]
        try:
            values = tuple(float(v) for v in raw)
            if not all(math.isfinite(v) for v in values):
                raise ValueError
        except ValueError:
            shown = ", ".join(f"{c}={v!r}" for c, v in zip(_CORNERS, raw, strict=True))
            report.problem(label, f"{where}: <bndbox> needs xmin, ymin, xmax, ymax as numbers "
                           f"({shown}); ignored")
            continue
        item.boxes.append(BoxIn(name, "xyxy", values, label,  # type: ignore[arg-type]
                                where=where))
    return item


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = text
    return node


def export_voc(store: Store, dest: Path) -> ExportReport:
    """Write ``dest/Annotations/*.xml`` and ``dest/JPEGImages/``. See the module docstring."""
    dest = prepare_dest(dest)
    report = ExportReport("voc", str(dest))
    (dest / "Annotations").mkdir()
    (dest / "ImageSets" / "Main").mkdir(parents=True)
    names = NameAllocator(unique_stem=True)
    detection = project_kind(store) == "detection"
    stems: list[str] = []
    used: set[str] = set()
    for image in iter_images(store):
        name = names.name(image)
        if not copy_image(image, dest / "JPEGImages" / name, report):
            continue
        ann = ET.Element("annotation")
        _sub(ann, "folder", "JPEGImages")
        _sub(ann, "filename", name)
        source = ET.SubElement(ann, "source")
        _sub(source, "database", "cvbench")
        size = ET.SubElement(ann, "size")
        _sub(size, "width", str(image.width))
        _sub(size, "height", str(image.height))
        _sub(size, "depth", "3")
        _sub(ann, "segmented", "0")
        if detection:
            for r in image.regions:
                obj = ET.SubElement(ann, "object")
                _sub(obj, "name", r.tag_name)
                _sub(obj, "pose", "Unspecified")
                _sub(obj, "truncated", "0")
                _sub(obj, "difficult", "0")
                box = ET.SubElement(obj, "bndbox")
                corners = r.box.to_xyxy(image.width, image.height)
                for c, v in zip(_CORNERS, corners, strict=True):
                    _sub(box, c, fmt_float(v))
                used.add(r.tag_name)
            report.regions += len(image.regions)
        else:
            for t in image.tags:
                obj = ET.SubElement(ann, "object")
                _sub(obj, "name", t)
                used.add(t)
        ET.indent(ann)
        stem = Path(name).stem
        ET.ElementTree(ann).write(dest / "Annotations" / f"{stem}.xml", encoding="utf-8",
                                  xml_declaration=True)
        stems.append(stem)
        report.images += 1
    (dest / "ImageSets" / "Main" / "default.txt").write_text(
        "".join(f"{s}\n" for s in stems), encoding="utf-8"
    )
    report.tags = len(used)
    return report

