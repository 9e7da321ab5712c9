"""Advanced classification training: fine-tuning from the quick model with a fastai
``Learner`` within a wall-clock budget, on cached activations of the frozen stages or on
the image files (see :mod:`cvbench.train.classify` for the recipe)."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import domains as _domains
from ..store.images import load_rgb
from ._classify_model import (
    ClassificationModel,
    ClassifierNet,
    model_config,
    score_dict,
    validation_score,
)
from ._progress import Budget, Progress
from .base import TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["fine_tune", "build_datablock", "Labels", "ACTIVATION_CACHE_BYTES"]


# --------------------------------------------------------------------------- fine-tuning


class _ImageReader:
    """fastai ``get_x``: a stored image path -> the displayed RGB image squashed to
    ``size`` (the same resize as :func:`cvbench.domains.preprocess`), cached in memory for
    the run. PIL images, bytes and paths given to an exported Learner load the same way."""

    def __init__(self, size: int, cache_limit: int = 3000) -> None:
        self.size = size
        self.cache_limit = cache_limit
        self._cache: dict[str, Any] = {}

    def __call__(self, item: Any) -> Image.Image:
        from PIL import Image

        key = str(item) if isinstance(item, (str, Path)) else None
        if key is not None and key in self._cache:
            return self._cache[key]
        img = load_rgb(item).convert("RGB").resize((self.size, self.size),
                                                   Image.Resampling.BILINEAR)
        if key is not None and len(self._cache) < self.cache_limit:
            self._cache[key] = img
        return img

    def clear(self) -> None:
        self._cache = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size, "cache_limit": self.cache_limit, "_cache": {}}


class Labels:
    """fastai ``get_y``: path -> label, from a dict (emptied before an export)."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        self.mapping = mapping

    def __call__(self, item: Any) -> Any:
        return self.mapping[str(item)]

    def __getstate__(self) -> dict[str, Any]:
        return {"mapping": {}}


#: the name older fastai exports pickled (they load with it)
_Labels = Labels


def _groups(model: Any, early_stages: int) -> list[list[Any]]:
    """Three parameter groups: stem + the first ``early_stages`` stages, later stages +
    conv head, linear head."""
    backbone = model.backbone
    blocks = getattr(backbone, "blocks", None)
    if blocks is None:  # a backbone without timm EfficientNet stages: whole backbone, head
        early: list[Any] = []
        late = list(backbone.parameters())
    else:
        early_mods = [m for name, m in backbone.named_children() if name in ("conv_stem", "bn1")]
        early_mods += list(blocks[:early_stages])
        early_ids = {id(p) for m in early_mods for p in m.parameters()}
        early = [p for m in early_mods for p in m.parameters()]
        late = [p for p in backbone.parameters() if id(p) not in early_ids]
    return [early, late, list(model.head.parameters())]


def build_datablock(data_kind: str, n_out: int, size: int, mean: Sequence[float],
                    std: Sequence[float], get_y: Any, *, train_idx: Sequence[int] | None = None,
                    valid_idx: Sequence[int] | None = None, augment: bool = False,
                    mirror: bool = True, vocab: Sequence[Any] | None = None):
    """The fastai ``DataBlock`` of a classification project: images read with
    :func:`~cvbench.store.images.load_rgb` and squashed to ``size``, normalised with the
    domain's statistics, optionally augmented on the batch."""
    from fastai.data.block import CategoryBlock, DataBlock, MultiCategoryBlock
    from fastai.data.transforms import IndexSplitter, Normalize
    from fastai.vision.augment import Resize, ResizeMethod, aug_transforms
    from fastai.vision.data import ImageBlock

    vocab = list(range(n_out)) if vocab is None else list(vocab)
    y_block = (MultiCategoryBlock(encoded=True, vocab=vocab) if data_kind == "multilabel"
               else CategoryBlock(vocab=vocab, sort=False))
    batch_tfms: list[Any] = []
    if augment:
        batch_tfms += aug_transforms(do_flip=mirror, max_rotate=10.0, max_zoom=1.1,
                                     max_lighting=0.2, max_warp=0.1, p_affine=0.75,
                                     p_lighting=0.75)
    batch_tfms.append(Normalize.from_stats(list(mean), list(std), cuda=False))
    return DataBlock(
        blocks=(ImageBlock, y_block),
        get_x=_ImageReader(size),
        get_y=get_y,
        splitter=IndexSplitter(list(valid_idx or [])),
        item_tfms=Resize(size, method=ResizeMethod.Squish),
        batch_tfms=batch_tfms,
        n_inp=1,
    )


