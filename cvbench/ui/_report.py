"""What the Performance widget shows, computed without widgets: an evaluation's numbers at a
threshold as plain JSON, the records of the images it got wrong, and its figures (the
precision/recall curves in the tags' colours, the confusion matrix) as PNG data URLs.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never with
pyplot: no figure is left open, none pops up under a notebook cell, and drawing from a
background thread is safe (one figure, one thread; :func:`figure_lock` guards matplotlib's
font cache). matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from typing import Any

from ..project import Project
from ._assets import TAG_PALETTE, tag_colors
from ._images import data_url, thumbnail_url
from ._iterations import num

__all__ = [
    "BOX_COLORS",
    "metrics_json",
    "mistake_records",
    "draw_pr",
    "draw_confusion",
    "new_figure",
    "figure_url",
    "figure_lock",
]

#: Colours of boxes on the wrong detection images (as cvbench.evaluate's display).
BOX_COLORS = {"correct": "#107c10", "false_positive": "#d13438", "missed": "#ff8c00"}

_FIGURE_LOCK = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


# -- numbers ----------------------------------------------------------------------------------
def metrics_json(m: Any, suggested: Any | None) -> dict[str, Any]:
    """The numbers of ``m`` (an evaluation ``at(threshold)``), NaN as None, with the
    suggested thresholds (overall and per tag) when ``suggested`` is given."""
    rows = [
        {
            "tag": name,
            "precision": num(m.tag_precision[j]),
            "recall": num(m.tag_recall[j]),
            "f1": num(m.tag_f1[j]),
            "ap": num(m.tag_ap[j]),
            "n_true": int(m.tag_n_true[j]),
            "n_predicted": int(m.tag_n_predicted[j]),
            "n_correct": int(m.tag_n_correct[j]),
            "in_map": bool(m.tag_in_map[j]),
            "suggested": num(suggested.per_tag.get(name)) if suggested is not None else None,
        }
        for j, name in enumerate(m.tags)
    ]
    return {
        "threshold": float(m.threshold),
        "overlap": None if m.overlap is None else float(m.overlap),
        "precision": num(m.precision),
        "recall": num(m.recall),
        "f1": num(m.f1),
        "map": num(m.map),
        "coco_map": num(m.coco_map),
        "n_images": int(m.n_images),
        "n_true": int(m.n_true),
        "n_predicted": int(m.n_predicted),
        "n_correct": int(m.n_correct),
        "suggested": num(suggested.overall) if suggested is not None else None,
        "per_tag": rows,
    }


# -- the images it got wrong --------------------------------------------------------------------
def mistake_records(project: Project, evaluation: Any, tags: Sequence[dict[str, Any]], *,
                    threshold: float, overlap: float, top: int,
                    detection: bool) -> list[dict[str, Any]]:
    """The validation images ``evaluation`` got wrong at the thresholds, worst first, at most
    ``top``: ``{image_id, name, src, width, height, current_tags, how_wrong, true_tags,
    predicted_tags, detail, boxes}`` (tag ids; classification adds ``scores``). ``tags`` is
    the widget's tag list (names -> ids); images deleted since training are left out."""
    if detection:
        frame = evaluation.mistakes(threshold, overlap, top=top)
    else:
        frame = evaluation.mistakes(threshold, top=top)
    if frame.empty:
        return []
    ids = [str(i) for i in frame["image_id"]]
    images = {img.id: img for img in project.images(ids=ids)}
    position = {str(i): k for k, i in enumerate(evaluation.image_ids)}
    by_name = {tag["name"]: tag["id"] for tag in tags}
    out = []
    for row in frame.to_dict("records"):
        img = images.get(str(row["image_id"]))
        if img is None:  # deleted since training
            continue
        item: dict[str, Any] = {
            "image_id": img.id,
            "name": img.original_name or img.id[:8],
            "src": thumbnail_url(project, img),
            "width": img.width,
            "height": img.height,
            "current_tags": list(img.tag_ids),
            "how_wrong": float(row["how_wrong"]),
            "boxes": [],
        }
        if detection:
            res = evaluation.per_image(threshold, overlap,
                                       images=[position[str(row["image_id"])]])[0]
            item["true_tags"] = []
            item["predicted_tags"] = []
            item["detail"] = _detection_detail(res)
            item["boxes"] = _detection_boxes(res)
        else:
            item["true_tags"] = [by_name.get(n, n) for n in row["true_tags"]]
            item["predicted_tags"] = [by_name.get(n, n) for n in row["predicted_tags"]]
            item["scores"] = {by_name.get(k, k): float(v) for k, v in row["scores"].items()}
            item["detail"] = _classification_detail(row)
        out.append(item)
    return out


def _classification_detail(row: dict[str, Any]) -> str:
    parts = []
    if row["false_positives"]:
        parts.append("predicted " + ", ".join(row["false_positives"]))
    if row["misses"]:
        parts.append("missed " + ", ".join(row["misses"]))
    return "; ".join(parts)


def _detection_detail(res: Any) -> str:
    parts = []
    if res.false_positives:
        parts.append(f"{len(res.false_positives)} false")
    if res.misses:
        parts.append(f"{len(res.misses)} missed")
    if res.true_positives:
        parts.append(f"{len(res.true_positives)} correct")
    return ", ".join(parts)


