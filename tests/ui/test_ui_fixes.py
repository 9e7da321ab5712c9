"""Tag keys and colours that stay put, the Train panel's live rules and tag choice, the time
left within a budget, the upload results, and the image detail view: driven from Python as
the browser drives them."""

from __future__ import annotations

import itertools
import math

import pytest
import traitlets
from _ui_trained import trained_copy

from cvbench.ui import Gallery, Performance, Predictions, Tagger, TrainPanel, Uploader
from cvbench.ui._assets import TAG_KEYS, TAG_PALETTE, tag_colors, tag_slots
from cvbench.ui.train_panel import time_left


# -- keys and colours --------------------------------------------------------------------------
def _lab(color: str) -> tuple[float, float, float]:
    def lin(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(color[i:i + 2], 16)) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(v: float) -> float:
        return v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _contrast_with_white(color: str) -> float:
    def lin(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(color[i:i + 2], 16)) for i in (1, 3, 5))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_twenty_tags_get_twenty_distinct_colours_and_keys():
    assert len(TAG_PALETTE) == 20 and len(TAG_KEYS) == 20 and len(set(TAG_KEYS)) == 20
    closest = min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(TAG_PALETTE, 2))
    assert closest >= 25, f"two tag colours are {closest:.1f} apart in L*a*b*"
    assert min(_contrast_with_white(c) for c in TAG_PALETTE) >= 3.0


def test_digits_get_their_own_keys_and_a_new_tag_moves_no_one(make_project):
    project = make_project(n=1, tags=tuple(str(d) for d in range(10)))
    g = Gallery(project)
    keys = {t["name"]: t["key"] for t in g.tags}
    assert keys == {str(d): str(d) for d in range(10)}  # key 1 tags "1", key 0 tags "0"
    before = {t["name"]: (t["slot"], t["key"]) for t in g.tags}
    colors = tag_colors(g.tags, g.palette)
    assert len(set(colors.values())) == 10  # "5" and "9" no longer share a colour
    project.create_tag("zebra")
    project.create_tag("apple")  # sorts first by name: nothing moves
    g.reload()
    after = {t["name"]: (t["slot"], t["key"]) for t in g.tags}
    assert {k: after[k] for k in before} == before
    assert after["zebra"] == (10, "\u21e71") and after["apple"] == (11, "\u21e72")
    assert {k: tag_colors(g.tags, g.palette)[k] for k in colors} == colors


def test_slots_follow_creation_order_and_stop_at_twenty(make_project):
    project = make_project(n=0, tags=tuple(f"t{i:02d}" for i in range(22)))
    g = Gallery(project)
    by_name = {t["name"]: t for t in g.tags}
    assert [by_name[f"t{i:02d}"]["slot"] for i in range(22)] == list(range(22))
    assert by_name["t09"]["key"] == "0" and by_name["t19"]["key"] == "\u21e70"
    assert by_name["t20"]["key"] == "" and by_name["t21"]["key"] == ""

    class Tag:
        def __init__(self, id: str, name: str) -> None:
            self.id, self.name = id, name

    # a tag named like a key that is taken gets the first free one
    tags = [Tag("a", "cat"), Tag("b", "1")]
    assert tag_slots(tags, ["a", "b"]) == {"a": 0, "b": 1}
    assert tag_slots(tags, ["b", "a"]) == {"b": 0, "a": 1}
    assert tag_slots(tags, []) == {"a": 0, "b": 1}  # not in the order: the newest


def test_the_tagger_names_the_key_of_a_new_tag(make_project):
    project = make_project(n=2, tags=tuple("abcdefghij"))
    t = Tagger(project)
    t.handle_message({"type": "create_tag", "name": "k", "ids": []})
    assert t.notice["text"] == "Created the tag 'k'; key Shift+1 or its button tags the image"


# -- the train panel -------------------------------------------------------------------------
def _classes(make_project, counts: dict[str, int]):
    project = make_project(n=sum(counts.values()), tags=())
    ids = [img.id for img in project.images(order="oldest")]
    start = 0
    for name, n in counts.items():
        project.tag_images(ids[start:start + n], name)
        start += n
    return project


