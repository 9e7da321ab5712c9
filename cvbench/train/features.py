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

Two *parts* of the frozen backbone give vectors (``part=``):

* ``"pooled"``: the backbone's pooled features (``domain.feature_dim`` values), the key
  being the preprocessing key;
* ``"taps"``: what quick classification chooses from, all from the same single forward
  pass (:class:`Taps`, key suffix ``":taps1"``): the pooled features, then the average of
  the feature maps of several earlier stages (:func:`taps_layout` gives the slices), then
  the raw pixels of a 16x16 thumbnail of the preprocessed input.

Both run on the fastest engine that gives the same numbers
(:func:`cvbench.train._frozen.frozen_runner`: ONNX Runtime, else torch).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import domains as _domains
from ..store.images import load_rgb
from ..store.repo_features import FeatureRepository
from ._frozen import FrozenRunner, frozen_runner

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "PARTS",
    "taps_module",
    "taps_layout",
    "frozen_runner_for",
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
#: What the frozen backbone gives per image (see the module docstring).
PARTS = ("pooled", "taps")
#: Side of the raw-pixel thumbnail in the taps.
THUMBNAIL = 16
_TAPS_VERSION = 1


def feature_key(domain: str, size: int | None = None, *, flip: bool = False,
                part: str = "pooled") -> str:
    """The cache key of features of ``domain`` at input ``size`` (mirrored with ``flip``)."""
    key = _domains.preprocessing_key(domain, size)
    if part == "taps":
        key = f"{key}:taps{_TAPS_VERSION}"
    elif part != "pooled":
        raise ValueError(f"part={part!r} is not a feature part; it should be one of {PARTS}")
    return f"{key}:flip" if flip else key


def _stage_outputs(backbone: Any) -> tuple[list[int], str]:
    """Which stages the taps average, and how the backbone is walked."""
    if hasattr(backbone, "blocks") and hasattr(backbone, "conv_head"):  # timm EfficientNet
        return [2, 3, 4, 5], "efficientnet"
    if hasattr(backbone, "layer1") and hasattr(backbone, "layer4"):  # ResNet
        return [1, 2, 3], "resnet"
    return [], "other"


def taps_module(backbone: Any) -> torch.nn.Module:
    """The taps of ``backbone`` (its modules shared, not copied): pooled features, the
    averaged maps of earlier stages and a raw-pixel thumbnail of the input, concatenated,
    ``(N, 3, S, S) -> (N, D)`` (:func:`taps_layout` gives the slices)."""
    import torch
    import torch.nn.functional as F

    stages, walk = _stage_outputs(backbone)

    class _Taps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b: Any = self.backbone
            pooled: list[torch.Tensor] = []
            if walk == "efficientnet":
                h = b.bn1(b.conv_stem(x))
                for i, block in enumerate(b.blocks):
                    h = block(h)
                    if i in stages:
                        pooled.append(h.mean(dim=(2, 3)))
                final = b.global_pool(b.bn2(b.conv_head(h)))
            elif walk == "resnet":
                h = b.maxpool(b.act1(b.bn1(b.conv1(x))))
                for i, layer in enumerate((b.layer1, b.layer2, b.layer3, b.layer4), start=1):
                    h = layer(h)
                    if i in stages:
                        pooled.append(h.mean(dim=(2, 3)))
                final = b.global_pool(h)
            else:
                final = b(x)
            thumb = F.adaptive_avg_pool2d(x, THUMBNAIL).flatten(1)
            return torch.cat([final, *pooled, thumb], dim=1)

    return _Taps()


def taps_layout(domain: str) -> dict[str, tuple[int, int]]:
    """Slices of the taps vector: ``{"final": (0, 1280), "stages": (1280, 1704),
    "pixels": (1704, 2472)}`` for EfficientNet-Lite0 ("stages" is absent for a backbone
    whose stages are not known)."""
    d = _domains.get_domain(domain)
    widths = _stage_widths(d.name)
    out = {"final": (0, d.feature_dim)}
    end = d.feature_dim
    if widths:
        out["stages"] = (end, end + sum(widths))
        end += sum(widths)
    out["pixels"] = (end, end + 3 * THUMBNAIL * THUMBNAIL)
    return out


