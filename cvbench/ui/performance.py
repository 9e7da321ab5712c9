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

"Compare with…" (``compare_with``, or :meth:`Performance.compare`) puts another iteration of
the same kind beside the one shown (:mod:`cvbench.ui._compare`, as the Insight tab shows it):
per-tag precision, recall and AP of both and their difference, both PR curves, and the images
one got right and the other wrong, which open large. It follows the iteration shown, the
threshold and the overlap; '' hides it.

Clicking a wrong image opens a small tag picker (classification: the image is retagged with
``project.tag_images``), or, for detection, hands the image to the callbacks registered
with :meth:`Performance.on_open_image` (the workbench opens it in its box editor). The ⤢
button of its picture shows it large (:mod:`cvbench.ui._detail`), with the predictions of
every iteration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import traitlets as t

from ..errors import CvbenchError
from ..evaluate import bootstrap_intervals
from ..iteration import Iteration
from ._app_messages import OpenImageMsg, RetagMsg
from ._assets import app_css, esm
from ._base import Fraction, check_dict_list
from ._compare import Comparer, compare_css
from ._detail import ImageDetail, detail_css
from ._messages import RefreshMsg
from ._mixins import IterationPicker
from ._report import (
    BOX_COLORS,
    draw_confusion,
    draw_pr,
    draw_reliability,
    metrics_json,
    mistake_records,
)
from ._saliency import Explainer, why_css

__all__ = ["Performance", "BOX_COLORS", "INTERVAL_RESAMPLES"]

#: Bootstrap draws behind the intervals under the tiles.
INTERVAL_RESAMPLES = 200


