"""Dataset formats: round trips for every format and project kind, hypothesis round trips
per parser, and project archives (import_project, merging)."""

from __future__ import annotations

import functools
import io
import json
import sqlite3
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import cvbench
from cvbench import import_project
from cvbench.errors import ProjectError
from cvbench.formats import FORMATS, Format, get_format

KINDS = ("multiclass", "multilabel", "detection")


# -- helpers ---------------------------------------------------------------------------------
@functools.cache
def png(i: int, size: tuple[int, int] = (32, 24)) -> bytes:
    """A small PNG with pixels of its own (so every ``i`` hashes differently)."""
    rng = np.random.default_rng(i)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


@functools.cache
def rotated_jpeg(i: int) -> bytes:
    """A JPEG stored 32x24 with EXIF orientation 6: it displays as 24x32."""
    rng = np.random.default_rng(1000 + i)
    img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def content(project) -> dict[str, tuple[list[str], list[tuple]]]:
    """sha256 -> (sorted tag names, sorted boxes) of every image."""
    out = {}
    for im in project.images():
        boxes = sorted(
            ((r.tag_name, r.left, r.top, r.width, r.height) for r in im.regions),
            key=lambda b: (b[0], *(round(v, 5) for v in b[1:])),
        )
        out[im.sha256] = (sorted(im.tags), boxes)
    return out


def assert_same_content(a, b) -> None:
    ca, cb = content(a), content(b)
    assert ca.keys() == cb.keys()
    for sha, (tags, boxes) in ca.items():
        tags_b, boxes_b = cb[sha]
        assert tags == tags_b, sha
        assert len(boxes) == len(boxes_b), sha
        for x, y in zip(boxes, boxes_b, strict=True):
            assert x[0] == y[0]
            assert np.allclose(x[1:], y[1:], atol=1e-6, rtol=0), (x, y)


def tag_types(project, used_only: bool = False) -> dict[str, str]:
    return {t.name: t.type for t in project.tags if t.image_count or not used_only}


def build(path: Path, kind: str):
    """A project that exercises a format: same names, non-ASCII names, an untagged image,
    a Negative tag (classification), an EXIF-rotated JPEG and boxes off the pixel grid."""
    p = cvbench.create_project(path, kind=kind)
    if kind == "detection":
        p.add_images(
            [png(1), png(2), png(3), png(4), rotated_jpeg(1)],
            regions=[
                [("cat", 0.1, 0.2, 0.3, 0.4), ("dog", 0.5, 0.5, 0.25, 0.25)],
                [("cat", 0.123456789, 0.0, 0.876543211, 1 / 3)],
                [],
                [("ñandú 猫", 0.01, 0.02, 0.97, 0.5)],
                [("dog", 0.1, 0.1, 0.7, 0.2)],
            ],
            names=["img.png", "img.png", "empty.png", "ñandú 猫.png", "rotated.jpg"],
        )
        p.create_tag("unused")
        return p
    p.create_tag("Negative", type="Negative")
    p.add_images([png(1), png(2)], tags=["cat"], names=["img.png", "img.png"])
    p.add_images([png(3)], tags=["ñandú 猫"], names=["ñandú 猫.png"])
    p.add_images([png(4)], tags=["Negative"], names=["neg.png"])
    p.add_images([png(5)], names=["untagged.png"])
    p.add_images([rotated_jpeg(1)], tags=["dog"], names=["rotated.jpg"])
    if kind == "multilabel":
        p.add_images([png(6)], tags=["cat", "dog"], names=["both.png"])
    return p


ROUND_TRIPS = [
    ("imagefolder", "multiclass"),
    ("imagefolder", "multilabel"),
    *[(f, k) for f in ("csv", "coco", "voc", "archive") for k in KINDS],
    ("yolo", "detection"),
]
# formats that list every tag (even one without images) and that carry tag types
ALL_TAGS = {"imagefolder", "coco", "yolo", "archive"}


def _export_options(fmt: str) -> dict:
    return {"untagged": True} if fmt == "imagefolder" else {}


def _import_options(fmt: str, kind: str) -> dict:
    if kind != "detection" and fmt in ("imagefolder", "csv", "coco", "voc"):
        return {"negative_tag": "Negative"}
    return {}


def _dest(tmp: Path, fmt: str) -> Path:
    return tmp / ("export.zip" if fmt == "archive" else "export")


