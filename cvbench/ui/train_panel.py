"""``TrainPanel``: train an iteration (Quick or Advanced), follow it live, and manage iterations.

    from cvbench.ui import TrainPanel
    panel = TrainPanel(project)
    panel                                      # in a notebook or a Voila app
    panel.train("quick")                       # the same as the Train button
    panel.wait()                               # until the run ends (tests, scripts)

Training runs in a background thread (``project.train(..., on_progress=, cancel=)``), so the
page stays live: the progress bar shows the stage, the loss and the time left (within the
budget of an advanced run), and Cancel stops the run at its next safe point with nothing
half-made kept. "Preview augmentations" shows, for 4 of the tagged images, 6 random views
as advanced training makes them (``project.augmentation_preview``; detection: with the
boxes). When a run ends, the new iteration appears in the list with its precision,
recall and mAP at threshold 0.5, where it can be published or deleted.

"Tags to train" (Custom Vision's selected tags) has a checkbox per tag: the tags left out
(``left_out``) are not learnt by the run (``project.train(tags=...)``). The rules a run must
meet (2 tags for a classifier, 5 images per tag, a box per chosen tag for a detector, and the
engine's own, ``project.check_training``) are checked live: while one blocks, ``blockers`` in
``readiness`` says why in the page's words and Train is off. A run started from Python that
cannot start shows the engine's message, not a traceback.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict

import traitlets as t

from .. import domains as _domains
from ..errors import CancelledError, CvbenchError
from ..project import MIN_IMAGES_PER_TAG
from ._app_messages import (
    CancelTrainingMsg,
    DeleteIterationMsg,
    PublishMsg,
    TrainMsg,
    UnpublishMsg,
)
from ._assets import app_css, esm
from ._base import ProjectWidget, check_dict_list
from ._images import data_url
from ._iterations import iteration_row, num
from ._messages import RefreshMsg

__all__ = ["TrainPanel", "MODES", "STATES"]

#: Training modes, as ``project.train`` takes them.
MODES = ("quick", "advanced")
#: What the panel is doing.
STATES = ("idle", "training", "cancelling")
#: The longest budget the panel offers (minutes).
MAX_BUDGET_MINUTES = 24 * 60.0
_PROGRESS_INTERVAL = 0.25  # seconds between progress updates sent to the browser
#: What the augmentation preview shows: images, views of each, longest side of a view (px).
PREVIEW_IMAGES, PREVIEW_VIEWS, PREVIEW_SIDE = 4, 6, 160


class PreviewAugmentationsMsg(TypedDict):
    """Show the augmentation preview drawn with ``seed`` (another seed, other views)."""

    type: Literal["preview_augmentations"]
    seed: int


class ClosePreviewMsg(TypedDict):
    type: Literal["close_preview"]


_IDLE_PROGRESS: dict[str, Any] = {
    "stage": "", "fraction": 0.0, "loss": None, "eta_seconds": None, "elapsed_seconds": 0.0,
    "message": "",
}


class TrainPanel(ProjectWidget):
    """Train iterations in the background and list them, with publish and delete."""

    _esm = esm("train_panel.js")
    _css = app_css("train_panel.css")
    _handlers = {
        "train": (TrainMsg, "_on_train"),
        "cancel": (CancelTrainingMsg, "_on_cancel"),
        "publish": (PublishMsg, "_on_publish"),
        "unpublish": (UnpublishMsg, "_on_unpublish"),
        "delete_iteration": (DeleteIterationMsg, "_on_delete"),
        "refresh": (RefreshMsg, "_on_refresh"),
        "preview_augmentations": (PreviewAugmentationsMsg, "_on_preview"),
        "close_preview": (ClosePreviewMsg, "_on_close_preview"),
    }

    mode = t.Unicode(
        "quick", help="'quick' (frozen features and a linear head, seconds) or 'advanced' "
        "(fine-tuning within budget_minutes)."
    ).tag(sync=True)
    budget_minutes = t.Float(
        5.0, help=f"Time budget of an advanced run, in minutes (0 < budget <= {MAX_BUDGET_MINUTES:g})."
    ).tag(sync=True)
    domain = t.Unicode(
        "", help="The domain (backbone) to train with; one of domains' names."
    ).tag(sync=True)
    domains = t.List(
        t.Dict(), help="The domains that serve this project's kind: {name, offline} (read-only)."
    ).tag(sync=True)
    state = t.Unicode(
        "idle", help=f"What the panel is doing: one of {list(STATES)} (read-only)."
    ).tag(sync=True)
    progress = t.Dict(
        dict(_IDLE_PROGRESS),
        help="The running training: {stage, fraction (0-1), loss, eta_seconds, "
        "elapsed_seconds, message} (read-only).",
    ).tag(sync=True)
    last_run = t.Dict(
        help="How the last run ended: {status: 'done'|'cancelled'|'failed', text, iteration "
        "(id or '')}; {} before any run (read-only)."
    ).tag(sync=True)
    iterations = t.List(
        t.Dict(),
        help="The iterations, newest first: {id, name, mode, domain, created, trained_seconds, "
        "budget_minutes, published_name, tags, precision, recall, map} (read-only).",
    ).tag(sync=True)
    readiness = t.Dict(
        help="Whether the project can train: {images, tagged, tags, warnings, per_tag, "
        "blockers}. per_tag: [{id, name, type, count (images; boxes for detection), "
        "minimum, chosen, enough}]; blockers: why Train is off now ([] when it can run) "
        "(read-only).",
    ).tag(sync=True)
    augmentations = t.Dict(
        help="The augmentation preview: {seed, images: [{id, name, views (JPEG data URLs, "
        f"at most {PREVIEW_SIDE} px)}}]}}; {{}} when it is closed (read-only)."
    ).tag(sync=True)
    left_out = t.List(
        t.Unicode(), help="Ids of the tags to leave out of the next run (the tags to train "
        "are the others; a new tag takes part)."
    ).tag(sync=True)

    def __init__(self, project, *, mode: str = "quick", budget_minutes: float = 5.0,
                 domain: str | None = None) -> None:
        super().__init__(project)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._callbacks: list[Callable[[Any], Any]] = []
        self._performance: dict[str, Any] = {}
        self._last_sent = 0.0
        self._budget_seconds: float | None = None  # of the running advanced run
        self._set_up = False
        #: the unexpected exception of the last failed run (for debugging), else None
        self.error: BaseException | None = None
        names = _domains.domain_names(project.kind)
        offline = set(_domains.offline_domains())
        self.domains = [{"name": n, "offline": n in offline} for n in names]
        self.mode = mode
        self.budget_minutes = budget_minutes
        self.domain = domain or project.domain
        self._set_up = True
        self.refresh()

    # -- validators --------------------------------------------------------------------------
    @t.validate("mode")
    def _valid_mode(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in MODES:
            raise t.TraitError(f"mode={proposal['value']!r} should be one of {list(MODES)}")
        return proposal["value"]

    @t.validate("budget_minutes")
    def _valid_budget(self, proposal: t.Bunch) -> float:
        value = proposal["value"]
        if not (math.isfinite(value) and 0 < value <= MAX_BUDGET_MINUTES):
            raise t.TraitError(
                f"budget_minutes={value!r} should be more than 0 and at most {MAX_BUDGET_MINUTES:g}"
            )
        return value

    @t.validate("domain")
    def _valid_domain(self, proposal: t.Bunch) -> str:
        value = proposal["value"]
        names = [d["name"] for d in self.domains]
        if value not in names:
            raise t.TraitError(
                f"domain={value!r} does not serve {self.kind} projects; choose one of {names}"
            )
        return value

    @t.validate("state")
    def _valid_state(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in STATES:
            raise t.TraitError(f"state={proposal['value']!r} should be one of {list(STATES)}")
        return proposal["value"]

    @t.validate("domains")
    def _valid_domains(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("name", "offline"), "domains")

    @t.validate("iterations")
    def _valid_iterations(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "name", "mode", "published_name"),
                               "iterations")

    @t.validate("progress")
    def _valid_progress(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        missing = [k for k in _IDLE_PROGRESS if k not in value]
        if missing:
            raise t.TraitError(f"progress lacks {missing}; it needs {list(_IDLE_PROGRESS)}")
        if not 0.0 <= value["fraction"] <= 1.0:
            raise t.TraitError(f"progress fraction={value['fraction']!r} should be in [0, 1]")
        return value

    @t.validate("left_out")
    def _valid_left_out(self, proposal: t.Bunch) -> list[str]:
        value = list(dict.fromkeys(proposal["value"]))
        known = {tag["id"] for tag in self.tags}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise t.TraitError(
                f"left_out={unknown!r} names no tag of this project; its tags are "
                f"{[tag['name'] for tag in self.tags]}"
            )
        return value

    @t.observe("left_out", "mode", "domain")
    def _choice_changed(self, _change: t.Bunch) -> None:
        if self._set_up:  # the rules are checked again for the new choice
            self._check_readiness()

    @t.validate("last_run")
    def _valid_last_run(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        if value and value.get("status") not in ("done", "cancelled", "failed"):
            raise t.TraitError(
                f"last_run={value!r} should be {{}} or have status 'done', 'cancelled' or 'failed'"
            )
        return value

    # -- reading -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a training run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the iterations and the project's counts and warnings again."""
        rows = []
        for it in self.project.iterations:
            if it.id not in self._performance:
                try:
                    self._performance[it.id] = it.performance(0.5)
                except CvbenchError:  # no validation predictions: the row shows no numbers
                    self._performance[it.id] = None
            rows.append(iteration_row(it, self._performance[it.id]))
        with self.hold_sync():
            self.refresh_tags()
            self.iterations = rows
            known = {tag["id"] for tag in self.tags}
            if any(i not in known for i in self.left_out):  # a tag deleted meanwhile
                self.left_out = [i for i in self.left_out if i in known]
            self._check_readiness()

    # -- the rules of a run, checked live ------------------------------------------------------
    def chosen_tags(self) -> list[str] | None:
        """The ids of the tags the next run learns, or None for every tag (none left out).
        A detector learns the chosen tags that have boxes (as it does with every tag)."""
        if not self.left_out:
            return None
        boxless = {r["id"] for r in self.readiness.get("per_tag", [])
                   if self.kind == "detection" and r["count"] == 0}
        return [tag["id"] for tag in self.tags if tag["type"] == "Regular"
                and tag["id"] not in self.left_out and tag["id"] not in boxless]

    def _check_readiness(self) -> None:
        summary = self.project.summary()
        detection = summary.kind == "detection"
        minimum = MIN_IMAGES_PER_TAG[summary.kind]
        per_tag = []
        for row in summary.tags:
            count = row.get("regions", row["images"]) if detection else row["images"]
            chosen = row["type"] == "Negative" or row["id"] not in self.left_out
            per_tag.append({"id": row["id"], "name": row["name"], "type": row["type"],
                            "count": count, "minimum": minimum, "chosen": chosen,
                            "enough": count >= minimum})
        blockers = _blockers(per_tag, detection=detection, minimum=minimum,
                             in_workbench=self.host == "workbench")
        # the per-tag counts are the checklist's; the other warnings stay
        warnings = [w for w in summary.warnings
                    if not w.startswith(("tag ", "training needs at least"))]
        readiness = {
            "images": summary.images,
            "tagged": summary.tagged,
            "tags": len(summary.tags),
            "warnings": warnings,
            "per_tag": per_tag,
            "blockers": blockers,
        }
        self.readiness = readiness
        if not blockers:  # the engine's own rules (an empty split, …), in its words
            engine = self.project.check_training(self.mode, tags=self.chosen_tags(),
                                                 domain=self.domain or None)
            if engine:
                self.readiness = {**readiness, "blockers": engine}

    def on_trained(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(iteration)`` when a run produces an iteration (from the training
        thread)."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(iteration)")
        self._callbacks.append(callback)

    # -- training ----------------------------------------------------------------------------
    def train(self, mode: str | None = None, budget_minutes: float | None = None,
              domain: str | None = None, *, wait: bool = False) -> threading.Thread:
        """Start a run in a background thread with the panel's choices (the arguments, when
        given, change them first). ``wait=True`` returns when the run has ended."""
        if self.running or self.state != "idle":
            raise ValueError("a training run is in progress; wait for it to end or cancel it")
        with self.hold_sync():
            if mode is not None:
                self.mode = mode
            if budget_minutes is not None:
                self.budget_minutes = budget_minutes
            if domain is not None:
                self.domain = domain
        self._cancel = threading.Event()
        self.error = None
        budget = self.budget_minutes if self.mode == "advanced" else None
        self._budget_seconds = None if budget is None else 60.0 * budget
        args = (self.mode, budget, self.domain, self.chosen_tags())
        with self.hold_sync():
            self.last_run = {}
            self.progress = {**_IDLE_PROGRESS, "stage": "prepare", "message": "starting"}
            self.state = "training"
        self._thread = threading.Thread(target=self._run, args=args, name="cvbench-train",
                                        daemon=True)
        self._thread.start()
        if wait:
            self.wait()
        return self._thread

    def cancel(self) -> None:
        """Ask the running training to stop; it ends at its next safe point, keeping nothing."""
        if not self.running:
            raise ValueError("no training is running")
        self._cancel.set()
        self.state = "cancelling"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running training to end; True when it has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _run(self, mode: str, budget: float | None, domain: str,
             tags: list[str] | None) -> None:
        started = time.monotonic()
        try:
            iteration = self.project.train(
                mode, budget, tags=tags, domain=domain, on_progress=self._on_progress,
                cancel=self._cancel, progress_bar=False,
            )
        except CancelledError:
            self._finish("cancelled", "Training was cancelled; nothing was kept.")
        except (CvbenchError, ValueError) as exc:
            self._finish("failed", f"Training could not run: {exc}")
        except Exception as exc:  # a bug: say so, and keep it for debugging
            self.error = exc
            self._finish("failed", f"Training failed ({type(exc).__name__}): {exc}")
        else:
            seconds = time.monotonic() - started
            self._finish("done", f"{iteration.name} is ready ({_duration(seconds)}).",
                         iteration)
            for callback in list(self._callbacks):
                callback(iteration)

    def _finish(self, status: str, text: str, iteration: Any = None) -> None:
        if iteration is not None:
            self.refresh()
        with self.hold_sync():
            if status != "done":
                self.progress = dict(_IDLE_PROGRESS)
            else:
                self.progress = {**self.progress, "fraction": 1.0, "stage": "done",
                                 "eta_seconds": 0.0, "message": text}
            self.last_run = {"status": status, "text": text,
                             "iteration": iteration.id if iteration is not None else ""}
            self.state = "idle"

    def _on_progress(self, event: Mapping[str, Any]) -> None:
        now = time.monotonic()
        stage_changed = event.get("stage") != self.progress.get("stage")
        if not stage_changed and now - self._last_sent < _PROGRESS_INTERVAL:
            return
        self._last_sent = now
        if self.state == "cancelling":
            return
        elapsed = num(event.get("elapsed_seconds")) or 0.0
        self.progress = {
            "stage": str(event.get("stage", "")),
            "fraction": min(1.0, max(0.0, float(event.get("fraction") or 0.0))),
            "loss": num(event.get("loss")),
            "eta_seconds": time_left(num(event.get("eta_seconds")), elapsed,
                                     self._budget_seconds),
            "elapsed_seconds": elapsed,
            "message": str(event.get("message", "")),
        }

    # -- iterations ----------------------------------------------------------------------------
    def publish(self, iteration_id: str, name: str) -> None:
        """Publish an iteration under ``name`` (the prediction API finds it by that name)."""
        it = self.project.iteration(iteration_id)
        it.publish(name)
        self.refresh()
        self.say(f"{it.name} is published as {name.strip()!r}", "success")

    def unpublish(self, iteration_id: str) -> None:
        it = self.project.iteration(iteration_id)
        it.unpublish()
        self.refresh()
        self.say(f"{it.name} is no longer published", "success")

    def delete(self, iteration_id: str) -> None:
        """Delete an iteration (a published one must be unpublished first)."""
        it = self.project.iteration(iteration_id)
        it.delete()
        self._performance.pop(iteration_id, None)
        self.refresh()
        self.say(f"Deleted {it.name}", "success")

    def preview_augmentations(self, seed: int = 0) -> dict[str, Any]:
        """Show :data:`PREVIEW_VIEWS` views of :data:`PREVIEW_IMAGES` tagged images as
        advanced training augments them, drawn with ``seed``; returns ``augmentations``."""
        palette = list(self.palette)
        colors = {tag["id"]: palette[int(tag.get("slot", 0)) % len(palette)]
                  for tag in self.tags}
        made = self.project.augmentation_preview(PREVIEW_IMAGES, PREVIEW_VIEWS, int(seed),
                                                 colors=colors)
        self.augmentations = {"seed": int(seed), "images": [
            {"id": img.id, "name": img.original_name or img.id[:8],
             "views": [_jpeg_url(v) for v in views]} for img, views in made]}
        return self.augmentations

    # -- handlers ------------------------------------------------------------------------------
    def _on_preview(self, msg: PreviewAugmentationsMsg, _buffers: list[bytes]) -> None:
        self.preview_augmentations(msg["seed"])

    def _on_close_preview(self, _msg: ClosePreviewMsg, _buffers: list[bytes]) -> None:
        self.augmentations = {}

    def _on_train(self, msg: TrainMsg, _buffers: list[bytes]) -> None:
        try:
            with self.hold_sync():
                self.mode = msg["mode"]
                self.budget_minutes = msg["budget_minutes"]
                self.domain = msg["domain"]
        except t.TraitError as exc:
            raise ValueError(str(exc)) from None
        self._check_readiness()  # the project may have changed since the page was drawn
        blockers = self.readiness.get("blockers") or []
        if blockers:
            raise ValueError("Training cannot run yet: " + " ".join(blockers))
        self.train()

    def _on_cancel(self, _msg: CancelTrainingMsg, _buffers: list[bytes]) -> None:
        self.cancel()

    def _on_publish(self, msg: PublishMsg, _buffers: list[bytes]) -> None:
        self.publish(msg["id"], msg["name"])

    def _on_unpublish(self, msg: UnpublishMsg, _buffers: list[bytes]) -> None:
        self.unpublish(msg["id"])

    def _on_delete(self, msg: DeleteIterationMsg, _buffers: list[bytes]) -> None:
        self.delete(msg["id"])

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()