class Performance(Comparer, Explainer, ImageDetail, IterationPicker):
    """Precision, recall, mAP, PR curves, confusion matrix and mistakes of an iteration."""

    _esm = esm("performance.js")
    _css = app_css("performance.css") + detail_css() + why_css() + compare_css()
    _handlers = {
        "retag": (RetagMsg, "_on_retag"),
        "open_image": (OpenImageMsg, "_on_open_image"),
        "refresh": (RefreshMsg, "_on_refresh"),
        **ImageDetail.DETAIL_HANDLERS,
        **Explainer.WHY_HANDLERS,
    }

    iteration = t.Unicode("", help="Id of the iteration shown ('' when there is none).").tag(
        sync=True)
    threshold = Fraction(0.5, help="Probability threshold, 0 to 1.").tag(sync=True)
    overlap = Fraction(0.5, help="Overlap (IoU) threshold for detection, 0 to 1.").tag(sync=True)
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
    calibration = t.Dict(
        help="How well the probabilities are calibrated (classification): {src (PNG data URL "
        "of the reliability diagram), ece (expected calibration error), n (predictions), "
        "temperature (the scaling training applied, or null)}; {} for detection or before it "
        "is drawn (read-only)."
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
    compare_with = t.Unicode(
        "", help="Id of the iteration shown beside the one shown (one of compare_options), or "
        "'' for none: its comparison is in `comparison`.").tag(sync=True)
    compare_options = t.List(
        t.Dict(), help="The iterations the one shown compares with: the others of its kind, "
        "newest first: {id, name, label}; [] when there is none (read-only).").tag(sync=True)

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
        #: iteration id -> Iteration, whose evaluation is read once
        self._iterations: dict[str, Iteration] = {}
        #: iteration id -> kind, of the project's iterations as last read
        self._kinds: dict[str, str] = {}
        self._loading = True
        self.max_mistakes = max_mistakes
        self.threshold = threshold
        self.overlap = overlap
        self._loading = False
        self.refresh(iteration=iteration)

    # -- validators --------------------------------------------------------------------------
    @t.validate("mistakes")
    def _valid_mistakes(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("image_id", "src", "detail"), "mistakes")

    @t.validate("compare_with")
    def _valid_compare_with(self, proposal: t.Bunch) -> str:
        value = proposal["value"]
        names = [o["name"] for o in self.compare_options]
        if not value or value in {o["id"] for o in self.compare_options}:
            return value
        shown = self._name(self.iteration)
        choice = (f"pick one of {names}" if names else
                  f"train another {self._kinds.get(self.iteration, self.kind)} iteration first")
        if value == self.iteration:
            raise t.TraitError(f"compare_with={value!r} is {shown!r}, the iteration shown: an "
                               f"iteration compares with another; {choice}")
        if value in self._kinds:
            raise t.TraitError(
                f"{self._name(value)!r} is a {self._kinds[value]} iteration and {shown!r} a "
                f"{self._kinds.get(self.iteration, self.kind)} one: iterations of one kind "
                f"compare; {choice}")
        raise t.TraitError(f"compare_with={value!r} is not an iteration id of this project; "
                           f"{choice}")

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
        self._schedule({"cm", "mistakes", "compare"})

    @t.observe("compare_with")
    def _compare_with_changed(self, _change: t.Bunch) -> None:
        if self._loading:
            return
        if not self.compare_with:
            self.comparison = {}
            return
        with self._timer_lock:  # a pick shows at once
            self._pending.add("compare")
        self.flush()

    @t.observe("overlap")
    def _overlap_changed(self, _change: t.Bunch) -> None:
        if self._loading or self._evaluation is None or not self.detection:
            return
        self._suggested = self._evaluation.suggested_thresholds(self.overlap)
        self._update_numbers()
        self._schedule({"pr", "mistakes", "compare"})

    # -- reading -----------------------------------------------------------------------------
    @property
    def detection(self) -> bool:
        return self.kind == "detection"

    @property
    def evaluation(self) -> Any:
        """The ``cvbench.evaluate`` evaluation of the iteration shown (None if none)."""
        return self._evaluation

    def compare(self, other: str | None) -> None:
        """Show iteration ``other`` (id, name or published name; of the kind of the one
        shown) beside the one shown; None or '' hides the comparison."""
        if not other:
            self.compare_with = ""
            return
        try:
            self.compare_with = self.project.iteration(other).id
        except t.TraitError as exc:
            raise ValueError(str(exc)) from None

    def on_open_image(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(image_id)`` when a wrong detection image is clicked."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(image_id)")
        self._callbacks.append(callback)

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self, iteration: Any = None) -> None:
        """Read the iterations again; show ``iteration`` (id, name or published name), else
        keep the one shown; when an iteration was trained meanwhile, show the newest one."""
        shown = self.iteration if self._evaluation is not None else None
        self._loading = True
        try:
            self._pick_iteration(iteration, newest=True)
        finally:
            self._loading = False
        if self.iteration == shown:
            self._read_compare_options()  # one may have been trained or deleted since
            self._schedule({"mistakes", "compare"})  # tags may have changed since
        else:
            self._load()

    def _name(self, iteration_id: str) -> str:
        return next((o["name"] for o in self.iterations if o["id"] == iteration_id),
                    iteration_id)

    def _iteration(self, iteration_id: str) -> Iteration:
        if iteration_id not in self._iterations:
            self._iterations[iteration_id] = self.project.iteration(iteration_id)
        return self._iterations[iteration_id]

    def _read_compare_options(self) -> None:
        """Read which iterations the one shown compares with; a comparison with one that
        is no longer among them is hidden."""
        its = self.project.iterations if self.iteration else []
        self._kinds = {it.id: it.kind for it in its}
        kind = self._kinds.get(self.iteration)
        labels = {o["id"]: o["label"] for o in self.iterations}
        options = [{"id": it.id, "name": it.name, "label": labels.get(it.id, it.name)}
                   for it in its if it.id != self.iteration and it.kind == kind]
        with self.hold_sync():
            self.compare_options = options
            if self.compare_with not in {o["id"] for o in options}:
                self.compare_with = ""
                self.comparison = {}

    def _load(self) -> None:
        self._cancel_timer()
        self._evaluation = None
        self._suggested = None
        self._read_compare_options()
        if not self.iteration:
            with self.hold_sync():
                self.metrics = {}
                self.pr_plot = {}
                self.cm_plot = ""
                self.calibration = {}
                self.mistakes = []
                self.plotted = {}
            return
        iteration = self._iteration(self.iteration)
        try:
            self._evaluation = iteration.evaluation()
        except CvbenchError as exc:
            with self.hold_sync():
                self.metrics = {}
                self.pr_plot = {}
                self.cm_plot = ""
                self.calibration = {}
                self.mistakes = []
                self.comparison = {}
            self.say(str(exc), "error")
            return
        self._suggested = (self._evaluation.suggested_thresholds(self.overlap) if self.detection
                           else self._evaluation.suggested_thresholds())
        self._update_numbers()
        self._pending = {"pr", "cm", "mistakes", "calibration", "compare"}
        self.flush()

    def _at(self, threshold: float) -> Any:
        if self.detection:
            return self._evaluation.at(threshold, self.overlap)
        return self._evaluation.at(threshold)

    def _update_numbers(self) -> None:
        metrics = metrics_json(self._at(self.threshold), self._suggested)
        # how sure each headline number is (fewer draws than the API's default: this runs
        # on every slider move, in milliseconds; the seed keeps the interval steady)
        intervals = bootstrap_intervals(self._evaluation, self.threshold,
                                        self.overlap if self.detection else None,
                                        resamples=INTERVAL_RESAMPLES, seed=0)
        metrics["intervals"] = {name: iv.to_dict() for name, iv in intervals.items()}
        self.metrics = metrics

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
        threshold, overlap, other = self.threshold, self.overlap, self.compare_with
        updates: dict[str, Any] = {}
        if "pr" in what:
            updates["pr_plot"] = draw_pr(evaluation, overlap=overlap, tags=self.tags,
                                         palette=self.palette, detection=self.detection)
        if "cm" in what and not self.detection:
            updates["cm_plot"] = draw_confusion(evaluation, threshold=threshold)
        if "calibration" in what:
            updates["calibration"] = ({} if self.detection else draw_reliability(
                evaluation, self._iteration(self.iteration).settings))
        if "mistakes" in what:
            updates["mistakes"] = mistake_records(
                self.project, evaluation, self.tags, threshold=threshold, overlap=overlap,
                top=self.max_mistakes, detection=self.detection)
        if "compare" in what:
            updates["comparison"] = {} if not other else self._compared(
                self._iteration(self.iteration), self._iteration(other), threshold=threshold,
                overlap=overlap if self.detection else None)
        if evaluation is not self._evaluation:  # another iteration was picked meanwhile
            return
        if other != self.compare_with:  # and another compared with: its own flush shows it
            updates.pop("comparison", None)
        with self.hold_sync():
            for name, value in updates.items():
                setattr(self, name, value)
            self.plotted = {"threshold": threshold, "overlap": overlap}

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
