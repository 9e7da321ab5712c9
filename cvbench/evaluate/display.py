"""Figures of an evaluation, in scikit-learn's ``*Display`` style.

    disp = PrecisionRecallDisplay.from_evaluation(ev, threshold=0.5)   # computes, no figure
    disp.plot()                                                        # draws; .figure_, .ax_

Unlike scikit-learn's ``from_*`` methods, ``from_evaluation`` does not draw: it gathers the
numbers, and :meth:`plot` draws them (on ``ax``, or on a new figure). matplotlib is imported
only inside ``plot``, so importing ``cvbench.evaluate`` never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._calibration import CalibrationCurve
from ._common import ConfusionMatrix, PRCurve
from .classification import ClassificationEvaluation
from .detection import DetectionEvaluation, ImageDetections

__all__ = ["PrecisionRecallDisplay", "ConfusionMatrixDisplay", "DetectionResultsDisplay",
           "ReliabilityDisplay", "GRID_ABOVE"]

#: Above this many curves, a new precision/recall figure is drawn as small multiples.
GRID_ABOVE = 6

#: Colours of DetectionResultsDisplay (matplotlib's tab10).
COLORS = {
    "true_positive": "#2ca02c",
    "false_positive": "#d62728",
    "found": "#2ca02c",
    "miss": "#ff7f0e",
}


def _new_ax(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def _kinds(evaluation: Any, allowed: tuple[type, ...], display: str) -> None:
    if not isinstance(evaluation, allowed):
        names = " or ".join(t.__name__ for t in allowed)
        raise TypeError(
            f"{display}.from_evaluation needs a {names}; got {type(evaluation).__name__}"
        )


class PrecisionRecallDisplay:
    """Precision/recall curves, one per tag, with the operating point at a threshold.

    Attributes after :meth:`plot`: ``figure_``, ``ax_``, ``lines_`` (one per curve).
    """

    def __init__(
        self,
        curves: Sequence[PRCurve],
        *,
        operating_points: Mapping[str, tuple[float, float]] | None = None,
        threshold: float | None = None,
        title: str | None = None,
    ) -> None:
        self.curves = list(curves)
        self.operating_points = dict(operating_points or {})
        self.threshold = threshold
        self.title = title

    @classmethod
    def from_evaluation(
        cls,
        evaluation: ClassificationEvaluation | DetectionEvaluation,
        *,
        tags: Sequence[str] | None = None,
        threshold: float | None = 0.5,
        overlap: float = 0.5,
        worst: int | None = None,
    ) -> PrecisionRecallDisplay:
        """Curves of ``tags`` (default: every tag with true instances); the operating point
        at ``threshold`` is marked (None: no mark). ``overlap`` is for detection only.
        ``worst=k`` keeps the ``k`` tags with the lowest AP (the ones to look at first)."""
        _kinds(evaluation, (ClassificationEvaluation, DetectionEvaluation), cls.__name__)
        if isinstance(evaluation, DetectionEvaluation):
            all_curves = evaluation.pr_curves(overlap)
            title = f"Precision/recall at overlap {overlap:g}"
        else:
            all_curves = evaluation.pr_curves()
            title = "Precision/recall"
        if tags is None:
            names = [n for n, c in all_curves.items() if c.thresholds.size]
        else:
            names = list(tags)
            unknown = [n for n in names if n not in all_curves]
            if unknown:
                raise ValueError(
                    f"tags {unknown} are not tags of this evaluation; valid tags: "
                    f"{list(all_curves)}"
                )
        if worst is not None:
            if isinstance(worst, bool) or not isinstance(worst, int) or worst < 1:
                raise ValueError(f"worst={worst!r} should be a number of tags, 1 or more")
            ranked = sorted(names, key=lambda n: (np.nan_to_num(all_curves[n].ap, nan=2.0), n))
            names = [n for n in names if n in ranked[:worst]]
            if len(names) < len(all_curves):
                title += f", the {len(names)} tags with the lowest AP"
        points = {}
        if threshold is not None:
            if isinstance(evaluation, DetectionEvaluation):
                m = evaluation.at(threshold, overlap)
            else:
                m = evaluation.at(threshold)
            for j, name in enumerate(m.tags):
                if name in names and not np.isnan(m.tag_recall[j]):
                    points[name] = (float(m.tag_recall[j]), float(m.tag_precision[j]))
        return cls(
            [all_curves[n] for n in names],
            operating_points=points,
            threshold=threshold,
            title=title,
        )

    def plot(self, ax: Any = None, *, legend: bool | None = None,
             layout: str = "auto") -> PrecisionRecallDisplay:
        """Draw the curves.

        ``layout="overlay"`` draws every curve on one axes (``ax``, or a new figure), with
        the legend beside the plot, not over the curves (``legend`` defaults to up to 20
        curves); ``"grid"`` draws small multiples, one small plot per tag titled with its
        AP, on a new figure; ``"auto"`` (default) is the grid for more than
        :data:`GRID_ABOVE` curves on a new figure, else the overlay. Attributes:
        ``figure_``, ``ax_`` (the first axes), ``axes_`` (all of them), ``lines_``.
        """
        if layout not in ("auto", "overlay", "grid"):
            raise ValueError(f"layout={layout!r} should be one of 'auto', 'overlay', 'grid'")
        drawn = [c for c in self.curves if c.thresholds.size]
        if layout == "grid" and ax is not None:
            raise ValueError("layout='grid' draws a figure of its own; leave ax out, or use "
                             "layout='overlay' to draw on ax")
        if layout == "grid" or (layout == "auto" and ax is None and len(drawn) > GRID_ABOVE):
            return self._plot_grid(drawn)
        fig, ax = _new_ax(ax, (7.5, 5))
        colors = _distinct_colors(len(drawn))
        self.lines_ = []
        for curve, color in zip(drawn, colors, strict=True):
            label = curve.tag if np.isnan(curve.ap) else f"{curve.tag} (AP {curve.ap:.2f})"
            (line,) = ax.plot(curve.recall, curve.precision, drawstyle="steps-post", label=label,
                              color=color)
            self.lines_.append(line)
            if curve.tag in self.operating_points:
                r, p = self.operating_points[curve.tag]
                ax.plot([r], [p], "o", color=line.get_color())
        _pr_axes(ax)
        ax.set_title(self._title())
        if legend if legend is not None else 0 < len(self.lines_) <= 20:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                      borderaxespad=0.0, frameon=False)
            fig.tight_layout()
        self.figure_, self.ax_, self.axes_ = fig, ax, [ax]
        return self

    def _title(self) -> str:
        title = self.title or "Precision/recall"
        if self.threshold is not None and self.operating_points:
            title += f" (dots: threshold {self.threshold:g})"
        return title

    def _plot_grid(self, drawn: list[PRCurve]) -> PrecisionRecallDisplay:
        import matplotlib.pyplot as plt

        n = max(1, len(drawn))
        cols = min(4, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.3 * rows + 0.6),
                                 sharex=True, sharey=True, squeeze=False)
        flat = list(axes.ravel())
        self.lines_ = []
        for curve, axis in zip(drawn, flat, strict=False):
            (line,) = axis.plot(curve.recall, curve.precision, drawstyle="steps-post",
                                color="#1f77b4")
            self.lines_.append(line)
            if curve.tag in self.operating_points:
                r, p = self.operating_points[curve.tag]
                axis.plot([r], [p], "o", color="#d62728")
            ap = "" if np.isnan(curve.ap) else f" · AP {curve.ap:.2f}"
            axis.set_title(f"{curve.tag}{ap}", fontsize="medium")
            _pr_axes(axis, labels=False)
        for axis in flat[len(drawn):]:
            axis.set_visible(False)
        for axis in axes[-1]:
            axis.set_xlabel("Recall")
        for axis in axes[:, 0]:
            axis.set_ylabel("Precision")
        fig.suptitle(self._title())
        fig.tight_layout()
        self.figure_, self.ax_, self.axes_ = fig, flat[0], flat
        return self


def _pr_axes(ax: Any, *, labels: bool = True) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.05)
    ax.grid(True, alpha=0.3)
    if labels:
        ax.set_xlabel("Recall")
        ax.set_ylabel("Precision")


def _distinct_colors(n: int) -> list[Any]:
    """``n`` colours that differ: matplotlib's tab10 up to 10, tab20 up to 20, then evenly
    spaced hues."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["hsv"](i / n) for i in range(n)]


