"""Shared by the benchmarks on the hard sets: the machine, mean and spread over seeds, test
metrics, and the baselines that run in the same process (see bench_classify.py and
bench_detect.py)."""

from __future__ import annotations

import io
import math
import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def log(*args: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def mean_spread(values: Sequence[float | None]) -> str:
    """``mean ± standard deviation (n)`` of the numbers (None left out)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return f"{xs[0]:.3f} (n=1)"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}"


def summarise(rows: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per run name: mean ± spread of each key over the seeds."""
    out: dict[str, dict[str, str]] = {}
    for name in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == name]
        out[name] = {k: mean_spread([r.get(k) for r in mine]) for k in keys}
        out[name]["seeds"] = str(len(mine))
    return out


# --------------------------------------------------------------------------- classification


def gray_pixels(items: Sequence[Any], side: int | None = None) -> np.ndarray:
    from PIL import Image

    rows = []
    for it in items:
        img = Image.open(io.BytesIO(it.data)).convert("L")
        if side is not None:
            img = img.resize((side, side), Image.Resampling.BILINEAR)
        rows.append(np.asarray(img, dtype=np.float32).ravel() / 255)
    return np.stack(rows)


def logistic_cv(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                y_val: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
    """Standardised logistic regression, C by 3-fold CV on training (scikit-learn)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    sc = StandardScaler().fit(x_train)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        model = LogisticRegressionCV(Cs=[0.001, 0.01, 0.1, 1.0], cv=3, max_iter=300).fit(
            sc.transform(x_train), y_train)
    return {"accuracy": float((model.predict(sc.transform(x_test)) == y_test).mean()),
            "validation": float((model.predict(sc.transform(x_val)) == y_val).mean()),
            "C": float(model.C_[0]), "seconds": round(time.perf_counter() - t0, 2)}


def fastai_fine_tune(train: Sequence[tuple[Path, str]], valid: Sequence[tuple[Path, str]],
                     test: Sequence[tuple[Path, str]], seconds: float, size: int,
                     workdir: Path) -> dict[str, Any]:
    """A plain ``vision_learner(...).fine_tune()`` of the offline EfficientNet-Lite0 (fastai's
    defaults: one frozen epoch, then one-cycle over everything, standard augmentation),
    the unfrozen epochs sized to ``seconds`` and stopped at it."""
    import copy

    import fastai.callback.schedule  # noqa: F401
    import torch
    from fastai.callback.core import Callback, CancelFitException
    from fastai.data.block import CategoryBlock, DataBlock
    from fastai.data.transforms import IndexSplitter, Normalize
    from fastai.vision.augment import Resize, ResizeMethod, aug_transforms
    from fastai.vision.data import ImageBlock
    from fastai.vision.learner import vision_learner

    from cvbench import domains

    labels = {str(p): t for p, t in [*train, *valid]}
    items = [str(p) for p, _ in train] + [str(p) for p, _ in valid]
    dblock = DataBlock(
        blocks=(ImageBlock, CategoryBlock), get_y=lambda p: labels[p],
        splitter=IndexSplitter(list(range(len(train), len(items)))),
        item_tfms=Resize(size, method=ResizeMethod.Squish),
        batch_tfms=[*aug_transforms(), Normalize.from_stats([0.5] * 3, [0.5] * 3, cuda=False)])
    dls = dblock.dataloaders(items, bs=32, num_workers=0, device=torch.device("cpu"))
    learn = vision_learner(dls, "tf_efficientnet_lite0", pretrained=False, normalize=False,
                           path=workdir)
    state = domains._pretrained_state_dict("General (compact)")
    body = learn.model[0].model
    wanted = body.state_dict().keys()
    missing = body.load_state_dict({k: v for k, v in state.items() if k in wanted},
                                   strict=False).missing_keys
    assert not missing, missing
    learn.freeze()
    start = time.monotonic()

    class StopAt(Callback):
        def after_batch(self) -> None:
            if time.monotonic() - start > seconds:
                raise CancelFitException

    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, slice(2e-3), pct_start=0.99, cbs=[StopAt()])
    head_epoch = time.monotonic() - start
    probe = copy.deepcopy(learn.model).train()
    xb, yb = learn.dls.train.one_batch()
    t0 = time.monotonic()
    learn.loss_func(probe(xb), yb).backward()
    epoch = (time.monotonic() - t0) * len(learn.dls.train) + 0.3 * head_epoch
    epochs = max(1, int((seconds - (time.monotonic() - start)) / epoch))
    if time.monotonic() - start < seconds:
        learn.unfreeze()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, slice(1e-5, 1e-3), pct_start=0.3, div=5.0,
                                cbs=[StopAt()])
    else:
        epochs = 0
    wall = time.monotonic() - start
    vocab = list(learn.dls.vocab)

    def acc(pairs: Sequence[tuple[Path, str]]) -> float:
        dl = learn.dls.test_dl([str(p) for p, _ in pairs])
        with learn.no_bar():
            probs, _ = learn.get_preds(dl=dl)
        pred = [vocab[i] for i in probs.argmax(1).tolist()]
        return float(np.mean([a == t for a, (_, t) in zip(pred, pairs, strict=True)]))

    return {"accuracy": acc(test), "validation": acc(valid), "epochs_after_head": epochs,
            "seconds": round(wall, 1)}


# --------------------------------------------------------------------------- detection


def detection_truth(items: Sequence[Any], tags: Sequence[str]) -> list[list[tuple[int, Any]]]:
    return [[(tags.index(r[0]), tuple(r[1:])) for r in it.regions] for it in items]


def detection_scores(truth: list[list[tuple[int, Any]]],
                     preds: list[list[tuple[int, float, Any]]], tags: Sequence[str]
                     ) -> dict[str, float]:
    from cvbench.evaluate.detection import DetectionEvaluation

    ev = DetectionEvaluation.from_predictions(truth, preds, list(tags))
    m = ev.at(0.5, 0.5)
    return {"map50": round(float(m.map), 4), "coco_map": round(float(ev.coco_map), 4)}


def torchvision_fcos(train: Sequence[Any], tags: Sequence[str], test: Sequence[Any], *,
                     seconds: float, seed: int, size: int = 320) -> dict[str, Any]:
    """A plain torchvision FCOS recipe with the same backbone (EfficientNet-Lite0 feature
    maps at strides 8/16/32, ImageNet weights, FPN with P6/P7) and the same wall-clock
    budget: torchvision's default FCOS head (4 convs per branch, GroupNorm), its own
    transform (images resized to ``size``), the whole network trained with SGD (momentum
    0.9, lr 0.01, weight decay 1e-4, linear warm-up then cosine over the budget), frozen
    BatchNorm statistics, random horizontal flips, batches of 8; timing starts after the
    images are decoded."""
    import random

    import torch
    from PIL import Image
    from torchvision.models.detection import FCOS
    from torchvision.ops import FeaturePyramidNetwork
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    from cvbench import domains
    from cvbench.boxes import xyxy_to_ltwh

    torch.manual_seed(seed)
    rng = random.Random(seed)
    body = domains.build_backbone("General (compact)", features_only=True,
                                  out_indices=(2, 3, 4))

    class Neck(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.fpn = FeaturePyramidNetwork(list(body.feature_info.channels()), 64,
                                             extra_blocks=LastLevelP6P7(64, 64))
            self.out_channels = 64

        def forward(self, x):  # noqa: ANN001, ANN201
            from collections import OrderedDict

            return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(x))))

    from torchvision.models.detection.anchor_utils import AnchorGenerator

    anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5)
    model = FCOS(Neck(), len(tags), anchor_generator=anchors, min_size=size, max_size=size,
                 image_mean=[0.5] * 3, image_std=[0.5] * 3)

    def tensor(it: Any) -> tuple[torch.Tensor, int, int]:
        img = Image.open(io.BytesIO(it.data)).convert("RGB")
        w, h = img.size
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1), w, h

    data = []
    for it in train:
        x, w, h = tensor(it)
        boxes = torch.tensor([[r[1] * w, r[2] * h, (r[1] + r[3]) * w, (r[2] + r[4]) * h]
                              for r in it.regions], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([tags.index(r[0]) for r in it.regions], dtype=torch.int64)
        data.append((x, boxes, labels, w))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()
    for m in model.backbone.body.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    t0 = time.monotonic()
    steps = 0
    while time.monotonic() - t0 < seconds:
        order = list(range(len(data)))
        rng.shuffle(order)
        for s in range(0, len(order) - 7, 8):
            frac = (time.monotonic() - t0) / seconds
            if frac >= 1:
                break
            for g in opt.param_groups:
                g["lr"] = 0.01 * min(1.0, (frac + 1e-3) / 0.05) * 0.5 * (1 + math.cos(math.pi * frac))
            images, targets = [], []
            for i in order[s:s + 8]:
                x, boxes, labels, w = data[i]
                if rng.random() < 0.5:
                    x = x.flip(-1)
                    boxes = boxes.clone()
                    boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
                images.append(x)
                targets.append({"boxes": boxes, "labels": labels})
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            steps += 1
            for m in model.backbone.body.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
    train_seconds = time.monotonic() - t0
    model.eval()
    model.score_thresh = 0.05
    preds = []
    with torch.inference_mode():
        for it in test:
            x, w, h = tensor(it)
            (out,) = model([x])
            b = out["boxes"].numpy().astype(np.float64) / np.array([w, h, w, h])
            ltwh = xyxy_to_ltwh(np.clip(b, 0, 1).reshape(-1, 4))
            preds.append([(int(lab), float(p), tuple(map(float, q)))
                          for q, p, lab in zip(ltwh, out["scores"].numpy(),
                                               out["labels"].numpy(), strict=True)
                          if q[2] > 0 and q[3] > 0])
    return {**detection_scores(detection_truth(test, tags), preds, tags),
            "steps": steps, "seconds": round(train_seconds, 1)}
