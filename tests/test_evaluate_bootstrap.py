"""Bootstrap intervals: with all weights one they give the evaluation's own numbers; with
integer weights, the numbers of the evaluation of the images repeated that many times."""

from __future__ import annotations

import numpy as np
import pytest

from cvbench.evaluate import ClassificationEvaluation, DetectionEvaluation, bootstrap_intervals
from cvbench.evaluate._bootstrap import metric_draws

TAGS = ("a", "b", "c")


def _classification(rng, n=40, multilabel=False):
    if multilabel:
        y = rng.random((n, 3)) < 0.4
    else:
        y = np.eye(3, dtype=bool)[rng.integers(0, 3, n)]
    s = np.clip(y * 0.5 + rng.random((n, 3)) * 0.6, 0, 1)
    if not multilabel:
        s = s / s.sum(1, keepdims=True)
    return y, s


def _detection(rng, n=30):
    gt, pr = [], []
    for _ in range(n):
        g = [(int(rng.integers(0, 3)), (float(rng.random() * 0.5), float(rng.random() * 0.5),
                                         0.3, 0.3)) for _ in range(int(rng.integers(0, 4)))]
        p = []
        for tag, (x, y, w, h) in g:
            if rng.random() < 0.8:
                jit = 0.1 * rng.random()
                p.append((tag if rng.random() < 0.85 else (tag + 1) % 3, float(rng.random()),
                          (x + jit, y, w, h)))
        for _ in range(int(rng.integers(0, 3))):  # false alarms
            p.append((int(rng.integers(0, 3)), float(rng.random()),
                      (float(rng.random() * 0.6), float(rng.random() * 0.6), 0.2, 0.2)))
        gt.append(g)
        pr.append(p)
    return gt, pr


@pytest.mark.parametrize("multilabel", [False, True])
@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_classification_draws_match_the_evaluation_of_repeated_images(multilabel, threshold):
    rng = np.random.default_rng(int(threshold * 10) + multilabel)
    y, s = _classification(rng, multilabel=multilabel)
    ev = ClassificationEvaluation.from_scores(y, s, TAGS, multilabel=multilabel)
    own = metric_draws(ev, threshold)
    at = ev.at(threshold)
    assert own["precision"][0] == pytest.approx(at.precision)
    assert own["recall"][0] == pytest.approx(at.recall)
    assert own["f1"][0] == pytest.approx(at.f1)
    assert own["map"][0] == pytest.approx(at.map)
    w = rng.integers(0, 4, size=(5, len(y))).astype(float)
    draws = metric_draws(ev, threshold, weights=w)
    for b in range(w.shape[0]):
        rep = np.repeat(np.arange(len(y)), w[b].astype(int))
        again = ClassificationEvaluation.from_scores(y[rep], s[rep], TAGS,
                                                     multilabel=multilabel).at(threshold)
        assert draws["precision"][b] == pytest.approx(again.precision)
        assert draws["recall"][b] == pytest.approx(again.recall)
        assert draws["map"][b] == pytest.approx(again.map, nan_ok=True)


@pytest.mark.parametrize("threshold, overlap", [(0.3, 0.5), (0.6, 0.3)])
def test_detection_draws_match_the_evaluation_of_repeated_images(threshold, overlap):
    rng = np.random.default_rng(7)
    gt, pr = _detection(rng)
    ev = DetectionEvaluation.from_predictions(gt, pr, TAGS)
    own = metric_draws(ev, threshold, overlap)
    at = ev.at(threshold, overlap)
    for name, value in (("precision", at.precision), ("recall", at.recall), ("map", at.map)):
        assert own[name][0] == pytest.approx(value), name
    w = rng.integers(0, 3, size=(4, len(gt))).astype(float)
    draws = metric_draws(ev, threshold, overlap, weights=w)
    for b in range(w.shape[0]):
        rep = np.repeat(np.arange(len(gt)), w[b].astype(int))
        again = DetectionEvaluation.from_predictions([gt[i] for i in rep], [pr[i] for i in rep],
                                                     TAGS).at(threshold, overlap)
        assert draws["precision"][b] == pytest.approx(again.precision)
        assert draws["recall"][b] == pytest.approx(again.recall)
        assert draws["map"][b] == pytest.approx(again.map)


def test_intervals_hold_the_value_and_narrow_with_more_images():
    rng = np.random.default_rng(3)
    widths = []
    for n in (12, 300):
        y, s = _classification(rng, n=n)
        ev = ClassificationEvaluation.from_scores(y, s, TAGS, multilabel=False)
        iv = bootstrap_intervals(ev, 0.5, resamples=400, seed=1)
        for name in ("precision", "recall", "f1", "map"):
            assert iv[name].low <= iv[name].value <= iv[name].high, (n, name, iv[name])
        assert iv["precision"].n_images == n and "interval" in str(iv["precision"])
        widths.append(iv["recall"].width)
    assert widths[1] < widths[0] / 2
    again = bootstrap_intervals(ev, 0.5, resamples=400, seed=1)
    assert again["map"] == iv["map"]  # repeatable with a seed


def test_bad_arguments_say_what_to_give():
    y, s = _classification(np.random.default_rng(0))
    ev = ClassificationEvaluation.from_scores(y, s, TAGS, multilabel=False)
    with pytest.raises(ValueError, match="between 0 and 1"):
        bootstrap_intervals(ev, level=95)
    with pytest.raises(ValueError, match="at least 10"):
        bootstrap_intervals(ev, resamples=3)