def test_train_is_off_with_the_reason_while_a_tag_is_short(make_project):
    project = _classes(make_project, {"cat": 6, "dog": 6, "owl": 2})
    panel = TrainPanel(project)
    blockers = panel.readiness["blockers"]
    assert len(blockers) == 1 and "'owl' has 2 images" in blockers[0]
    assert "untick it under Tags to train" in blockers[0] and "train(tags" not in blockers[0]
    rows = {r["name"]: r for r in panel.readiness["per_tag"]}
    assert rows["owl"]["enough"] is False and rows["cat"]["enough"] is True
    assert all(r["chosen"] for r in rows.values())
    # the page's Train message is refused with the same words, nothing starts
    panel.handle_message({"type": "train", "mode": "quick", "budget_minutes": 5.0,
                          "domain": panel.domain})
    assert panel.notice["level"] == "error" and "'owl' has 2 images" in panel.notice["text"]
    assert panel.state == "idle" and not panel.running and project.iterations == []


def test_leaving_a_tag_out_is_checked_live(make_project):
    project = _classes(make_project, {"cat": 6, "dog": 6, "owl": 2})
    panel = TrainPanel(project)
    owl = project.get_tag("owl").id
    panel.set_state({"left_out": [owl]})  # as the browser's checkbox does
    assert panel.readiness["blockers"] == []
    assert {r["name"]: r["chosen"] for r in panel.readiness["per_tag"]} == {
        "cat": True, "dog": True, "owl": False}
    assert set(panel.chosen_tags()) == {project.get_tag("cat").id, project.get_tag("dog").id}
    panel.set_state({"left_out": [owl, project.get_tag("dog").id]})  # one tag left
    assert "at least 2 tags" in panel.readiness["blockers"][0]
    with pytest.raises(traitlets.TraitError, match="names no tag"):
        panel.left_out = ["no-such-tag"]
    project.delete_tag("owl")  # a tag left out and deleted meanwhile
    panel.refresh()
    assert panel.left_out == [project.get_tag("dog").id]


def test_the_tags_left_out_are_not_learnt(tmp_path_factory):
    project = trained_copy(tmp_path_factory, "left-out")
    panel = TrainPanel(project)
    out = [project.get_tag(name).id for name in ("0", "1")]
    panel.set_state({"left_out": out})
    assert panel.readiness["blockers"] == []
    panel.handle_message({"type": "train", "mode": "quick", "budget_minutes": 5.0,
                          "domain": panel.domain})
    assert panel.wait(timeout=600)
    assert panel.last_run["status"] == "done", panel.last_run
    assert sorted(t.name for t in project.iteration().tags) == [str(d) for d in range(2, 10)]


def test_the_time_left_never_passes_the_budget():
    assert time_left(70.0, 25.0, 60.0) == pytest.approx(35.0)  # 1 minute, 0:25 elapsed
    assert time_left(None, 25.0, 60.0) == pytest.approx(35.0)  # an upper bound at once
    assert time_left(10.0, 25.0, 60.0) == pytest.approx(10.0)
    assert time_left(5.0, 70.0, 60.0) == 0.0  # past the budget: finishing
    assert time_left(70.0, 25.0, None) == 70.0 and time_left(None, 1.0, None) is None


def test_progress_of_an_advanced_run_is_capped_by_its_budget(make_project):
    panel = TrainPanel(make_project(n=0))
    panel._budget_seconds = 60.0
    panel.state = "training"
    panel._on_progress({"stage": "fine-tune", "fraction": 0.26, "loss": 0.5,
                        "eta_seconds": 70.0, "elapsed_seconds": 25.0, "message": "epoch 1"})
    assert panel.progress["eta_seconds"] == pytest.approx(35.0)


def test_one_untagged_image_is_said_in_the_singular(make_project, png):
    project = _classes(make_project, {"cat": 6, "dog": 6})
    project.add_images([png(999)])
    panel = TrainPanel(project)
    assert "1 image is untagged and will not be used for training" in panel.readiness["warnings"]


