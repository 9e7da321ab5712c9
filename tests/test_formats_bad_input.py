"""Dataset imports meet bad input: every problem is reported with its file (and line), and
the good items still come in."""

from __future__ import annotations

import functools
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cvbench


@functools.cache
def png(i: int) -> bytes:
    rng = np.random.default_rng(500 + i)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def rotated_jpeg() -> bytes:
    """Stored 32x24 with EXIF orientation 6: displayed 24x32."""
    img = Image.fromarray(np.random.default_rng(7).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def problems(report) -> list[str]:
    return [str(p) for p in report.problems]


def has_problem(report, file: str, text: str, line: int | None = None) -> bool:
    return any(
        p.file == file and text in p.message and (line is None or p.line == line)
        for p in report.problems
    )


def boxes_of(project, name: str) -> list[tuple]:
    im = next(i for i in project.images() if i.original_name == name)
    return sorted((r.tag_name, r.left, r.top, r.width, r.height) for r in im.regions)


@pytest.fixture
def detection(tmp_path):
    return cvbench.create_project(tmp_path / "proj", kind="detection")


@pytest.fixture
def multilabel(tmp_path):
    return cvbench.create_project(tmp_path / "proj", kind="multilabel")


@pytest.fixture
def multiclass(tmp_path):
    return cvbench.create_project(tmp_path / "proj", kind="multiclass")


# -- imagefolder ------------------------------------------------------------------------------
def test_imagefolder_zip_with_escaping_entries_and_bad_files(multiclass, tmp_path):
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("cat/a.png", png(1))
        zf.writestr("dog/b.png", png(2))
        zf.writestr("../evil.png", png(3))
        zf.writestr("/abs.png", png(4))
        zf.writestr("dog/broken.jpg", b"this is not an image")
        zf.writestr("dog/notes.txt", "hello")
        zf.writestr("__MACOSX/._a.png", b"junk")
        zf.writestr("café/ü 猫.png", png(5))
    report = multiclass.import_dataset(z, format="imagefolder")
    assert report.imported == 3
    assert has_problem(report, "data.zip:../evil.png", "outside the dataset folder")
    assert has_problem(report, "data.zip:/abs.png", "outside the dataset folder")
    assert has_problem(report, "dog/broken.jpg", "ErrorImageFormat")
    assert has_problem(report, "dog/notes.txt", "not an image file")
    assert not (tmp_path / "evil.png").exists()
    assert multiclass.tag_counts() == {"cat": 1, "dog": 1, "café": 1}
    assert {im.original_name for im in multiclass.images()} == {"a.png", "b.png", "ü 猫.png"}


def test_a_broken_zip_is_reported(multiclass, tmp_path):
    write(tmp_path / "broken.zip", b"PK\x03\x04 not really a zip")
    report = multiclass.import_dataset(tmp_path / "broken.zip", format="imagefolder")
    assert report.imported == 0
    assert has_problem(report, "broken.zip", "not a readable zip file")


def test_imagefolder_zip_wrapped_in_one_folder(multiclass, tmp_path):
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("dataset/cat/a.png", png(1))
        zf.writestr("dataset/dog/b.png", png(2))
    report = multiclass.import_dataset(z, format="imagefolder")
    assert report.imported == 2 and report.problems == []
    assert multiclass.tag_counts() == {"cat": 1, "dog": 1}


def test_imagefolder_multilabel_matches_images_by_content(multilabel, tmp_path):
    write(tmp_path / "d" / "cat" / "x.png", png(1))
    write(tmp_path / "d" / "dog" / "renamed.png", png(1))
    write(tmp_path / "d" / "dog" / "y.png", png(2))
    write(tmp_path / "d" / "dog" / "y-copy.png", png(2))  # the same image twice in one tag
    report = multilabel.import_dataset(tmp_path / "d", format="imagefolder")
    assert report.imported == 2 and report.duplicates == 1
    assert has_problem(report, "dog/y.png", "the same image as dog/y-copy.png")
    tags = {im.original_name: im.tags for im in multilabel.images()}
    assert tags == {"x.png": ("cat", "dog"), "y-copy.png": ("dog",)}
    again = multilabel.import_dataset(tmp_path / "d", format="imagefolder")
    assert again.imported == 0 and again.duplicates == 3  # 4 files, 3 distinct images


def test_imagefolder_multiclass_keeps_one_tag_and_says_so(multiclass, tmp_path):
    write(tmp_path / "d" / "cat" / "x.png", png(1))
    write(tmp_path / "d" / "dog" / "x.png", png(1))
    report = multiclass.import_dataset(tmp_path / "d", format="imagefolder")
    assert report.imported == 1
    assert has_problem(report, "cat/x.png", "a multiclass image takes one tag")
    assert multiclass.images()[0].tags == ("cat",)


def test_imagefolder_non_ascii_names_and_untagged_top_level(multiclass, tmp_path):
    write(tmp_path / "d" / "café" / "ü 猫.png", png(1))
    write(tmp_path / "d" / "top.png", png(2))
    (tmp_path / "d" / "empty tag").mkdir()
    report = multiclass.import_dataset(tmp_path / "d", format="imagefolder")
    assert report.problems == [] and report.imported == 2
    assert sorted(report.tags_created) == ["café", "empty tag"]
    names = {im.original_name: im.tags for im in multiclass.images()}
    assert names == {"ü 猫.png": ("café",), "top.png": ()}


def test_missing_dataset_and_unknown_option_fail_clearly(multiclass, tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset at"):
        multiclass.import_dataset(tmp_path / "nope", format="imagefolder")
    with pytest.raises(ValueError, match="is not a dataset format"):
        multiclass.import_dataset(tmp_path, format="tfrecord")


# -- csv ------------------------------------------------------------------------------------
def test_csv_detection_bad_rows(detection, tmp_path):
    d = tmp_path / "d"
    write(d / "images" / "a.png", png(1))
    write(d / "images" / "b.png", png(2))
    write(d / "images" / "ñ.png", png(3))
    write(tmp_path / "outside.png", png(4))
    write(d / "labels.csv", "\n".join([
        "path,tag,left,top,width,height",            # 1
        "images/a.png,cat,0.1,0.2,0.3,0.4",          # 2 good
        "images/a.png,dog,0.8,0.8,0.5,0.5",          # 3 outside: clipped
        "images/a.png,dog,0.1,0.1,0,0.2",            # 4 zero width: dropped
        "images/a.png,dog,0.1,0.1,-0.1,0.2",         # 5 negative width: dropped
        "images/missing.png,cat,0.1,0.1,0.1,0.1",    # 6 missing file
        "../outside.png,cat,0.1,0.1,0.1,0.1",        # 7 leaves the folder
        f"{tmp_path / 'outside.png'},cat,0.1,0.1,0.1,0.1",  # 8 absolute
        "images/b.png,cat,zero,0.1,0.1,0.1",         # 9 not a number
        "images/b.png,,0.1,0.1,0.1,0.1",             # 10 no tag
        "images/b.png,cat,0.1,,0.1,0.1",             # 11 missing value
        "images/ñ.png,,,,,",                         # 12 an image without boxes
        "images/b.png,cat,0.5,0.5,0.25,0.25",        # 13 good
    ]) + "\n")
    report = detection.import_dataset(d / "labels.csv", format="csv")
    assert report.imported == 3, problems(report)
    assert has_problem(report, "labels.csv", "reached outside the image and was clipped", 3)
    assert has_problem(report, "labels.csv", "zero or negative size", 4)
    assert has_problem(report, "labels.csv", "zero or negative size", 5)
    assert has_problem(report, "labels.csv", "no image file 'images/missing.png'", 6)
    assert has_problem(report, "labels.csv", "leads outside the dataset folder", 7)
    assert has_problem(report, "labels.csv", "is absolute", 8)
    assert has_problem(report, "labels.csv", "not all numbers", 9)
    assert has_problem(report, "labels.csv", "has no tag", 10)
    assert has_problem(report, "labels.csv", "lacks top", 11)
    assert len(report.problems) == 9
    a = boxes_of(detection, "a.png")
    assert len(a) == 2 and np.allclose(a[1][1:], (0.8, 0.8, 0.2, 0.2))
    assert boxes_of(detection, "ñ.png") == []


def test_csv_classification_bad_rows(multiclass, tmp_path):
    d = tmp_path / "d"
    write(d / "a.png", png(1))
    write(d / "b.png", png(2))
    write(d / "data.csv", "Path,Tags,comment\na.png,cat;dog,two tags\nb.png,dog,\n,cat,\n")
    report = multiclass.import_dataset(d, format="csv")  # the folder: its only .csv
    assert report.imported == 2
    assert has_problem(report, "data.csv", "a multiclass image takes one tag", 2)
    assert has_problem(report, "data.csv", "the row has no path", 4)
    assert multiclass.tag_counts() == {"cat": 1, "dog": 1}


def test_csv_malformed_files(multiclass, tmp_path):
    write(tmp_path / "nohead.csv", "file,label\na.png,cat\n")
    report = multiclass.import_dataset(tmp_path / "nohead.csv", format="csv")
    assert report.imported == 0 and has_problem(report, "nohead.csv", "no 'path' column", 1)
    write(tmp_path / "latin.csv", b"path,tags\n" + "café.png,x\n".encode("latin-1"))
    report = multiclass.import_dataset(tmp_path / "latin.csv", format="csv")
    assert has_problem(report, "latin.csv", "not UTF-8", 2)
    det = cvbench.create_project(tmp_path / "det", kind="detection")
    write(tmp_path / "cls.csv", "path,tags\n")
    report = det.import_dataset(tmp_path / "cls.csv", format="csv")
    assert has_problem(report, "cls.csv", "no box columns", 1)


# -- coco -----------------------------------------------------------------------------------
def _coco(images, annotations, categories=None) -> str:
    cats = categories if categories is not None else [{"id": 1, "name": "cat"},
                                                      {"id": 2, "name": "dog"}]
    return json.dumps({"images": images, "annotations": annotations, "categories": cats})


def test_coco_bad_entries(detection, tmp_path):
    d = tmp_path / "d"
    write(d / "images" / "a.png", png(1))
    write(d / "images" / "b.png", png(2))
    write(tmp_path / "outside.png", png(3))
    write(d / "images" / "broken.png", b"\x89PNG broken")
    images = [
        {"id": 1, "file_name": "a.png", "width": 32, "height": 24},
        {"id": 2, "file_name": "b.png", "width": 32, "height": 24},
        {"id": 3, "file_name": "missing.png"},
        {"id": 4, "file_name": "../../outside.png"},
        {"id": 5, "file_name": "broken.png"},
        {"file_name": "no-id.png"},
    ]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3.2, 4.8, 9.6, 9.6]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [0, 0, 5, 5]},
        {"id": 3, "image_id": 77, "category_id": 1, "bbox": [0, 0, 5, 5]},
        {"id": 4, "image_id": 2, "category_id": 2, "bbox": [16, 12, 32, 24]},
        {"id": 5, "image_id": 2, "category_id": 2, "bbox": [1, 1, 0, 5]},
        {"id": 6, "image_id": 2, "category_id": 2, "bbox": [1, 1, 5]},
        {"id": 7, "image_id": 2, "category_id": 2, "bbox": [100, 100, 5, 5]},
    ]
    write(d / "annotations.json", _coco(images, annotations))
    report = detection.import_dataset(d, format="coco")
    assert report.imported == 2, problems(report)
    f = "annotations.json"
    assert has_problem(report, f, "annotation 2: category_id 9 is not in 'categories'")
    assert has_problem(report, f, "annotation 3: image_id 77 is not in 'images'")
    assert has_problem(report, f, "annotation 4 on b.png: box 'dog'")
    assert has_problem(report, f, "reached outside the image (32x24 pixels) and was clipped")
    assert has_problem(report, f, "annotation 5 on b.png: box 'dog' has zero or negative size")
    assert has_problem(report, f, "annotation 6 on b.png: bbox should be [x, y, width, height]")
    assert has_problem(report, f, "annotation 7 on b.png: box 'dog'")
    assert has_problem(report, f, "lies outside the image (32x24 pixels); dropped")
    assert has_problem(report, f, "image 3 (missing.png): no such image file")
    assert has_problem(report, f, "image 4 (../../outside.png): path '../../outside.png' leads "
                       "outside")
    assert has_problem(report, "images/broken.png", "ErrorImageFormat")
    assert has_problem(report, f, "images[5]: needs an 'id' and a 'file_name'")
    assert "dog" in {t.name for t in detection.tags}
    a = boxes_of(detection, "a.png")
    assert np.allclose(a[0][1:], (0.1, 0.2, 0.3, 0.4), atol=1e-12)
    b = boxes_of(detection, "b.png")
    assert len(b) == 1 and np.allclose(b[0][1:], (0.5, 0.5, 0.5, 0.5))