# -- registry ---------------------------------------------------------------------------------
def test_registry_names_every_format():
    assert list(FORMATS) == ["imagefolder", "csv", "coco", "voc", "yolo", "archive"]
    for name, fmt in FORMATS.items():
        assert isinstance(fmt, Format) and fmt.name == name and fmt.description
        assert get_format(name) is fmt
    with pytest.raises(ValueError, match="'coco', 'voc'"):
        get_format("pascal")


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "kind"), ROUND_TRIPS)
def test_round_trip(tmp_path, fmt, kind):
    src = build(tmp_path / "src", kind)
    dest = _dest(tmp_path, fmt)
    exported = src.export_dataset(dest, format=fmt, **_export_options(fmt))
    assert exported.problems == []
    assert exported.images == len(src.images())
    dst = cvbench.create_project(tmp_path / "dst", kind=kind)
    report = dst.import_dataset(dest, format=fmt, **_import_options(fmt, kind))
    assert report.problems == [], str(report)
    assert report.imported == len(src.images()) and report.duplicates == 0
    assert_same_content(src, dst)
    if fmt in ALL_TAGS:
        expected = tag_types(src)
        if fmt == "yolo":
            expected = {n: "Regular" for n in expected}
        assert tag_types(dst) == expected
    else:
        assert tag_types(dst, used_only=True) == tag_types(src, used_only=True)
    assert sorted(report.tags_created) == sorted(t.name for t in dst.tags)
    # the stored bytes are exported unchanged, under their original names where possible
    assert {im.original_name for im in dst.images()} >= {"ñandú 猫.png", "rotated.jpg"}


def test_exported_names_never_overwrite(tmp_path):
    src = build(tmp_path / "src", "detection")
    src.export_dataset(tmp_path / "out", format="yolo")
    files = sorted(p.name for p in (tmp_path / "out" / "images").iterdir())
    same_name = [im for im in src.images() if im.original_name == "img.png"]
    assert "img.png" in files
    assert any(f == f"{im.id}.png" for im in same_name for f in files)
    assert len(files) == len(src.images())


def test_imagefolder_leaves_untagged_images_out_unless_asked(tmp_path):
    src = build(tmp_path / "src", "multiclass")
    report = src.export_dataset(tmp_path / "out", format="imagefolder")
    assert report.images == len(src.images()) - 1
    assert not any(p.is_file() for p in (tmp_path / "out").iterdir())
    assert (tmp_path / "out" / "ñandú 猫" / "ñandú 猫.png").is_file()


def test_imagefolder_multilabel_writes_an_image_into_each_of_its_folders(tmp_path):
    src = build(tmp_path / "src", "multilabel")
    src.export_dataset(tmp_path / "out", format="imagefolder")
    assert (tmp_path / "out" / "cat" / "both.png").read_bytes() == png(6)
    assert (tmp_path / "out" / "dog" / "both.png").read_bytes() == png(6)


def test_coco_export_is_valid_for_pycocotools_and_uses_displayed_size(tmp_path):
    from pycocotools.coco import COCO

    src = build(tmp_path / "src", "detection")
    src.export_dataset(tmp_path / "out", format="coco")
    coco = COCO(str(tmp_path / "out" / "annotations.json"))
    assert len(coco.getImgIds()) == 5 and len(coco.getAnnIds()) == 5
    rotated = next(i for i in coco.dataset["images"] if i["file_name"] == "rotated.jpg")
    assert (rotated["width"], rotated["height"]) == (24, 32)  # displayed, not stored 32x24
    bboxes = [a["bbox"] for a in coco.dataset["annotations"]]
    assert any(not float(v).is_integer() for b in bboxes for v in b)  # floats, not rounded


def test_csv_uses_one_row_per_tag_when_a_tag_name_holds_the_separator(tmp_path):
    src = cvbench.create_project(tmp_path / "src", kind="multilabel")
    src.add_images([png(1)], tags=["a;b", "c"])
    src.add_images([png(2)])
    src.export_dataset(tmp_path / "out", format="csv")
    header = (tmp_path / "out" / "labels.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "path,tag"
    dst = cvbench.create_project(tmp_path / "dst", kind="multilabel")
    report = dst.import_dataset(tmp_path / "out", format="csv")
    assert report.problems == [] and report.imported == 2
    assert_same_content(src, dst)


def test_export_refuses_a_folder_that_holds_files(tmp_path):
    src = build(tmp_path / "src", "multiclass")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        src.export_dataset(tmp_path / "out", format="csv")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(("fmt", "kind"), [("imagefolder", "detection"), ("yolo", "multiclass")])
def test_formats_refuse_the_wrong_kind_of_project(tmp_path, fmt, kind):
    p = cvbench.create_project(tmp_path / "p", kind=kind)
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match="use format="):
        p.import_dataset(tmp_path / "data", format=fmt)
    with pytest.raises(ValueError, match="use format="):
        p.export_dataset(tmp_path / "out", format=fmt)


