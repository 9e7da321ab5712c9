"""Object detection metrics as Custom Vision defines them, with COCO's matching and AP.

    ev = DetectionEvaluation.from_predictions(ground_truth, predictions, ["cat", "dog"])
    m = ev.at(threshold=0.5, overlap=0.5)   # cheap: call it on every slider move
    m.precision, m.recall, m.map, m.coco_map
    ev.per_image(0.5, 0.5, images=[3])[0]   # what to draw on image 3

Boxes are cvbench's one format, normalized ``left, top, width, height`` (``cvbench.boxes``).

How predictions are matched (COCO's rule, ``pycocotools.cocoeval.evaluateImg``): per image
and tag, predictions are taken by decreasing probability; each takes, among the true boxes
of its tag that no earlier prediction took, the one with the highest IoU, provided that
``IoU >= overlap``; a true box is matched at most once. Matching a prediction never depends
on lower-scored ones, so the matches at probability threshold ``t`` are the matches of all
predictions restricted to those ``>= t``: matching is done once per overlap value (and
cached), and a threshold move only counts.

AP per tag at an overlap is COCO's: 101-point interpolated precision (the precision
envelope read at recall 0, 0.01, ..., 1), so ``at(overlap=0.5).map`` is pycocotools'
AP@0.5 and the mean of ``at(overlap=o).map`` over ``o`` in 0.5, 0.55, ..., 0.95 is
``coco_map``. (All-point interpolation, VOC's "area under the curve", differs from it by
about a percent on typical curves.)
"""

from __future__ import annotations

import contextlib
import io
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..boxes import EPS, Box
from ._common import (
    PRCurve,
    SuggestedThresholds,
    ThresholdMetrics,
    _best_f1,
    _check_image_ids,
    _check_tag_names,
    _check_top,
    _check_unit,
    _mean_or_nan,
    _num,
    _pr_curve,
    _threshold_metrics,
)

__all__ = [
    "DetectionEvaluation",
    "ImageDetections",
    "BoxResult",
    "COCO_SCALE",
    "COCO_IOU_THRESHOLDS",
]

#: Normalized coordinates are multiplied by this to give pycocotools "pixel" boxes. IoU does
#: not depend on the scale, and the area range is set to everything, so the value is moot.
COCO_SCALE = 1000.0
#: COCO's IoU thresholds 0.5:0.05:0.95, exactly as pycocotools builds them.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
#: COCO's recall points 0:0.01:1, exactly as pycocotools builds them.
_REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
#: How many overlap values keep their matches cached.
_CACHE_SIZE = 64


@dataclass(frozen=True)
class BoxResult:
    """One box on one image, as :meth:`DetectionEvaluation.per_image` reports it.

    In ``true_positives``: ``box`` is the predicted box, ``true_box`` the true box it
    matched, ``iou`` their IoU. In ``false_positives``: ``box`` is the predicted box, ``iou``
    its best IoU with any true box of its tag (0 if none: a duplicate or a badly placed box
    shows here), ``true_box`` is None. In ``misses``: ``box`` is the true box; when a
    prediction below the threshold matched it, ``probability`` and ``iou`` are that
    prediction's, else None.
    """

    tag: str
    tag_index: int
    box: Box
    probability: float | None = None
    iou: float | None = None
    true_box: Box | None = None


@dataclass(frozen=True)
class ImageDetections:
    """What happened on one image at a probability threshold and an overlap threshold."""

    image_id: Any
    index: int
    threshold: float
    overlap: float
    true_positives: list[BoxResult] = field(default_factory=list)
    false_positives: list[BoxResult] = field(default_factory=list)
    misses: list[BoxResult] = field(default_factory=list)

    @property
    def true_boxes(self) -> list[BoxResult]:
        """Every true box of the image: the found ones (as ``true_box`` of a true
        positive) and the missed ones."""
        found = [
            BoxResult(r.tag, r.tag_index, r.true_box, r.probability, r.iou)
            for r in self.true_positives
            if r.true_box is not None
        ]
        return found + list(self.misses)


