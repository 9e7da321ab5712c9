"""Dataset health with planted problems: on a small digits project a resized copy (across
splits), a recompressed copy under another tag, a tiny and a dark image; on a project of
drawn shapes (which the frozen features tell apart well) tags flipped on purpose."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

import cvbench
from cvbench.errors import CancelledError
from cvbench.insight import DuplicateGroup, HealthReport, Mislabel
from cvbench.samples import make_sample

N_FLIPPED = 4


@pytest.fixture(scope="module")
def planted(tmp_path_factory, one_torch_thread):
    project = make_sample("digits", tmp_path_factory.mktemp("health") / "digits", small=True)
    images = project.images(order="oldest")
    names = [t.name for t in project.tags]
    a, b = images[0], images[1]
    big = Image.open(a.path).convert("RGB").resize((128, 128), Image.Resampling.BICUBIC)
    (resized,) = project.add_images([big], tags=a.tags[0], names=["resized.png"])
    other = next(t for t in names if t != b.tags[0])
    buf = io.BytesIO()
    Image.open(b.path).convert("RGB").save(buf, "JPEG", quality=50)
    (recompressed,) = project.add_images([buf.getvalue()], tags=other, names=["recompressed.jpg"])
    # the resized copy on the other side of the split from its original: a leak
    split_a = project.image(a.id).split
    project.set_split([resized.image_id], "train" if split_a == "validation" else "validation")
    tiny = Image.new("RGB", (12, 12), "white")
    dark = Image.new("RGB", (64, 64), (6, 6, 6))
    (tiny_r,) = project.add_images([tiny], tags=names[0], names=["tiny.png"])
    (dark_r,) = project.add_images([dark], tags=names[1], names=["dark.png"])
    events = []
    report = project.health(on_progress=events.append)
    yield {"project": project, "report": report, "a": a.id, "b": b.id,
           "resized": resized.image_id, "recompressed": recompressed.image_id,
           "tiny": tiny_r.image_id, "dark": dark_r.image_id,
           "events": events}
    project.close()


def _group_of(report: HealthReport, image_id: str) -> DuplicateGroup:
    return next(g for g in report.groups() if image_id in g.image_ids)


def test_a_resized_copy_across_splits_is_a_leak(planted):
    g = _group_of(planted["report"], planted["resized"])
    assert planted["a"] in g.image_ids
    assert g.across_splits and not g.across_tags
    assert g.keep == planted["resized"]  # the one with the most pixels
    assert g in planted["report"].leaks


def test_a_recompressed_copy_under_another_tag_is_a_conflict(planted):
    g = _group_of(planted["report"], planted["recompressed"])
    assert planted["b"] in g.image_ids and g.across_tags
    rows = planted["report"].duplicates
    assert set(rows.columns) >= {"group", "image_id", "keep", "similarity", "across_tags"}
    assert rows.groupby("group")["keep"].sum().eq(1).all()  # one image kept per group


def _shape(tag: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (96, 96), tuple(int(v) for v in rng.integers(90, 200, 3)))
    s = int(rng.integers(36, 56))
    x, y = (int(v) for v in rng.integers(0, 96 - s, 2))
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw = ImageDraw.Draw(img)
    if tag == "circle":
        draw.ellipse([x, y, x + s, y + s], fill=colour)
    elif tag == "square":
        draw.rectangle([x, y, x + s, y + s], fill=colour)
    else:
        draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
    return img


@pytest.fixture(scope="module")
def flipped(tmp_path_factory, one_torch_thread):
    project = cvbench.create_project(tmp_path_factory.mktemp("flip") / "shapes")
    truth = {}
    for tag in ("circle", "square", "triangle"):
        res = project.add_images([_shape(tag, 100 * len(truth) + k) for k in range(14)],
                                 tags=tag)
        truth.update({r.image_id: tag for r in res})
    ids = list(truth)
    wrong = {}
    for image_id in ids[3::len(ids) // N_FLIPPED][:N_FLIPPED]:
        to = next(t for t in ("circle", "square", "triangle") if t != truth[image_id])
        project.tag_images(image_id, to)
        wrong[image_id] = truth[image_id]
    yield project, wrong, project.health()
    project.close()


def test_flipped_tags_rank_at_the_top_with_their_true_tag_suggested(flipped):
    _, wrong, report = flipped
    mis = report.mislabels
    ranks = dict(zip(mis["image_id"], mis["rank"], strict=True))
    found = sorted(ranks.get(i, 10**6) for i in wrong)
    # every flipped image among the first 2N of the 42, and most of the first N flipped
    assert found[-1] <= 2 * N_FLIPPED and sum(r <= N_FLIPPED for r in found) >= 2, found
    assert all(report.mislabel(i).suggested == (tag,) for i, tag in wrong.items())
    assert mis["given_probability"].between(0, 1).all()


def test_tiny_and_dark_images_are_problems_and_balance_counts(planted):
    problems = planted["report"].problems
    by_id = problems.groupby("image_id")["problem"].apply(set)
    assert "too small" in by_id[planted["tiny"]]
    assert "too dark" in by_id[planted["dark"]]
    assert not any("too dark" in v for k, v in by_id.items() if k != planted["dark"])
    bal = planted["report"].balance
    assert int(bal["images"].sum()) == sum(len(i.tags) for i in planted["project"].images())
    assert bal["ratio_to_largest"].max() == 1.0


def test_the_report_reads_cached_features_and_says_what_it_found(planted):
    report = planted["report"]
    text = report.summary()
    assert "near-duplicates" in text and "mislabelled" in text
    assert report.to_dict()["n_images"] == report.n_images
    events = planted["events"]
    assert events[-1]["fraction"] == 1.0 and {e["stage"] for e in events} >= {"features"}
    again = planted["project"].health()
    assert again.features["computed"] == 0 and again.features["reused"] == report.n_images
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(again.duplicates, report.duplicates)


def test_outliers_are_scored_per_tag(planted):
    out = planted["report"].outliers
    assert list(out.columns) == ["image_id", "tag", "distance", "score"]
    assert (out["score"] > planted["report"].settings["outlier_score"]).all()
    assert list(out["score"]) == sorted(out["score"], reverse=True)


def test_keep_one_duplicate_and_accept_a_suggested_tag(planted, flipped, tmp_path):
    from cvbench import import_project

    archive = tmp_path / "copy.zip"
    planted["project"].export_dataset(archive, format="archive")
    project = import_project(archive, tmp_path / "copy")
    report = planted["report"]
    group = _group_of(report, planted["recompressed"])
    assert project.keep_duplicate(group) == len(group.others)
    assert project.store.images.missing(list(group.others)) == list(group.others)
    with pytest.raises(ValueError, match="not in the group"):
        project.keep_duplicate(["x", "y"], keep="z")
    project.close()
    shapes, wrong, shapes_report = flipped
    image_id, truth = next(iter(wrong.items()))
    mislabel = shapes_report.mislabel(image_id)
    assert isinstance(mislabel, Mislabel)
    assert shapes.accept_suggested_tag(mislabel).tags == (truth,)
    with pytest.raises(ValueError, match="tags="):
        shapes.accept_suggested_tag(image_id)


def test_cancel_stops_and_keeps_the_features_computed(tmp_path, one_torch_thread):
    project = make_sample("digits", tmp_path / "d", small=True)
    stop = threading.Event()

    def on_progress(event):
        if event["message"].startswith("features 32/"):
            stop.set()

    with pytest.raises(CancelledError, match="health check was cancelled"):
        project.health(on_progress=on_progress, cancel=stop)
    assert 32 <= project.store.features.count() < project.count_images()
    stop.set()
    with pytest.raises(CancelledError):
        project.health(cancel=stop)
    project.close()


def test_bad_settings_are_refused_by_name(planted):
    with pytest.raises(ValueError, match="duplicate_threshold"):
        planted["project"].health(duplicate_threshold=1.5)
    with pytest.raises(ValueError, match="dark"):
        planted["project"].health(dark=-1)
    assert np.isfinite(planted["report"].duplicates["similarity"]).all()


def test_multilabel_and_detection_projects_get_a_report(tmp_path, one_torch_thread):
    faces = make_sample("faces", tmp_path / "faces", small=True)
    faces.set_kind("multilabel")
    report = faces.health()
    assert list(report.mislabels.columns)[:4] == ["rank", "image_id", "tags", "suggested"]
    assert all(isinstance(t, tuple) for t in report.mislabels["tags"])
    faces.close()
    shapes = make_sample("shapes", tmp_path / "shapes", small=True)
    report = shapes.health()
    assert report.mislabels.empty and any("classification" in n for n in report.notes)
    assert set(report.balance["tag"]) == {"circle", "square", "triangle"}
    assert report.balance["images"].min() > 0  # a detection image's tags are its boxes'
    shapes.close()