# -- hypothesis: random tags and boxes survive export then import ------------------------------
TAG_NAMES = ["cat", "dog", "Zebra crossing", "ñandú", "猫"]
POOL = 6


@st.composite
def boxes(draw):
    tag = draw(st.sampled_from(TAG_NAMES))
    left = draw(st.floats(0.0, 0.97, allow_nan=False))
    top = draw(st.floats(0.0, 0.97, allow_nan=False))
    width = draw(st.floats(0.01, 1.0)) * (1.0 - left)
    height = draw(st.floats(0.01, 1.0)) * (1.0 - top)
    return (tag, left, top, width, height)


@st.composite
def datasets(draw, kind: str):
    indexes = draw(st.lists(st.integers(0, POOL - 1), min_size=1, max_size=4, unique=True))
    if kind == "detection":
        labels = [draw(st.lists(boxes(), max_size=4)) for _ in indexes]
    elif kind == "multilabel":
        labels = [draw(st.lists(st.sampled_from(TAG_NAMES), max_size=3, unique=True))
                  for _ in indexes]
    else:
        labels = [draw(st.lists(st.sampled_from(TAG_NAMES), max_size=1)) for _ in indexes]
    names = [draw(st.sampled_from(["a.png", "b.png", "ü.png"])) for _ in indexes]
    return indexes, labels, names


def _project_from(path: Path, kind: str, data) -> cvbench.Project:
    p = cvbench.create_project(path, kind=kind)
    for i, label, name in zip(*data, strict=True):
        if kind == "detection":
            p.add_images([png(100 + i)], regions=[label], names=[name])
        else:
            p.add_images([png(100 + i)], tags=label or None, names=[name])
    return p


def _hypothesis_round_trip(tmp_path: Path, fmt: str, kind: str, data) -> None:
    # one fresh folder per example under pytest's tmp_path (removing folders one by one is
    # slower than the round trip itself on some file systems)
    tmp = Path(tempfile.mkdtemp(dir=tmp_path))
    src = _project_from(tmp / "src", kind, data)
    src.export_dataset(_dest(tmp, fmt), format=fmt, **_export_options(fmt))
    dst = cvbench.create_project(tmp / "dst", kind=kind)
    report = dst.import_dataset(_dest(tmp, fmt), format=fmt)
    assert report.problems == [], str(report)
    assert_same_content(src, dst)
    src.close()
    dst.close()


_HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("fmt", ["csv", "coco", "voc", "yolo"])
@_HYPOTHESIS
@given(data=datasets("detection"))
def test_detection_parsers_round_trip_random_boxes(tmp_path, fmt, data):
    _hypothesis_round_trip(tmp_path, fmt, "detection", data)


@pytest.mark.parametrize("fmt", ["imagefolder", "csv", "coco", "voc"])
@_HYPOTHESIS
@given(kind=st.sampled_from(["multiclass", "multilabel"]), data=st.data())
def test_classification_parsers_round_trip_random_tags(tmp_path, fmt, kind, data):
    _hypothesis_round_trip(tmp_path, fmt, kind, data.draw(datasets(kind)))


# -- project archives ---------------------------------------------------------------------------
def _rows(project, sql: str) -> list[tuple]:
    return [tuple(r) for r in project.store.sql.rows(sql)]


def _archived_project(tmp_path: Path) -> cvbench.Project:
    p = build(tmp_path / "src", "detection")
    ids = [im.id for im in p.images()]
    p.set_split(ids[0], "validation")
    p.ensure_split()
    with p.store.transaction():
        p.store.sql.write(
            "INSERT INTO iterations (id, name, status, mode, domain, kind, created, metrics) "
            "VALUES ('it-1', 'Iteration 1', 'Completed', 'quick', 'General', 'detection', "
            "'2025-01-01T00:00:00', '{\"mAP\": 0.5}')"
        )
    (p.path / "iterations" / "it-1").mkdir(parents=True)
    (p.path / "iterations" / "it-1" / "weights.safetensors").write_bytes(b"\x00weights")
    (p.path / "notes").mkdir()
    (p.path / "notes" / "readme.txt").write_text("kept", encoding="utf-8")
    return p


_TABLE_QUERIES = [
    "SELECT * FROM meta ORDER BY key",
    "SELECT * FROM tags ORDER BY id",
    "SELECT * FROM images ORDER BY id",
    "SELECT * FROM image_tags ORDER BY image_id, tag_id",
    "SELECT * FROM regions ORDER BY id",
    "SELECT * FROM iterations ORDER BY id",
]