@functools.cache
def _stage_widths(domain: str) -> tuple[int, ...]:
    backbone = frozen_backbone(domain)
    stages, walk = _stage_outputs(backbone)
    b: Any = backbone
    if walk == "efficientnet":
        return tuple(int(b.blocks[i][-1].conv_pwl.out_channels) if hasattr(
            b.blocks[i][-1], "conv_pwl") else int(b.blocks[i][-1].conv_pw.out_channels)
            for i in stages)
    if walk == "resnet":
        return tuple(int(b.feature_info[i]["num_chs"]) for i in stages)
    return ()


def frozen_runner_for(domain: str, size: int | None, part: str = "pooled") -> FrozenRunner:
    """The runner of ``part`` of the domain's frozen backbone at input ``size``, on the
    fastest engine (threads: torch's current number, see ``cvbench.train._threads``)."""
    d = _domains.get_domain(domain)
    side = size or d.image_size
    if part == "pooled":
        return frozen_runner(d.name, side, "pooled", lambda: frozen_backbone(d.name))
    if part == "taps":
        return frozen_runner(d.name, side, f"taps{_TAPS_VERSION}",
                             lambda: taps_module(frozen_backbone(d.name)))
    raise ValueError(f"part={part!r} is not a feature part; it should be one of {PARTS}")


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


def forward(model: FrozenRunner | torch.nn.Module, batch: torch.Tensor) -> np.ndarray:
    """One forward pass of a frozen part (the only place features are computed): its
    first output as float32 numpy."""
    import torch

    with _FORWARD_LOCK:
        if isinstance(model, FrozenRunner):
            return model(batch)[0]
        with torch.inference_mode():
            return model(batch).float().numpy()


def cached_features(cache: FeatureRepository, shas: Sequence[str], key: str
                    ) -> dict[str, np.ndarray]:
    """The cached vectors of ``shas`` under ``key`` (missing ones are absent)."""
    return cache.get(shas, key)


def _batches(domain: str, images: Sequence[str | Path | bytes], size: int | None, *,
             flip: bool, batch_size: int, part: str = "pooled"
             ) -> Generator[tuple[int, np.ndarray], None, None]:
    """``(start, vectors)`` per batch; the next batch is read and resized in a thread while
    the current one runs through the backbone."""
    import torch

    d = _domains.get_domain(domain)
    model = frozen_runner_for(d.name, size, part) if images else None

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
            assert model is not None
            yield start, forward(model, x)


def compute_features(
    domain: str,
    images: Sequence[str | Path | bytes],
    size: int | None = None,
    *,
    flip: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    part: str = "pooled",
) -> np.ndarray:
    """Features ``(N, feature_dim)`` of image files (or bytes) through the frozen backbone
    (``part="taps"``: the taps vectors, see the module docstring).

    Images are read with :func:`~cvbench.store.images.load_rgb` and preprocessed with
    :func:`~cvbench.domains.preprocess`, exactly as for prediction. The next batch is read
    and resized in a thread while the current one runs through the backbone.
    ``on_batch(done, total)`` is called after each batch (it may raise to cancel).
    """
    d = _domains.get_domain(domain)
    n = len(images)
    out = np.empty((n, _width(d.name, part)), dtype=np.float32)
    for start, vecs in _batches(d.name, images, size, flip=flip, batch_size=batch_size,
                                part=part):
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
    part: str = "pooled",
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
    key = feature_key(d.name, size, flip=flip, part=part)
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
                       batch_size=batch_size, part=part)
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
    out = np.stack([found[s] for s in shas]) if shas else np.zeros((0, _width(d.name, part)),
                                                                    "f4")
    stats = FeatureStats(reused=len(set(shas)) - len(todo_shas), computed=len(todo_shas),
                         seconds=time.perf_counter() - t0)
    return out.astype(np.float32, copy=False), stats


def _width(domain: str, part: str) -> int:
    if part == "taps":
        return taps_layout(domain)["pixels"][1]
    return _domains.get_domain(domain).feature_dim
