"""Temperature scaling (cvbench.train._calibrate): fitted on validation, exact, honest."""

from __future__ import annotations

import numpy as np
import pytest

from cvbench.train._calibrate import (
    MIN_IMAGES,
    apply_temperature,
    calibrate,
    expected_calibration_error,
    fit_temperature,
)


def _overconfident(n: int, t: int, seed: int = 0, sharpen: float = 4.0):
    """Probabilities from logits that are ``sharpen`` times too large, and labels drawn from
    the true (unsharpened) probabilities."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, t)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(t, p=row) for row in p_true])
    y = np.eye(t, dtype=int)[labels]
    zs = z * sharpen
    return np.exp(zs) / np.exp(zs).sum(axis=1, keepdims=True), y


def test_the_temperature_undoes_over_confidence():
    probs, y = _overconfident(2000, 5)
    t = fit_temperature(probs, y, multilabel=False)
    assert t == pytest.approx(4.0, rel=0.15)
    before = expected_calibration_error(probs, y, False)
    after = expected_calibration_error(apply_temperature(probs, t, False), y, False)
    assert before > 0.15 and after < 0.05


def test_scaling_keeps_the_order_of_the_tags():
    probs, _ = _overconfident(300, 7)
    scaled = apply_temperature(probs, 3.0, False)
    assert np.array_equal(np.argsort(probs, axis=1), np.argsort(scaled, axis=1))
    assert np.allclose(scaled.sum(axis=1), 1.0)
    assert np.allclose(apply_temperature(probs, 1.0, False), probs, atol=1e-9)


def test_multilabel_scales_every_sigmoid():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(800, 3)) * 2
    y = (rng.random((800, 3)) < 1 / (1 + np.exp(-z))).astype(int)
    probs = 1 / (1 + np.exp(-3 * z))
    cal = calibrate(probs, y, multilabel=True)
    assert cal.applied and cal.temperature == pytest.approx(3.0, rel=0.2)
    assert cal.ece_after_cross_fitted < cal.ece_before


def test_calibrate_reports_honestly_and_declines_when_it_cannot_help():
    probs, y = _overconfident(400, 4)
    cal = calibrate(probs, y, multilabel=False)
    assert cal.applied and cal.temperature > 1 and "over-confident" in cal.why
    assert cal.nll_after < cal.nll_before
    assert cal.ece_after_cross_fitted < cal.ece_before
    # already calibrated probabilities: a temperature near 1 that hardly lowers the loss
    good, y2 = _overconfident(400, 4, sharpen=1.0)
    cal = calibrate(good, y2, multilabel=False)
    assert cal.temperature == pytest.approx(1.0, abs=0.25)
    few = calibrate(probs[: MIN_IMAGES - 1], y[: MIN_IMAGES - 1], multilabel=False)
    assert not few.applied and few.temperature == 1.0 and "fewer than" in few.why
    assert set(few.to_dict()) >= {"temperature", "applied", "why", "ece_before"}


def test_the_reliability_curve_of_an_evaluation():
    import matplotlib

    matplotlib.use("Agg")
    from cvbench.evaluate import ClassificationEvaluation, ReliabilityDisplay, calibration_curve

    probs, y = _overconfident(1000, 4)
    ev = ClassificationEvaluation.from_scores(y, probs, list("abcd"), multilabel=False)
    curve = ev.calibration(bins=10)
    assert curve.n == 1000 and len(curve.confidence) == 10
    filled = curve.count > 0
    # over-confident: right less often than the confidence says, in the bins that matter
    gaps = (curve.confidence - curve.accuracy)[filled]
    assert np.average(gaps, weights=curve.count[filled]) > 0.1
    assert curve.ece == pytest.approx(expected_calibration_error(probs, y, False))
    d = curve.to_dict()
    assert len(d["edges"]) == 11 and sum(d["count"]) == 1000
    assert all(v is None or 0 <= v <= 1 for v in d["accuracy"])
    disp = ReliabilityDisplay.from_evaluation(ev).plot()
    assert "ECE" in disp.ax_.get_title() and len(disp.bars_) == int(filled.sum())
    with pytest.raises(ValueError, match="same"):
        calibration_curve(probs, y[:10], multilabel=False)
    with pytest.raises(ValueError, match="bins"):
        ev.calibration(bins=0)
    empty = calibration_curve(np.zeros((0, 3)), np.zeros((0, 3)), multilabel=True)
    assert empty.n == 0 and np.isnan(empty.ece)


def test_a_separable_validation_set_does_not_make_it_certain():
    # every validation image right with a margin: the likelihood alone would push T to 0
    probs = np.array([[0.8, 0.2], [0.3, 0.7]] * 20)
    y = np.array([[1, 0], [0, 1]] * 20)
    cal = calibrate(probs, y, multilabel=False)
    assert cal.temperature == pytest.approx(0.5, abs=0.01)
    scaled = apply_temperature(probs, cal.temperature, False)
    assert scaled.max() < 0.99


def test_too_few_images_per_tag_are_not_fitted():
    probs, y = _overconfident(35, 12)  # 35 images of 12 tags: fewer than 3 per tag
    cal = calibrate(probs, y, multilabel=False)
    assert not cal.applied and "fewer than 36" in cal.why
