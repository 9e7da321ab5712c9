"""Sample projects: each builds, has the right kind, tags and counts, and is deterministic."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from cvbench import Project, ProjectError, samples
from cvbench.samples import SAMPLES, get_sample, list_samples, make_sample

HAS_IMGAUG = importlib.util.find_spec("imgaug") is not None
needs_imgaug = pytest.mark.skipif(not HAS_IMGAUG, reason="imgaug is not installed")

#: name -> (kind, tag names, images with small=True)
EXPECTED = {
    "digits": ("multiclass", {str(d) for d in range(10)}, 80),
    "faces": ("multiclass", {"face", "not face"}, 24),
    "photos": ("multilabel", None, 65),
    "shapes": ("detection", {"circle", "square", "triangle"}, 30),
    "quokka": ("detection", {"quokka"}, 15),
}


def _params():
    for name in SAMPLES:
        marks = [needs_imgaug] if name == "quokka" else []
        yield pytest.param(name, marks=marks, id=name)


def test_registry_is_explicit_and_listed():
    assert list(SAMPLES) == list(EXPECTED)
    assert [s.name for s in list_samples()] == list(SAMPLES)
    for s in list_samples():
        d = s.to_dict()
        assert d["kind"] in ("multiclass", "multilabel", "detection")
        assert d["license"] and d["source"] and d["size"]


def test_unknown_sample_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="digits"):
        make_sample("nope", tmp_path / "p")
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("name", list(_params()))
def test_sample_builds_small(name, tmp_path):
    kind, tags, count = EXPECTED[name]
    with make_sample(name, tmp_path / name, small=True) as project:
        assert isinstance(project, Project)
        assert project.kind == kind
        summary = project.summary()
        assert summary.images == count
        assert summary.untagged == 0
        names = {t.name for t in project.tags}
        if tags is not None:
            assert names == tags
        images = project.images()
        stored = sorted(im.sha256 for im in images)
        for im in images:  # the stored file is what its sha256 says
            assert hashlib.sha256(im.path.read_bytes()).hexdigest() == im.sha256
        if kind == "detection":
            for im in images:
                assert im.regions, f"{im.original_name} has no box"
                for r in im.regions:
                    assert 0 <= r.left and 0 <= r.top and r.width > 0 and r.height > 0
                    assert r.left + r.width <= 1 + 1e-9 and r.top + r.height <= 1 + 1e-9
        else:
            assert all(im.tags for im in images)
            if kind == "multiclass":
                assert all(len(im.tags) == 1 for im in images)
        assert not [w for w in summary.warnings if "needed to train" in w]
    # deterministic: a second build yields the same bytes
    again = sorted(hashlib.sha256(it.data).hexdigest() for it in get_sample(name).items(small=True))
    assert stored == again


@pytest.mark.parametrize("name", list(_params()))
def test_seed_changes_the_set(name):
    a = {hashlib.sha256(it.data).digest() for it in get_sample(name).items(small=True, seed=0)}
    b = {hashlib.sha256(it.data).digest() for it in get_sample(name).items(small=True, seed=1)}
    assert a != b


def test_digits_default_is_balanced(tmp_path):
    with make_sample("digits", tmp_path / "digits") as project:
        assert project.tag_counts() == {str(d): 50 for d in range(10)}
        im = project.images(take=1)[0]
        assert (im.width, im.height) == (64, 64)
        assert Image.open(im.path).mode == "RGB"


def test_faces_are_upscaled():
    items = get_sample("faces").items(small=True)
    assert Counter(it.tags for it in items) == {("face",): 12, ("not face",): 12}
    assert Image.open(io.BytesIO(items[0].data)).size == (100, 100)


def test_photos_are_multilabel_with_enough_images_per_tag():
    items = get_sample("photos").items()
    assert len(items) >= 60
    counts = Counter(t for it in items for t in it.tags)
    assert sum(1 for n in counts.values() if n >= 5) >= 3
    assert min(counts.values()) >= 5
    assert any(len(it.tags) > 1 for it in items)
    assert {"person", "animal", "vehicle", "outdoor"} <= set(counts)


def test_shapes_boxes_are_exact_and_balanced():
    items = get_sample("shapes").items()
    assert len(items) == 120
    counts = Counter(r[0] for it in items for r in it.regions)
    assert set(counts) == {"circle", "square", "triangle"}
    assert max(counts.values()) - min(counts.values()) <= 1
    for it in items:
        img = Image.open(io.BytesIO(it.data))
        assert img.size == (320, 240)
        assert 1 <= len(it.regions) <= 3
        boxes = [(r[1] * 320, r[2] * 240, (r[1] + r[3]) * 320, (r[2] + r[4]) * 240)
                 for r in it.regions]
        for k, a in enumerate(boxes):  # shapes never overlap
            for b in boxes[k + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_shape_pixels_fill_their_boxes():
    """The drawn shape touches all four sides of its box: the box is tight."""
    regions = [(it, r) for it in get_sample("shapes").items(small=True)[:10] for r in it.regions]
    for item, (tag, left, top, width, height) in regions:
        arr = np.asarray(Image.open(io.BytesIO(item.data)).convert("RGB"), dtype=np.int16)
        x1, y1 = round(left * 320), round(top * 240)
        x2, y2 = round((left + width) * 320), round((top + height) * 240)
        inside = arr[y1:y2, x1:x2]
        centre = inside[inside.shape[0] // 2, inside.shape[1] // 2]
        # the centre of every shape is its fill colour; a box much larger than the shape
        # would have rows or columns at its borders with no pixel of that colour
        # (the 2-pixel outline keeps the fill a few pixels off a sharp corner)
        close = np.abs(inside - centre).sum(axis=2) < 60
        assert close[:, :8].any() and close[:, -8:].any(), tag
        assert close[:8, :].any() and close[-8:, :].any(), tag


@needs_imgaug
def test_quokka_box_lands_on_the_quokka():
    path, (x1, y1, x2, y2), (w, h) = samples.quokka_annotation()
    photo = Image.open(path).convert("RGB")
    reference = np.asarray(photo.crop((x1, y1, x2, y2)).resize((32, 48)), dtype=np.float32)
    mirrored = reference[:, ::-1]
    items = get_sample("quokka").items(small=True)
    first = items[0].regions[0]
    assert first[0] == "quokka"
    assert first[1:] == pytest.approx((x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h))
    for it in items:
        img = Image.open(io.BytesIO(it.data)).convert("RGB")
        (tag, left, top, width, height), = it.regions
        box = (left * img.width, top * img.height, (left + width) * img.width,
               (top + height) * img.height)
        crop = np.asarray(img.crop(tuple(round(v) for v in box)).resize((32, 48)),
                          dtype=np.float32)
        diff = min(np.abs(crop - reference).mean(), np.abs(crop - mirrored).mean())
        # the same region shifted by a fifth of the box does not match: the test can fail
        shift = round(0.2 * (box[2] - box[0]))
        off = (box[0] + shift, box[1], box[2] + shift, box[3])
        wrong = np.asarray(img.crop(tuple(round(v) for v in off)).resize((32, 48)),
                           dtype=np.float32)
        wrong_diff = min(np.abs(wrong - reference).mean(), np.abs(wrong - mirrored).mean())
        assert diff < 8, f"{it.name}: the box does not frame the quokka (diff {diff:.1f})"
        assert wrong_diff > 2 * diff


def test_quokka_without_imgaug_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(samples.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ProjectError, match="pip install imgaug"):
        make_sample("quokka", tmp_path / "q", small=True)
    assert not (tmp_path / "q").exists()


def test_dest_must_be_new_or_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="not empty"):
        make_sample("faces", tmp_path / "full", small=True)
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    with make_sample("faces", tmp_path / "empty", small=True) as project:
        assert project.path == (tmp_path / "empty").resolve()
        assert project.name == "empty"


def test_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def boom(project, sample, items):
        project.add_images([items[0].data], tags=list(items[0].tags))
        raise ProjectError("interrupted")

    monkeypatch.setattr(samples, "_add_items", boom)
    with pytest.raises(ProjectError, match="interrupted"):
        make_sample("faces", tmp_path / "f", small=True)
    assert list(tmp_path.iterdir()) == []
