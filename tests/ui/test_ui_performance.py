"""Performance, driven as its front end drives it: slider moves, clicks on wrong images."""

from __future__ import annotations

import base64
import io
import time

import pytest
import traitlets
from _ui_trained import trained_copy, trained_detection
from PIL import Image

from cvbench.ui import Performance
from cvbench.ui._assets import TAG_PALETTE
from cvbench.ui.performance import BOX_COLORS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "performance")


def png_size(src: str) -> tuple[int, int]:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


def test_numbers_follow_the_threshold_as_the_iteration_computes_them(project):
    perf = Performance(project, plot_delay=60)  # figures wait; the numbers do not
    it = project.iteration()
    assert perf.iteration == it.id and [o["id"] for o in perf.iterations] == [it.id]
    for threshold in (0.5, 0.2, 0.9, 0.0, 1.0):
        perf.set_state({"threshold": threshold})
        want = it.performance(threshold)
        m = perf.metrics
        assert m["threshold"] == threshold
        assert m["precision"] == pytest.approx(want.precision)
        assert m["recall"] == pytest.approx(want.recall)
        assert m["map"] == pytest.approx(want.average_precision)
        table = {r["tag"]: r for r in m["per_tag"]}
        for row in want.per_tag.to_dict("records"):
            assert table[row["tag"]]["n_correct"] == row["n_correct"]
            assert table[row["tag"]]["recall"] == pytest.approx(row["recall"], nan_ok=True)
    suggested = it.performance().suggested_thresholds()
    assert m["suggested"] == pytest.approx(suggested.overall)
    assert {r["tag"]: r["suggested"] for r in m["per_tag"]} == pytest.approx(suggested.per_tag)
    with pytest.raises(traitlets.TraitError, match="between 0 and 1"):
        perf.threshold = 1.5
    with pytest.raises(traitlets.TraitError, match="not an iteration id"):
        perf.iteration = "nope"


def test_a_slider_move_costs_a_fraction_of_opening_the_widget(project):
    start = time.perf_counter()
    perf = Performance(project, plot_delay=60)
    opened = time.perf_counter() - start
    moves = [i / 200 for i in range(201)]
    start = time.perf_counter()
    for v in moves:
        perf.set_state({"threshold": v})
    per_move = (time.perf_counter() - start) / len(moves)
    # a move recomputes the figures from cached scores, no plot, no store read
    # (benchmarks/bench_ui.py measures it against the frame budget)
    assert per_move < opened / 10, f"{1000 * per_move:.1f} ms per move, {opened:.2f} s to open"
    assert perf.metrics["threshold"] == 1.0


