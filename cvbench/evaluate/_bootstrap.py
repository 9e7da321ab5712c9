"""How sure a metric is: bootstrap intervals over the validation images.

    intervals = bootstrap_intervals(evaluation, threshold=0.5)
    intervals["precision"]            # Interval(value=0.86, low=0.71, high=0.95, ...)
    str(intervals["map"])             # '91.2% (95% interval 80.1–98.0%, 40 images)'

The validation images are drawn again with replacement ``resamples`` times; each draw is a
weight per image (how many times it was drawn), and every metric is recomputed with those
weights exactly as :mod:`cvbench.evaluate` computes it on the real set (micro precision and
recall at the threshold, AP per tag — scikit-learn's step-wise AP for classification,
pycocotools' 101-point AP for detection — and their mean). The interval is the percentile
interval of the draws. With all weights one, each formula gives the evaluation's own value
(a test checks it), so the interval is around the number the app shows.

Hand-written rather than ``scipy.stats.bootstrap`` because the metrics are recomputed for
all draws at once from weighted counts (numpy, milliseconds), where scipy would call the
metric once per draw.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import _run_ends

__all__ = ["Interval", "bootstrap_intervals", "DEFAULT_RESAMPLES"]

DEFAULT_RESAMPLES = 1000
_REC_THRS = np.linspace(0.0, 1.0, 101)
_METRICS = ("precision", "recall", "f1", "map")


@dataclass(frozen=True)
class Interval:
    """A metric's value on the validation images and its bootstrap interval."""

    name: str
    value: float
    low: float
    high: float
    level: float
    n_images: int
    resamples: int

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        return (f"{self.value:.1%} ({self.level:.0%} interval {self.low:.1%}–{self.high:.1%}, "
                f"{self.n_images} images)")

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        return {"name": self.name, "value": num(self.value), "low": num(self.low),
                "high": num(self.high), "level": self.level, "n_images": self.n_images,
                "resamples": self.resamples}


def _weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n)``: how many times each image is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    w = np.zeros((resamples, n))
    np.add.at(w, (np.repeat(np.arange(resamples), n), draws.ravel()), 1.0)
    return w


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den > 0, out, empty)