def _jpeg_url(img: Any) -> str:
    img = img.copy()
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=85)
    return data_url(out.getvalue())


def time_left(eta: float | None, elapsed: float, budget: float | None) -> float | None:
    """The time left to show: the run's estimate, never past the end of its ``budget``
    (seconds from the start of the run; None for a run without one)."""
    if budget is None:
        return eta
    left = max(0.0, budget - elapsed)
    return left if eta is None else min(eta, left)


def _blockers(per_tag: list[dict[str, Any]], *, detection: bool, minimum: int,
              in_workbench: bool) -> list[str]:
    """Why a run with the chosen tags cannot start, in the words of the page (the rules of
    the engine's training sets), or []."""
    regular = [r for r in per_tag if r["type"] == "Regular"]
    chosen = [r for r in regular if r["chosen"]]
    out = "untick it under Tags to train to leave it out of this run"
    if detection:
        where = "in the Tag tab" if in_workbench else "with the BoxEditor"
        if not [r for r in chosen if r["count"] > 0]:  # tags without a box are not learnt
            among = " among the tags to train" if len(chosen) < len(regular) else ""
            return [f"An object detector needs at least one tag with boxes{among}: draw "
                    f"boxes {where}" + (", or tick a tag that has some." if among else ".")]
        return []
    found = []
    if len(chosen) < 2:
        names = ", ".join(repr(r["name"]) for r in chosen) or "none"
        found.append(f"A classifier needs at least 2 tags (not counting Negative); the tags "
                     f"to train are {names}. Tag images with more tags, or tick more tags.")
    negative = [r for r in per_tag if r["type"] == "Negative" and r["count"] > 0]
    for r in [*chosen, *negative]:
        if r["count"] < minimum:
            fix = out if r["type"] == "Regular" else "untag them"
            found.append(f"Tag {r['name']!r} has {r['count']} "
                         f"image{'' if r['count'] == 1 else 's'}; every tag needs at least "
                         f"{minimum}. Tag more images, or {fix}.")
    return found


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
