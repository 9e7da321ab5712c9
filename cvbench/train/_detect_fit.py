"""Training a :class:`~cvbench.train._detect_model.Detector` on in-memory images, with fastai.

Not public API; :mod:`cvbench.train.detect` is. The recipe (DESIGN "Training recipes"):

* images squashed to the detector's square input (as :func:`cvbench.domains.preprocess`),
  random horizontal flips;
* AdamW (fastai's ``Adam`` with decoupled weight decay), learning rate ``1e-3`` with a
  short linear warm-up then a cosine decay over the *wall-clock* budget: the schedule is a
  function of the time spent, so a run that must stop at its deadline has cooled down;
* the backbone's BatchNorm statistics frozen;
* **quick**: the backbone's stem and first :data:`FRONT_BLOCKS` blocks (everything up to
  stride 8) frozen; their activations of every image and of its mirror image are computed
  once, on the fastest engine (:mod:`cvbench.train._frozen`: ONNX Runtime), and the later
  blocks (strides 16 and 32), the FPN and the head train on them (:func:`train_cached`).
  Measured on a 6-tag set of small look-alike shapes (2 cores, 60 s of training): mAP@0.5
  0.86 where the FPN and head alone on frozen feature maps reached 0.76. Backbones that
  are not walked block by block (ResNet) train the FPN and head on cached feature maps
  (:func:`train_head`);
* **advanced**: the quick recipe first (a share of the budget), then the same later blocks,
  FPN and head trained on more *views* of every image — random zoom-in crops, colour
  jitter and mirrors, their frozen activations cached once — with a second cosine
  schedule (the caller keeps whichever of the two does better on validation); or, with
  ``settings={"advanced": "end-to-end"}``, everything after the stride-4 stages fine-tuned
  on the images (:func:`fine_tune`).

The model's own loss (torchvision's focal + GIoU + centerness for FCOS, focal + L1 for
RetinaNet) is the fastai ``loss_func``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import domains as _domains
from ..store.images import load_rgb
from ._detect_model import Detector
from ._frozen import FrozenRunner, frozen_runner
from ._threads import torch_threads

__all__ = ["Sample", "load_samples", "normalize", "train_head", "train_cached", "fine_tune",
           "FitReport", "torch_threads", "augmented_views", "front_runner", "FRONT_BLOCKS"]

#: Images per optimizer step.
BATCH_SIZE = 8
#: Share of the budget spent warming the learning rate up.
WARMUP = 0.05
#: Backbone blocks (timm ``blocks.N``) left frozen when fine-tuning: the high-resolution
#: stages, costly to back-propagate through and the least task-specific.
FROZEN_BLOCKS = 2
#: Backbone blocks whose activations quick training caches (stem + blocks 0-2: stride 8).
FRONT_BLOCKS = 3
#: Cached activations kept in memory at most (bytes, float16): fewer views beyond it.
VIEW_CACHE_BYTES = 1_200_000_000


@dataclass
class Sample:
    """One training image: ``image`` uint8 ``(3, S, S)`` (squashed to the input size),
    ``boxes`` float ``(K, 4)`` normalized corners, ``labels`` int64 ``(K,)``; ``K`` may be 0."""

    image: Tensor
    boxes: Tensor
    labels: Tensor


@dataclass
class FitReport:
    """What a run did: seconds per stage, optimizer steps, epochs, the last losses."""

    seconds: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    epochs: dict[str, float] = field(default_factory=dict)
    loss: dict[str, float | None] = field(default_factory=dict)
    validation: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "steps": self.steps, "epochs": {k: round(v, 2) for k, v in self.epochs.items()},
                "loss": self.loss, "validation": self.validation}


def load_image(source: str | Path | bytes | Any, size: int) -> Tensor:
    """An image as uint8 ``(3, size, size)``: :func:`load_rgb`, then the bilinear squash of
    :func:`cvbench.domains.preprocess` (without its normalisation)."""
    from PIL import Image

    rgb = load_rgb(source).resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_samples(items: Sequence[tuple[Any, np.ndarray, np.ndarray]], size: int,
                 progress: Callable[[int, int], Any] | None = None) -> list[Sample]:
    """``items`` are ``(source, boxes_xyxy, labels)``; images are read on a few threads."""
    out: list[Sample | None] = [None] * len(items)

    def one(i: int) -> None:
        src, boxes, labels = items[i]
        out[i] = Sample(
            load_image(src, size),
            torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
            torch.as_tensor(np.asarray(labels, dtype=np.int64).reshape(-1)),
        )

    done = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in pool.map(one, range(len(items))):
            done += 1
            if progress is not None and (done % 16 == 0 or done == len(items)):
                progress(done, len(items))
    return [s for s in out if s is not None]


def normalize(images: Tensor, domain: str) -> Tensor:
    """uint8 ``(N, 3, S, S)`` -> the backbone's float input, as :func:`domains.preprocess`."""
    d = _domains.get_domain(domain)
    mean = torch.tensor(d.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(d.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def _targets(samples: Sequence[Sample], flips: Sequence[bool], size: int
             ) -> list[dict[str, Tensor]]:
    out = []
    for s, flip in zip(samples, flips, strict=True):
        b = s.boxes.clone()
        if flip and b.numel():
            b[:, [0, 2]] = 1.0 - s.boxes[:, [2, 0]]
        out.append({"boxes": b * size, "labels": s.labels})
    return out


class _Images(torch.utils.data.Dataset):
    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> int:
        return i


class _Collate:
    """Index batch -> ``(images, targets)`` (full model) or ``(f0, f1, f2, targets)``
    (cached feature maps), each image mirrored with probability 1/2."""

    def __init__(self, samples: Sequence[Sample], domain: str, size: int, seed: int,
                 features: list[list[Tensor]] | None = None) -> None:
        self.samples, self.domain, self.size = samples, domain, size
        self.features = features  # [flip][level] -> (N, C, h, w)
        self.rng = random.Random(seed)

    def __call__(self, idx: list[int]) -> tuple[Any, ...]:
        flips = [self.rng.random() < 0.5 for _ in idx]
        batch = [self.samples[i] for i in idx]
        targets = _targets(batch, flips, self.size)
        if self.features is not None:
            levels = [
                torch.stack([self.features[int(f)][lv][i]
                             for i, f in zip(idx, flips, strict=True)]).float()
                for lv in range(len(self.features[0]))
            ]
            return (*levels, targets)
        images = torch.stack([
            s.image.flip(-1) if f else s.image for s, f in zip(batch, flips, strict=True)
        ])
        return normalize(images, self.domain), targets


class _FromFeatures(nn.Module):
    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, *feats: Tensor) -> dict[str, Tensor]:
        return self.detector.from_features(list(feats))


def backbone_features(detector: Detector, samples: Sequence[Sample], domain: str, *,
                      flip: bool, batch_size: int = 16,
                      progress: Callable[[int, int], Any] | None = None) -> list[Tensor]:
    """The frozen backbone's feature maps of every sample (mirrored with ``flip``), one
    float16 tensor ``(N, C, h, w)`` per level."""
    runner = maps_runner(detector)
    levels: list[list[Tensor]] = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            imgs = torch.stack([s.image for s in samples[start:start + batch_size]])
            if flip:
                imgs = imgs.flip(-1)
            feats = runner(normalize(imgs, domain))
            # half precision: the maps of 1000 images and their mirrors take 0.6 GB
            levels.append([torch.from_numpy(f).to(torch.float16) for f in feats])
            if progress is not None:
                progress(min(start + batch_size, len(samples)), len(samples))
    return [torch.cat([b[lv] for b in levels]) for lv in range(len(levels[0]))]


def _set_trainable(detector: Detector, *, backbone: bool) -> None:
    for p in detector.parameters():
        p.requires_grad_(True)
    body = detector.body
    for name, p in body.named_parameters():
        frozen = not backbone or name.startswith(("conv_stem", "bn1")) or any(
            name.startswith(f"blocks.{k}.") for k in range(FROZEN_BLOCKS)
        )
        if frozen:
            p.requires_grad_(False)


def _run(detector: Detector, model: nn.Module, loader: Any, *, seconds: float, lr: float,
         wd: float, on_step: Callable[[float, float], None], min_steps: int = 0,
         max_seconds: float | None = None) -> tuple[int, float, float | None]:
    """Train ``model`` with fastai for ``seconds`` of wall-clock time, and for at least
    ``min_steps`` optimizer steps while ``max_seconds`` allow (a busy machine then gets
    the steps it needs, within the hard limit). Returns ``(steps, epochs, last smoothed
    loss)``."""
    limit = seconds if max_seconds is None else max(seconds, max_seconds)
    from fastai.callback.core import Callback, CancelFitException
    from fastai.callback.progress import ProgressCallback
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import Adam

    empty = torch.utils.data.DataLoader(_Images([]), batch_size=1)

    class WallClock(Callback):
        """Warm-up then cosine learning rate over the time budget; stops at the deadline."""

        order = 1

        def before_fit(self) -> None:
            self.t0 = time.monotonic()
            self.steps = 0
            self.smooth: float | None = None

        def fraction(self) -> float:
            """How far the run is: the slower of time and steps, within the hard limit."""
            t = time.monotonic() - self.t0
            frac = t / seconds
            if min_steps:
                frac = min(frac, self.steps / min_steps)
            return min(1.0, max(frac, t / limit))

        def before_batch(self) -> None:
            frac = self.fraction()
            t = time.monotonic() - self.t0
            # a step that would end past the hard limit is not started (on a busy machine
            # one step can take seconds)
            if frac >= 1.0 or (self.steps and t + t / self.steps > limit):
                raise CancelFitException()
            scale = min(1.0, (frac + 1e-3) / WARMUP) * 0.5 * (1.0 + math.cos(math.pi * frac))
            self.opt.set_hyper("lr", lr * scale)

        def after_batch(self) -> None:
            if not self.training:
                return
            self.steps += 1
            loss = float(self.learn.loss.detach())
            if math.isfinite(loss):
                self.smooth = loss if self.smooth is None else 0.9 * self.smooth + 0.1 * loss
            on_step(self.fraction(), self.smooth or loss)

    clock = WallClock()
    learn = Learner(
        DataLoaders(loader, empty),
        model,
        loss_func=lambda outputs, targets: detector.loss(outputs, targets),
        opt_func=lambda params, lr: Adam(params, lr=lr, wd=wd, decouple_wd=True),
        lr=lr,
        cbs=[clock],
    )
    # cvbench reports progress itself: no fastai bar (added to every Learner once
    # fastai.callback.progress is imported anywhere), no epoch table
    learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, ProgressCallback)])
    with learn.no_logging():
        learn.fit(10**6)  # the clock stops it
    epochs = clock.steps / max(1, len(loader))
    return clock.steps, epochs, clock.smooth


