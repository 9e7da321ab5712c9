"""The Insight widget without a browser: each message it takes changes the project as the
Python API would, bad input answers with a readable notice and changes nothing, and the
health check runs in the background and can be cancelled."""

from __future__ import annotations

import numpy as np
import pytest
from _ui_trained import trained_copy
from PIL import Image

import cvbench
from cvbench.ui import Insight, Performance
from cvbench.ui._insight_data import OUTCOMES
from cvbench.ui.workbench import TABS, Workbench


@pytest.fixture(scope="module")
def digits(tmp_path_factory, one_torch_thread):
    """The small digits sample, trained twice, with a resized copy of one image added."""
    project = trained_copy(tmp_path_factory, "insight")
    project.train("quick", progress_bar=False, settings={"C": 0.001, "calibrate": False})
    original = project.images(order="oldest")[0]
    big = Image.open(original.path).convert("RGB").resize((96, 96), Image.Resampling.BICUBIC)
    (copy,) = project.add_images([big], tags=original.tags[0], names=["copy.png"])
    yield {"project": project, "original": original.id, "copy": copy.image_id}
    project.close()


@pytest.fixture(scope="module")
def checked(digits):
    widget = Insight(digits["project"])
    widget.handle_message({"type": "check"})
    assert widget.wait(300)
    assert widget.error is None and widget.state == "idle", widget.notice
    return widget


def _group_of(widget: Insight, image_id: str) -> dict:
    return next(g for g in widget.health["groups"] if image_id in {i["id"] for i in g["images"]})


def test_the_check_fills_tiles_groups_and_mislabels(checked, digits):
    health = checked.health
    assert health["n_images"] == digits["project"].count_images()
    tiles = health["tiles"]
    assert tiles["duplicates"] >= 1 and tiles["mislabels"] == health["n_mislabels"]
    group = _group_of(checked, digits["copy"])
    assert digits["original"] in {i["id"] for i in group["images"]}
    assert group["keep"] == digits["copy"]  # the most pixels
    assert all(i["src"].startswith("data:image/") for i in group["images"])
    assert sum(b["images"] for b in health["balance"]) == digits["project"].count_images(
        tagged=True)
    assert checked.notice["level"] == "success"
    assert checked.progress["job"] == "" and checked.progress["fraction"] == 0.0


def test_bad_messages_answer_with_a_readable_error_and_change_nothing(checked, digits):
    project = digits["project"]
    before = project.count_images()
    checked.handle_message({"type": "keep_duplicate", "group": 999, "keep": "x"})
    assert checked.notice["level"] == "error" and "no duplicate group 999" in checked.notice["text"]
    group = _group_of(checked, digits["copy"])
    checked.handle_message({"type": "keep_duplicate", "group": group["group"], "keep": "nope"})
    assert "is not in duplicate group" in checked.notice["text"]
    checked.handle_message({"type": "keep_duplicate", "group": "1", "keep": "x"})
    assert "'group'" in checked.notice["text"] and "int" in checked.notice["text"]
    checked.handle_message({"type": "accept_tag", "image_id": "nope"})
    assert "not among the likely mislabelled" in checked.notice["text"]
    checked.handle_message({"type": "select", "indices": [0]})
    assert "the map has 0 points" in checked.notice["text"]
    checked.handle_message({"type": "cancel"})
    assert "no health check or map is running" in checked.notice["text"]
    checked.handle_message({"type": "make_map", "method": "tsne", "color_by": "tag"})
    assert "should be one of ['pca', 'umap']" in checked.notice["text"]
    checked.handle_message({"type": "tag_selection", "tag": "x"})
    assert "no point is selected" in checked.notice["text"]
    checked.handle_message({"type": "frobnicate"})
    assert "unknown to Insight" in checked.notice["text"]
    assert project.count_images() == before


def test_accept_retags_and_dismiss_takes_an_image_off_the_list(checked, digits):
    project = digits["project"]
    first, second = checked.health["mislabels"][:2]
    checked.handle_message({"type": "accept_tag", "image_id": first["image_id"]})
    assert checked.notice["level"] == "success", checked.notice
    assert project.image(first["image_id"]).tags == tuple(first["suggested"])
    checked.handle_message({"type": "dismiss", "image_id": second["image_id"]})
    left = [m["image_id"] for m in checked.health["mislabels"]]
    assert first["image_id"] not in left and second["image_id"] not in left
    assert project.image(second["image_id"]).tags == tuple(second["tags"])  # unchanged


def test_keep_this_one_deletes_the_others_of_its_group(checked, digits):
    project = digits["project"]
    group = _group_of(checked, digits["copy"])
    before = project.count_images()
    checked.handle_message({"type": "keep_duplicate", "group": group["group"],
                            "keep": digits["original"]})
    assert checked.notice["level"] == "success", checked.notice
    assert project.count_images() == before - (len(group["images"]) - 1)
    assert digits["copy"] not in {i.id for i in project.images()}
    assert project.image(digits["original"])
    assert all(g["group"] != group["group"] for g in checked.health["groups"])