def test_import_project_recreates_an_identical_project(tmp_path):
    src = _archived_project(tmp_path)
    report = src.export_dataset(tmp_path / "p.zip", format="archive")
    assert report.problems == [] and report.images == 5 and report.regions == 5
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("cvbench-archive.json"))
    assert {"cvbench.db", "iterations/it-1/weights.safetensors", "notes/readme.txt"} <= names
    assert not any(n.endswith(("-wal", "-shm")) for n in names)
    assert manifest["project_id"] == src.id and manifest["kind"] == "detection"

    restored = import_project(tmp_path / "p.zip", tmp_path / "restored")
    assert restored.id == src.id and restored.kind == "detection"
    for sql in _TABLE_QUERIES:
        assert _rows(restored, sql) == _rows(src, sql), sql
    assert [(i.id, i.split) for i in restored.images()] == [(i.id, i.split) for i in src.images()]
    assert _rows(restored, "PRAGMA integrity_check") == [("ok",)]
    assert restored.check() == []
    assert (restored.path / "iterations" / "it-1" / "weights.safetensors").read_bytes() == (
        b"\x00weights"
    )
    assert (restored.path / "notes" / "readme.txt").read_text(encoding="utf-8") == "kept"
    assert not (restored.path / "cvbench-archive.json").exists()


def test_archive_written_inside_the_project_folder_leaves_itself_out(tmp_path):
    src = build(tmp_path / "src", "multiclass")
    src.export_dataset(src.path / "backups" / "p.zip", format="archive")
    with zipfile.ZipFile(src.path / "backups" / "p.zip") as zf:
        assert not any(n.startswith("backups/") for n in zf.namelist())
    restored = import_project(src.path / "backups" / "p.zip", tmp_path / "restored")
    assert_same_content(src, restored)


def test_archive_is_consistent_while_the_project_is_being_written(tmp_path):
    src = _archived_project(tmp_path)
    writer = sqlite3.connect(src.path / "cvbench.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO tags (id, name, type, created) VALUES ('t-x', 'half-done', "
                   "'Regular', 'now')")
    try:
        src.export_dataset(tmp_path / "p.zip", format="archive")  # a write is in flight
    finally:
        writer.execute("COMMIT")
        writer.close()
    restored = import_project(tmp_path / "p.zip", tmp_path / "restored")
    assert "half-done" not in {t.name for t in restored.tags}
    assert _rows(restored, "PRAGMA integrity_check") == [("ok",)]
    assert len(restored.images()) == 5


def test_import_project_refuses_unsafe_or_wrong_archives(tmp_path):
    src = _archived_project(tmp_path)
    src.export_dataset(tmp_path / "p.zip", format="archive")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ProjectError, match="not empty"):
        import_project(tmp_path / "p.zip", tmp_path / "busy")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(tmp_path / "p.zip") as zin, zipfile.ZipFile(evil, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("../escaped.txt", "x")
    with pytest.raises(ProjectError, match="outside"):
        import_project(evil, tmp_path / "r1")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "r1").exists()
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("cat/a.png", png(1))
    with pytest.raises(ProjectError, match="not a cvbench project archive"):
        import_project(plain, tmp_path / "r2")
    assert not (tmp_path / "r2").exists()
    assert not any(p.name.startswith(".r") for p in tmp_path.iterdir())  # no staging left


def test_archive_import_merges_another_project(tmp_path):
    mine = cvbench.create_project(tmp_path / "mine", kind="multilabel")
    mine.create_tag("Nothing", type="Negative")
    mine.add_images([png(1)], tags=["cat"])
    other = build(tmp_path / "other", "multilabel")  # has png(1) too, and a Negative tag
    other.export_dataset(tmp_path / "other.zip", format="archive")
    report = mine.import_dataset(tmp_path / "other.zip", format="archive")
    assert report.imported == len(other.images()) - 1 and report.duplicates == 1
    assert "dog" in report.tags_created and "Negative" not in report.tags_created
    negative = [im for im in mine.images() if im.original_name == "neg.png"]
    assert negative[0].tags == ("Nothing",)  # mapped onto this project's Negative tag
    both = next(im for im in mine.images() if im.original_name == "both.png")
    assert both.tags == ("cat", "dog")
    # a project folder works as a source too; all its images are now duplicates
    again = mine.import_dataset(other.path, format="archive")
    assert again.imported == 0 and again.duplicates == len(other.images())


def test_archive_import_refuses_a_project_of_the_other_family(tmp_path):
    det = build(tmp_path / "det", "detection")
    det.export_dataset(tmp_path / "det.zip", format="archive")
    cls = cvbench.create_project(tmp_path / "cls", kind="multiclass")
    with pytest.raises(ValueError, match="detection project and this one is multiclass"):
        cls.import_dataset(tmp_path / "det.zip", format="archive")