# -- the uploader ----------------------------------------------------------------------------
def test_upload_results_speak_words_and_a_new_batch_clears_them(make_project, png):
    up = Uploader(make_project(n=0))
    up.add_file("good.png", png(1))
    up.add_file("empty.png", b"")
    rows = up.upload()
    assert [(r["status"], r["label"]) for r in rows] == [("OK", "Added"),
                                                         ("ErrorImageFormat", "Not an image")]
    assert rows[1]["message"]
    up.add_file("next.png", png(2))  # the first file of a new batch
    assert up.results == [] and up.progress == {"done": 0, "total": 0}
    assert up.staged == [{"name": "next.png", "size": len(png(2))}]


def test_detection_uploads_with_tags_name_the_tag_tab_in_the_workbench(make_project, png):
    up = Uploader(make_project("detection", n=0, tags=()))
    up.host = "workbench"
    up.add_file("a.png", png(1))
    up.handle_message({"type": "upload", "text": "", "tags": ["cat"]})
    assert up.notice["level"] == "error" and "in the Tag tab" in up.notice["text"]
    assert "BoxEditor" not in up.notice["text"]


# -- refresh ends the loading state ----------------------------------------------------------
def test_every_read_of_a_page_is_counted_even_when_nothing_changed(make_project):
    project = make_project(n=3)
    for widget in (Gallery(project), Predictions(project)):
        before = widget.loaded
        items = list(widget.items)
        widget.handle_message({"type": "refresh"})
        assert widget.items == items and widget.loaded == before + 1


# -- the detail view -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return trained_copy(tmp_path_factory, "detail")


def test_the_detail_of_an_image_has_its_tags_split_and_each_iterations_predictions(trained):
    it = trained.iteration()
    split = it.split()
    val = next(i for i, s in split.items() if s == "validation")
    train = next(i for i, s in split.items() if s == "train")
    g = Gallery(trained)
    g.handle_message({"type": "detail", "source": "image", "id": val})
    d = g.detail
    img = trained.image(val)
    assert d["id"] == val and d["source"] == "image" and d["src"].startswith("data:image/jpeg")
    assert d["tags"] == list(img.tag_ids) and d["split"] == "validation"
    (entry,) = d["iterations"]
    assert entry["id"] == it.id and entry["role"] == "validation"
    stored = next(r for r in it.validation_predictions() if r["image_id"] == val)["predictions"]
    best = max(stored, key=lambda p: p["probability"])
    assert entry["predictions"][0]["tag"] == best["tagId"]
    assert entry["predictions"][0]["probability"] == pytest.approx(best["probability"])
    probs = [p["probability"] for p in entry["predictions"]]
    assert probs == sorted(probs, reverse=True)
    g.show_detail(train)
    assert g.detail["iterations"][0]["role"] == "train"
    assert g.detail["iterations"][0]["predictions"] == []


def test_an_image_added_after_training_is_absent_from_the_iteration(trained, png):
    (result,) = trained.add_images([png(4242)])
    p = Performance(trained)
    p.show_detail(result.image_id)
    assert p.detail["iterations"][0]["role"] == "absent"
    assert p.detail["split"] in ("", "train", "validation")


def test_the_detail_of_a_stored_prediction_and_bad_requests(trained, png):
    it = trained.iteration()
    it.predict(png(77), store=True)
    pr = Predictions(trained)
    (item,) = pr.items
    pr.handle_message({"type": "detail", "source": "prediction", "id": item["id"]})
    d = pr.detail
    assert d["source"] == "prediction" and d["src"].startswith("data:image/jpeg")
    (entry,) = d["iterations"]
    assert entry["role"] == "stored" and entry["name"] == it.name and entry["predictions"]
    pr.handle_message({"type": "detail", "source": "image", "id": "no-such-image"})
    assert pr.notice["level"] == "error" and "no longer in the project" in pr.notice["text"]
    pr.handle_message({"type": "detail", "source": "thing", "id": item["id"]})
    assert pr.notice["level"] == "error" and "source" in pr.notice["text"]
    assert pr.detail["id"] == item["id"]  # a refused request leaves the view as it was
