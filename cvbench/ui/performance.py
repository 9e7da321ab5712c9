"""``Performance``: how good an iteration is, with thresholds that update the numbers live.

    from cvbench.ui import Performance
    Performance(project)                       # the newest iteration
    Performance(project, iteration="Iteration 2", threshold=0.6)

The probability threshold slider (and, for detection, the overlap slider) updates precision,
recall, mAP and the per-tag table on every move: the evaluation of the stored validation
predictions answers ``at(threshold)`` in well under a millisecond, and the table is plain
HTML. Figures are matplotlib PNGs: the precision/recall curves do not depend on the
probability threshold, so they are drawn once per iteration (and overlap) and the browser
marks each tag's operating point on them live; the confusion matrix and the images it got
wrong follow the threshold a moment after the slider stops (``plot_delay``).

Clicking a wrong image opens a small tag picker (classification: the image is retagged with
``project.tag_images``), or, for detection, hands the image to the callbacks registered
with :meth:`Performance.on_open_image` (the workbench opens it in its box editor).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import traitlets as t

from ..errors import CvbenchError
from ._app import app_css, app_esm
from ._app_messages import OpenImageMsg, RetagMsg
from ._base import ProjectWidget, check_dict_list
from ._images import thumbnail_url
from ._iterations import (
    choose_iteration,
    figure_lock,
    figure_url,
    iteration_options,
    new_figure,
    num,
    tag_colors,
)
from ._messages import RefreshMsg

__all__ = ["Performance"]

#: Colours of boxes on the wrong detection images (as cvbench.evaluate's display).
BOX_COLORS = {"correct": "#107c10", "false_positive": "#d13438", "missed": "#ff8c00"}


class Performance(ProjectWidget):
    """Precision, recall, mAP, PR curves, confusion matrix and mistakes of an iteration."""

    _esm = app_esm("performance.js")
    _css = app_css("performance.css")
    _handlers = {
        "retag": (RetagMsg, "_on_retag"),
        "open_image": (OpenImageMsg, "_on_open_image"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }

    iterations = t.List(
        t.Dict(), help="The iterations to pick from, newest first: {id, name, label, mode, "
        "domain, published_name, created} (read-only)."
    ).tag(sync=True)
    iteration = t.Unicode("", help="Id of the iteration shown ('' when there is none).").tag(
        sync=True)
    threshold = t.Float(0.5, help="Probability threshold, 0 to 1.").tag(sync=True)
    overlap = t.Float(0.5, help="Overlap (IoU) threshold for detection, 0 to 1.").tag(sync=True)
    metrics = t.Dict(
        help="The numbers at threshold (and overlap): {threshold, overlap, precision, recall, "
        "f1, map, coco_map, n_images, n_true, n_predicted, n_correct, suggested, per_tag: "
        "[{tag, precision, recall, f1, ap, n_true, n_predicted, n_correct, in_map, "
        "suggested}]}; NaN is null (read-only)."
    ).tag(sync=True)
    pr_plot = t.Dict(
        help="The precision/recall curves: {src (PNG data URL), axes ([x0, y0, x1, y1] of the "
        "plot area as fractions of the picture, y from the bottom), xlim, ylim, colors ({tag: "
        "colour})}; {} before it is drawn (read-only)."
    ).tag(sync=True)
    cm_plot = t.Unicode(
        "", help="The confusion matrix at threshold as a PNG data URL (classification) "
        "(read-only)."
    ).tag(sync=True)
    mistakes = t.List(
        t.Dict(),
        help="The validation images it got wrong at the thresholds, worst first: {image_id, "
        "name, src, width, height, true_tags, predicted_tags, current_tags (tag ids now), "
        "detail, boxes} (read-only).",
    ).tag(sync=True)
    plotted = t.Dict(
        help="The thresholds the figures and mistakes were made at: {threshold, overlap} "
        "(read-only)."
    ).tag(sync=True)
    max_mistakes = t.Int(24, help="How many wrong images to show (1 to 200).")

    def __init__(self, project, *, iteration: Any = None, threshold: float = 0.5,
                 overlap: float = 0.5, plot_delay: float = 0.35, max_mistakes: int = 24) -> None:
        super().__init__(project)
        #: seconds after the last threshold move before figures and mistakes follow; 0 draws
        #: at once (tests)
        self.plot_delay = float(plot_delay)
        self._evaluation: Any = None
        self._suggested: Any = None
        self._callbacks: list[Callable[[str], Any]] = []
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._pending: set[str] = set()
        self._loading = True
        self.max_mistakes = max_mistakes
        self.threshold = threshold
        self.overlap = overlap
        self._loading = False
        self.refresh(iteration=iteration)

    # -- validators --------------------------------------------------------------------------
    @t.validate("threshold", "overlap")
    def _valid_unit(self, proposal: t.Bunch) -> float:
        value = proposal["value"]
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise t.TraitError(f"{proposal['trait'].name}={value!r} should be between 0 and 1")
        return value

    @t.validate("iteration")
    def _valid_iteration(self, proposal: t.Bunch) -> str:
        value = proposal["value"]
        ids = [o["id"] for o in self.iterations]
        if value and value not in ids:
            raise t.TraitError(
                f"iteration={value!r} is not an iteration id of this project; it has "
                f"{[o['name'] for o in self.iterations]}"
            )
        return value

    @t.validate("iterations")
    def _valid_iterations(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "name", "label"), "iterations")

    @t.validate("mistakes")
    def _valid_mistakes(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("image_id", "src", "detail"), "mistakes")

    @t.validate("max_mistakes")
    def _valid_max_mistakes(self, proposal: t.Bunch) -> int:
        if not 1 <= proposal["value"] <= 200:
            raise t.TraitError(f"max_mistakes={proposal['value']} should be in [1, 200]")
        return proposal["value"]

    # -- reacting to the browser -------------------------------------------------------------
    @t.observe("iteration")
    def _iteration_changed(self, _change: t.Bunch) -> None:
        if not self._loading:
            self._load()

    @t.observe("threshold")
    def _threshold_changed(self, _change: t.Bunch) -> None:
        if self._loading or self._evaluation is None:
            return
        self._update_numbers()
        self._schedule({"cm", "mistakes"})

    @t.observe("overlap")
    def _overlap_changed(self, _change: t.Bunch) -> None:
        if self._loading or self._evaluation is None or not self.detection:
            return
        self._suggested = self._evaluation.suggested_thresholds(self.overlap)
        self._update_numbers()
        self._schedule({"pr", "mistakes"})

    # -- reading -----------------------------------------------------------------------------
    @property
    def detection(self) -> bool:
        return self.kind == "detection"

    @property
    def evaluation(self) -> Any:
        """The ``cvbench.evaluate`` evaluation of the iteration shown (None if none)."""
        return self._evaluation

    def on_open_image(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(image_id)`` when a wrong detection image is clicked."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(image_id)")
        self._callbacks.append(callback)

    def refresh(self, iteration: Any = None) -> None:
        """Read the iterations again; show ``iteration`` (id, name or published name), else
        keep the one shown; when an iteration was trained meanwhile, show the newest one."""
        options = iteration_options(self.project)
        if iteration is not None:
            chosen = self.project.iteration(iteration).id
        else:  # a new iteration (trained meanwhile) is shown at once
            chosen = choose_iteration(options, self.iteration,
                                      {o["id"] for o in self.iterations}, newest=True)
        same = chosen == self.iteration and self._evaluation is not None
        self._loading = True
        try:
            with self.hold_sync():
                self.refresh_tags()
                self.iterations = options
                self.iteration = chosen
        finally:
            self._loading = False
        if same:
            self._schedule({"mistakes"})  # tags may have changed since
        else:
            self._load()

    def _load(self) -> None:
        self._cancel_timer()
        self._evaluation = None
        self._suggested = None
        if not self.iteration:
            with self.hold_sync():
                self.metrics = {}
                self.pr_plot = {}
                self.cm_plot = ""
                self.mistakes = []
                self.plotted = {}
            return
        iteration = self.project.iteration(self.iteration)
        try:
            self._evaluation = iteration.evaluation()
        except CvbenchError as exc:
            with self.hold_sync():
                self.metrics = {}
                self.pr_plot = {}
                self.cm_plot = ""
                self.mistakes = []
            self.say(str(exc), "error")
            return
        self._suggested = (self._evaluation.suggested_thresholds(self.overlap) if self.detection
                           else self._evaluation.suggested_thresholds())
        self._update_numbers()
        self._pending = {"pr", "cm", "mistakes"}
        self.flush()

    def _at(self, threshold: float) -> Any:
        if self.detection:
            return self._evaluation.at(threshold, self.overlap)
        return self._evaluation.at(threshold)

    def _update_numbers(self) -> None:
        m = self._at(self.threshold)
        sug = self._suggested
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
                "suggested": num(sug.per_tag.get(name)) if sug is not None else None,
            }
            for j, name in enumerate(m.tags)
        ]
        self.metrics = {
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
            "suggested": num(sug.overall) if sug is not None else None,
            "per_tag": rows,
        }

    # -- figures and mistakes, a moment after the last move ---------------------------------
    def _schedule(self, what: set[str]) -> None:
        with self._timer_lock:
            self._pending |= what
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.plot_delay > 0:
                self._timer = threading.Timer(self.plot_delay, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if self.plot_delay <= 0:
            self.flush()

    def _cancel_timer(self) -> None:
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pending = set()

    def flush(self) -> None:
        """Draw now what waits for the slider to stop (figures, mistakes)."""
        with self._timer_lock:
            what, self._pending = self._pending, set()
            self._timer = None
        evaluation = self._evaluation
        if evaluation is None or not what:
            return
        threshold, overlap = self.threshold, self.overlap
        updates: dict[str, Any] = {}
        if "pr" in what:
            updates["pr_plot"] = self._draw_pr(evaluation, overlap)
        if "cm" in what and not self.detection:
            updates["cm_plot"] = self._draw_confusion(evaluation, threshold)
        if "mistakes" in what:
            updates["mistakes"] = self._mistakes(evaluation, threshold, overlap)
        if evaluation is not self._evaluation:  # another iteration was picked meanwhile
            return
        with self.hold_sync():
            for name, value in updates.items():
                setattr(self, name, value)
            self.plotted = {"threshold": threshold, "overlap": overlap}

    def _draw_pr(self, evaluation: Any, overlap: float) -> dict[str, Any]:
        from matplotlib.colors import to_hex

        from ..evaluate import PrecisionRecallDisplay

        disp = PrecisionRecallDisplay.from_evaluation(evaluation, threshold=None,
                                                      overlap=overlap)
        with figure_lock():
            fig = new_figure(5.6, 4.2)
            ax = fig.add_subplot()
            fig.subplots_adjust(left=0.12, right=0.97, top=0.96, bottom=0.12)
            disp.plot(ax=ax, legend=False)
            ax.set_title("")  # the card around the picture has the title
            ax.grid(True, color="#edebe9", linewidth=0.8)
            ax.set_axisbelow(True)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            colors = {}
            palette = tag_colors(self.tags)
            drawn = [c for c in disp.curves if c.thresholds.size]
            for curve, line in zip(drawn, disp.lines_, strict=True):
                if curve.tag in palette:  # the tag's colour in every widget
                    line.set_color(palette[curve.tag])
                colors[curve.tag] = to_hex(line.get_color())
            box = ax.get_position()
            out = {
                "src": figure_url(fig),
                "axes": [box.x0, box.y0, box.x1, box.y1],
                "xlim": list(ax.get_xlim()),
                "ylim": list(ax.get_ylim()),
                "colors": colors,
                "overlap": overlap if self.detection else None,
            }
        return out

    def _draw_confusion(self, evaluation: Any, threshold: float) -> str:
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

    def _mistakes(self, evaluation: Any, threshold: float, overlap: float
                  ) -> list[dict[str, Any]]:
        top = self.max_mistakes
        if self.detection:
            frame = evaluation.mistakes(threshold, overlap, top=top)
        else:
            frame = evaluation.mistakes(threshold, top=top)
        if frame.empty:
            return []
        ids = [str(i) for i in frame["image_id"]]
        images = {img.id: img for img in self.project.images(ids=ids)}
        position = {str(i): k for k, i in enumerate(evaluation.image_ids)}
        by_name = {tag["name"]: tag["id"] for tag in self.tags}
        out = []
        for row in frame.to_dict("records"):
            img = images.get(str(row["image_id"]))
            if img is None:  # deleted since training
                continue
            item: dict[str, Any] = {
                "image_id": img.id,
                "name": img.original_name or img.id[:8],
                "src": thumbnail_url(self.project, img),
                "width": img.width,
                "height": img.height,
                "current_tags": list(img.tag_ids),
                "how_wrong": float(row["how_wrong"]),
                "boxes": [],
            }
            if self.detection:
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

    # -- actions -------------------------------------------------------------------------------
    def retag(self, image_id: str, tags: list[str]) -> None:
        """Give an image exactly ``tags`` (ids or names): the fix for a wrong label."""
        if self.detection:
            raise ValueError(
                "detection images are retagged by editing their boxes; open the image in the "
                "box editor (cvbench.ui.BoxEditor(project, start=image_id))"
            )
        if self.kind == "multiclass" and len(tags) > 1:
            raise ValueError(
                f"a multiclass image has one tag; got {len(tags)} ({tags}) — choose one"
            )
        want = [self.project.get_tag(tag).id for tag in tags]
        current = set(self.project.image(image_id).tag_ids)
        gone = [tag for tag in current if tag not in want]
        new = [tag for tag in want if tag not in current]
        if gone and (not new or self.kind != "multiclass"):
            self.project.untag_images([image_id], gone)
        if new:
            self.project.tag_images([image_id], new, create_tags=False)
        now = list(self.project.image(image_id).tag_ids)
        with self.hold_sync():
            self.refresh_tags()
            self.mistakes = [
                {**m, "current_tags": now} if m["image_id"] == image_id else m
                for m in self.mistakes
            ]
        names = ", ".join(self.tag_name(tag) for tag in now) or "no tag"
        self.say(f"Retagged the image: {names}. Train again to learn from it.", "success")

    def open_image(self, image_id: str) -> None:
        """Hand an image to the callbacks of :meth:`on_open_image`."""
        if not self._callbacks:
            raise ValueError(
                "nothing opens images here; edit its boxes with "
                f"cvbench.ui.BoxEditor(project, start={image_id!r})"
            )
        for callback in list(self._callbacks):
            callback(image_id)

    # -- handlers ------------------------------------------------------------------------------
    def _on_retag(self, msg: RetagMsg, _buffers: list[bytes]) -> None:
        self.retag(msg["image_id"], msg["tags"])

    def _on_open_image(self, msg: OpenImageMsg, _buffers: list[bytes]) -> None:
        self.open_image(msg["image_id"])

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()


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
