"""Temperature scaling: probabilities that mean what they say.

A classifier trained to separate its tags is often over-confident: of the images it calls
"1" at 94 %, fewer than 94 % are 1s. Temperature scaling (Guo et al., 2017, "On
Calibration of Modern Neural Networks") divides the logits by one number ``T`` fitted on
the validation images (the negative log-likelihood is minimised), which leaves the order of
the tags for every image, so the accuracy and the average precision, unchanged. Because
the model's last layer is linear, dividing its weight and bias by ``T`` *is* the scaled
model: exported graphs and the app give the calibrated probabilities with no extra step.

Fitted and judged on the same images the improvement would flatter itself, so the
expected calibration error after scaling is also measured by two-fold cross-fitting (``T``
fitted on one half of the validation images, the error read on the other half, and back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Calibration", "fit_temperature", "apply_temperature", "expected_calibration_error",
           "calibrate", "MIN_IMAGES"]

#: Fewer validation images than this, or fewer than :data:`MIN_PER_TAG` per tag: too few
#: to fit a temperature (on 20 images of 10 tags it swings from 2 to 7); none is fitted.
MIN_IMAGES = 30
MIN_PER_TAG = 3
#: The temperatures searched (log-uniform bounds). Sharpening stops at 2x: on validation
#: images the model separates perfectly, the likelihood grows without end as T goes to 0,
#: and probabilities of exactly 0 and 1 would claim a certainty no validation set shows.
T_RANGE = (0.5, 20.0)
_EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """What temperature scaling found (``applied`` False: the model was left as it was)."""

    temperature: float
    applied: bool
    why: str
    nll_before: float
    nll_after: float
    ece_before: float
    #: the error after scaling, with T fitted on the other half of the images
    ece_after_cross_fitted: float
    images: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _labels(y: Any, probs: np.ndarray) -> np.ndarray:
    """0/1 images x tags, from that or (multiclass) from one tag index per image."""
    y = np.asarray(y)
    if y.ndim == 1:
        return np.eye(probs.shape[1], dtype=np.int8)[y.astype(int)]
    return y


def _logits(probs: np.ndarray, multilabel: bool) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p)) if multilabel else np.log(p)


def apply_temperature(probs: np.ndarray, temperature: float, multilabel: bool) -> np.ndarray:
    """The probabilities the model gives once its logits are divided by ``temperature``
    (exact: a softmax's log-probabilities are its logits less a constant per image)."""
    z = _logits(probs, multilabel) / float(temperature)
    if multilabel:
        return 1.0 / (1.0 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _nll(probs: np.ndarray, y: np.ndarray, multilabel: bool) -> float:
    p = np.clip(probs, _EPS, 1 - _EPS)
    if multilabel:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(y)), np.argmax(y, axis=1)])))


def fit_temperature(probs: np.ndarray, y: np.ndarray, multilabel: bool) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` (0/1, images x
    tags, or one tag index per image) under ``probs`` (bounded search over :data:`T_RANGE`, in log space)."""
    from scipy.optimize import minimize_scalar

    y = _labels(y, probs)

    res = minimize_scalar(
        lambda log_t: _nll(apply_temperature(probs, float(np.exp(log_t)), multilabel), y,
                           multilabel),
        bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(res.x))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, multilabel: bool,
                               bins: int = 10) -> float:
    """ECE of ``probs`` against ``y`` (:func:`cvbench.evaluate.calibration_curve`)."""
    from ..evaluate import calibration_curve

    probs = np.asarray(probs, dtype=np.float64)
    return calibration_curve(probs, _labels(y, probs), multilabel=multilabel, bins=bins).ece


def calibrate(probs: np.ndarray, y: np.ndarray, multilabel: bool, *, seed: int = 0
              ) -> Calibration:
    """Fit a temperature on the validation probabilities ``probs`` (of the images whose
    tags are ``y``) and say whether to apply it: only with :data:`MIN_IMAGES` images or
    more (and :data:`MIN_PER_TAG` per tag), and only when it lowers the negative
    log-likelihood."""
    probs = np.asarray(probs, dtype=np.float64)
    y = _labels(y, probs)
    n = len(probs)
    nll0 = _nll(probs, y, multilabel) if n else float("nan")
    ece0 = expected_calibration_error(probs, y, multilabel) if n else float("nan")
    need = max(MIN_IMAGES, MIN_PER_TAG * probs.shape[1]) if probs.ndim == 2 else MIN_IMAGES
    if n < need:
        return Calibration(1.0, False, f"not fitted: {n} validation images, fewer than "
                           f"{need}", nll0, nll0, ece0, ece0, n)
    t = fit_temperature(probs, y, multilabel)
    scaled = apply_temperature(probs, t, multilabel)
    nll1 = _nll(scaled, y, multilabel)
    # the honest error after scaling: each half scaled by the temperature of the other half
    order = np.random.default_rng(seed).permutation(n)
    halves = (order[: n // 2], order[n // 2:])
    crossed = np.empty_like(probs)
    for fit_on, judge in (halves, halves[::-1]):
        t_half = fit_temperature(probs[fit_on], y[fit_on], multilabel)
        crossed[judge] = apply_temperature(probs[judge], t_half, multilabel)
    ece1 = expected_calibration_error(crossed, y, multilabel)
    if not nll1 < nll0 - 1e-4:
        return Calibration(t, False, "not applied: it did not lower the validation loss",
                           nll0, nll1, ece0, ece1, n)
    side = "over-confident" if t > 1 else "under-confident"
    return Calibration(t, True, f"the model was {side}: logits divided by {t:.2f}", nll0,
                       nll1, ece0, ece1, n)