def _detection_boxes(res: Any) -> list[dict[str, Any]]:
    def box(r: Any, kind: str, label: str) -> dict[str, Any]:
        b = r.box
        return {"left": b.left, "top": b.top, "width": b.width, "height": b.height,
                "color": BOX_COLORS[kind], "label": label, "dashed": kind == "missed"}

    return (
        [box(r, "missed", r.tag) for r in res.misses]
        + [box(r, "correct", f"{r.tag} {r.probability:.0%}") for r in res.true_positives]
        + [box(r, "false_positive", f"{r.tag} {r.probability:.0%}") for r in res.false_positives]
    )


# -- figures ---------------------------------------------------------------------------------
def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_url(fig: Any) -> str:
    """The figure as a PNG data URL, at the figure's own size (no tight bounding box, so
    positions read from its axes hold on the picture)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    return data_url(buf.getvalue(), "image/png")


def figure_lock() -> threading.Lock:
    """Hold this while drawing a figure."""
    return _FIGURE_LOCK


def _style(ax: Any) -> None:
    """The look of the widgets' plots: no title (the card around the picture has it), a
    light grid behind the data, no top and right spines."""
    ax.set_title("")
    ax.grid(True, color="#edebe9", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


#: Precision/recall curves: the legend's columns, and the dash patterns that tell apart
#: curves lying on top of each other.
LEGEND_COLUMNS = 4
LINE_STYLES: tuple[Any, ...] = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)))


def draw_pr(evaluation: Any, *, overlap: float, tags: list[dict[str, Any]],
            palette: Sequence[str] = TAG_PALETTE, detection: bool) -> dict[str, Any]:
    """The precision/recall curves of every tag, each in its tag's colour (``tags``: the
    widget's tag list, coloured with ``palette`` as the browser colours it): ``{src, axes
    ([x0, y0, x1, y1] of the plot area as fractions of the picture, y from the bottom),
    xlim, ylim, colors ({tag name: colour}), overlap (detection, else None)}``."""
    from matplotlib.colors import to_hex

    from ..evaluate import PrecisionRecallDisplay

    disp = PrecisionRecallDisplay.from_evaluation(evaluation, threshold=None, overlap=overlap)
    drawn = [c for c in disp.curves if c.thresholds.size]
    # the legend below the plot: four tags a row
    rows = -(-len(drawn) // LEGEND_COLUMNS)
    legend_in = 0.22 * rows + 0.1 if drawn else 0.0
    height = 4.2 + legend_in
    with figure_lock():
        fig = new_figure(5.6, height)
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.12, right=0.97, top=1 - 0.17 / height,
                            bottom=(0.5 + legend_in) / height)
        disp.plot(ax=ax, legend=False)
        _style(ax)
        colors = {}
        by_tag = tag_colors(tags, tuple(palette))
        for i, (curve, line) in enumerate(zip(drawn, disp.lines_, strict=True)):
            if curve.tag in by_tag:  # the tag's colour in every widget
                line.set_color(by_tag[curve.tag])
            # curves that coincide (often in detection: precision 1 up to the same recall)
            # stay apart by their dashes and a little width
            line.set_linestyle(LINE_STYLES[i % len(LINE_STYLES)])
            line.set_linewidth(2.4 - 0.9 * (i % len(LINE_STYLES)) / len(LINE_STYLES))
            ap = "n/a" if not math.isfinite(curve.ap) else f"{100 * curve.ap:.0f} %"
            line.set_label(f"{curve.tag} (AP {ap})")
            colors[curve.tag] = to_hex(line.get_color())
        if drawn:
            ax.legend(handles=list(disp.lines_), loc="upper center", fontsize=8,
                      bbox_to_anchor=(0.5, -0.5 / (height - legend_in - 0.67)),
                      ncol=min(LEGEND_COLUMNS, len(drawn)), frameon=False,
                      handlelength=2.6, columnspacing=1.2)
        box = ax.get_position()
        return {
            "src": figure_url(fig),
            "axes": [box.x0, box.y0, box.x1, box.y1],
            "xlim": list(ax.get_xlim()),
            "ylim": list(ax.get_ylim()),
            "colors": colors,
            "overlap": overlap if detection else None,
        }


def draw_reliability(evaluation: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The reliability diagram of a classification evaluation as ``{src, ece, n,
    temperature}`` (the temperature training scaled the logits by, from the iteration's
    ``settings``; None when none was applied)."""
    from ..evaluate import ReliabilityDisplay

    disp = ReliabilityDisplay.from_evaluation(evaluation)
    cal = (settings.get("notes") or {}).get("calibration") or {}
    with figure_lock():
        fig = new_figure(4.6, 3.6)
        ax = fig.add_subplot()
        disp.plot(ax=ax)
        ax.set_title("")  # the card has the title
        _style(ax)
        fig.tight_layout()
        src = figure_url(fig)
    return {"src": src, "ece": num(disp.curve.ece), "n": disp.curve.n,
            "temperature": cal.get("temperature") if cal.get("applied") else None}


def draw_confusion(evaluation: Any, *, threshold: float) -> str:
    """The confusion matrix at ``threshold`` (classification) as a PNG data URL, sized to
    its rows and columns."""
    from ..evaluate import ConfusionMatrixDisplay

    disp = ConfusionMatrixDisplay.from_evaluation(evaluation, threshold=threshold)
    confusion = disp.confusion
    rows = len(confusion.row_labels)
    cols = 4 if confusion.multilabel else len(confusion.column_labels)
    size = (max(4.6, 0.42 * cols + 2.4), max(3.6, 0.36 * rows + 1.8))
    with figure_lock():
        fig = new_figure(*size)
        ax = fig.add_subplot()
        disp.plot(ax=ax)
        ax.set_title("")  # the card around the picture has the title
        fig.tight_layout()
        return figure_url(fig)
