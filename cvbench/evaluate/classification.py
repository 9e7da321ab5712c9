"""Classification metrics as Custom Vision defines them, from true tags and probabilities.

    ev = ClassificationEvaluation.from_scores(y_true, scores, ["cat", "dog"], multilabel=False)
    m = ev.at(0.5)            # cheap: call it on every move of a threshold slider
    m.precision, m.recall, m.map
    ev.per_tag(0.5)           # DataFrame
    ev.mistakes(0.5, top=20)  # the images it got wrong, worst first

Everything that does not depend on the threshold (AP, curves, the sorted scores behind the
suggested thresholds) is computed once; ``at(threshold)`` is a few vectorised numpy
operations over the ``(N, T)`` arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_curve,
)

from ._calibration import CalibrationCurve, calibration_curve
from ._common import (
    ConfusionMatrix,
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
    _threshold_metrics,
)

__all__ = ["ClassificationEvaluation", "NONE_LABEL"]

#: Column of the multiclass confusion matrix for images with no prediction at the threshold.
NONE_LABEL = "(none)"


class ClassificationEvaluation:
    """Precision, recall, AP and mAP of a classifier on validation images.

    Build it with :meth:`from_scores`. Definitions (Custom Vision's):

    - A tag is *predicted* for an image when its probability is ``>= threshold``; this holds
      for multiclass models too (at a threshold below 0.5 an image can get several
      predictions, each counted).
    - Precision: of the predictions at or above the threshold, the fraction that are correct
      (0 when there is no prediction, as Custom Vision shows). Recall: of the true tags, the
      fraction predicted (NaN for a tag with no true image). Overall precision and recall
      are micro-averaged over all tags.
    - AP of a tag: area under its precision/recall curve,
      ``sklearn.metrics.average_precision_score`` (no interpolation); independent of the
      threshold. NaN for a tag with no true image in the validation set.
    - mAP: mean AP over the tags that have true images, **leaving out the Negative tag**.

    The Negative tag (``negative_index``): it is a tag of the model, images tagged Negative
    are its positives, and it is evaluated like any other tag: it has its row in
    :meth:`per_tag` with precision, recall and AP, its predictions count in the overall
    precision and recall, and in the confusion matrix and mistakes. Only mAP leaves it out
    (as Custom Vision's per-tag table, which reports regular tags); ``in_map`` says so.
    """

    def __init__(
        self,
        y_true: Any,
        scores: Any,
        tag_names: Sequence[str],
        *,
        multilabel: bool,
        image_ids: Sequence[Any] | None = None,
        negative_index: int | None = None,
    ) -> None:
        s = np.array(scores, dtype=float)  # a copy: it is made read-only below
        if s.ndim != 2:
            raise ValueError(
                f"scores must be a 2-d array (images, tags) of probabilities; got shape {s.shape}"
            )
        n, t = s.shape
        if n == 0:
            raise ValueError("there are no validation images (scores has 0 rows)")
        if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() > 1:
            bad = np.argwhere(~(np.isfinite(s) & (s >= 0) & (s <= 1)))[0]
            raise ValueError(
                f"scores[{bad[0]}, {bad[1]}] = {s[bad[0], bad[1]]!r} is not a probability; "
                "scores must be finite numbers between 0 and 1 (softmax or sigmoid outputs)"
            )
        self.tag_names = _check_tag_names(tag_names, t)
        self.multilabel = bool(multilabel)
        y = self._check_y_true(y_true, n, t)
        if negative_index is not None:
            if (
                isinstance(negative_index, bool)
                or not isinstance(negative_index, (int, np.integer))
                or not 0 <= negative_index < t
            ):
                raise ValueError(
                    f"negative_index={negative_index!r} is not a tag column; it must be None "
                    f"or an integer in [0, {t - 1}]"
                )
            negative_index = int(negative_index)
        self.negative_index = negative_index
        self.image_ids = _check_image_ids(image_ids, n)

        self._y = y
        self._s = s
        self._n_true = y.sum(axis=0)
        self._n_true_total = int(self._n_true.sum())
        in_map = self._n_true > 0
        if negative_index is not None:
            in_map[negative_index] = False
        self._in_map = in_map
        ap = np.full(t, np.nan)
        for j in np.flatnonzero(self._n_true > 0):
            ap[j] = average_precision_score(y[:, j], s[:, j])
        self._ap = ap
        self._map = _mean_or_nan(ap[in_map])
        for a in (self._y, self._s, self._n_true, self._in_map, self._ap):
            a.flags.writeable = False  # shared with every ThresholdMetrics
        self._curves: dict[str, PRCurve] | None = None
        self._suggested: SuggestedThresholds | None = None

    @classmethod
    def from_scores(
        cls,
        y_true: Any,
        scores: Any,
        tag_names: Sequence[str],
        *,
        multilabel: bool,
        image_ids: Sequence[Any] | None = None,
        negative_index: int | None = None,
    ) -> ClassificationEvaluation:
        """Evaluate probabilities against true tags.

        Args:
            y_true: ``(N, T)`` 0/1 array, ``y_true[i, j] = 1`` when image ``i`` has tag
                ``j``. Multiclass: exactly one 1 per row (a 1-d array of ``N`` tag indices
                is accepted too). Multilabel: any number per row.
            scores: ``(N, T)`` probabilities: softmax outputs (multiclass) or sigmoid
                outputs (multilabel).
            tag_names: ``T`` unique names, in column order.
            multilabel: the project's classification type.
            image_ids: ``N`` ids reported by :meth:`mistakes` (default ``0 .. N-1``).
            negative_index: the column of the Negative tag, if the model has one.
        """
        return cls(
            y_true,
            scores,
            tag_names,
            multilabel=multilabel,
            image_ids=image_ids,
            negative_index=negative_index,
        )

    def _check_y_true(self, y_true: Any, n: int, t: int) -> np.ndarray:
        y = np.asarray(y_true)
        if y.ndim == 1 and not self.multilabel and y.shape[0] == n:
            if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= t:
                raise ValueError(
                    "a 1-d y_true must hold tag indices (integers in "
                    f"[0, {t - 1}]); got values {np.unique(y)[:10].tolist()}"
                )
            onehot = np.zeros((n, t), dtype=bool)
            onehot[np.arange(n), y] = True
            return onehot
        if y.shape != (n, t):
            raise ValueError(
                f"y_true has shape {y.shape} but scores has shape {(n, t)}; y_true must be "
                "an (images, tags) array of 0/1"
            )
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"y_true must hold only 0 and 1; found {np.unique(y)[:10].tolist()}")
        y = y.astype(bool)
        if not self.multilabel:
            counts = y.sum(axis=1)
            if (counts != 1).any():
                i = int(np.flatnonzero(counts != 1)[0])
                raise ValueError(
                    f"image {i} has {int(counts[i])} true tags; in a multiclass evaluation "
                    "every image has exactly one (use multilabel=True otherwise)"
                )
        return y

    # -- numbers at a threshold -----------------------------------------------------------
    @property
    def n_images(self) -> int:
        return self._s.shape[0]

    @property
    def ap(self) -> np.ndarray:
        """AP per tag (NaN where the tag has no true image); independent of the threshold."""
        return self._ap.copy()

    @property
    def map(self) -> float:
        """Mean AP over tags with true images, the Negative tag left out."""
        return self._map

    def at(self, threshold: float = 0.5) -> ThresholdMetrics:
        """Precision, recall, F1 (overall and per tag), AP and mAP at ``threshold``."""
        threshold = _check_unit(threshold, "threshold")
        pred = self._s >= threshold
        n_pred = np.count_nonzero(pred, axis=0)
        n_correct = np.count_nonzero(pred & self._y, axis=0)
        return _threshold_metrics(
            threshold, n_pred, n_correct, self._n_true, tags=self.tag_names, ap=self._ap,
            map=self._map, in_map=self._in_map, n_images=self.n_images,
        )

    def per_tag(self, threshold: float = 0.5) -> pd.DataFrame:
        """One row per tag: ``tag, precision, recall, f1, ap, n_true, n_predicted,
        n_correct, in_map`` (``in_map`` is False for the Negative tag and tags with no
        true image)."""
        return self.at(threshold).to_frame()

    # -- threshold-independent views --------------------------------------------------------
    def pr_curves(self) -> dict[str, PRCurve]:
        """Per tag, ``sklearn.metrics.precision_recall_curve`` (empty for tags without
        true images)."""
        if self._curves is None:
            curves = {}
            for j, name in enumerate(self.tag_names):
                if self._n_true[j] > 0:
                    p, r, thr = precision_recall_curve(self._y[:, j], self._s[:, j])
                else:
                    p = r = thr = np.zeros(0)
                curves[name] = PRCurve(name, p, r, thr, float(self._ap[j]))
            self._curves = curves
        return dict(self._curves)

    def suggested_thresholds(self) -> SuggestedThresholds:
        """The thresholds that maximise F1: overall (micro, all tags) and per tag."""
        if self._suggested is None:
            per, per_f1 = {}, {}
            for j, name in enumerate(self.tag_names):
                order = np.argsort(-self._s[:, j], kind="stable")
                per[name], per_f1[name] = _best_f1(
                    self._s[order, j], self._y[order, j], int(self._n_true[j])
                )
            flat_s = self._s.ravel()
            order = np.argsort(-flat_s, kind="stable")
            overall, overall_f1 = _best_f1(
                flat_s[order], self._y.ravel()[order], self._n_true_total
            )
            self._suggested = SuggestedThresholds(overall, overall_f1, per, per_f1)
        return self._suggested

    def calibration(self, bins: int = 10) -> CalibrationCurve:
        """The reliability curve and the expected calibration error of the scores (see
        :mod:`cvbench.evaluate._calibration`): do 90 % predictions come true 90 % of the
        time?"""
        return calibration_curve(self._s, self._y, multilabel=self.multilabel, bins=bins)

    # -- images ---------------------------------------------------------------------------
    def confusion_matrix(self, threshold: float = 0.5) -> ConfusionMatrix:
        """Multiclass: true tag (rows) against top-scoring tag (columns) with a last
        ``"(none)"`` column for images whose top probability is below ``threshold``.
        Multilabel: one 2x2 ``[[tn, fp], [fn, tp]]`` per tag. See :class:`ConfusionMatrix`.
        """
        threshold = _check_unit(threshold, "threshold")
        t = len(self.tag_names)
        if self.multilabel:
            m = multilabel_confusion_matrix(self._y, self._s >= threshold, labels=list(range(t)))
            return ConfusionMatrix(m, self.tag_names, (), threshold, True)
        true = np.argmax(self._y, axis=1)
        top = np.argmax(self._s, axis=1)
        top_score = self._s[np.arange(self.n_images), top]
        pred = np.where(top_score >= threshold, top, t)
        m = confusion_matrix(true, pred, labels=list(range(t + 1)))[:t]
        return ConfusionMatrix(m, self.tag_names, (*self.tag_names, NONE_LABEL), threshold, False)

    def mistakes(self, threshold: float = 0.5, top: int | None = None) -> pd.DataFrame:
        """The images with a false positive or a miss at ``threshold``, worst first.

        Columns: ``image_id, true_tags, predicted_tags, false_positives, misses, scores``
        (probabilities of the true and predicted tags, and of the top tag), ``how_wrong``.
        ``how_wrong`` sums ``|truth - probability|`` over the tags decided wrongly (a
        confident false positive or a confident miss weighs most). An image is a mistake
        exactly when it adds to the false positives or misses that precision and recall
        count. ``top`` keeps the first ``top`` rows.
        """
        threshold = _check_unit(threshold, "threshold")
        top = _check_top(top)
        pred = self._s >= threshold
        wrong = pred != self._y
        how = np.where(wrong, np.abs(self._y - self._s), 0.0).sum(axis=1)
        rows = np.flatnonzero(wrong.any(axis=1))
        rows = rows[np.argsort(-how[rows], kind="stable")]
        if top is not None:
            rows = rows[:top]
        names = self.tag_names
        records = []
        for i in rows.tolist():
            true_j = np.flatnonzero(self._y[i])
            pred_j = np.flatnonzero(pred[i])
            top_j = int(np.argmax(self._s[i]))
            shown = sorted({*true_j.tolist(), *pred_j.tolist(), top_j})
            records.append(
                {
                    "image_id": self.image_ids[i],
                    "true_tags": [names[j] for j in true_j],
                    "predicted_tags": [names[j] for j in pred_j],
                    "false_positives": [names[j] for j in np.flatnonzero(pred[i] & ~self._y[i])],
                    "misses": [names[j] for j in np.flatnonzero(~pred[i] & self._y[i])],
                    "scores": {names[j]: float(self._s[i, j]) for j in shown},
                    "how_wrong": float(how[i]),
                }
            )
        columns = [
            "image_id",
            "true_tags",
            "predicted_tags",
            "false_positives",
            "misses",
            "scores",
            "how_wrong",
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def to_dict(self, threshold: float = 0.5) -> dict[str, Any]:
        """The numbers at ``threshold`` as plain Python values (JSON-able, NaN -> None)."""
        d = self.at(threshold).to_dict()
        sug = self.suggested_thresholds()
        d.update(
            kind="multilabel" if self.multilabel else "multiclass",
            negative_tag=None
            if self.negative_index is None
            else self.tag_names[self.negative_index],
            suggested_threshold=_num(sug.overall),
        )
        for row in d["per_tag"]:
            row["suggested_threshold"] = _num(sug.per_tag[row["tag"]])
        return d

    def __repr__(self) -> str:
        kind = "multilabel" if self.multilabel else "multiclass"
        return (
            f"<ClassificationEvaluation {kind}: {self.n_images} images, "
            f"{len(self.tag_names)} tags, mAP={self._map:.3f}>"
        )