def _loader(samples: Sequence[Sample], detector: Detector, seed: int,
            features: list[list[Tensor]] | None = None) -> Any:
    bs = min(BATCH_SIZE, len(samples))
    spec = detector.spec
    return torch.utils.data.DataLoader(
        _Images(samples), batch_size=bs, shuffle=True, drop_last=len(samples) > bs,
        collate_fn=_Collate(samples, spec.domain, spec.image_size, seed, features),
        generator=torch.Generator().manual_seed(seed),
    )


def train_head(detector: Detector, samples: Sequence[Sample], *, seconds: float,
               progress: Any, report: FitReport, lr: float = 1e-3, wd: float = 1e-4,
               seed: int = 0, min_steps: int = 0, max_seconds: float | None = None) -> None:
    """Quick training, in place: the frozen backbone's feature maps of every sample and of
    its mirror image (stage ``features``), then the FPN and head trained on them for
    ``seconds`` (and ``min_steps`` within ``max_seconds``: see :func:`_run`; stage ``head``). ``progress`` is a :class:`cvbench.train.Progress`; its
    ``cancel`` is honoured at every step (raising :class:`~cvbench.errors.CancelledError`).
    """
    if not samples:
        raise ValueError("no training images")
    torch.manual_seed(seed)
    t0 = time.monotonic()
    progress.stage("features", "features of the frozen backbone")
    n = len(samples)

    def feat_progress(offset: int) -> Callable[[int, int], None]:
        return lambda done, total: progress.update((offset + done) / (2 * n),
                                                   message=f"features {offset + done}/{2 * n}")

    domain = detector.spec.domain
    feats = [
        backbone_features(detector, samples, domain, flip=False, progress=feat_progress(0)),
        backbone_features(detector, samples, domain, flip=True, progress=feat_progress(n)),
    ]
    report.seconds["features"] = time.monotonic() - t0
    progress.stage("head", "training the detection head")
    _set_trainable(detector, backbone=False)
    t0 = time.monotonic()
    steps, epochs, loss = _run(
        detector, _FromFeatures(detector), _loader(samples, detector, seed, feats),
        seconds=seconds, lr=lr, wd=wd, min_steps=min_steps, max_seconds=max_seconds,
        on_step=lambda frac, loss: progress.update(frac, loss=loss),
    )
    report.seconds["head"] = time.monotonic() - t0
    report.steps["head"], report.epochs["head"], report.loss["head"] = steps, epochs, loss
    _freeze(detector)