@dataclass(frozen=True, eq=False)
class _Matching:
    pred_gt: np.ndarray  # (P,) index of the matched true box, -1 if none
    gt_pred: np.ndarray  # (G,) index of the matching prediction, -1 if none
    tp: np.ndarray  # (P,) bool
    ap: np.ndarray  # (T,) COCO AP at this overlap, NaN for tags with no true box
    map: float


def _as_box(value: Any, where: str) -> Box:
    if isinstance(value, Box):
        return value
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: box {value!r} is not a Box nor (left, top, width, height)"
        ) from None
    if len(vals) != 4:
        raise ValueError(
            f"{where}: box {value!r} has {len(vals)} numbers; a box is normalized "
            "(left, top, width, height)"
        )
    try:
        return Box(*vals)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def _as_tag(value: Any, n_tags: int, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or not (0 <= value < n_tags)
    ):
        raise ValueError(
            f"{where}: tag index {value!r} is not valid; it must be an integer in "
            f"[0, {n_tags - 1}] (a position in tag_names)"
        )
    return int(value)


def _box(ltwh: np.ndarray) -> Box:
    return Box(*(float(v) for v in ltwh))


def _parse(
    per_image: list[Any], name: str, n_tags: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(image, tag, probability, ltwh)`` arrays from per-image lists of
    ``(tag_index, box)`` (``name == "ground_truth"``) or ``(tag_index, probability, box)``.

    Boxes are checked and folded into the image as :class:`Box` does it, but vectorised;
    on a bad value the item is re-checked alone to raise ``Box``'s own message.
    """
    with_prob = name == "predictions"
    shape = "(tag_index, probability, box)" if with_prob else "(tag_index, box)"
    img, tags, probs, boxes, where = [], [], [], [], []
    for i, items in enumerate(per_image):
        for k, item in enumerate(items):
            try:
                if with_prob:
                    tag, prob, box = item
                else:
                    (tag, box), prob = item, 1.0
            except (TypeError, ValueError):
                raise ValueError(f"{name}[{i}][{k}] = {item!r} is not {shape}") from None
            img.append(i)
            tags.append(tag)
            probs.append(prob)
            boxes.append(
                (box.left, box.top, box.width, box.height) if isinstance(box, Box) else box
            )
            where.append((i, k))

    def check(j: int) -> None:
        """Raise the message for item ``j`` if it is bad."""
        loc = f"{name}[{where[j][0]}][{where[j][1]}]"
        _as_tag(tags[j], n_tags, loc)
        p = probs[j]
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"{loc}: probability {p!r} must be a number between 0 and 1")
        _as_box(boxes[j], loc)

    n_items = len(img)
    try:
        tag_arr = np.asarray(tags)
        prob_arr = np.asarray(probs)
        raw = np.asarray(boxes)
        if n_items and not (
            tag_arr.dtype.kind in "iu"
            and prob_arr.dtype.kind in "iuf"
            and raw.dtype.kind in "iuf"
            and raw.shape == (n_items, 4)
            and not any(isinstance(v, bool) for v in tags)
        ):
            raise TypeError("not plain numbers")
    except (TypeError, ValueError):
        for j in range(n_items):
            check(j)
        raise ValueError(
            f"{name}: the tag indices, probabilities or boxes are not numbers"
        ) from None
    prob_arr = prob_arr.astype(float).reshape(n_items)
    ltwh = raw.astype(float).reshape(n_items, 4)
    ok = (tag_arr >= 0) & (tag_arr < n_tags) & (prob_arr >= 0) & (prob_arr <= 1)
    left, top, w, h = ltwh.T
    ok &= np.isfinite(ltwh).all(axis=1) & (w > 0) & (h > 0)
    ok &= (left >= -EPS) & (top >= -EPS) & (left + w <= 1 + EPS) & (top + h <= 1 + EPS)
    if not ok.all():
        check(int(np.flatnonzero(~ok)[0]))
        raise ValueError(f"{name}: a value is out of range")  # pragma: no cover
    # fold border noise into the image, as Box.__post_init__ does
    left = np.clip(left, 0.0, 1.0)
    top = np.clip(top, 0.0, 1.0)
    ltwh = np.stack([left, top, np.minimum(w, 1.0 - left), np.minimum(h, 1.0 - top)], axis=1)
    return (
        np.asarray(img, dtype=np.intp),
        tag_arr.astype(np.intp).reshape(n_items),
        prob_arr.reshape(n_items),
        ltwh.reshape(n_items, 4),
    )


def _coco_ap(hits_sorted: np.ndarray, n_gt: int) -> float:
    """pycocotools' AP of one tag: ``hits_sorted`` are the predictions' matches, sorted by
    decreasing probability; 101-point interpolated precision, as ``COCOeval.accumulate``."""
    if n_gt == 0:
        return float("nan")
    if hits_sorted.shape[0] == 0:
        return 0.0
    tp = np.cumsum(hits_sorted, dtype=np.int64).astype(float)
    fp = np.cumsum(~hits_sorted, dtype=np.int64).astype(float)
    rc = tp / n_gt
    pr = tp / (fp + tp)  # pycocotools adds np.spacing(1) here; without it, perfect is 1.0
    pr = np.maximum.accumulate(pr[::-1])[::-1]
    inds = np.searchsorted(rc, _REC_THRS, side="left")
    q = np.zeros(_REC_THRS.shape[0])
    ok = inds < pr.shape[0]
    q[ok] = pr[inds[ok]]
    return float(q.mean())


class DetectionEvaluation:
    """Precision, recall, AP, mAP@overlap and COCO mAP@[.5:.95] of a detector.

    Build it with :meth:`from_predictions`. Definitions (Custom Vision's):

    - A prediction counts at ``threshold`` when its probability is ``>= threshold``; it is
      correct when it matches a true box of its tag at ``IoU >= overlap`` (COCO's greedy
      matching, see the module docstring).
    - Precision: correct predictions / predictions at or above the threshold (0 when there
      are none). Recall: true boxes found / true boxes (NaN for a tag with no true box).
      Overall precision and recall are micro-averaged over all boxes.
    - AP per tag at ``overlap``: COCO's 101-point interpolated AP over all predictions
      (independent of the probability threshold); NaN for a tag with no true box.
      mAP: mean AP over tags with true boxes (Custom Vision's mAP at the overlap threshold).
    - ``coco_map``: pycocotools ``COCOeval`` mAP@[.5:.95], computed once on first use
      (boxes scaled by ``COCO_SCALE``, one area range covering everything, ``maxDets`` set
      to at least 200 and to the most predictions any image has for one tag, so that no
      prediction is dropped).
    """

    def __init__(
        self,
        ground_truth: Sequence[Iterable[tuple[int, Any]]],
        predictions: Sequence[Iterable[tuple[int, float, Any]]],
        tag_names: Sequence[str],
        *,
        image_ids: Sequence[Any] | None = None,
    ) -> None:
        self.tag_names = _check_tag_names(tag_names)
        t = len(self.tag_names)
        ground_truth = list(ground_truth)
        predictions = list(predictions)
        n = len(ground_truth)
        if len(predictions) != n:
            raise ValueError(
                f"ground_truth has {n} images but predictions has {len(predictions)}; "
                "give one list (possibly empty) per image to both"
            )
        if n == 0:
            raise ValueError("there are no validation images (ground_truth is empty)")
        self.image_ids = _check_image_ids(image_ids, n)

        self._n = n
        self._gt_img, self._gt_tag, _, self._gt_ltwh = _parse(ground_truth, "ground_truth", t)
        self._pr_img, self._pr_tag, self._pr_score, self._pr_ltwh = _parse(
            predictions, "predictions", t
        )
        n_gt, n_pr = self._gt_img.shape[0], self._pr_img.shape[0]
        self._n_true = np.bincount(self._gt_tag, minlength=t)
        self._n_true_total = int(n_gt)
        self._in_map = self._n_true > 0
        self._n_true.flags.writeable = False  # shared with every ThresholdMetrics
        self._in_map.flags.writeable = False
        # input position of each prediction within its image (COCO breaks score ties by it)
        pr_start = np.concatenate([[0], np.cumsum(np.bincount(self._pr_img, minlength=n))])
        self._pr_start = pr_start
        self._gt_start = np.concatenate([[0], np.cumsum(np.bincount(self._gt_img, minlength=n))])
        pr_pos = np.arange(n_pr) - pr_start[self._pr_img]

        # rank of each prediction within its image: decreasing score, then input order
        by_image = np.lexsort((pr_pos, -self._pr_score, self._pr_img))
        rank = np.empty(n_pr, dtype=np.intp)
        rank[by_image] = np.arange(n_pr)
        # per tag, decreasing score, ties by image then input order (COCO's accumulate)
        self._tag_order = np.lexsort((pr_pos, self._pr_img, -self._pr_score, self._pr_tag))
        self._tag_bounds = np.searchsorted(self._pr_tag[self._tag_order], np.arange(t + 1))
        self._all_order = np.lexsort((pr_pos, self._pr_img, -self._pr_score))

        # candidate pairs: a prediction and a true box of the same image and tag
        gt_count = np.diff(self._gt_start)
        reps = gt_count[self._pr_img]
        pair_pred = np.repeat(np.arange(n_pr), reps)
        offs = np.arange(pair_pred.shape[0]) - np.repeat(np.cumsum(reps) - reps, reps)
        pair_gt = np.repeat(self._gt_start[self._pr_img], reps) + offs
        same = self._pr_tag[pair_pred] == self._gt_tag[pair_gt]
        pair_pred, pair_gt = pair_pred[same], pair_gt[same]
        iou = self._iou(self._pr_ltwh[pair_pred], self._gt_ltwh[pair_gt])
        # greedy order: prediction rank, then highest IoU; equal IoU -> the later true box,
        # as pycocotools (its ``iou`` guard is ``<``, so a tie replaces the earlier match)
        order = np.lexsort((-pair_gt, -iou, rank[pair_pred]))
        self._pair_pred = pair_pred[order]
        self._pair_gt = pair_gt[order]
        self._pair_iou = iou[order]
        best = np.zeros(n_pr)
        np.maximum.at(best, pair_pred, iou)
        self._pr_best_iou = best
        self._matchings: dict[float, _Matching] = {}
        self._coco: np.ndarray | None = None

    @classmethod
    def from_predictions(
        cls,
        ground_truth: Sequence[Iterable[tuple[int, Any]]],
        predictions: Sequence[Iterable[tuple[int, float, Any]]],
        tag_names: Sequence[str],
        *,
        image_ids: Sequence[Any] | None = None,
    ) -> DetectionEvaluation:
        """Evaluate predicted boxes against true boxes.

        Args:
            ground_truth: per image, a list of ``(tag_index, box)``.
            predictions: per image, a list of ``(tag_index, probability, box)``; give all
                of the model's boxes (after its own NMS), low probabilities included:
                AP and the threshold slider need them.
            tag_names: the names of the tag indices.
            image_ids: one id per image (default ``0 .. N-1``).

        A box is a :class:`cvbench.boxes.Box` or a normalized ``(left, top, width,
        height)`` tuple, checked as ``Box`` checks it.
        """
        return cls(ground_truth, predictions, tag_names, image_ids=image_ids)

    @staticmethod
    def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise IoU of ``left, top, width, height`` arrays (pycocotools' bbIou)."""
        w = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
        h = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
        inter = np.where((w > 0) & (h > 0), w * h, 0.0)
        union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
        return inter / union

    # -- matching ---------------------------------------------------------------------------
    def _matching(self, overlap: float) -> _Matching:
        overlap = _check_unit(overlap, "overlap")
        m = self._matchings.get(overlap)
        if m is not None:
            return m
        n_pr, n_gt = self._pr_img.shape[0], self._gt_img.shape[0]
        sel = self._pair_iou >= min(overlap, 1 - 1e-10)
        pp, gg = self._pair_pred[sel], self._pair_gt[sel]
        done = bytearray(n_pr)
        taken = bytearray(n_gt)
        hit = []
        for k, (p, g) in enumerate(zip(pp.tolist(), gg.tolist(), strict=True)):
            if done[p] or taken[g]:
                continue
            done[p] = 1
            taken[g] = 1
            hit.append(k)
        hit_arr = np.asarray(hit, dtype=np.intp)
        pred_gt = np.full(n_pr, -1, dtype=np.intp)
        gt_pred = np.full(n_gt, -1, dtype=np.intp)
        pred_gt[pp[hit_arr]] = gg[hit_arr]
        gt_pred[gg[hit_arr]] = pp[hit_arr]
        tp = pred_gt >= 0
        hits_by_tag = tp[self._tag_order]
        b = self._tag_bounds
        ap = np.array(
            [
                _coco_ap(hits_by_tag[b[j] : b[j + 1]], int(self._n_true[j]))
                for j in range(len(b) - 1)
            ]
        )
        for a in (pred_gt, gt_pred, tp, ap):
            a.flags.writeable = False
        m = _Matching(pred_gt, gt_pred, tp, ap, _mean_or_nan(ap[self._in_map]))
        if len(self._matchings) >= _CACHE_SIZE:
            self._matchings.pop(next(iter(self._matchings)))
        self._matchings[overlap] = m
        return m

    # -- numbers at a threshold -----------------------------------------------------------
    @property
    def n_images(self) -> int:
        return self._n

    def ap(self, overlap: float = 0.5) -> np.ndarray:
        """COCO AP per tag at ``overlap`` (NaN where the tag has no true box)."""
        return self._matching(overlap).ap.copy()

    @property
    def coco_map(self) -> float:
        """pycocotools mAP@[.5:.95] (computed on first use, then kept); NaN with no true box."""
        if self._n_true_total == 0:
            return float("nan")
        if self._coco is None:
            self._coco = self._coco_precision(COCO_IOU_THRESHOLDS)
        s = self._coco[self._coco > -1]
        return float(s.mean()) if s.size else float("nan")

    def at(self, threshold: float = 0.5, overlap: float = 0.5) -> ThresholdMetrics:
        """Precision, recall, F1 (overall and per tag), AP, mAP at ``overlap``, COCO mAP.

        A threshold move only counts (well under a millisecond for thousands of boxes); a
        new ``overlap`` value matches once (milliseconds), then is cached. The very first
        call also runs pycocotools for ``coco_map`` (about 0.3 s for 500 images).
        """
        threshold = _check_unit(threshold, "threshold")
        m = self._matching(overlap)
        t = len(self.tag_names)
        mask = self._pr_score >= threshold
        n_pred = np.bincount(self._pr_tag[mask], minlength=t)
        n_correct = np.bincount(self._pr_tag[mask & m.tp], minlength=t)
        return _threshold_metrics(
            threshold, n_pred, n_correct, self._n_true, tags=self.tag_names, ap=m.ap,
            map=m.map, in_map=self._in_map, n_images=self._n, overlap=float(overlap),
            coco_map=self.coco_map,
        )

    def per_tag(self, threshold: float = 0.5, overlap: float = 0.5) -> pd.DataFrame:
        """One row per tag: ``tag, precision, recall, f1, ap, n_true, n_predicted,
        n_correct, in_map`` (``in_map`` is False for tags with no true box)."""
        return self.at(threshold, overlap).to_frame()

    def pr_curves(self, overlap: float = 0.5) -> dict[str, PRCurve]:
        """Per tag, precision and recall at each distinct probability, in scikit-learn's
        ``precision_recall_curve`` layout (recall need not reach 1: boxes never predicted
        are never found). Empty arrays for tags with no true box."""
        m = self._matching(overlap)
        out = {}
        for j, name in enumerate(self.tag_names):
            idx = self._tag_order[self._tag_bounds[j] : self._tag_bounds[j + 1]]
            p, r, thr = _pr_curve(self._pr_score[idx], m.tp[idx], int(self._n_true[j]))
            out[name] = PRCurve(name, p, r, thr, float(m.ap[j]))
        return out

    def suggested_thresholds(self, overlap: float = 0.5) -> SuggestedThresholds:
        """Probability thresholds that maximise F1 at ``overlap``: overall and per tag."""
        m = self._matching(overlap)
        per, per_f1 = {}, {}
        for j, name in enumerate(self.tag_names):
            idx = self._tag_order[self._tag_bounds[j] : self._tag_bounds[j + 1]]
            per[name], per_f1[name] = _best_f1(self._pr_score[idx], m.tp[idx], int(self._n_true[j]))
        idx = self._all_order
        overall, overall_f1 = _best_f1(self._pr_score[idx], m.tp[idx], self._n_true_total)
        return SuggestedThresholds(overall, overall_f1, per, per_f1)

    # -- images ---------------------------------------------------------------------------
    def per_image(
        self,
        threshold: float = 0.5,
        overlap: float = 0.5,
        *,
        images: Iterable[int] | None = None,
    ) -> list[ImageDetections]:
        """Per image (all, or the positions in ``images``): true positives, false positives
        and misses at ``threshold`` and ``overlap``, to draw predicted and true boxes.
        A viewer showing one image asks for it alone: ``per_image(t, o, images=[i])[0]``."""
        threshold = _check_unit(threshold, "threshold")
        overlap = _check_unit(overlap, "overlap")
        m = self._matching(overlap)
        idx = range(self._n) if images is None else list(images)
        for i in idx:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self._n:
                raise ValueError(
                    f"image position {i!r} is not valid; it must be an integer in [0, {self._n - 1}]"
                )
        # IoU of every matched pair, computed vectorised, then read per image
        pm = np.flatnonzero(m.pred_gt >= 0)
        pair_iou = np.full(self._pr_img.shape[0], np.nan)
        pair_iou[pm] = self._iou(self._pr_ltwh[pm], self._gt_ltwh[m.pred_gt[pm]])
        names = self.tag_names
        out = []
        for i in idx:
            res = ImageDetections(self.image_ids[i], int(i), threshold, overlap)
            a, b = int(self._pr_start[i]), int(self._pr_start[i + 1])
            rows = zip(
                self._pr_tag[a:b].tolist(),
                self._pr_score[a:b].tolist(),
                self._pr_ltwh[a:b].tolist(),
                m.pred_gt[a:b].tolist(),
                pair_iou[a:b].tolist(),
                self._pr_best_iou[a:b].tolist(),
                strict=True,
            )
            for j, prob, ltwh, g, iou, best in rows:
                if prob < threshold:
                    continue
                if g >= 0:
                    res.true_positives.append(
                        BoxResult(names[j], j, Box(*ltwh), prob, iou, _box(self._gt_ltwh[g]))
                    )
                else:
                    res.false_positives.append(BoxResult(names[j], j, Box(*ltwh), prob, best))
            a, b = int(self._gt_start[i]), int(self._gt_start[i + 1])
            rows = zip(
                self._gt_tag[a:b].tolist(),
                self._gt_ltwh[a:b].tolist(),
                m.gt_pred[a:b].tolist(),
                strict=True,
            )
            for j, ltwh, p in rows:
                if p < 0:
                    res.misses.append(BoxResult(names[j], j, Box(*ltwh)))
                elif self._pr_score[p] < threshold:
                    res.misses.append(
                        BoxResult(
                            names[j], j, Box(*ltwh), float(self._pr_score[p]), float(pair_iou[p])
                        )
                    )
            out.append(res)
        return out

    def mistakes(
        self, threshold: float = 0.5, overlap: float = 0.5, top: int | None = None
    ) -> pd.DataFrame:
        """The images with a false positive or a missed box, worst first.

        Columns: ``image_id, n_true, n_predicted, n_correct, false_positives`` (their tag
        names), ``misses`` (tag names), ``how_wrong``. ``how_wrong`` sums the probability of
        each false positive and ``1 - p`` for each missed box, where ``p`` is the
        probability of the below-threshold prediction that matched it (0 if none): the
        same ``|truth - probability|`` as classification. ``top`` keeps the first rows.
        """
        threshold = _check_unit(threshold, "threshold")
        top = _check_top(top)
        m = self._matching(overlap)
        n = self._n
        mask = self._pr_score >= threshold
        fp = mask & ~m.tp
        matched = m.gt_pred >= 0
        p_of_gt = np.zeros(matched.shape[0])
        p_of_gt[matched] = self._pr_score[m.gt_pred[matched]]
        missed = ~(matched & (p_of_gt >= threshold))
        how = np.bincount(self._pr_img[fp], weights=self._pr_score[fp], minlength=n) + np.bincount(
            self._gt_img[missed], weights=1.0 - p_of_gt[missed], minlength=n
        )
        n_fp = np.bincount(self._pr_img[fp], minlength=n)
        n_miss = np.bincount(self._gt_img[missed], minlength=n)
        rows = np.flatnonzero((n_fp + n_miss) > 0)
        rows = rows[np.argsort(-how[rows], kind="stable")]
        if top is not None:
            rows = rows[:top]
        n_pred = np.bincount(self._pr_img[mask], minlength=n)
        n_corr = np.bincount(self._pr_img[mask & m.tp], minlength=n)
        n_true = np.diff(self._gt_start)
        names = self.tag_names
        records = []
        for i in rows.tolist():
            ps = slice(self._pr_start[i], self._pr_start[i + 1])
            gs = slice(self._gt_start[i], self._gt_start[i + 1])
            records.append(
                {
                    "image_id": self.image_ids[i],
                    "n_true": int(n_true[i]),
                    "n_predicted": int(n_pred[i]),
                    "n_correct": int(n_corr[i]),
                    "false_positives": [names[j] for j in self._pr_tag[ps][fp[ps]]],
                    "misses": [names[j] for j in self._gt_tag[gs][missed[gs]]],
                    "how_wrong": float(how[i]),
                }
            )
        columns = [
            "image_id",
            "n_true",
            "n_predicted",
            "n_correct",
            "false_positives",
            "misses",
            "how_wrong",
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def to_dict(self, threshold: float = 0.5, overlap: float = 0.5) -> dict[str, Any]:
        """The numbers at ``threshold`` and ``overlap`` as plain Python values (JSON-able)."""
        d = self.at(threshold, overlap).to_dict()
        sug = self.suggested_thresholds(overlap)
        d.update(kind="detection", suggested_threshold=_num(sug.overall))
        for row in d["per_tag"]:
            row["suggested_threshold"] = _num(sug.per_tag[row["tag"]])
        return d

    # -- pycocotools ------------------------------------------------------------------------
    def _coco_precision(self, iou_thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
        """pycocotools' ``eval['precision']`` as ``(iou, recall point, tag)``; -1 for tags
        with no true box. Built in memory, its prints swallowed."""
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        s = COCO_SCALE
        images = [{"id": i + 1, "width": s, "height": s} for i in range(self._n)]
        cats = [{"id": j + 1, "name": name} for j, name in enumerate(self.tag_names)]
        gts = [
            {
                "id": g + 1,
                "image_id": int(self._gt_img[g]) + 1,
                "category_id": int(self._gt_tag[g]) + 1,
                "bbox": [float(v) * s for v in self._gt_ltwh[g]],
                "area": float(self._gt_ltwh[g, 2] * self._gt_ltwh[g, 3]) * s * s,
                "iscrowd": 0,
            }
            for g in range(self._gt_img.shape[0])
        ]
        dts = [
            {
                "id": p + 1,
                "image_id": int(self._pr_img[p]) + 1,
                "category_id": int(self._pr_tag[p]) + 1,
                "bbox": [float(v) * s for v in self._pr_ltwh[p]],
                "area": float(self._pr_ltwh[p, 2] * self._pr_ltwh[p, 3]) * s * s,
                "score": float(self._pr_score[p]),
                "iscrowd": 0,
            }
            for p in range(self._pr_img.shape[0])
        ]
        per_image_tag = np.bincount(self._pr_img * len(self.tag_names) + self._pr_tag, minlength=1)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt, coco_dt = COCO(), COCO()
            coco_gt.dataset = {"images": images, "categories": cats, "annotations": gts}
            coco_dt.dataset = {"images": images, "categories": cats, "annotations": dts}
            coco_gt.createIndex()
            coco_dt.createIndex()
            ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
            ev.params.imgIds = list(range(1, self._n + 1))
            ev.params.catIds = list(range(1, len(self.tag_names) + 1))
            ev.params.iouThrs = np.asarray(iou_thresholds, dtype=float)
            ev.params.areaRng = [[0.0, 1e10]]
            ev.params.areaRngLbl = ["all"]
            ev.params.maxDets = [max(200, int(per_image_tag.max()))]
            ev.evaluate()
            ev.accumulate()
        return ev.eval["precision"][:, :, :, 0, 0]

    def __repr__(self) -> str:
        return (
            f"<DetectionEvaluation: {self._n} images, {self._n_true_total} true boxes, "
            f"{self._pr_img.shape[0]} predictions, {len(self.tag_names)} tags>"
        )