class ConfusionMatrixDisplay:
    """A confusion matrix as a heat map with counts.

    Multiclass: true tags as rows, predicted tags and ``(none)`` as columns. Multilabel: one
    row per tag with columns TP, FN, FP, TN. Attributes after :meth:`plot`: ``figure_``,
    ``ax_``, ``im_``, ``text_`` (the count labels, or None).
    """

    def __init__(self, confusion: ConfusionMatrix) -> None:
        self.confusion = confusion

    @classmethod
    def from_evaluation(
        cls, evaluation: ClassificationEvaluation, *, threshold: float = 0.5
    ) -> ConfusionMatrixDisplay:
        _kinds(evaluation, (ClassificationEvaluation,), cls.__name__)
        return cls(evaluation.confusion_matrix(threshold))

    def _table(self) -> tuple[np.ndarray, list[str], list[str]]:
        c = self.confusion
        if c.multilabel:
            m = c.matrix
            table = np.stack([m[:, 1, 1], m[:, 1, 0], m[:, 0, 1], m[:, 0, 0]], axis=1)
            return table, list(c.row_labels), ["TP", "FN", "FP", "TN"]
        return c.matrix, list(c.row_labels), list(c.column_labels)

    def plot(
        self,
        ax: Any = None,
        *,
        cmap: str = "Blues",
        include_values: bool = True,
        xticks_rotation: float = 45,
    ) -> ConfusionMatrixDisplay:
        table, rows, cols = self._table()
        size = (max(4.0, 0.5 * len(cols) + 2), max(3.5, 0.45 * len(rows) + 1.5))
        fig, ax = _new_ax(ax, size)
        im = ax.imshow(table, interpolation="nearest", cmap=cmap, aspect="auto")
        self.text_ = None
        if include_values and table.size <= 2500:
            cmap_obj = im.cmap
            vmax = table.max() if table.size else 0
            text = np.empty(table.shape, dtype=object)
            for (i, j), v in np.ndenumerate(table):
                dark = vmax > 0 and v > vmax / 2
                color = cmap_obj(0.0) if dark else cmap_obj(1.0)
                text[i, j] = ax.text(j, i, f"{int(v)}", ha="center", va="center", color=color)
            self.text_ = text
        fig.colorbar(im, ax=ax)
        ax.set_xticks(np.arange(len(cols)), labels=cols, rotation=xticks_rotation, ha="right")
        ax.set_yticks(np.arange(len(rows)), labels=rows)
        if self.confusion.multilabel:
            ax.set_xlabel("Count")
            ax.set_ylabel("Tag")
        else:
            ax.set_xlabel("Predicted tag")
            ax.set_ylabel("True tag")
        ax.set_title(f"Confusion matrix at threshold {self.confusion.threshold:g}")
        self.figure_, self.ax_, self.im_ = fig, ax, im
        return self