def fine_tune(detector: Detector, samples: Sequence[Sample], *, seconds: float,
              progress: Any, report: FitReport, lr: float = 1e-3, wd: float = 1e-4,
              seed: int = 0) -> None:
    """Advanced training, in place: everything after the backbone's stride-4 stages
    trained end to end on mirrored-or-not images for ``seconds`` (stage ``fine-tune``)."""
    if not samples:
        raise ValueError("no training images")
    torch.manual_seed(seed + 1)
    progress.stage("fine-tune", "fine-tuning the backbone")
    _set_trainable(detector, backbone=True)
    t0 = time.monotonic()
    steps, epochs, loss = _run(
        detector, detector, _loader(samples, detector, seed + 1), seconds=seconds, lr=lr,
        wd=wd, on_step=lambda frac, loss: progress.update(frac, loss=loss),
    )
    report.seconds["fine-tune"] = time.monotonic() - t0
    report.steps["fine-tune"], report.epochs["fine-tune"] = steps, epochs
    report.loss["fine-tune"] = loss
    _freeze(detector)


# --------------------------------------------------------------------------- cached fronts


def front_runner(detector: Detector, k: int = FRONT_BLOCKS) -> FrozenRunner:
    """The frozen stem and first ``k`` blocks of the detector's pretrained backbone on the
    fastest engine (built from fresh pretrained weights: never a trained copy)."""
    spec = detector.spec

    def build() -> nn.Module:
        from ._detect_model import _Front

        body = _domains.build_backbone(spec.domain, features_only=True, out_indices=(2, 3, 4))
        return _Front(body, k)

    return frozen_runner(spec.domain, spec.image_size, f"detfront{k}", build)