#: Cached activations of the frozen stages kept in memory at most (bytes).
ACTIVATION_CACHE_BYTES = 1_500_000_000


class _Front(torch.nn.Module):
    """The frozen part of a timm EfficientNet: stem and the first ``k`` stages."""

    def __init__(self, backbone: Any, k: int) -> None:  # a timm EfficientNet
        super().__init__()
        self.conv_stem, self.bn1 = backbone.conv_stem, backbone.bn1
        self.blocks = torch.nn.Sequential(*backbone.blocks[:k])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))


class _Back(torch.nn.Module):
    """The trained part on cached activations: the later stages, the conv head, pooling,
    and the linear head. Shares its modules with the whole network."""

    def __init__(self, net: ClassifierNet, k: int) -> None:
        super().__init__()
        b: Any = net.backbone  # a timm EfficientNet
        self.blocks = torch.nn.Sequential(*b.blocks[k:])
        self.conv_head, self.bn2, self.global_pool = b.conv_head, b.bn2, b.global_pool
        self.head = net.head

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.head(self.global_pool(self.bn2(self.conv_head(self.blocks(a)))))


class _Activations(torch.utils.data.Dataset):
    """Cached activations and targets; with ``views`` (the mirror, augmented views), each
    item is the activation of the image or of one of its views, at random (the
    augmentation of the cached path)."""

    def __init__(self, acts: torch.Tensor, views: Sequence[torch.Tensor],
                 targets: np.ndarray) -> None:
        self.sources = [acts, *views]
        self.targets = torch.from_numpy(np.asarray(targets))

    def __len__(self) -> int:
        return len(self.sources[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        v = int(torch.randint(len(self.sources), ()))
        return self.sources[v][i].float(), self.targets[i]


def augment_view(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random view of an image for the cached path: a crop of 60-100 % of the area
    (aspect +-15 %), squashed back, brightness, contrast and saturation +-20 %, mirrored
    half of the time."""
    from PIL import Image, ImageEnhance

    w, h = img.size
    area = rng.uniform(0.6, 1.0)
    aspect = float(np.exp(rng.uniform(-0.15, 0.15)))
    cw = max(1, min(w, int(round(w * np.sqrt(area * aspect)))))
    ch = max(1, min(h, int(round(h * np.sqrt(area / aspect)))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    out = img.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BILINEAR)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        out = enhance(out).enhance(float(rng.uniform(0.8, 1.2)))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return out


def front_runner(domain: str, size: int, k: int) -> Any:
    """The frozen stem and first ``k`` stages of the domain's pretrained backbone on the
    fastest engine (:mod:`cvbench.train._frozen`)."""
    from ._frozen import frozen_runner

    return frozen_runner(domain, size, f"clsfront{k}",
                         lambda: _Front(_domains.build_backbone(domain), k))


def fine_tune(data: TrainingSet, quick: ClassificationModel,
               y_train: np.ndarray, y_val: np.ndarray, quick_score: tuple[float, float],
               s: Mapping[str, Any], budget: Budget, progress: Progress) -> dict[str, Any]:
    """Fine-tune from the quick model within ``budget``; see the module docstring.

    Two ways, the same recipe and the same fastai callbacks:

    * **cached** (default when they fit in memory, ``ACTIVATION_CACHE_BYTES``): the frozen
      stem and first stages run once per training image, once per mirrored one, and once
      per validation image; the Learner trains the later stages and the head on these
      activations (the flip is the augmentation). Measured on 500 digits at 224 px: an
      epoch costs under half of a full one, and validation accuracy rose from 0.89 (quick)
      to 0.94 in four epochs, where the full path had reached three epochs and not passed
      the quick model.
    * **images**: a fastai DataBlock over the image files with batch augmentation (flip,
      rotation, zoom, warp, lighting), every batch through the whole network; for larger
      projects, or ``settings={"cache_activations": False}``.

    Timing: a training batch starts only when it is expected to end (moving average of the
    batches so far) early enough to leave time for the epoch's validation pass, the check
    of the best epoch and saving. The learning-rate schedule runs over that window.
    """
    import fastai.callback.progress  # noqa: F401 - Learner.no_bar / no_logging
    from fastai.callback.core import Callback, CancelFitException, CancelTrainException
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from fastai.optimizer import Adam

    multilabel = data.kind == "multilabel"
    d = _domains.get_domain(data.domain)
    notes: dict[str, Any] = {"stopped_by": None, "epochs": 0, "best_epoch": None}
    none = {"model": None, "notes": notes}
    progress.stage("fine-tune", "building the model")
    train_imgs, val_imgs = data.train, data.validation
    backbone = _domains.build_backbone(d)
    net = ClassifierNet(backbone, d.feature_dim, len(data.tags))
    with torch.no_grad():
        net.head.weight.copy_(quick.head.weight)
        net.head.bias.copy_(quick.head.bias)
    k = int(s["freeze_stages"])
    bs = max(1, min(int(s["batch_size"]), len(train_imgs)))
    mirror = bool(s["mirror"])
    # the speed of a forward pass, to plan before anything was measured
    probe = _domains.preprocess(d, [load_rgb(val_imgs[0].path)] * min(8, len(val_imgs)),
                                data.size)
    cached = bool(s["cache_activations"]) and hasattr(backbone, "blocks") and k > 0
    runs, act_shape = [], None
    with torch.inference_mode():
        net.eval()(probe)  # warm-up: the first call allocates
        for _ in range(2):
            t0 = time.perf_counter()
            net(probe)
            runs.append(time.perf_counter() - t0)
        if cached:
            act_shape = tuple(_Front(backbone, k)(probe[:1]).shape[1:])
    per_image = min(runs) / len(probe)
    n_views = max(0, int(s.get("views", 0))) if cached else 0
    n_acts = len(train_imgs) * (1 + mirror + n_views) + len(val_imgs)
    while cached and act_shape is not None and n_views > 0 and \
            2 * n_acts * int(np.prod(act_shape)) > ACTIVATION_CACHE_BYTES:
        n_views -= 1  # fewer augmented views where they do not fit
        n_acts -= len(train_imgs)
    if cached and act_shape is not None and \
            2 * n_acts * int(np.prod(act_shape)) > ACTIVATION_CACHE_BYTES:
        cached = False
    notes["path"] = "cached" if cached else "images"
    # cached: an epoch runs the later stages only (about a third of a full forward pass)
    step = (0.35 if cached else 1.0) * per_image
    timing = {
        "val_pass": step * len(val_imgs),          # one validation pass (updated)
        "batch": 3.0 * step * bs,                  # forward + backward of a batch (updated)
        "margin": 1.0 + 0.02 * (budget.seconds or 0.0),
        # the front on ONNX Runtime: about a third of a torch forward pass (measured)
        "prepare": (0.4 * per_image * n_acts) if cached else 0.0,
    }

    def tail() -> float:
        """Seconds needed after the last training batch: validation, check, saving."""
        return 2.0 * timing["val_pass"] + timing["margin"]

    window = budget.remaining - tail() - timing["prepare"]
    notes["seconds_planned"] = round(max(window, 0.0), 2)
    if window < 2.0 * timing["batch"]:
        notes["stopped_by"] = "budget"
        notes["skipped"] = (
            f"{max(budget.remaining, 0):.1f} s of the budget were left after the quick "
            f"stage, too little to prepare, train a step and validate "
            f"({timing['prepare'] + 2.0 * timing['batch'] + tail():.1f} s): the quick "
            "model was kept"
        )
        return none

    if cached:
        runner = front_runner(d.name, data.size, k)
        notes["frozen_backbone"] = runner.note()
        acts: dict[str, torch.Tensor] = {}
        jobs: list[tuple[str, Any, str]] = [("train", train_imgs, ""), ("val", val_imgs, "")]
        if mirror:
            jobs.insert(1, ("mirror", train_imgs, "flip"))
        for v in range(n_views):
            jobs.insert(2 + v, (f"view{v}", train_imgs, "augment"))
        notes["views"] = n_views
        rng = np.random.default_rng(int(s["seed"]))
        done, t_prep = 0, time.monotonic()
        for name, imgs, how in jobs:
            chunks: list[torch.Tensor] = []
            for start in range(0, len(imgs), 32):
                pils = [load_rgb(i.path) for i in imgs[start:start + 32]]
                if how == "augment":
                    pils = [augment_view(p, rng) for p in pils]
                x = _domains.preprocess(d, pils, data.size)
                (a,) = runner(torch.flip(x, dims=(3,)) if how == "flip" else x)
                chunks.append(torch.from_numpy(a).to(torch.float16))
                done += len(x)
                progress.update(0.0, message=f"caching activations {done}/{n_acts}",
                                eta_seconds=max(0.0, budget.remaining))
                if done < n_acts and budget.remaining - tail() < (
                        (time.monotonic() - t_prep) / done * (n_acts - done)
                        + 2.0 * timing["batch"]):
                    notes["stopped_by"] = "budget"
                    notes["skipped"] = ("the budget ran out while caching the frozen "
                                        "stages' activations: the quick model was kept")
                    return none
            acts[name] = torch.cat(chunks)
        notes["seconds_caching"] = round(time.monotonic() - t_prep, 2)
        train_ds = _Activations(acts["train"], [a for n, a in acts.items()
                                                if n not in ("train", "val")], y_train)
        valid_ds = _Activations(acts["val"], [], y_val)
        dls = DataLoaders(DataLoader(train_ds, bs=bs, shuffle=True, drop_last=False),
                          DataLoader(valid_ds, bs=max(bs, 64)), device=torch.device("cpu"))
        model: torch.nn.Module = _Back(net, k)
        splitter = lambda m: [  # noqa: E731
            [p for mod in (m.blocks, m.conv_head, m.bn2) for p in mod.parameters()],
            list(m.head.parameters())]
    else:
        paths = [str(i.path) for i in train_imgs] + [str(i.path) for i in val_imgs]
        labels: dict[str, Any] = {}
        for img, y in zip([*train_imgs, *val_imgs], [*y_train, *y_val], strict=True):
            labels[str(img.path)] = y.tolist() if multilabel else int(y)
        dblock = build_datablock(
            data.kind, len(data.tags), data.size, d.mean, d.std, Labels(labels),
            valid_idx=list(range(len(train_imgs), len(paths))), augment=bool(s["augment"]),
            mirror=mirror)
        dls = dblock.dataloaders(paths, bs=bs, val_bs=max(bs, 32), device=torch.device("cpu"),
                                 num_workers=0, drop_last=False, seed=int(s["seed"]))
        model = net

        def splitter(m: Any) -> list[list[Any]]:
            return _groups(m, k)

    loss_func = BCEWithLogitsLossFlat() if multilabel else CrossEntropyLossFlat(
        label_smoothing=float(s.get("label_smoothing", 0.0)))
    lr = float(s["lr"])
    ratio = float(s["backbone_lr_ratio"])
    lrs = [lr * ratio, lr] if cached else [lr * ratio * 0.1, lr * ratio, lr]
    bn_layers = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    state: dict[str, Any] = {"best": quick_score, "best_state": None, "epoch_scores": []}
    ft_start = time.monotonic()
    horizon = max(budget.remaining - tail(), 1e-3)  # the learning-rate schedule's window

    def must_stop(next_cost: float) -> bool:
        return time.monotonic() + next_cost + tail() > budget.start + (budget.seconds or 0.0)

    class FrozenBatchNorm(Callback):
        """Keep every BatchNorm in eval mode: running statistics never change."""

        order = 1  # after TrainEvalCallback's model.train()

        def before_train(self) -> None:
            for m in bn_layers:
                m.eval()

    class WallClockSchedule(Callback):
        """Warm-up (10 %) then cosine decay of the learning rates, over the wall clock."""

        order = 55

        def before_batch(self) -> None:
            if not self.training:
                return
            pos = min(1.0, (time.monotonic() - ft_start) / horizon)
            warm = 0.1
            mult = pos / warm if pos < warm else 0.5 * (
                1 + math.cos(math.pi * (pos - warm) / (1 - warm)))
            self.opt.set_hyper("lr", [x * max(mult, 0.02) for x in lrs])

    class BudgetAndProgress(Callback):
        """Stops by itself before the budget runs out (after validating that epoch),
        reports progress, honours cancellation, and keeps the best epoch by validation."""

        order = 90

        def before_batch(self) -> None:
            self._t = time.monotonic()
            if self.training and must_stop(timing["batch"]):
                notes["stopped_by"] = "budget"
                raise CancelTrainException

        def before_validate(self) -> None:
            self._preds: list[torch.Tensor] = []
            self._t_val = time.monotonic()

        def after_batch(self) -> None:
            if not self.training:
                self._preds.append(self.pred.detach().float())
                progress.check()
                return
            spent = time.monotonic() - self._t
            if notes["epochs"] == 0 and self.iter == 0:  # the first batch also warms up
                timing["batch"] = min(timing["batch"], spent)
            else:
                timing["batch"] = 0.7 * timing["batch"] + 0.3 * spent
            loss = float(self.learn.smooth_loss) if self.learn.smooth_loss is not None else None
            progress.update(min(1.0, (time.monotonic() - ft_start) / horizon), loss=loss,
                            message=f"fine-tuning, epoch {self.epoch + 1}",
                            eta_seconds=max(0.0, budget.remaining))

        def after_validate(self) -> None:
            timing["val_pass"] = max(timing["val_pass"], time.monotonic() - self._t_val)

        def after_epoch(self) -> None:
            notes["epochs"] = self.epoch + 1
            logits = torch.cat(self._preds) if self._preds else None
            if logits is not None and len(logits) == len(y_val):
                probs = (torch.sigmoid(logits) if multilabel
                         else torch.softmax(logits, dim=1)).numpy()
                score = validation_score(y_val, probs, multilabel)
                state["epoch_scores"].append(score_dict(score, multilabel))
                if score > state["best"]:
                    state["best"] = score
                    state["best_state"] = {k: v.detach().clone()
                                           for k, v in net.state_dict().items()}
                    state["best_probs"] = probs
                    notes["best_epoch"] = self.epoch + 1
            if notes["stopped_by"] == "budget" or must_stop(timing["batch"]):
                notes["stopped_by"] = "budget"
                raise CancelFitException

    with tempfile.TemporaryDirectory(prefix="cvbench-fit-") as tmp:
        learn = Learner(dls, model, loss_func=loss_func, opt_func=Adam, lr=lr, wd=0.01,
                        splitter=splitter, train_bn=False, path=Path(tmp), model_dir=".",
                        cbs=[FrozenBatchNorm(), WallClockSchedule(), BudgetAndProgress()])
        if cached:
            learn.unfreeze()
        elif k > 0:
            learn.freeze_to(1)
        else:
            learn.unfreeze()
        with learn.no_bar(), learn.no_logging():
            learn.fit(10_000, lr=lrs)
    notes["validation_by_epoch"] = state["epoch_scores"][-200:]
    notes["seconds"] = round(time.monotonic() - ft_start, 2)
    if state["best_state"] is None:
        notes["kept"] = "quick: no fine-tuned epoch beat the quick model on validation"
        return none
    tensors = {k: v.contiguous() for k, v in state["best_state"].items()}
    config = model_config(data, backbone="stored")
    model_out = ClassificationModel(config, tensors)
    net.load_state_dict(tensors, strict=True)  # the trained network serves the check
    net.head = model_out.head
    model_out._net = net.requires_grad_(False).eval()
    if cached:
        # the frozen stages are the pretrained ones: their cached activations give the
        # stored network's validation predictions (computed by ONNX Runtime where torch
        # predicts in the app: the probabilities agree to about 1e-4)
        val_probs = state["best_probs"]
    else:  # the in-app check: the best epoch's predictions as the stored model gives them
        progress.stage("evaluate", "checking the fine-tuned model on validation")
        parts = []
        for start in range(0, len(val_imgs), 32):
            pils = [load_rgb(i.path) for i in val_imgs[start:start + 32]]
            parts.append(model_out.probabilities(_domains.preprocess(d, pils, data.size)))
            progress.update(min(1.0, (start + 32) / len(val_imgs)))
        val_probs = np.concatenate(parts)
    score = validation_score(y_val, val_probs, multilabel)
    notes["fine_tune_validation"] = score_dict(score, multilabel)
    if not score > quick_score:
        notes["kept"] = "quick: the fine-tuned model did not beat it on validation"
        return none
    return {"model": model_out, "config": config, "tensors": tensors, "probs": val_probs,
            "notes": notes}
