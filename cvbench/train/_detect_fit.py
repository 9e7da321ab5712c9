"""Training a :class:`~cvbench.train._detect_model.Detector` on in-memory images, with fastai.

Not public API; :mod:`cvbench.train.detect` is. The recipe (DESIGN "Training recipes"):

* images squashed to the detector's square input (as :func:`cvbench.domains.preprocess`),
  random horizontal flips;
* AdamW (fastai's ``Adam`` with decoupled weight decay), learning rate ``1e-3`` with a
  short linear warm-up then a cosine decay over the *wall-clock* budget: the schedule is a
  function of the time spent, so a run that must stop at its deadline has cooled down;
* the backbone's BatchNorm statistics frozen;
* **quick**: the backbone frozen too, its feature maps computed once per image and once per
  mirrored image, and only the FPN and head trained on them (a step costs a tenth of a full
  one);
* **advanced**: the quick recipe first (a share of the budget), then everything after the
  backbone's stride-4 stages fine-tuned, end to end (the caller keeps whichever of the two
  does better on validation).

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
from ._threads import torch_threads

__all__ = ["Sample", "load_samples", "normalize", "train_head", "fine_tune", "FitReport",
           "torch_threads"]

#: Images per optimizer step.
BATCH_SIZE = 8
#: Share of the budget spent warming the learning rate up.
WARMUP = 0.05
#: Backbone blocks (timm ``blocks.N``) left frozen when fine-tuning: the high-resolution
#: stages, costly to back-propagate through and the least task-specific.
FROZEN_BLOCKS = 2


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
    body = detector.body.eval()
    levels: list[list[Tensor]] = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            imgs = torch.stack([s.image for s in samples[start:start + batch_size]])
            if flip:
                imgs = imgs.flip(-1)
            feats = body(normalize(imgs, domain))
            # half precision: the maps of 1000 images and their mirrors take 0.6 GB
            levels.append([f.to(torch.float16) for f in feats])
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
         wd: float, on_step: Callable[[float, float], None]) -> tuple[int, float, float | None]:
    """Train ``model`` with fastai for ``seconds`` of wall-clock time. Returns
    ``(steps, epochs, last smoothed loss)``."""
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

        def before_batch(self) -> None:
            frac = (time.monotonic() - self.t0) / seconds
            if frac >= 1.0:
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
            on_step(min(1.0, (time.monotonic() - self.t0) / seconds), self.smooth or loss)

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
               seed: int = 0) -> None:
    """Quick training, in place: the frozen backbone's feature maps of every sample and of
    its mirror image (stage ``features``), then the FPN and head trained on them for
    ``seconds`` (stage ``head``). ``progress`` is a :class:`cvbench.train.Progress`; its
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
        seconds=seconds, lr=lr, wd=wd,
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


def _freeze(detector: Detector) -> None:
    for p in detector.parameters():
        p.requires_grad_(False)
    detector.eval()