class _Maps(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.body(x))


def maps_runner(detector: Detector) -> FrozenRunner:
    """The pretrained backbone's three feature maps on the fastest engine (fresh weights)."""
    spec = detector.spec
    n = len(detector.num_anchors_per_level) - 2  # P6 and P7 come from the FPN

    def build() -> nn.Module:
        return _Maps(_domains.build_backbone(spec.domain, features_only=True,
                                             out_indices=(2, 3, 4)))

    return frozen_runner(spec.domain, spec.image_size, "detmaps", build, n_outputs=n)


def _flip_sample(s: Sample) -> Sample:
    b = s.boxes.clone()
    if b.numel():
        b[:, [0, 2]] = 1.0 - s.boxes[:, [2, 0]]
    return Sample(s.image.flip(-1), b, s.labels)


def _augment(s: Sample, rng: np.random.Generator) -> Sample:
    """A random view: zoom in on a crop of 45-100 % of the area (aspect +-20 %), colour
    jitter (brightness, contrast, saturation +-25 %), mirrored half of the time. Boxes
    follow the crop; a box keeping less than 40 % of its area is dropped."""
    side = s.image.shape[-1]
    area = rng.uniform(0.45, 1.0)
    aspect = np.exp(rng.uniform(-0.2, 0.2))
    cw, ch = min(1.0, np.sqrt(area * aspect)), min(1.0, np.sqrt(area / aspect))
    x0, y0 = rng.uniform(0, 1 - cw), rng.uniform(0, 1 - ch)
    px = [int(round(v * side)) for v in (x0, y0, x0 + cw, y0 + ch)]
    crop = s.image[:, px[1]:max(px[3], px[1] + 1), px[0]:max(px[2], px[0] + 1)].float()
    img = torch.nn.functional.interpolate(crop[None], size=(side, side), mode="bilinear",
                                          align_corners=False)[0]
    gray = img.mean(dim=0, keepdim=True)
    img = img * rng.uniform(0.75, 1.25)  # brightness
    img = (img - gray.mean()) * rng.uniform(0.75, 1.25) + gray.mean()  # contrast
    img = gray + (img - gray) * rng.uniform(0.75, 1.25)  # saturation
    image = img.clamp(0, 255).round().to(torch.uint8)
    b = s.boxes.clone()
    keep = torch.ones(len(b), dtype=torch.bool)
    if b.numel():
        old = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        b[:, [0, 2]] = ((b[:, [0, 2]] - x0) / cw).clamp(0, 1)
        b[:, [1, 3]] = ((b[:, [1, 3]] - y0) / ch).clamp(0, 1)
        new = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) * cw * ch
        keep = (new >= 0.4 * old) & (b[:, 2] - b[:, 0] > 1e-3) & (b[:, 3] - b[:, 1] > 1e-3)
    out = Sample(image, b[keep], s.labels[keep])
    return _flip_sample(out) if rng.random() < 0.5 else out


