"""``TrainPanel``: train an iteration (Quick or Advanced), follow it live, and manage iterations.

    from cvbench.ui import TrainPanel
    panel = TrainPanel(project)
    panel                                      # in a notebook or a Voila app
    panel.train("quick")                       # the same as the Train button
    panel.wait()                               # until the run ends (tests, scripts)

Training runs in a background thread (``project.train(..., on_progress=, cancel=)``), so the
page stays live: the progress bar shows the stage, the loss and the time left, and Cancel
stops the run at its next safe point with nothing half-made kept. A run that cannot start
(too few images per tag, …) shows the engine's message, not a traceback. When a run ends,
the new iteration appears in the list with its precision, recall and mAP at threshold 0.5,
where it can be published or deleted.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import traitlets as t

from .. import domains as _domains
from ..errors import CancelledError, CvbenchError
from ._app_messages import (
    CancelTrainingMsg,
    DeleteIterationMsg,
    PublishMsg,
    TrainMsg,
    UnpublishMsg,
)
from ._assets import app_css, esm
from ._base import ProjectWidget, check_dict_list
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
        help="Whether the project can train: {images, tagged, tags, warnings} (read-only)."
    ).tag(sync=True)

    def __init__(self, project, *, mode: str = "quick", budget_minutes: float = 5.0,
                 domain: str | None = None) -> None:
        super().__init__(project)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._callbacks: list[Callable[[Any], Any]] = []
        self._performance: dict[str, Any] = {}
        self._last_sent = 0.0
        #: the unexpected exception of the last failed run (for debugging), else None
        self.error: BaseException | None = None
        names = _domains.domain_names(project.kind)
        offline = set(_domains.offline_domains())
        self.domains = [{"name": n, "offline": n in offline} for n in names]
        self.mode = mode
        self.budget_minutes = budget_minutes
        self.domain = domain or project.domain
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
        summary = self.project.summary()
        with self.hold_sync():
            self.refresh_tags()
            self.iterations = rows
            self.readiness = {
                "images": summary.images,
                "tagged": summary.tagged,
                "tags": len(summary.tags),
                "warnings": list(summary.warnings),
            }

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
        args = (self.mode, self.budget_minutes if self.mode == "advanced" else None, self.domain)
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

    def _run(self, mode: str, budget: float | None, domain: str) -> None:
        started = time.monotonic()
        try:
            iteration = self.project.train(
                mode, budget, domain=domain, on_progress=self._on_progress,
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
        self.progress = {
            "stage": str(event.get("stage", "")),
            "fraction": min(1.0, max(0.0, float(event.get("fraction") or 0.0))),
            "loss": num(event.get("loss")),
            "eta_seconds": num(event.get("eta_seconds")),
            "elapsed_seconds": num(event.get("elapsed_seconds")) or 0.0,
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

    # -- handlers ------------------------------------------------------------------------------
    def _on_train(self, msg: TrainMsg, _buffers: list[bytes]) -> None:
        try:
            with self.hold_sync():
                self.mode = msg["mode"]
                self.budget_minutes = msg["budget_minutes"]
                self.domain = msg["domain"]
        except t.TraitError as exc:
            raise ValueError(str(exc)) from None
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


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
