"""COCO: one JSON file with ``images``, ``annotations`` and ``categories``.

Detection projects use COCO's object detection format: each annotation's ``bbox`` is
``[x, y, width, height]`` in pixels of the image *as displayed* (EXIF orientation applied),
with ``(x, y)`` its top-left corner. Export writes these as floats, not rounded to whole
pixels, so that a round trip keeps boxes to 1e-6 (``"bbox": [3.2, 4.8, 9.6, 7.2]`` is valid
COCO; pycocotools reads it). ``width``/``height`` in ``images`` are the displayed size.

Classification projects (multiclass, multilabel) use COCO's image-level form, as the
iNaturalist datasets do: each annotation ``{"id", "image_id", "category_id"}`` gives its
image the category's name as a tag; a ``bbox``, if present, is not used. Export writes
annotations without ``bbox``. An image with no annotation is untagged (classification) or
has no boxes (detection).

Import: ``source`` is the ``.json`` file, a folder holding it (``annotations.json``,
``_annotations.coco.json``, or the only ``.json``, also looked for in ``annotations/``), or a
``.zip`` of such a folder. Images are found by their ``file_name`` under ``images_dir`` if
given (a relative ``images_dir`` is taken from the JSON's folder), else beside the JSON,
in ``images/`` beside it, or, for a JSON in ``annotations/``, in ``images/`` next to that
folder. Every category becomes a tag, even without annotations; ``negative_tag="Negative"``
creates that category's tag as the Negative tag (classification). Problems name the JSON file
and the entry (``annotation 7``, ``image 3``); box coordinates are read against the
displayed size of the image file, and a different ``width``/``height`` in the JSON is
reported.

Export writes ``dest/annotations.json`` and ``dest/images/<original name>`` (made unique,
else ``<id>.<ext>``); categories are numbered from 1 in tag-name order, images and
annotations from 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .._types import ExportReport, ImportReport
from ..store import Store
from ._common import PathEscapeError, is_hidden, open_dataset, relative_label, safe_join
from ._pipeline import (
    BoxIn,
    ImportTarget,
    Item,
    NameAllocator,
    copy_image,
    import_items,
    iter_images,
    prepare_dest,
    project_kind,
)

__all__ = ["import_coco", "export_coco", "JSON_NAME"]

JSON_NAME = "annotations.json"
_PREFERRED = (JSON_NAME, "_annotations.coco.json")


def _find_json(root: Path) -> Path:
    if root.is_file():
        return root
    for folder in (root, root / "annotations"):
        for name in _PREFERRED:
            if (folder / name).is_file():
                return folder / name
    found = sorted(
        p for folder in (root, root / "annotations") if folder.is_dir()
        for p in folder.iterdir() if p.suffix.lower() == ".json" and not is_hidden(p)
    )
    if len(found) == 1:
        return found[0]
    names = [relative_label(p, root) for p in found]
    raise ValueError(
        f"{'several' if found else 'no'} COCO .json files in the dataset folder"
        f"{f' ({names})' if found else ''}; pass the .json file itself as the source"
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def import_coco(project: ImportTarget, source: Path, *, images_dir: str | Path | None = None,
                negative_tag: str | None = None) -> ImportReport:
    """Import a COCO JSON file and its images. See the module docstring."""
    report = ImportReport("coco", str(source))

    def complete(root: Path) -> bool:
        return any(root.glob("*.json")) or (root / "annotations").is_dir()

    with open_dataset(source, report.problem, looks_complete=complete) as root:
        json_path = _find_json(root)
        label = json_path.name
        try:
            data = json.loads(json_path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            report.problem(label, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            return report
        except json.JSONDecodeError as exc:
            report.problem(label, f"malformed JSON: {exc.msg} (line {exc.lineno}, column "
                           f"{exc.colno})", exc.lineno)
            return report
        bases = _image_bases(json_path, images_dir)
        folder = root if root.is_dir() else json_path.parent
        items, categories = _parse(project, report, data, label, bases, folder)
        import_items(project, report, items, tags=categories, negative=negative_tag,
                     file=label)
    return report


def _image_bases(json_path: Path, images_dir: str | Path | None) -> list[Path]:
    here = json_path.parent
    if images_dir is not None:
        return [here / Path(images_dir)]  # an absolute images_dir replaces ``here``
    bases = [here, here / "images"]
    if here.name == "annotations":
        bases += [here.parent / "images", here.parent]
    return bases


def _find_image(bases: list[Path], file_name: str) -> tuple[Path | None, str]:
    """The image file and "" — or None and why not."""
    escape = ""
    for base in bases:
        try:
            path = safe_join(base, file_name)
        except PathEscapeError as exc:
            escape = str(exc)
            continue
        if path.is_file():
            return path, ""
    if escape:
        return None, escape
    return None, "no such image file (looked in the JSON's folder and images/ beside it; " \
        "give images_dir= to say where the images are)"


def _list(data: dict, key: str, report: ImportReport, label: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        report.problem(label, f"'{key}' should be a list, it is a {type(value).__name__}; "
                       "ignored")
        return []
    return value


def _parse(project: ImportTarget, report: ImportReport, data: Any, label: str,
           bases: list[Path],
           root: Path) -> tuple[list[Item], list[str]]:
    if not isinstance(data, dict):
        report.problem(label, "a COCO file is a JSON object with 'images', 'annotations' and "
                       f"'categories'; this one is a {type(data).__name__}")
        return [], []
    if "images" not in data:
        report.problem(label, "the JSON has no 'images' list; is it a COCO file?")
    categories: dict[Any, str] = {}
    for k, cat in enumerate(_list(data, "categories", report, label)):
        if not isinstance(cat, dict) or not _is_id(cat.get("id")) or not str(
            cat.get("name", "")
        ).strip():
            report.problem(label, f"categories[{k}]: needs an 'id' and a 'name'; ignored")
            continue
        if cat["id"] in categories:
            report.problem(label, f"categories[{k}]: id {cat['id']!r} is used twice; ignored")
            continue
        categories[cat["id"]] = str(cat["name"]).strip()

    items: dict[Any, Item] = {}
    for k, img in enumerate(_list(data, "images", report, label)):
        if not isinstance(img, dict) or not _is_id(img.get("id")) or not isinstance(
            img.get("file_name"), str
        ) or not img["file_name"]:
            report.problem(label, f"images[{k}]: needs an 'id' and a 'file_name'; ignored")
            continue
        what = f"image {img['id']!r} ({img['file_name']})"
        if img["id"] in items:
            report.problem(label, f"{what}: image id used twice; ignored")
            items[img["id"]] = None  # type: ignore[assignment]
            continue
        path, why = _find_image(bases, img["file_name"])
        if path is None:
            report.problem(label, f"{what}: {why}")
            items[img["id"]] = None  # type: ignore[assignment]
            continue
        declared = None
        try:
            declared = (_number(img["width"]), _number(img["height"]))
        except (KeyError, ValueError):
            pass
        items[img["id"]] = Item(
            path, relative_label(path, root), name=Path(img["file_name"]).name,
            pixels=True, declared_size=declared,
        )

    detection = project.kind == "detection"
    for k, ann in enumerate(_list(data, "annotations", report, label)):
        if not isinstance(ann, dict):
            report.problem(label, f"annotations[{k}]: not a JSON object; ignored")
            continue
        what = f"annotation {ann.get('id', f'[{k}]')!r}"
        image_id = ann.get("image_id")
        if not _is_id(image_id) or image_id not in items:
            report.problem(label, f"{what}: image_id {image_id!r} is not in 'images'; ignored")
            continue
        item = items[image_id]
        if item is None:
            continue  # its image was reported already
        cat = ann.get("category_id")
        if not _is_id(cat) or cat not in categories:
            known = sorted(categories, key=str)[:20]
            report.problem(label, f"{what}: category_id {cat!r} is not in 'categories' "
                           f"(ids {known}); ignored")
            continue
        tag = categories[cat]
        if not detection:
            if tag not in item.tags:
                item.tags.append(tag)
            continue
        bbox = ann.get("bbox")
        try:
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise ValueError("bbox should be [x, y, width, height]")
            values = tuple(_number(v) for v in bbox)
            if not all(math.isfinite(v) for v in values):
                raise ValueError("bbox values must be finite numbers")
        except ValueError as exc:
            report.problem(label, f"{what} on {item.name}: {exc} in pixels, it is {bbox!r}; "
                           "ignored")
            continue
        item.boxes.append(BoxIn(tag, "ltwh", values, label,  # type: ignore[arg-type]
                                where=f"{what} on {item.name}"))
    return [it for it in items.values() if it is not None], list(categories.values())


def export_coco(store: Store, dest: Path) -> ExportReport:
    """Write ``dest/annotations.json`` and ``dest/images/``. See the module docstring."""
    dest = prepare_dest(dest)
    report = ExportReport("coco", str(dest))
    kind = project_kind(store)
    tags = sorted(store.tags.all(), key=lambda t: t.name.lower())
    cat_ids = {t.id: k for k, t in enumerate(tags, start=1)}
    detection = kind == "detection"
    names = NameAllocator()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image in iter_images(store):
        name = names.name(image)
        if not copy_image(image, dest / "images" / name, report):
            continue
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": name, "width": image.width,
                       "height": image.height})
        if detection:
            for r in image.regions:
                x, y, w, h = r.box.to_pixels(image.width, image.height)
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id,
                    "category_id": cat_ids[r.tag_id], "bbox": [x, y, w, h], "area": w * h,
                    "iscrowd": 0,
                })
            report.regions += len(image.regions)
        else:
            for tag_id in image.tag_ids:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                    "category_id": cat_ids[tag_id]})
    document = {
        "info": {"description": f"{store.meta.get('name', '')} ({kind}), exported by cvbench"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": cat_ids[t.id], "name": t.name, "supercategory": "none"} for t in tags
        ],
    }
    (dest / JSON_NAME).write_text(json.dumps(document, ensure_ascii=False, indent=1),
                                  encoding="utf-8")
    report.images = len(images)
    report.tags = len(tags)
    return report