def augmented_views(samples: Sequence[Sample], n: int, seed: int) -> list[list[Sample]]:
    """``n`` random views (:func:`_augment`) of every sample."""
    rng = np.random.default_rng(seed)
    return [[_augment(s, rng) for s in samples] for _ in range(n)]


def cache_fronts(runner: FrozenRunner, views: Sequence[Sequence[Sample]], domain: str, *,
                 batch_size: int = 16, progress: Callable[[int, int], Any] | None = None,
                 check: Callable[[], None] | None = None) -> list[Tensor]:
    """The frozen front's activations of every view, float16 ``(N, C, h, w)`` per view."""
    total = sum(len(v) for v in views)
    done = 0
    out = []
    for view in views:
        parts = []
        for start in range(0, len(view), batch_size):
            imgs = torch.stack([s.image for s in view[start:start + batch_size]])
            (a,) = runner(normalize(imgs, domain))
            parts.append(torch.from_numpy(a).to(torch.float16))
            done += len(imgs)
            if progress is not None:
                progress(done, total)
            if check is not None:
                check()
        out.append(torch.cat(parts))
    return out


class _ViewCollate:
    """Index batch -> ``(activations, targets)``: each image as one of its views, at random."""

    def __init__(self, views: Sequence[Sequence[Sample]], acts: Sequence[Tensor], size: int,
                 seed: int) -> None:
        self.views, self.acts, self.size = views, acts, size
        self.rng = random.Random(seed)

    def __call__(self, idx: list[int]) -> tuple[Any, ...]:
        pick = [self.rng.randrange(len(self.views)) for _ in idx]
        batch = [self.views[v][i] for i, v in zip(idx, pick, strict=True)]
        targets = _targets(batch, [False] * len(batch), self.size)
        a = torch.stack([self.acts[v][i] for i, v in zip(idx, pick, strict=True)]).float()
        return a, targets


class _FromFront(nn.Module):
    def __init__(self, detector: Detector, k: int) -> None:
        super().__init__()
        self.detector, self.k = detector, k

    def forward(self, a: Tensor) -> dict[str, Tensor]:
        return self.detector.from_front(a, self.k)


def train_cached(detector: Detector, views: Sequence[Sequence[Sample]], acts: Sequence[Tensor],
                 *, seconds: float, progress: Any, report: FitReport, key: str,
                 lr: float = 1e-3, wd: float = 1e-4, seed: int = 0,
                 k: int = FRONT_BLOCKS, min_steps: int = 0,
                 max_seconds: float | None = None) -> None:
    """Train the blocks after the first ``k``, the FPN and the head on cached activations
    of the front (``acts[v]`` of ``views[v]``) for ``seconds`` (and ``min_steps``, within
    ``max_seconds``: see :func:`_run`), in place; the report's entries are named ``key``.
    Cancellation is honoured at every step."""
    n = len(views[0])
    if not n:
        raise ValueError("no training images")
    torch.manual_seed(seed)
    for p in detector.parameters():
        p.requires_grad_(False)
    for p in detector.tail_parameters(k):
        p.requires_grad_(True)
    bs = min(BATCH_SIZE, n)
    loader = torch.utils.data.DataLoader(
        _Images(list(views[0])), batch_size=bs, shuffle=True, drop_last=n > bs,
        collate_fn=_ViewCollate(views, acts, detector.spec.image_size, seed),
        generator=torch.Generator().manual_seed(seed))
    t0 = time.monotonic()
    steps, epochs, loss = _run(detector, _FromFront(detector, k), loader, seconds=seconds,
                               lr=lr, wd=wd, min_steps=min_steps, max_seconds=max_seconds,
                               on_step=lambda frac, loss: progress.update(frac, loss=loss))
    report.seconds[key] = time.monotonic() - t0
    report.steps[key], report.epochs[key], report.loss[key] = steps, epochs, loss
    _freeze(detector)


def _freeze(detector: Detector) -> None:
    for p in detector.parameters():
        p.requires_grad_(False)
    detector.eval()