def test_coco_malformed_json_reports_the_line(detection, tmp_path):
    write(tmp_path / "annotations.json", '{\n "images": [\n  {"id": 1,,}\n ]\n}')
    report = detection.import_dataset(tmp_path / "annotations.json", format="coco")
    assert report.imported == 0
    assert has_problem(report, "annotations.json", "malformed JSON", 3)
    write(tmp_path / "list.json", "[1, 2]")
    report = detection.import_dataset(tmp_path / "list.json", format="coco")
    assert has_problem(report, "list.json", "is a list")


def test_coco_reads_boxes_in_the_displayed_image(detection, tmp_path):
    write(tmp_path / "pics" / "r.jpg", rotated_jpeg())
    images = [{"id": 1, "file_name": "r.jpg", "width": 32, "height": 24}]  # stored size
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 24, 16]}]
    write(tmp_path / "ann" / "coco.json", _coco(images, annotations))
    report = detection.import_dataset(tmp_path / "ann" / "coco.json", format="coco",
                                      images_dir="../pics")
    assert report.imported == 1
    assert has_problem(report, "../pics/r.jpg", "the dataset gives the size 32x24 but the "
                       "image displays as 24x32 (EXIF orientation)")
    im = detection.images()[0]
    assert (im.width, im.height) == (24, 32)
    assert np.allclose(boxes_of(detection, "r.jpg")[0][1:], (0, 0, 1, 0.5))