def test_figures_and_mistakes_follow_the_threshold_after_the_slider_stops(project):
    perf = Performance(project, plot_delay=60)
    pr = perf.pr_plot
    width, height = png_size(pr["src"])
    rows = -(-len(pr["colors"]) // 4)  # the legend below: four tags a row
    assert width == 560 and height == pytest.approx(420 + 22 * rows + 10, abs=2)
    x0, y0, x1, y1 = pr["axes"]
    assert 0 < x0 < x1 < 1 and 0 < y0 < y1 < 1
    assert set(pr["colors"]) == {r["tag"] for r in perf.metrics["per_tag"] if r["n_true"]}
    palette = TAG_PALETTE  # the curves have the tags' colours in every widget
    assert len(palette) == 20
    for tag in perf.tags:  # by slot: the order the tags were created in
        assert pr["colors"][tag["name"]] == palette[tag["slot"] % 20]
    first_cm = perf.cm_plot
    assert png_size(first_cm)[0] > 300
    assert perf.plotted == {"threshold": 0.5, "overlap": 0.5}
    # a threshold at which the confusion matrix differs from the one at 0.5
    ev = perf.evaluation
    at_half = ev.confusion_matrix(0.5).matrix.tolist()
    other = next(x for x in (0.12, 0.3, 0.7, 0.9, 0.97, 0.99, 0.999)
                 if ev.confusion_matrix(x).matrix.tolist() != at_half)
    perf.set_state({"threshold": 0.1})
    perf.set_state({"threshold": other})
    assert perf.cm_plot == first_cm and perf.plotted["threshold"] == 0.5  # not yet
    perf.flush()  # what the timer does when the slider has stopped
    assert perf.plotted["threshold"] == other and perf.cm_plot != first_cm
    assert perf.pr_plot is pr  # the curves do not depend on the threshold
    want = perf.evaluation.mistakes(other, top=perf.max_mistakes)
    assert [m["image_id"] for m in perf.mistakes] == list(want["image_id"])
    quick = Performance(project, plot_delay=0.05)
    quick.set_state({"threshold": 0.3})
    deadline = time.monotonic() + 30
    while quick.plotted.get("threshold") != 0.3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert quick.plotted["threshold"] == 0.3


def test_clicking_a_wrong_image_retags_it(project):
    perf = Performance(project, plot_delay=60)
    wrong = perf.mistakes[0]
    assert wrong["src"].startswith("data:image/jpeg;base64,") and wrong["detail"]
    tags = {t["name"]: t["id"] for t in perf.tags}
    true_id = wrong["true_tags"][0]
    other = next(i for i in tags.values() if i != true_id)
    perf.handle_message({"type": "retag", "image_id": wrong["image_id"], "tags": [other]})
    assert project.image(wrong["image_id"]).tag_ids == (other,)
    shown = next(m for m in perf.mistakes if m["image_id"] == wrong["image_id"])
    assert shown["current_tags"] == [other] and shown["true_tags"] == [true_id]
    assert perf.notice["level"] == "success"
    perf.handle_message({"type": "retag", "image_id": wrong["image_id"], "tags": [true_id, other]})
    assert perf.notice["level"] == "error" and "one tag" in perf.notice["text"]
    perf.retag(wrong["image_id"], [true_id])  # put it back
    assert project.image(wrong["image_id"]).tag_ids == (true_id,)


def test_open_image_goes_to_the_registered_editor(project):
    perf = Performance(project, plot_delay=60)
    perf.handle_message({"type": "open_image", "image_id": "x"})
    assert perf.notice["level"] == "error" and "BoxEditor" in perf.notice["text"]
    opened: list[str] = []
    perf.on_open_image(opened.append)
    perf.handle_message({"type": "open_image", "image_id": perf.mistakes[0]["image_id"]})
    assert opened == [perf.mistakes[0]["image_id"]]


def test_a_project_without_iterations_shows_nothing_to_evaluate(make_project):
    perf = Performance(make_project(n=2))
    assert perf.iteration == "" and perf.metrics == {} and perf.mistakes == []
    assert perf.pr_plot == {} and perf.cm_plot == ""


def test_detection_has_an_overlap_slider_and_shows_the_boxes_of_wrong_images(tmp_path_factory):
    project = trained_detection(tmp_path_factory, "performance-detection")
    perf = Performance(project, plot_delay=60)
    it = project.iteration()
    assert perf.metrics["overlap"] == 0.5 and perf.metrics["coco_map"] is not None
    perf.set_state({"threshold": 0.3, "overlap": 0.7})
    want = it.performance(0.3, overlap=0.7)
    assert perf.metrics["precision"] == pytest.approx(want.precision)
    assert perf.metrics["recall"] == pytest.approx(want.recall)
    assert perf.metrics["map"] == pytest.approx(want.average_precision)
    assert perf.pr_plot["overlap"] == 0.5  # redrawn when the slider stops
    perf.flush()
    assert perf.pr_plot["overlap"] == 0.7 and perf.plotted == {"threshold": 0.3, "overlap": 0.7}
    assert perf.cm_plot == ""  # no confusion matrix for boxes
    frame = it.evaluation().mistakes(0.3, 0.7, top=perf.max_mistakes)
    assert [m["image_id"] for m in perf.mistakes] == list(frame["image_id"])
    boxes = [b for m in perf.mistakes for b in m["boxes"]]
    assert boxes and all(0 <= b["left"] <= 1 and b["width"] > 0 for b in boxes)
    assert {b["color"] for b in boxes} <= set(BOX_COLORS.values())
    image_id = perf.mistakes[0]["image_id"]
    perf.handle_message({"type": "retag", "image_id": image_id, "tags": []})
    assert perf.notice["level"] == "error" and "box editor" in perf.notice["text"]


def test_the_calibration_card_shows_the_reliability_diagram(project):
    perf = Performance(project, plot_delay=60)
    c = perf.calibration
    assert c["src"].startswith("data:image/png;base64,") and png_size(c["src"])[0] > 300
    it = project.iteration(perf.iteration)
    curve = it.evaluation().calibration()
    assert c["ece"] == pytest.approx(curve.ece) and c["n"] == curve.n
    cal = it.settings["notes"].get("calibration") or {}
    assert c["temperature"] == (cal.get("temperature") if cal.get("applied") else None)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """Three iterations: two multiclass ones (the second with a weak head, so it breaks
    images the first got right) and a multilabel one (the project switched kinds)."""
    project = trained_copy(tmp_path_factory, "performance-compare")
    first = project.iteration()
    second = project.train("quick", progress_bar=False,
                           settings={"C": 0.001, "calibrate": False})
    project.set_kind("multilabel")
    third = project.train("quick", progress_bar=False)
    project.set_kind("multiclass")
    yield {"project": project, "first": first, "second": second, "third": third}
    project.close()


def test_compare_with_shows_both_iterations_and_follows_the_threshold(compared):
    first, second = compared["first"], compared["second"]
    perf = Performance(compared["project"], iteration=second.id, plot_delay=60)
    # the other iterations of the same kind only: not the multilabel one, not itself
    assert [o["id"] for o in perf.compare_options] == [first.id]
    assert perf.compare_with == "" and perf.comparison == {}
    perf.set_state({"compare_with": first.id})  # as the picker sets it
    c = perf.comparison
    want = second.compare(first, 0.5)
    assert (c["this"], c["other"], c["this_id"], c["other_id"]) == (
        second.name, first.name, second.id, first.id)
    assert c["error"] == "" and c["threshold"] == 0.5 and c["overlap"] is None
    assert [r["tag"] for r in c["per_tag"]] == list(want.per_tag["tag"])
    for row, expected in zip(c["per_tag"], want.per_tag.to_dict("records"), strict=True):
        for key in ("precision_this", "precision_other", "precision_diff", "recall_diff",
                    "ap_this", "ap_other", "ap_diff"):
            assert row[key] == pytest.approx(expected[key], nan_ok=True), key
    assert c["totals"]["this"]["map"] == pytest.approx(want.totals["this"]["map"])
    assert (c["n_fixed"], c["n_broken"]) == (len(want.fixed), len(want.broken))
    assert c["n_fixed"] + c["n_broken"] > 0  # the weak head changed some outcomes
    assert [i["id"] for i in c["fixed"] + c["broken"]] == want.fixed[:24] + want.broken[:24]
    assert all(i["src"].startswith("data:image/") for i in c["fixed"] + c["broken"])
    assert png_size(c["plot"])[0] >= 400

    # the threshold: the comparison follows when the slider stops, the figure is kept
    perf.set_state({"threshold": 0.3})
    assert perf.comparison["threshold"] == 0.5
    perf.flush()
    c3, want3 = perf.comparison, second.compare(first, 0.3)
    assert c3["threshold"] == 0.3 and c3["plot"] == c["plot"]
    assert c3["totals"]["this"]["recall"] == pytest.approx(want3.totals["this"]["recall"])
    assert (c3["n_fixed"], c3["n_broken"]) == (len(want3.fixed), len(want3.broken))

    # a broken or fixed image opens in the detail view, with both iterations' predictions
    image_id = (c3["broken"] or c3["fixed"])[0]["id"]
    perf.handle_message({"type": "detail", "source": "image", "id": image_id})
    roles = {i["id"]: i["role"] for i in perf.detail["iterations"]}
    assert perf.detail["id"] == image_id
    assert roles[first.id] == roles[second.id] == "validation"

    # another iteration shown: the comparison follows it, or goes when it was the other one
    perf.set_state({"iteration": first.id})
    assert [o["id"] for o in perf.compare_options] == [second.id]
    assert perf.compare_with == "" and perf.comparison == {}
    perf.compare(second.name)
    assert perf.comparison["this"] == first.name and perf.comparison["other"] == second.name

    # clearing the picker hides it
    perf.set_state({"compare_with": ""})
    assert perf.comparison == {}
    perf.compare(second.id)
    perf.compare(None)
    assert perf.compare_with == "" and perf.comparison == {}


def test_compare_with_refuses_another_kind_itself_and_unknown_ids(compared):
    first, second, third = compared["first"], compared["second"], compared["third"]
    perf = Performance(compared["project"], iteration=second.id, plot_delay=60)
    perf.compare(first.id)
    shown = perf.comparison
    with pytest.raises(traitlets.TraitError, match="is a multilabel iteration and .* a "
                       "multiclass one: iterations of one kind compare; pick one of"):
        perf.set_state({"compare_with": third.id})
    with pytest.raises(ValueError, match="iterations of one kind compare"):
        perf.compare(third.name)
    with pytest.raises(traitlets.TraitError, match="the iteration shown"):
        perf.compare_with = second.id
    with pytest.raises(traitlets.TraitError, match="not an iteration id of this project"):
        perf.compare_with = "nope"
    assert perf.compare_with == first.id and perf.comparison is shown  # nothing changed
    # the multilabel iteration compares with none: the project has no other of its kind
    perf.set_state({"iteration": third.id})
    assert perf.compare_options == [] and perf.comparison == {}
    with pytest.raises(traitlets.TraitError, match="train another multilabel iteration"):
        perf.compare_with = first.id


def test_a_single_iteration_has_nothing_to_compare_with(project):
    perf = Performance(project, plot_delay=60)
    assert len(perf.iterations) == 1 and perf.compare_options == []
    with pytest.raises(traitlets.TraitError, match="the iteration shown"):
        perf.compare_with = perf.iteration