class DetectionResultsDisplay:
    """One image with its predicted boxes (at a threshold) and its true boxes.

    Solid boxes are predictions: green when correct, red when false positives. Dashed boxes
    are true boxes: green when found, orange when missed. Attributes after :meth:`plot`:
    ``figure_``, ``ax_``, ``image_`` (the AxesImage), ``patches_``.
    """

    def __init__(self, image: Any, result: ImageDetections) -> None:
        arr = np.asarray(image)
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise ValueError(
                f"image has shape {arr.shape}; give a PIL image or an (H, W) or (H, W, C) array"
            )
        self.image = arr
        self.result = result

    @classmethod
    def from_evaluation(
        cls,
        evaluation: DetectionEvaluation,
        image: Any,
        index: int,
        *,
        threshold: float = 0.5,
        overlap: float = 0.5,
    ) -> DetectionResultsDisplay:
        """The image at position ``index`` of ``evaluation``; ``image`` is its picture (a
        PIL image or an array, as displayed: boxes are relative to it)."""
        _kinds(evaluation, (DetectionEvaluation,), cls.__name__)
        result = evaluation.per_image(threshold, overlap, images=[index])[0]
        return cls(image, result)

    def plot(
        self, ax: Any = None, *, show_true: bool = True, labels: bool = True,
        title: str | None = None,
    ) -> DetectionResultsDisplay:
        """Draw the image with its boxes. The title says what was found at the thresholds
        (``title`` comes before it, e.g. the image's file name); the legend sits under the
        picture, never over a box."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Rectangle

        h, w = self.image.shape[:2]
        fig, ax = _new_ax(ax, (6, 6 * h / max(w, 1)))
        self.image_ = ax.imshow(self.image, cmap="gray" if self.image.ndim == 2 else None)
        self.patches_: list[Any] = []
        res = self.result

        def draw(r: Any, color: str, dashed: bool, text: str | None) -> None:
            left, top, bw, bh = r.box.to_pixels(w, h)
            patch = Rectangle(
                (left, top),
                bw,
                bh,
                fill=False,
                edgecolor=color,
                linewidth=2,
                linestyle="--" if dashed else "-",
            )
            ax.add_patch(patch)
            self.patches_.append(patch)
            if labels and text:
                ax.text(
                    left,
                    top,
                    text,
                    color="white",
                    fontsize=8,
                    va="bottom",
                    bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "edgecolor": "none"},
                )

        if show_true:
            for r in res.true_positives:
                if r.true_box is not None:
                    draw(type(r)(r.tag, r.tag_index, r.true_box), COLORS["found"], True, None)
            for r in res.misses:
                draw(r, COLORS["miss"], True, f"{r.tag} (missed)")
        for r in res.true_positives:
            draw(r, COLORS["true_positive"], False, f"{r.tag} {r.probability:.0%}")
        for r in res.false_positives:
            draw(r, COLORS["false_positive"], False, f"{r.tag} {r.probability:.0%}")
        handles = [
            Line2D([], [], color=COLORS["true_positive"], lw=2, label="correct prediction"),
            Line2D([], [], color=COLORS["false_positive"], lw=2, label="false positive"),
        ]
        if show_true:
            handles += [
                Line2D([], [], color=COLORS["found"], lw=2, ls="--", label="true box, found"),
                Line2D([], [], color=COLORS["miss"], lw=2, ls="--", label="true box, missed"),
            ]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01),
                  ncol=len(handles), fontsize="x-small", frameon=False,
                  handlelength=1.6, columnspacing=1.0)
        ax.set_axis_off()
        found = (f"threshold {res.threshold:g}, overlap {res.overlap:g}: "
                 f"{len(res.true_positives)} correct, {len(res.false_positives)} false, "
                 f"{len(res.misses)} missed")
        ax.set_title(f"{title}, {found}" if title else found[0].upper() + found[1:],
                     fontsize="small")
        self.figure_, self.ax_ = fig, ax
        return self


class ReliabilityDisplay:
    """A reliability diagram: per confidence bin, how often the predictions came true
    (bars) against the diagonal of perfect calibration, with the share of predictions in
    each bin below. Attributes after :meth:`plot`: ``figure_``, ``ax_``, ``bars_``."""

    def __init__(self, curve: CalibrationCurve) -> None:
        self.curve = curve

    @classmethod
    def from_evaluation(cls, evaluation: ClassificationEvaluation, *, bins: int = 10
                        ) -> ReliabilityDisplay:
        _kinds(evaluation, (ClassificationEvaluation,), "ReliabilityDisplay")
        return cls(evaluation.calibration(bins))

    def plot(self, ax: Any = None, *, color: str = "#0078d4") -> ReliabilityDisplay:
        fig, ax = _new_ax(ax, (4.6, 4.2))
        c = self.curve
        width = np.diff(c.edges)
        centres = c.edges[:-1] + width / 2
        filled = c.count > 0
        ax.plot([0, 1], [0, 1], color="#8a8886", linestyle="--", linewidth=1,
                label="perfectly calibrated")
        self.bars_ = ax.bar(centres[filled], c.accuracy[filled], width=width[filled] * 0.9,
                            color=color, alpha=0.85, label="right, of the predictions")
        # the gap to the diagonal, hatched: over-confidence above the bar, under below
        ax.bar(centres[filled], c.confidence[filled] - c.accuracy[filled],
               bottom=c.accuracy[filled], width=width[filled] * 0.9, fill=False,
               edgecolor="#d13438", hatch="//", linewidth=0, label="gap to confidence")
        share = c.count / max(1, c.count.sum())
        ax.bar(centres, share * 0.15, width=width * 0.9, bottom=-0.17, color="#c8c6c4")
        ax.axhline(-0.02, color="#edebe9", linewidth=0.8)
        ax.text(0.01, -0.05, "share of the predictions", fontsize=7, color="#605e5c",
                va="top")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.18, 1.02)
        ax.set_xlabel("Confidence (the probability predicted)")
        ax.set_ylabel("Share right")
        what = "every tag's probability" if c.multilabel else "the top tag"
        ece = "n/a" if not np.isfinite(c.ece) else f"{100 * c.ece:.1f} %"
        ax.set_title(f"Calibration of {what}: ECE {ece}", fontsize=10)
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        self.figure_, self.ax_ = fig, ax
        return self