def test_coco_classification_takes_categories_as_image_tags(multilabel, tmp_path):
    write(tmp_path / "images" / "a.png", png(1))
    write(tmp_path / "images" / "b.png", png(2))
    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1, 2, 3, 4]},  # bbox not used
    ]
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}]
    write(tmp_path / "annotations.json", _coco(images, annotations, cats))
    report = multilabel.import_dataset(tmp_path, format="coco")
    assert report.imported == 2 and report.problems == []
    assert {im.original_name: im.tags for im in multilabel.images()} == {
        "a.png": ("cat", "dog"), "b.png": ()}
    assert sorted(report.tags_created) == ["bird", "cat", "dog"]


# -- voc ------------------------------------------------------------------------------------
def _voc(filename: str, objects: str, size: str = "<width>32</width><height>24</height>") -> str:
    return (f"<annotation><filename>{filename}</filename><size>{size}<depth>3</depth></size>"
            f"{objects}</annotation>")


def _obj(name: str, box: tuple) -> str:
    corners = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box,
                                                        strict=True))
    return f"<object><name>{name}</name><bndbox>{corners}</bndbox></object>"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<annotation><filename>a.png</filename><object><name>&lol4;</name></object></annotation>
"""


def test_voc_bad_files(detection, tmp_path):
    d = tmp_path / "d"
    write(d / "JPEGImages" / "a.png", png(1))
    write(d / "JPEGImages" / "b.png", png(2))
    write(d / "JPEGImages" / "ü.png", png(3))
    write(tmp_path / "outside.png", png(4))
    ann = d / "Annotations"
    write(ann / "a.xml", _voc("a.png", _obj("cat", (3.2, 4.8, 12.8, 14.4))
                              + _obj("dog", (20, 12, 40, 30))       # clipped
                              + _obj("dog", (10, 10, 5, 20))        # xmax < xmin
                              + "<object><name>cat</name></object>"  # no bndbox
                              + _obj("cat", ("a", 1, 2, 3))
                              + "<object><bndbox/></object>"))
    write(ann / "b.xml", BILLION_LAUGHS)
    write(ann / "c.xml", "<annotation><filename>b.png</filename>\n<object>\n</annotation>")
    write(ann / "d.xml", _voc("missing.png", ""))
    write(ann / "e.xml", _voc("../../outside.png", ""))
    write(ann / "f.xml", "<notvoc/>")
    write(ann / "ü.xml", _voc("ü.png", _obj("ñandú", (0, 0, 16, 12))))
    report = detection.import_dataset(d, format="voc")
    assert report.imported == 2, problems(report)
    assert has_problem(report, "Annotations/a.xml", "object 2 (dog): box 'dog'")
    assert has_problem(report, "Annotations/a.xml", "reached outside the image (32x24 pixels)")
    assert has_problem(report, "Annotations/a.xml", "object 3 (dog): box 'dog' has zero or "
                       "negative size")
    assert has_problem(report, "Annotations/a.xml", "object 4 (cat): has no <bndbox>")
    assert has_problem(report, "Annotations/a.xml", "object 5 (cat): <bndbox> needs xmin")
    assert has_problem(report, "Annotations/a.xml", "object 6: has no <name>")
    assert has_problem(report, "Annotations/b.xml", "refused: the XML declares or refers to "
                       "entities")
    assert has_problem(report, "Annotations/c.xml", "malformed XML", 3)
    assert has_problem(report, "Annotations/d.xml", "no image file 'missing.png'")
    assert has_problem(report, "Annotations/e.xml", "leads outside the dataset folder")
    assert has_problem(report, "Annotations/f.xml", "not <annotation>")
    a = boxes_of(detection, "a.png")
    assert len(a) == 2
    assert np.allclose(a[0][1:], (0.1, 0.2, 0.3, 0.4), atol=1e-12)
    assert np.allclose(a[1][1:], (20 / 32, 0.5, 12 / 32, 0.5))
    assert boxes_of(detection, "ü.png")[0][0] == "ñandú"


# -- yolo -----------------------------------------------------------------------------------
def test_yolo_bad_labels(detection, tmp_path):
    d = tmp_path / "d"
    write(d / "classes.txt", "cat\ndog\n")
    write(d / "images" / "train" / "a.png", png(1))
    write(d / "images" / "train" / "b.png", png(2))
    write(d / "images" / "train" / "no-label.png", png(3))
    write(d / "labels" / "train" / "a.txt", "\n".join([
        "0 0.25 0.4 0.3 0.4",        # 1 good
        "1 0.9 0.9 0.4 0.4",         # 2 clipped
        "1 0.5 0.5 0.0 0.2",         # 3 zero size
        "5 0.5 0.5 0.1 0.1",         # 4 unknown class
        "0 0.5 0.5 0.1",             # 5 four values
        "cat 0.5 0.5 0.1 0.1",       # 6 class not a number
        "",                          # 7 blank: fine
        "0 0.5 nan 0.1 0.1",         # 8 not finite
        "1 1.5 1.5 0.2 0.2",         # 9 outside: dropped
    ]))
    write(d / "labels" / "train" / "b.txt", "1 0.5 0.5 1 1\n")
    write(d / "labels" / "train" / "ghost.txt", "0 0.5 0.5 0.1 0.1\n")
    report = detection.import_dataset(d, format="yolo")
    assert report.imported == 3, problems(report)
    lab = "labels/train/a.txt"
    assert has_problem(report, lab, "reached outside the image and was clipped", 2)
    assert has_problem(report, lab, "zero or negative size", 3)
    assert has_problem(report, lab, "class index 5 is not in the class list (0 to 1)", 4)
    assert has_problem(report, lab, "expected 'class cx cy w h' (5 values), found 4", 5)
    assert has_problem(report, lab, "class 'cat' is not a whole number", 6)
    assert has_problem(report, lab, "not all finite numbers", 8)
    assert has_problem(report, lab, "lies outside the image; dropped", 9)
    assert has_problem(report, "labels/train/ghost.txt",
                       "a label file for an image that does not exist")
    assert len(report.problems) == 8
    a = boxes_of(detection, "a.png")
    assert len(a) == 2 and np.allclose(a[1][1:], (0.7, 0.7, 0.3, 0.3))
    assert boxes_of(detection, "no-label.png") == []


def test_yolo_without_class_names_names_tags_by_number(detection, tmp_path):
    write(tmp_path / "d" / "a.png", png(1))  # darknet layout: label beside its image
    write(tmp_path / "d" / "a.txt", "2 0.5 0.5 0.5 0.5\n")
    report = detection.import_dataset(tmp_path / "d", format="yolo")
    assert report.imported == 1
    assert has_problem(report, "classes.txt", "tags are named by class number")
    assert boxes_of(detection, "a.png")[0][0] == "2"
    other = cvbench.create_project(tmp_path / "other", kind="detection")
    report = other.import_dataset(tmp_path / "d", format="yolo", classes=["a", "b", "bird"])
    assert report.problems == [] and boxes_of(other, "a.png")[0][0] == "bird"


def test_duplicates_against_the_project_are_counted_and_differences_reported(detection,
                                                                            tmp_path):
    detection.add_images([png(1)], regions=[[("cat", 0.1, 0.1, 0.2, 0.2)]], names=["a.png"])
    write(tmp_path / "d" / "classes.txt", "cat\n")
    write(tmp_path / "d" / "images" / "a.png", png(1))
    write(tmp_path / "d" / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    report = detection.import_dataset(tmp_path / "d", format="yolo")
    assert report.imported == 0 and report.duplicates == 1
    assert has_problem(report, "images/a.png", "already in the project as image")
    assert has_problem(report, "images/a.png", "the boxes of this dataset were not applied")
