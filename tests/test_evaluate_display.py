"""Displays: compute apart from plot; one PNG of each."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from PIL import Image

from cvbench.evaluate import (
    ClassificationEvaluation,
    ConfusionMatrixDisplay,
    DetectionEvaluation,
    DetectionResultsDisplay,
    PrecisionRecallDisplay,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def classification(multilabel: bool) -> ClassificationEvaluation:
    rng = np.random.default_rng(0)
    if multilabel:
        y = (rng.random((40, 4)) < 0.3).astype(int)
        s = np.clip(0.5 * y + 0.6 * rng.random((40, 4)), 0, 1)
    else:
        y = np.eye(4, dtype=int)[rng.integers(0, 4, 40)]
        logits = rng.normal(size=(40, 4)) + 2 * y
        s = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ClassificationEvaluation.from_scores(
        y, s, ["Negative", "cat", "dog", "bird"], multilabel=multilabel, negative_index=0
    )


def detection() -> DetectionEvaluation:
    gt = [[(0, (0.1, 0.1, 0.3, 0.4)), (1, (0.5, 0.5, 0.4, 0.3))], [(0, (0.2, 0.2, 0.5, 0.5))]]
    pred = [
        [
            (0, 0.9, (0.12, 0.1, 0.3, 0.4)),
            (1, 0.6, (0.0, 0.6, 0.2, 0.2)),
            (1, 0.3, (0.5, 0.5, 0.4, 0.3)),
        ],
        [(0, 0.8, (0.2, 0.25, 0.5, 0.45)), (0, 0.2, (0.6, 0.6, 0.1, 0.1))],
    ]
    return DetectionEvaluation.from_predictions(gt, pred, ["cat", "dog"], image_ids=["a", "b"])


def check_png(disp, tmp_path, name):
    assert disp.figure_ is disp.ax_.figure
    path = tmp_path / f"{name}.png"
    disp.figure_.savefig(path)
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.size[0] > 100 and im.size[1] > 100


def test_importing_evaluate_does_not_import_matplotlib():
    code = (
        "import sys, numpy as np\n"
        "import cvbench.evaluate as e\n"
        "ev = e.ClassificationEvaluation.from_scores([[1, 0]], [[0.7, 0.3]], ['a', 'b'], multilabel=False)\n"
        "e.PrecisionRecallDisplay.from_evaluation(ev)\n"
        "e.ConfusionMatrixDisplay.from_evaluation(ev)\n"
        "d = e.DetectionEvaluation.from_predictions([[(0, (0, 0, .5, .5))]], [[(0, .9, (0, 0, .5, .5))]], ['a'])\n"
        "d.at()\n"
        "e.DetectionResultsDisplay.from_evaluation(d, np.zeros((8, 8, 3), np.uint8), 0)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'torch'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("multilabel", [False, True])
def test_precision_recall_display_classification(tmp_path, multilabel):
    ev = classification(multilabel)
    disp = PrecisionRecallDisplay.from_evaluation(ev, threshold=0.5)
    assert [c.tag for c in disp.curves] == ["Negative", "cat", "dog", "bird"]
    assert set(disp.operating_points) == {"Negative", "cat", "dog", "bird"}
    assert disp.plot() is disp
    assert len(disp.lines_) == 4
    check_png(disp, tmp_path, f"pr-{multilabel}")


def test_precision_recall_display_detection_on_given_axes(tmp_path):
    fig, ax = plt.subplots()
    disp = PrecisionRecallDisplay.from_evaluation(detection(), tags=["cat"], overlap=0.5).plot(
        ax=ax
    )
    assert disp.ax_ is ax and len(disp.lines_) == 1
    check_png(disp, tmp_path, "pr-detection")


@pytest.mark.parametrize("multilabel", [False, True])
def test_confusion_matrix_display(tmp_path, multilabel):
    ev = classification(multilabel)
    disp = ConfusionMatrixDisplay.from_evaluation(ev, threshold=0.5).plot()
    table = disp.im_.get_array()
    if multilabel:
        assert table.shape == (4, 4)  # tags x (TP, FN, FP, TN)
    else:
        assert table.shape == (4, 5)  # true tags x (predicted tags + "(none)")
        assert disp.ax_.get_xticklabels()[-1].get_text() == "(none)"
    assert disp.text_.shape == table.shape
    check_png(disp, tmp_path, f"cm-{multilabel}")


@pytest.mark.parametrize("as_pil", [True, False])
def test_detection_results_display(tmp_path, as_pil):
    ev = detection()
    pixels = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(pixels) if as_pil else pixels
    disp = DetectionResultsDisplay.from_evaluation(ev, image, 0, threshold=0.5, overlap=0.5)
    assert len(disp.result.true_positives) == 1
    assert len(disp.result.false_positives) == 1
    assert len(disp.result.misses) == 1
    disp.plot()
    assert len(disp.patches_) == 4  # found true box, missed true box, two predictions
    # boxes land in pixels of the image as displayed: the true positive at (0.12, 0.1)
    xs = sorted(round(p.get_x()) for p in disp.patches_)
    assert round(0.12 * 160) in xs
    check_png(disp, tmp_path, f"det-{as_pil}")


def test_displays_refuse_the_wrong_evaluation():
    with pytest.raises(TypeError, match="needs a ClassificationEvaluation"):
        ConfusionMatrixDisplay.from_evaluation(detection())
    with pytest.raises(TypeError, match="needs a DetectionEvaluation"):
        DetectionResultsDisplay.from_evaluation(classification(False), np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="valid tags"):
        PrecisionRecallDisplay.from_evaluation(detection(), tags=["horse"])
    with pytest.raises(ValueError, match="PIL image"):
        DetectionResultsDisplay(np.zeros(5), detection().per_image()[0])


def many_tags(n_tags: int = 10) -> ClassificationEvaluation:
    rng = np.random.default_rng(1)
    y = np.eye(n_tags, dtype=int)[rng.integers(0, n_tags, 200)]
    logits = rng.normal(size=(200, n_tags)) + np.linspace(0.5, 3, n_tags) * y
    s = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ClassificationEvaluation.from_scores(y, s, [f"t{i}" for i in range(n_tags)],
                                                multilabel=False)


def test_many_tags_are_drawn_as_small_multiples(tmp_path):
    disp = PrecisionRecallDisplay.from_evaluation(many_tags(10), threshold=0.5).plot()
    visible = [a for a in disp.axes_ if a.get_visible()]
    assert len(visible) == 10 and len(disp.lines_) == 10
    assert all("AP" in a.get_title() for a in visible)  # each plot names its tag and AP
    check_png(disp, tmp_path, "pr-grid")
    with pytest.raises(ValueError, match="leave ax out"):
        disp.plot(ax=plt.subplots()[1], layout="grid")


def test_overlaid_curves_keep_the_legend_off_the_curves_and_their_colours_apart():
    disp = PrecisionRecallDisplay.from_evaluation(many_tags(11), threshold=0.5).plot(
        layout="overlay")
    colors = {tuple(line.get_color()) for line in disp.lines_}
    assert len(colors) == 11
    legend = disp.ax_.get_legend()
    disp.figure_.canvas.draw()
    box = legend.get_window_extent()
    axes = disp.ax_.get_window_extent()
    assert box.x0 >= axes.x1  # beside the plot, not over it


def test_worst_tags_are_the_ones_with_the_lowest_ap():
    ev = many_tags(10)
    disp = PrecisionRecallDisplay.from_evaluation(ev, worst=3)
    aps = dict(zip(ev.tag_names, ev.ap, strict=True))
    lowest = sorted(aps, key=aps.get)[:3]
    assert sorted(c.tag for c in disp.curves) == sorted(lowest)
    assert "lowest AP" in disp.title
    with pytest.raises(ValueError, match="number of tags"):
        PrecisionRecallDisplay.from_evaluation(ev, worst=0)


def test_detection_results_title_says_what_was_found_not_an_id():
    disp = DetectionResultsDisplay.from_evaluation(detection(), np.zeros((60, 80, 3), np.uint8),
                                                   0).plot()
    assert "a:" not in disp.ax_.get_title() and "1 correct" in disp.ax_.get_title()
    disp.figure_.canvas.draw()
    assert disp.ax_.get_legend().get_window_extent().y1 <= disp.ax_.get_window_extent().y0 + 1
    titled = DetectionResultsDisplay.from_evaluation(detection(), np.zeros((60, 80, 3),
                                                     np.uint8), 0).plot(title="scene 7")
    assert titled.ax_.get_title().startswith("scene 7, threshold")