def test_the_map_travels_as_compact_arrays_and_its_selection_is_tagged(digits):
    project = digits["project"]
    widget = Insight(project)
    widget.handle_message({"type": "make_map", "method": "pca", "color_by": "tag"})
    assert widget.wait(300) and widget.error is None, widget.notice
    n = project.count_images()
    assert widget.map_info["n"] == n and widget.map_info["color_by"] == "tag"
    xy = np.frombuffer(widget.map_xy, dtype="<f4").reshape(-1, 2)
    emap = project.embedding_map()
    np.testing.assert_allclose(xy, emap.coordinates, atol=1e-6)
    names = widget.map_info["names"]
    codes = np.frombuffer(widget.map_tag, dtype="<u2")
    assert [names[c] for c in codes] == list(emap.frame["tag"])
    assert len(widget.map_outcome) == n and set(widget.map_outcome) == {OUTCOMES["not validated"]}

    widget.handle_message({"type": "select", "indices": [3, 1, 3]})
    assert widget.selection == [1, 3]
    ids = widget.selected_ids
    assert ids == [emap.image_ids[1], emap.image_ids[3]]
    tag = next(t for t in project.tags if t.name not in project.image(ids[0]).tags)
    widget.handle_message({"type": "tag_selection", "tag": tag.id})
    assert widget.notice["level"] == "success", widget.notice
    assert all(project.image(i).tags == (tag.name,) for i in ids)  # multiclass: replaced
    codes = np.frombuffer(widget.map_tag, dtype="<u2")  # the points' colours follow
    assert [widget.map_info["names"][codes[i]] for i in (1, 3)] == [tag.name, tag.name]
    widget.handle_message({"type": "hover", "index": 1})
    assert widget.hover["id"] == ids[0] and widget.hover["src"].startswith("data:image/")
    widget.handle_message({"type": "show_selection"})  # no gallery: under the map
    assert [s["id"] for s in widget.shown] == ids
    seen = []
    widget.on_show_images(seen.append)
    widget.handle_message({"type": "show_selection"})
    assert seen == [ids]


def test_colouring_by_correct_needs_and_uses_an_iteration(digits):
    project = digits["project"]
    widget = Insight(project)
    it = project.iteration(widget.iteration)
    widget.handle_message({"type": "make_map", "method": "pca", "color_by": "correct"})
    assert widget.wait(300) and widget.error is None, widget.notice
    assert widget.map_info["iteration"] == it.id and widget.map_info["iteration_name"] == it.name
    outcome = np.frombuffer(widget.map_outcome, dtype=np.uint8)
    present = {i.id for i in project.images()}
    validated = sum(1 for i, s in it.split().items() if s == "validation" and i in present)
    assert int((outcome != OUTCOMES["not validated"]).sum()) == validated
    bare = cvbench.create_project(digits["project"].path.parent / "bare")
    widget = Insight(bare)
    widget.handle_message({"type": "make_map", "method": "pca", "color_by": "correct"})
    assert widget.notice["level"] == "error" and "needs an iteration" in widget.notice["text"]
    bare.close()


def test_cancel_stops_the_check_and_keeps_nothing_shown(tmp_path, one_torch_thread):
    from cvbench.samples import make_sample

    project = make_sample("digits", tmp_path / "d", small=True)
    widget = Insight(project)
    widget.handle_message({"type": "check"})
    assert widget.state == "running" and widget.progress["job"] == "health"
    widget.handle_message({"type": "check"})  # a second one is refused
    assert "being made" in widget.notice["text"]
    widget.handle_message({"type": "cancel"})
    assert widget.state in ("cancelling", "idle")
    assert widget.wait(120)
    assert widget.state == "idle" and widget.health == {}
    assert "cancelled" in widget.notice["text"], widget.notice
    assert project.store.features.count() < project.count_images()
    project.close()


def test_compare_two_iterations_and_the_refusal_of_two_kinds(digits, tmp_path):
    project = digits["project"]
    widget = Insight(project)
    new, old = project.iterations[0], project.iterations[1]
    widget.handle_message({"type": "compare", "this": new.id, "other": old.id})
    c = widget.comparison
    assert c["error"] == "" and c["this"] == new.name and c["other"] == old.name
    expected = new.compare(old)
    assert [r["tag"] for r in c["per_tag"]] == list(expected.per_tag["tag"])
    row = c["per_tag"][0]
    assert row["ap_diff"] == pytest.approx(expected.per_tag["ap_diff"].iloc[0], nan_ok=True)
    assert c["plot"].startswith("data:image/png")
    assert c["n_fixed"] == len(expected.fixed) and c["n_broken"] == len(expected.broken)
    # the Performance tab shows the same comparison, shaped by the same code
    perf = Performance(project, iteration=new.id, plot_delay=60)
    perf.compare(old.id)
    assert perf.comparison == c
    widget.handle_message({"type": "compare", "this": new.id, "other": "Iteration 99"})
    assert widget.notice["level"] == "error"

    from cvbench.samples import make_sample

    faces = make_sample("faces", tmp_path / "faces", small=True)
    first = faces.train("quick", progress_bar=False)
    faces.set_kind("multilabel")
    second = faces.train("quick", progress_bar=False)
    widget = Insight(faces)
    widget.handle_message({"type": "compare", "this": second.id, "other": first.id})
    assert widget.notice["level"] == "error" and "multilabel" in widget.notice["text"]
    assert widget.comparison["error"] == widget.notice["text"]
    faces.close()


def test_the_workbench_has_an_insight_tab_that_shows_a_selection_in_the_gallery(digits):
    project = digits["project"]
    wb = Workbench(project, tab="insight")
    assert "insight" in TABS and wb.tab == "insight"
    insight = wb.widget("insight")
    assert isinstance(insight, Insight) and insight.host == "workbench"
    insight.show_map(project.embedding_map())
    insight.select([0, 2])
    insight.handle_message({"type": "show_selection"})
    assert wb.tab == "images"
    gallery = wb.widget("images")
    assert gallery.show == "map-selection" and gallery.total == 2
    assert sorted(item["id"] for item in gallery.items) == sorted(insight.selected_ids)
