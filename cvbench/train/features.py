"""The feature cache: pooled features of the frozen backbone, computed once per image.

A vector is stored in the project's feature cache (the store's ``features`` repository,
:class:`~cvbench.store.repo_features.FeatureRepository`) under ``(sha256, key)``: the image's
content hash, and a key naming what produced it (:func:`feature_key`: the domain's
:func:`~cvbench.domains.preprocessing_key` — architecture, input size, resize method,
preprocessing version — plus ``":flip"`` for the features of the mirrored image). Vectors
are float32 little-endian BLOBs of ``domain.feature_dim`` values.

Because the key names the image *content* and the preprocessing, a cached vector is reused
by every later training run, by every project iteration, and by prediction on stored
images (smart labeler); re-tagging or moving an image between splits costs nothing.
Adding ten images to a project and training again computes ten vectors.

Vectors are committed every ``4 * BATCH_SIZE`` images and when a run is cancelled: a
cancelled run keeps what it computed, a killed one most of it (the cache is not part of any
iteration, so this leaves no half iteration behind).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import domains as _domains
from ..store.images import load_rgb
from ..store.repo_features import FeatureRepository

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "feature_key",
    "FeatureStats",
    "cached_features",
    "compute_features",
    "project_features",
    "frozen_backbone",
    "BATCH_SIZE",
]

#: Images per forward pass of the frozen backbone.
BATCH_SIZE = 32


def feature_key(domain: str, size: int | None = None, *, flip: bool = False) -> str:
    """The cache key of features of ``domain`` at input ``size`` (mirrored with ``flip``)."""
    key = _domains.preprocessing_key(domain, size)
    return f"{key}:flip" if flip else key


@dataclass
class FeatureStats:
    """How many vectors a call found in the cache and how many it computed."""

    reused: int = 0
    computed: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"reused": self.reused, "computed": self.computed,
                "seconds": round(self.seconds, 3)}


@functools.lru_cache(maxsize=2)
def frozen_backbone(domain: str) -> torch.nn.Module:
    """The domain's pretrained backbone in eval mode, shared by feature extraction and
    prediction with quick iterations (built once per process; never trained)."""
    model = _domains.build_backbone(domain)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


_FORWARD_LOCK = threading.Lock()


def forward(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """One forward pass of a backbone (the only place features are computed)."""
    import torch

    with _FORWARD_LOCK, torch.inference_mode():
        return model(batch)


def cached_features(cache: FeatureRepository, shas: Sequence[str], key: str
                    ) -> dict[str, np.ndarray]:
    """The cached vectors of ``shas`` under ``key`` (missing ones are absent)."""
    return cache.get(shas, key)


def _batches(domain: str, images: Sequence[str | Path | bytes], size: int | None, *,
             flip: bool, batch_size: int) -> Generator[tuple[int, np.ndarray], None, None]:
    """``(start, vectors)`` per batch; the next batch is read and resized in a thread while
    the current one runs through the backbone."""
    import torch

    d = _domains.get_domain(domain)
    model = frozen_backbone(d.name)

    def load(start: int) -> torch.Tensor:
        pils = [load_rgb(p) for p in images[start:start + batch_size]]
        x = _domains.preprocess(d, pils, size)
        return torch.flip(x, dims=(3,)) if flip else x

    starts = list(range(0, len(images), batch_size))
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, starts[0]) if starts else None
        for k, start in enumerate(starts):
            assert pending is not None  # one is submitted ahead of every start
            x = pending.result()
            pending = pool.submit(load, starts[k + 1]) if k + 1 < len(starts) else None
            yield start, forward(model, x).numpy()


def compute_features(
    domain: str,
    images: Sequence[str | Path | bytes],
    size: int | None = None,
    *,
    flip: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Features ``(N, feature_dim)`` of image files (or bytes) through the frozen backbone.

    Images are read with :func:`~cvbench.store.images.load_rgb` and preprocessed with
    :func:`~cvbench.domains.preprocess`, exactly as for prediction. The next batch is read
    and resized in a thread while the current one runs through the backbone.
    ``on_batch(done, total)`` is called after each batch (it may raise to cancel).
    """
    d = _domains.get_domain(domain)
    n = len(images)
    out = np.empty((n, d.feature_dim), dtype=np.float32)
    for start, vecs in _batches(d.name, images, size, flip=flip, batch_size=batch_size):
        out[start:start + len(vecs)] = vecs
        if on_batch is not None:
            on_batch(start + len(vecs), n)
    return out


def project_features(
    cache: FeatureRepository,
    items: Sequence[tuple[str, str | Path]],
    domain: str,
    size: int | None = None,
    *,
    flip: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> tuple[np.ndarray, FeatureStats]:
    """Features of ``items`` — ``(sha256, path)`` pairs of stored images — from ``cache``
    (the project store's ``features``), computing and caching only the missing ones.
    Returns ``(vectors, stats)`` in item order.

    ``on_batch(done, total)`` counts the vectors to compute; it may raise to cancel, and
    the vectors computed before that stay cached (they are committed every
    ``4 * batch_size`` images, and when the loop ends or is interrupted).
    """
    import time

    t0 = time.perf_counter()
    d = _domains.get_domain(domain)
    key = feature_key(d.name, size, flip=flip)
    shas = [sha for sha, _ in items]
    found = cache.get(shas, key)
    todo: dict[str, str | Path] = {}
    for sha, path in items:
        if sha not in found and sha not in todo:
            todo[sha] = path
    todo_shas = list(todo)
    if on_batch is not None:
        on_batch(0, len(todo_shas))
    pending: list[tuple[str, np.ndarray]] = []
    batches = _batches(d.name, [todo[s] for s in todo_shas], size, flip=flip,
                       batch_size=batch_size)
    try:
        for start, vecs in batches:
            chunk = todo_shas[start:start + len(vecs)]
            pending.extend(zip(chunk, vecs, strict=True))
            found.update(zip(chunk, vecs, strict=True))
            if len(pending) >= 4 * batch_size:
                cache.put(key, [p[0] for p in pending], np.stack([p[1] for p in pending]))
                pending = []
            if on_batch is not None:
                on_batch(start + len(vecs), len(todo_shas))
    finally:  # also when cancelled: what was computed is kept
        batches.close()
        if pending:
            cache.put(key, [p[0] for p in pending], np.stack([p[1] for p in pending]))
    out = np.stack([found[s] for s in shas]) if shas else np.zeros((0, d.feature_dim), "f4")
    stats = FeatureStats(reused=len(set(shas)) - len(todo_shas), computed=len(todo_shas),
                         seconds=time.perf_counter() - t0)
    return out.astype(np.float32, copy=False), stats
