"""Progress events, a notebook progress bar, cancellation and wall-clock budgets.

Training reports progress three ways at once, from one :class:`Progress` object:

* ``on_progress(event)``, a callback for the UI, receives plain dicts (:class:`ProgressEvent`)::

      {"stage": "features", "fraction": 0.42, "loss": None, "eta_seconds": 12.5,
       "elapsed_seconds": 9.1, "message": "features 210/500"}

  ``stage`` is one of :data:`STAGES`; ``fraction`` is the fraction of the *whole* run done
  (0 to 1, never decreasing); ``loss`` is the latest training loss where there is one;
  ``eta_seconds`` is the estimated time left (None while unknown).
* a tqdm bar (``tqdm.auto``: a widget in Jupyter, text elsewhere) when ``progress_bar=True``;
* cancellation: ``cancel`` is a :class:`threading.Event` (or anything with ``is_set()``, or
  a callable returning True to cancel). :meth:`Progress.check` raises
  :class:`~cvbench.errors.CancelledError` at the next safe point.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypedDict

from ..errors import CancelledError

__all__ = ["ProgressEvent", "Progress", "Budget", "STAGES", "CancelToken", "is_cancelled"]

#: The stages a training run goes through, in order (a run may skip some).
STAGES = ("prepare", "features", "head", "fine-tune", "evaluate", "save", "done")


class ProgressEvent(TypedDict):
    """What ``on_progress`` receives."""

    stage: str
    fraction: float
    loss: float | None
    eta_seconds: float | None
    elapsed_seconds: float
    message: str


CancelToken = Any  # threading.Event, an object with is_set(), or a callable -> bool


def is_cancelled(cancel: CancelToken) -> bool:
    """True when ``cancel`` (None, an Event-like object or a callable) asks to stop."""
    if cancel is None:
        return False
    is_set = getattr(cancel, "is_set", None)
    if callable(is_set):
        return bool(is_set())
    if callable(cancel):
        return bool(cancel())
    raise TypeError(
        f"cancel={cancel!r} should be a threading.Event, an object with is_set(), or a "
        "callable returning True to cancel"
    )


class Budget:
    """A wall-clock deadline. ``seconds=None`` never runs out."""

    def __init__(self, seconds: float | None, *, start: float | None = None) -> None:
        if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
            raise ValueError(f"a time budget must be a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self.start = time.monotonic() if start is None else start

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    @property
    def remaining(self) -> float:
        return math.inf if self.seconds is None else self.seconds - self.elapsed

    @property
    def spent(self) -> bool:
        return self.remaining <= 0


class Progress:
    """Fans progress out to ``on_progress``, a tqdm bar, and checks ``cancel``.

    Stages are given *weights* (their share of the whole run) with :meth:`plan`; then
    :meth:`update` reports the fraction done within the current stage.
    """

    def __init__(
        self,
        on_progress: Callable[[ProgressEvent], Any] | None = None,
        cancel: CancelToken = None,
        progress_bar: bool = False,
        *,
        description: str = "training",
    ) -> None:
        if on_progress is not None and not callable(on_progress):
            raise TypeError(f"on_progress={on_progress!r} should be a callable taking a dict")
        is_cancelled(cancel)  # type check now, not halfway through training
        self.on_progress = on_progress
        self.cancel = cancel
        self.start = time.monotonic()
        self._weights: dict[str, float] = {"prepare": 1.0}
        self._stage = "prepare"
        self._offset = 0.0
        self._fraction = 0.0
        self._loss: float | None = None
        self._bar = None
        if progress_bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=1000, desc=description, leave=True,
                             bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    # -- planning ---------------------------------------------------------------------
    def plan(self, weights: dict[str, float]) -> None:
        """Declare the remaining stages and their relative weights (normalised here)."""
        total = sum(weights.values()) or 1.0
        remaining = 1.0 - self._fraction
        self._weights = {k: remaining * v / total for k, v in weights.items()}
        self._offset = self._fraction

    def stage(self, name: str, message: str = "") -> None:
        """Enter stage ``name`` (one of :data:`STAGES`)."""
        if name not in STAGES:
            raise ValueError(f"stage={name!r} should be one of {list(STAGES)}")
        # the offset of a stage is everything done before it
        self._offset = max(self._fraction, self._offset)
        self._stage = name
        self.check()
        self._emit(self._fraction, message or name)

    def update(self, within: float, *, loss: float | None = None, message: str = "",
               eta_seconds: float | None = None) -> None:
        """Report that ``within`` (0 to 1) of the current stage is done; checks ``cancel``."""
        within = min(max(float(within), 0.0), 1.0)
        weight = self._weights.get(self._stage, 0.0)
        frac = min(1.0, self._offset + weight * within)
        if loss is not None and math.isfinite(loss):
            self._loss = float(loss)
        self._fraction = max(self._fraction, frac)
        self.check()
        self._emit(self._fraction, message or self._stage, eta_seconds)

    def done(self, message: str = "done") -> None:
        self._stage = "done"
        self._fraction = 1.0
        self._emit(1.0, message, 0.0)
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # -- cancellation -----------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return is_cancelled(self.cancel)

    def check(self) -> None:
        """Raise :class:`CancelledError` when cancellation was asked for."""
        if self.cancelled:
            self.close()
            raise CancelledError(
                "training was cancelled; nothing was kept (no iteration was created)"
            )

    # -- output -----------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _emit(self, fraction: float, message: str, eta: float | None = None) -> None:
        elapsed = self.elapsed
        if eta is None and fraction > 0.02:
            eta = elapsed * (1.0 - fraction) / fraction
        event: ProgressEvent = {
            "stage": self._stage,
            "fraction": round(fraction, 4),
            "loss": self._loss,
            "eta_seconds": None if eta is None else max(0.0, round(eta, 1)),
            "elapsed_seconds": round(elapsed, 2),
            "message": message,
        }
        if self._bar is not None:
            self._bar.n = int(round(fraction * 1000))
            post = message if self._loss is None else f"{message} loss={self._loss:.3f}"
            self._bar.set_postfix_str(post, refresh=False)
            self._bar.refresh()
        if self.on_progress is not None:
            self.on_progress(event)
