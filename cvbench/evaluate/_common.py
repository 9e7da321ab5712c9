"""What classification and detection evaluations share: result types and numeric helpers.

Conventions used everywhere in ``cvbench.evaluate``:

- A prediction counts at threshold ``t`` when its probability is ``>= t`` (Custom Vision's
  "at or above the probability threshold").
- Precision with no prediction at or above the threshold is **0** (Custom Vision shows 0).
- Recall of a tag with no true instance is **NaN** (nothing to find: undefined), and so is
  its F1 and its AP; such a tag is left out of mAP.
- F1 is ``2 p r / (p + r)``, 0 when ``p + r == 0``, NaN when recall is NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["ThresholdMetrics", "PRCurve", "SuggestedThresholds", "ConfusionMatrix"]


@dataclass(frozen=True, eq=False)
class PRCurve:
    """The precision/recall curve of one tag, in scikit-learn's layout.

    ``thresholds`` is increasing; ``precision[i]`` and ``recall[i]`` are the values when
    predicting every probability ``>= thresholds[i]``; the last point of ``precision`` and
    ``recall`` is ``(1, 0)`` and has no threshold (as ``precision_recall_curve`` returns).
    All three arrays are empty when the tag has no true instance (no curve exists).
    ``ap`` is the tag's average precision (see the evaluation that made the curve).
    """

    tag: str
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    ap: float


@dataclass(frozen=True)
class SuggestedThresholds:
    """Probability thresholds that maximise F1: one for all tags together, one per tag.

    ``overall`` maximises the overall (micro) F1; ``per_tag[name]`` maximises that tag's F1.
    A threshold is one of the predicted probabilities (the highest one among equally good
    choices); NaN when there is nothing to choose from (no true instance or no prediction).
    """

    overall: float
    overall_f1: float
    per_tag: dict[str, float]
    per_tag_f1: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": _num(self.overall),
            "overall_f1": _num(self.overall_f1),
            "per_tag": {k: _num(v) for k, v in self.per_tag.items()},
            "per_tag_f1": {k: _num(v) for k, v in self.per_tag_f1.items()},
        }


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Counts of true against predicted tags at one probability threshold.

    Multiclass: ``matrix`` is ``(T, T + 1)``; row ``i`` counts the images whose true tag is
    ``row_labels[i]``, column ``j`` the images whose top-scoring tag is ``column_labels[j]``;
    the last column, ``"(none)"``, counts images whose top probability is below the
    threshold (no prediction). Ties in the top probability go to the first tag.

    Multilabel: ``matrix`` is ``(T, 2, 2)``, one ``[[tn, fp], [fn, tp]]`` per tag, as
    ``sklearn.metrics.multilabel_confusion_matrix`` returns it (prediction: probability
    ``>= threshold``); ``column_labels`` is empty.
    """

    matrix: np.ndarray
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    threshold: float
    multilabel: bool

    def to_frame(self) -> pd.DataFrame:
        """Multiclass: true tags as rows, predicted tags as columns. Multilabel: one row per
        tag with columns ``tag, tp, fp, fn, tn``."""
        if self.multilabel:
            m = self.matrix
            return pd.DataFrame(
                {
                    "tag": list(self.row_labels),
                    "tp": m[:, 1, 1],
                    "fp": m[:, 0, 1],
                    "fn": m[:, 1, 0],
                    "tn": m[:, 0, 0],
                }
            )
        return pd.DataFrame(
            self.matrix,
            index=pd.Index(list(self.row_labels), name="true"),
            columns=pd.Index(list(self.column_labels), name="predicted"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": float(self.threshold),
            "multilabel": self.multilabel,
            "row_labels": list(self.row_labels),
            "column_labels": list(self.column_labels),
            "matrix": self.matrix.tolist(),
        }


@dataclass(frozen=True, eq=False)
class ThresholdMetrics:
    """The numbers at one probability threshold (and, for detection, one overlap threshold).

    Overall ``precision`` and ``recall`` are micro-averaged, as Custom Vision computes them:
    ``n_correct / n_predicted`` and ``n_correct / n_true`` summed over tags. ``map`` is the
    mean of ``tag_ap`` over the tags with ``tag_in_map`` (tags with true instances, and for
    classification not the Negative tag); NaN when no tag qualifies. Per-tag arrays follow
    the order of ``tags``. ``overlap`` and ``coco_map`` (mAP@[.5:.95]) are None for
    classification.
    """

    threshold: float
    precision: float
    recall: float
    f1: float
    map: float
    n_images: int
    n_true: int
    n_predicted: int
    n_correct: int
    tags: tuple[str, ...]
    tag_precision: np.ndarray
    tag_recall: np.ndarray
    tag_f1: np.ndarray
    tag_ap: np.ndarray
    tag_n_true: np.ndarray
    tag_n_predicted: np.ndarray
    tag_n_correct: np.ndarray
    tag_in_map: np.ndarray
    overlap: float | None = None
    coco_map: float | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per tag: ``tag, precision, recall, f1, ap, n_true, n_predicted,
        n_correct, in_map``."""
        return pd.DataFrame(
            {
                "tag": list(self.tags),
                "precision": self.tag_precision,
                "recall": self.tag_recall,
                "f1": self.tag_f1,
                "ap": self.tag_ap,
                "n_true": self.tag_n_true,
                "n_predicted": self.tag_n_predicted,
                "n_correct": self.tag_n_correct,
                "in_map": self.tag_in_map,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python numbers and lists (JSON-able: NaN becomes None)."""
        d: dict[str, Any] = {
            "threshold": float(self.threshold),
            "overlap": None if self.overlap is None else float(self.overlap),
            "precision": _num(self.precision),
            "recall": _num(self.recall),
            "f1": _num(self.f1),
            "map": _num(self.map),
            "coco_map": None if self.coco_map is None else _num(self.coco_map),
            "n_images": int(self.n_images),
            "n_true": int(self.n_true),
            "n_predicted": int(self.n_predicted),
            "n_correct": int(self.n_correct),
        }
        d["per_tag"] = [
            {
                "tag": name,
                "precision": _num(self.tag_precision[i]),
                "recall": _num(self.tag_recall[i]),
                "f1": _num(self.tag_f1[i]),
                "ap": _num(self.tag_ap[i]),
                "n_true": int(self.tag_n_true[i]),
                "n_predicted": int(self.tag_n_predicted[i]),
                "n_correct": int(self.tag_n_correct[i]),
                "in_map": bool(self.tag_in_map[i]),
            }
            for i, name in enumerate(self.tags)
        ]
        return d


# -- helpers ---------------------------------------------------------------------------


def _threshold_metrics(
    threshold: float,
    n_pred: np.ndarray,
    n_correct: np.ndarray,
    n_true: np.ndarray,
    *,
    tags: tuple[str, ...],
    ap: np.ndarray,
    map: float,
    in_map: np.ndarray,
    n_images: int,
    **extra: Any,
) -> ThresholdMetrics:
    """Precision, recall and F1, overall (micro) and per tag, from the counts at a threshold:
    the one place where Custom Vision's definitions turn counts into numbers."""
    n_true_total = int(n_true.sum())
    tot_pred = int(n_pred.sum())
    tot_correct = int(n_correct.sum())
    p = _precision(n_correct, n_pred)
    r = _recall(n_correct, n_true)
    op = float(_precision(tot_correct, tot_pred))
    orc = float(_recall(tot_correct, n_true_total))
    return ThresholdMetrics(
        threshold=threshold,
        precision=op,
        recall=orc,
        f1=float(_f1(op, orc)),
        map=map,
        n_images=n_images,
        n_true=n_true_total,
        n_predicted=tot_pred,
        n_correct=tot_correct,
        tags=tags,
        tag_precision=p,
        tag_recall=r,
        tag_f1=_f1(p, r),
        tag_ap=ap,
        tag_n_true=n_true,
        tag_n_predicted=n_pred,
        tag_n_correct=n_correct,
        tag_in_map=in_map,
        **extra,
    )


def _num(x: Any) -> float | None:
    """A plain float, or None for NaN (JSON has no NaN)."""
    x = float(x)
    return None if math.isnan(x) else x


def _check_unit(value: Any, name: str) -> float:
    """A threshold in [0, 1], or a ValueError that says so."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number; it must be between 0 and 1") from None
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name}={value!r} is out of range; it must be between 0 and 1")
    return v


def _check_top(top: Any) -> int | None:
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 0:
        raise ValueError(f"top={top!r} is not valid; it must be None or an integer >= 0")
    return int(top)


def _check_tag_names(tag_names: Any, n_tags: int | None = None) -> tuple[str, ...]:
    if isinstance(tag_names, str):
        raise ValueError(f"tag_names={tag_names!r} must be a sequence of names, not one string")
    names = tuple(str(t) for t in tag_names)
    if n_tags is not None and len(names) != n_tags:
        raise ValueError(
            f"tag_names has {len(names)} names but the arrays have {n_tags} tag columns; "
            "give one name per column"
        )
    if len(set(names)) != len(names):
        dup = sorted({t for t in names if names.count(t) > 1})
        raise ValueError(f"tag_names must be unique; repeated: {dup}")
    if not names:
        raise ValueError("tag_names is empty; an evaluation needs at least one tag")
    return names


def _check_image_ids(image_ids: Any, n: int) -> list[Any]:
    if image_ids is None:
        return list(range(n))
    ids = list(image_ids)
    if len(ids) != n:
        raise ValueError(
            f"image_ids has {len(ids)} ids but there are {n} images; give one per image"
        )
    return ids


def _precision(n_correct: ArrayLike, n_predicted: ArrayLike) -> np.ndarray:
    """correct / predicted, 0 where nothing is predicted."""
    n_correct = np.asarray(n_correct, dtype=float)
    n_predicted = np.asarray(n_predicted, dtype=float)
    out = np.zeros(np.broadcast(n_correct, n_predicted).shape)
    np.divide(n_correct, n_predicted, out=out, where=n_predicted > 0)
    return out


def _recall(n_correct: ArrayLike, n_true: ArrayLike) -> np.ndarray:
    """correct / true, NaN where there is nothing to find."""
    n_correct = np.asarray(n_correct, dtype=float)
    n_true = np.asarray(n_true, dtype=float)
    out = np.full(np.broadcast(n_correct, n_true).shape, np.nan)
    np.divide(n_correct, n_true, out=out, where=n_true > 0)
    return out


def _f1(p: ArrayLike, r: ArrayLike) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    r = np.asarray(r, dtype=float)
    s = p + r
    out = np.zeros(s.shape)
    np.divide(2 * p * r, s, out=out, where=s > 0)
    out[np.isnan(s)] = np.nan
    return out


def _scalar(a: np.ndarray) -> float:
    return float(np.asarray(a).reshape(()))


def _mean_or_nan(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else float("nan")


def _run_ends(scores_desc: np.ndarray) -> np.ndarray:
    """Indices of the last element of each run of equal scores (scores sorted descending)."""
    n = scores_desc.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    ends = np.empty(n, dtype=bool)
    ends[:-1] = scores_desc[1:] != scores_desc[:-1]
    ends[-1] = True
    return np.flatnonzero(ends)


def _best_f1(scores_desc: np.ndarray, hits: np.ndarray, n_pos: int) -> tuple[float, float]:
    """``(threshold, f1)`` of the threshold that maximises F1.

    ``scores_desc`` are all predicted probabilities sorted descending, ``hits`` says which
    are correct, ``n_pos`` is the number of true instances. Candidate thresholds are the
    distinct scores (predict everything ``>= s``); the highest among equal F1 wins. When no
    prediction is right at any threshold the threshold is NaN (none to suggest), F1 0.
    """
    if n_pos <= 0 or scores_desc.shape[0] == 0:
        return float("nan"), float("nan")
    ends = _run_ends(scores_desc)
    tp = np.cumsum(hits, dtype=np.int64)[ends]
    k = ends + 1
    f1 = _f1(tp / k, tp / n_pos)
    if not np.any(f1 > 0):  # nothing is ever right: no threshold helps
        return float("nan"), 0.0
    i = int(np.argmax(f1))
    return float(scores_desc[ends[i]]), float(f1[i])


def _pr_curve(scores_desc: np.ndarray, hits: np.ndarray, n_pos: int) -> tuple[np.ndarray, ...]:
    """precision, recall, thresholds in scikit-learn's ``precision_recall_curve`` layout."""
    if n_pos <= 0:
        empty = np.zeros(0)
        return empty, empty, empty
    ends = _run_ends(scores_desc)
    tp = np.cumsum(hits, dtype=np.int64)[ends].astype(float)
    precision = tp / (ends + 1)
    recall = tp / n_pos
    return (
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([recall[::-1], [0.0]]),
        np.asarray(scores_desc[ends][::-1], dtype=float),
    )
