"""The vectors insight works on: the frozen backbone's taps of stored images, from the
project's feature cache (missing ones computed once and cached, with training's progress
events and cancellation)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import domains as _domains
from ..errors import CancelledError
from ..store import Store
from ..train import features as _features
from ..train._progress import Progress, ProgressEvent

__all__ = ["ImageVectors", "image_vectors", "progress_of", "cancelled_as"]


class ImageVectors:
    """Pooled features ``(N, D)``, thumbnail pixels ``(N, 768)`` (16x16 RGB of the
    preprocessed input), mean brightness ``(N,)`` in [0, 1] of images, and how many vectors
    came from the cache (``stats``)."""

    def __init__(self, pooled: np.ndarray, pixels: np.ndarray, brightness: np.ndarray,
                 stats: _features.FeatureStats) -> None:
        self.pooled = pooled
        self.pixels = pixels
        self.brightness = brightness
        self.stats = stats


def progress_of(on_progress: Callable[[ProgressEvent], Any] | None, cancel: Any,
                progress_bar: bool, description: str) -> Progress:
    """Training's :class:`~cvbench.train.Progress`, for one insight computation."""
    return Progress(on_progress, cancel, progress_bar, description=description)


@contextlib.contextmanager
def cancelled_as(what: str) -> Iterator[None]:
    """Say what was cancelled (training's message names training)."""
    try:
        yield
    except CancelledError:
        raise CancelledError(f"{what} was cancelled; the features computed so far stay "
                             "cached") from None


def image_vectors(store: Store, items: Sequence[tuple[str, Path]], domain: str,
                  size: int | None, progress: Progress) -> ImageVectors:
    """The vectors of stored images ``(sha256, path)`` (see the module docstring); the
    progress is in stage ``"features"`` while missing vectors are computed."""
    d = _domains.get_domain(domain)
    progress.stage("features", f"features of {len(items)} images")

    def on_batch(done: int, total: int) -> None:
        progress.update(done / total if total else 1.0, message=f"features {done}/{total}")

    taps, stats = _features.project_features(store.features, list(items), d.name, size,
                                             on_batch=on_batch, part="taps")
    layout = _features.taps_layout(d.name)
    lo, hi = layout["final"]
    pooled = np.ascontiguousarray(taps[:, lo:hi])
    lo, hi = layout["pixels"]
    side = _features.THUMBNAIL
    pixels = np.ascontiguousarray(taps[:, lo:hi])
    thumb = pixels.reshape(-1, 3, side, side).astype(np.float64)
    mean = np.asarray(d.mean).reshape(1, 3, 1, 1)
    std = np.asarray(d.std).reshape(1, 3, 1, 1)
    rgb = np.clip(thumb * std + mean, 0.0, 1.0).mean(axis=(2, 3))  # (N, 3)
    brightness = rgb @ np.array([0.299, 0.587, 0.114])
    return ImageVectors(pooled, pixels, brightness.astype(np.float32), stats)
