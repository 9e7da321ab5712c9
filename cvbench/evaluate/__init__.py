"""Evaluation: Custom Vision's metrics, computed on arrays and lists, and their figures.

Pure computation: no project, no model, no torch. The trainers build an evaluation from
validation outputs; the Performance widget calls ``.at(threshold)`` on every slider move.

- :class:`ClassificationEvaluation` — multiclass and multilabel, from ``(N, T)`` scores.
- :class:`DetectionEvaluation` — boxes (normalized ``left, top, width, height``), with a
  probability threshold and an overlap (IoU) threshold, plus COCO mAP@[.5:.95].
- :meth:`ClassificationEvaluation.calibration` — the reliability curve and the expected
  calibration error: do 90 % predictions come true 90 % of the time?
- :func:`bootstrap_intervals` — how sure each headline number is: bootstrap intervals
  over the validation images.
- :class:`PrecisionRecallDisplay`, :class:`ConfusionMatrixDisplay`,
  :class:`DetectionResultsDisplay`, :class:`ReliabilityDisplay` — matplotlib figures, scikit-learn style (matplotlib is
  imported only when they draw).

Shared conventions (precision with no prediction is 0, recall of a tag with nothing to find
is NaN, ``>=`` the threshold counts) are in ``cvbench.evaluate._common``.
"""

from ._bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap_intervals
from ._calibration import CalibrationCurve, calibration_curve
from ._common import ConfusionMatrix, PRCurve, SuggestedThresholds, ThresholdMetrics
from .classification import NONE_LABEL, ClassificationEvaluation
from .detection import (
    COCO_IOU_THRESHOLDS,
    COCO_SCALE,
    BoxResult,
    DetectionEvaluation,
    ImageDetections,
)
from .display import (
    ConfusionMatrixDisplay,
    DetectionResultsDisplay,
    PrecisionRecallDisplay,
    ReliabilityDisplay,
)

__all__ = [
    "ClassificationEvaluation",
    "DetectionEvaluation",
    "ThresholdMetrics",
    "PRCurve",
    "SuggestedThresholds",
    "ConfusionMatrix",
    "ImageDetections",
    "BoxResult",
    "NONE_LABEL",
    "COCO_SCALE",
    "COCO_IOU_THRESHOLDS",
    "PrecisionRecallDisplay",
    "ConfusionMatrixDisplay",
    "DetectionResultsDisplay",
    "Interval",
    "bootstrap_intervals",
    "DEFAULT_RESAMPLES",
    "CalibrationCurve",
    "calibration_curve",
    "ReliabilityDisplay",
]