def _micro(n_pred: np.ndarray, n_correct: np.ndarray, n_true: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overall precision (0 with no prediction, as Custom Vision), recall (NaN with no true
    instance) and F1 per resample from per-tag weighted counts ``(B, T)``."""
    pred, corr, true = n_pred.sum(1), n_correct.sum(1), n_true.sum(1)
    p = _ratio(corr, pred, 0.0)
    r = _ratio(corr, true, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    f1 = np.where(np.isnan(r), np.nan, f1)
    return p, r, f1


def _step_ap(scores: np.ndarray, hits: np.ndarray, w: np.ndarray, n_pos: np.ndarray
             ) -> np.ndarray:
    """scikit-learn's ``average_precision_score`` with sample weights ``w`` (B, N), for
    one tag: ``scores`` (N,), ``hits`` (N,) the true labels, ``n_pos`` (B,)."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], hits[order].astype(float)
    ends = _run_ends(s)
    ws = w[:, order]
    tp = np.cumsum(ws * y, axis=1)[:, ends]
    fp = np.cumsum(ws * (1 - y), axis=1)[:, ends]
    precision = _ratio(tp, tp + fp, 0.0)
    recall = _ratio(tp, n_pos[:, None], np.nan)
    steps = np.diff(recall, axis=1, prepend=0.0)
    return np.where(n_pos > 0, np.sum(steps * precision, axis=1), np.nan)


def _coco_ap(hits: np.ndarray, img: np.ndarray, w: np.ndarray, n_pos: np.ndarray
             ) -> np.ndarray:
    """pycocotools' 101-point AP with image weights, for one tag: ``hits`` and ``img`` of
    its predictions in COCO's order (decreasing score), ``w`` (B, N), ``n_pos`` (B,)."""
    b = w.shape[0]
    out = np.full(b, np.nan)
    if hits.shape[0] == 0:
        return np.where(n_pos > 0, 0.0, np.nan)
    wd = w[:, img]
    tp = np.cumsum(wd * hits, axis=1)
    fp = np.cumsum(wd * ~hits, axis=1)
    pr = np.nan_to_num(_ratio(tp, tp + fp, 0.0))
    env = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
    for k in np.flatnonzero(n_pos > 0):
        rc = tp[k] / n_pos[k]
        inds = np.searchsorted(rc, _REC_THRS, side="left")
        ok = inds < env.shape[1]
        q = np.zeros(_REC_THRS.shape[0])
        q[ok] = env[k, inds[ok]]
        out[k] = q.mean()
    return out


def _classification(ev: Any, threshold: float, w: np.ndarray) -> dict[str, np.ndarray]:
    y = np.asarray(ev._y, dtype=bool)
    s = np.asarray(ev._s, dtype=float)
    pred = s >= threshold
    n_pred = w @ pred.astype(float)
    n_correct = w @ (pred & y).astype(float)
    n_true = w @ y.astype(float)
    p, r, f1 = _micro(n_pred, n_correct, n_true)
    aps = [_step_ap(s[:, j], y[:, j], w, n_true[:, j]) for j in np.flatnonzero(ev._in_map)]
    return {"precision": p, "recall": r, "f1": f1, "map": _nanmean(aps, w.shape[0])}


def _detection(ev: Any, threshold: float, overlap: float, w: np.ndarray
               ) -> dict[str, np.ndarray]:
    n, t = ev._n, len(ev.tag_names)
    m = ev._matching(overlap)
    true_per_image = np.zeros((n, t))
    np.add.at(true_per_image, (ev._gt_img, ev._gt_tag), 1.0)
    kept = ev._pr_score >= threshold
    pred_per_image = np.zeros((n, t))
    np.add.at(pred_per_image, (ev._pr_img[kept], ev._pr_tag[kept]), 1.0)
    correct_per_image = np.zeros((n, t))
    hit = kept & m.tp
    np.add.at(correct_per_image, (ev._pr_img[hit], ev._pr_tag[hit]), 1.0)
    n_true = w @ true_per_image
    p, r, f1 = _micro(w @ pred_per_image, w @ correct_per_image, n_true)
    order, bounds = ev._tag_order, ev._tag_bounds
    aps = []
    for j in np.flatnonzero(ev._in_map):
        sel = order[bounds[j]:bounds[j + 1]]
        aps.append(_coco_ap(np.asarray(m.tp)[sel], ev._pr_img[sel], w, n_true[:, j]))
    return {"precision": p, "recall": r, "f1": f1, "map": _nanmean(aps, w.shape[0])}


def _nanmean(rows: list[np.ndarray], b: int) -> np.ndarray:
    if not rows:
        return np.full(b, np.nan)
    stack = np.vstack(rows)
    with warnings.catch_warnings():  # a draw without any true instance: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stack, axis=0)


def metric_draws(evaluation: Any, threshold: float = 0.5, overlap: float | None = None,
                 weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The metrics (``precision``, ``recall``, ``f1``, ``map``) for each row of image
    ``weights`` ``(B, n_images)`` (default: one row of ones, the evaluation itself)."""
    if weights is None:
        weights = np.ones((1, evaluation.n_images))
    if overlap is None:
        return _classification(evaluation, threshold, weights)
    return _detection(evaluation, threshold, overlap, weights)


def bootstrap_intervals(evaluation: Any, threshold: float = 0.5, overlap: float | None = None,
                        *, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                        seed: int = 0) -> dict[str, Interval]:
    """Bootstrap intervals of precision, recall, F1 and mAP at ``threshold`` (and, for a
    detection evaluation, ``overlap``) over the validation images.

    ``level`` is the interval's coverage (0.95: the 2.5th to the 97.5th percentile of
    ``resamples`` draws); ``seed`` makes it repeatable. Few validation images give wide
    intervals: that is the point.
    """
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} should be between 0 and 1, e.g. 0.95")
    if int(resamples) < 10:
        raise ValueError(f"resamples={resamples!r} is too few; give at least 10 (1000 is usual)")
    if overlap is None and hasattr(evaluation, "_matching"):
        overlap = 0.5
    point = metric_draws(evaluation, threshold, overlap)
    draws = metric_draws(evaluation, threshold, overlap,
                         _weights(evaluation.n_images, int(resamples), seed))
    tail = (1 - level) / 2 * 100
    out: dict[str, Interval] = {}
    for name in _METRICS:
        values = draws[name][~np.isnan(draws[name])]
        low, high = (np.percentile(values, [tail, 100 - tail]) if values.size
                     else (np.nan, np.nan))
        out[name] = Interval(name, float(point[name][0]), float(low), float(high),
                             float(level), int(evaluation.n_images), int(resamples))
    return out
