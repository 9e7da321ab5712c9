"""Calibration: do the probabilities mean what they say?

Of the images a model calls a tag at 90 %, about 90 % should be that tag. The reliability
curve bins the predictions by confidence and sets each bin's mean confidence against how
often those predictions were right; the expected calibration error (ECE) is the gap,
weighted by the bins' shares (Naeini et al., 2015; Guo et al., 2017). Multiclass: the top
tag's probability against whether the top tag is right. Multilabel: every (image, tag)
probability against that tag's truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CalibrationCurve", "calibration_curve"]


@dataclass(frozen=True)
class CalibrationCurve:
    """Equal-width confidence bins: ``edges`` (bins + 1), and per bin the mean
    ``confidence``, the share ``accuracy`` of right predictions and the ``count`` (NaN
    where a bin is empty); ``ece`` the expected calibration error; ``multilabel`` says what
    a prediction is (module docstring)."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    ece: float
    multilabel: bool

    @property
    def n(self) -> int:
        """Predictions binned."""
        return int(self.count.sum())

    def to_dict(self) -> dict[str, Any]:
        def nums(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(x) else round(float(x), 4) for x in a]

        return {"edges": nums(self.edges), "confidence": nums(self.confidence),
                "accuracy": nums(self.accuracy), "count": [int(c) for c in self.count],
                "ece": None if not np.isfinite(self.ece) else round(self.ece, 4),
                "multilabel": self.multilabel}


def calibration_curve(scores: np.ndarray, y: np.ndarray, *, multilabel: bool,
                      bins: int = 10) -> CalibrationCurve:
    """The reliability curve of ``scores`` (images x tags, probabilities) against ``y``
    (0/1, images x tags) in ``bins`` equal-width bins."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins={bins!r} should be a positive int")
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    if scores.shape != y.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and labels {y.shape} should be the same "
                         "(images, tags) shape")
    if multilabel:
        conf, hit = scores.ravel(), (y.ravel() > 0).astype(float)
    elif scores.shape[0]:
        top = np.argmax(scores, axis=1)
        rows = np.arange(scores.shape[0])
        conf, hit = scores[rows, top], (y[rows, top] > 0).astype(float)
    else:
        conf = hit = np.zeros(0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip((conf * bins).astype(int), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=conf, minlength=bins) / count
        accuracy = np.bincount(which, weights=hit, minlength=bins) / count
    filled = count > 0
    ece = (float(np.sum(count[filled] * np.abs(confidence[filled] - accuracy[filled]))
                 / count.sum()) if count.sum() else float("nan"))
    return CalibrationCurve(edges, confidence, accuracy, count, ece, multilabel)
