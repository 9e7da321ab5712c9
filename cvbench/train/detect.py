"""Object detection: FCOS on the domain's backbone, trained with fastai on the CPU.

The detection :class:`~cvbench.train.base.Task` (``TASKS["detection"]``). What it learns
from, and what it produces:

* **Training images.** An image with boxes is in the train or validation split the store
  gives it. An image with *no* box is ambiguous: "nothing to find here" or "not looked at
  yet". cvbench reads it as Custom Vision does, *not yet annotated* (it is untagged, it has
  no split, it is left out, and the smart labeler proposes boxes for it), unless the user
  put it in a split with ``project.set_split(image_ids, "train" | "validation")``: then it
  is a *negative*, annotated with no objects, and teaches the detector only background
  (and, in validation, any box predicted on it is a false positive).
* **The model** (:mod:`cvbench.train._detect_model`): the domain's backbone feature maps at
  strides 8/16/32 (EfficientNet-Lite0 for "General (compact)", ImageNet weights shipped
  offline), an FPN of 64 channels with P6/P7, and torchvision's FCOS head; RetinaNet's head
  is the alternative (``settings={"arch": "retinanet"}``). Input: the image squashed to a
  320 px square, as :func:`cvbench.domains.preprocess` does.
* **Quick** training freezes the backbone's stem and first blocks (up to stride 8): their
  activations of every image and of its mirror image are computed once on the fastest
  engine (ONNX Runtime, :mod:`cvbench.train._frozen`), then the later blocks, the FPN and
  the head train on them (:mod:`cvbench.train._detect_fit`). The whole run is held to
  about :data:`QUICK_BUDGET` seconds (``settings["head_seconds"]``: the training time
  instead, as a number).
* **Advanced** training spends a share of its budget (``budget_minutes``, default
  ``cvbench.iteration.DEFAULT_BUDGET_MINUTES``) on the quick recipe, then trains the same
  parts on cached activations of augmented views of every image (zoom-in crops, colour
  jitter, mirrors) with a second schedule (``settings={"advanced": "views"}``, the
  default), or fine-tunes everything after the stride-4 stages on the images
  (``"end-to-end"``); it keeps the result only if it beats the quick model on validation
  mAP@0.5.
* **Predictions** are Custom Vision's: ``{"tagId", "tagName", "probability",
  "boundingBox": {"left", "top", "width", "height"}}``, normalized, after per-tag NMS,
  probability at least :data:`SCORE_THRESHOLD`, at most 200 per image, most probable first.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import domains as _domains
from .._types import Tag
from ..boxes import ltwh_to_xyxy, xyxy_to_ltwh
from ..errors import TrainingError
from ..store import Store
from ..store.images import load_rgb
from . import _detect_fit as _fit
from ._detect_model import (
    ARCHITECTURES,
    MAX_DETECTIONS,
    Detector,
    DetectorSpec,
    frozen_key,
    postprocess,
    postprocess_one,
)
from ._detect_suggest import box_suggester, to_suggestions
from ._progress import Progress
from .base import (
    DEFAULT_BUDGET_MINUTES,
    LoadedModel,
    Task,
    TrainedModel,
    TrainingImage,
    TrainingSet,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..evaluate.detection import DetectionEvaluation

__all__ = [
    "DetectionTask",
    "DetectionModel",
    "DetectorSpec",
    "ARCHITECTURES",
    "MIN_BOXES_PER_TAG",
    "MAX_DETECTIONS",
    "SCORE_THRESHOLD",
    "IMAGE_SIZE",
    "QUICK_SECONDS",
    "QUICK_BUDGET",
    "FORMAT_VERSION",
    "to_suggestions",
    "box_suggester",
    "few_boxes_warnings",
    "postprocess",
    "postprocess_one",
]

#: Custom Vision asks for at least this many boxes per tag (fewer: a warning, not an error).
MIN_BOXES_PER_TAG = 15
#: Predictions below this probability are not returned (nor stored, nor exported).
SCORE_THRESHOLD = 0.05
#: Per-tag non-maximum suppression overlap.
NMS_IOU = 0.5
#: Candidates kept before NMS.
PRE_NMS_TOP_K = 1000
#: The detector's square input side, in pixels.
IMAGE_SIZE = 320
#: Training time of the quick phase inside advanced training, at most.
QUICK_SECONDS = 60.0
#: Wall-clock target of a whole quick run (reading, caching, training, validation).
QUICK_BUDGET = 105.0
#: Quick training time per training image when that ends earlier (small projects).
QUICK_SECONDS_PER_IMAGE = 0.6
#: Optimizer steps a quick run takes at the least, while QUICK_BUDGET allows: on a busy
#: machine a small project's few seconds are too few steps (30 scenes: 22 steps gave
#: mAP@0.5 0.64, 55 steps 1.0).
QUICK_MIN_STEPS = 60
#: Version of the stored config/tensor layout (bump on incompatible change).
FORMAT_VERSION = 1

_DEFAULTS: dict[str, Any] = {
    "arch": "fcos",
    "fpn_channels": 64,
    "head_convs": 2,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "quick_share": 0.3,
    "head_seconds": None,
    "advanced": "views",
    "quick": "tail",
    "views": 8,
    "threads": None,
    "seed": 0,
    "score_threshold": SCORE_THRESHOLD,
    "nms_iou": NMS_IOU,
}


# --------------------------------------------------------------------------- the model


class DetectionModel:
    """A trained detector rebuilt from an iteration's config and tensors."""

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
        c = dict(config)
        if c.get("format_version") != FORMAT_VERSION:
            raise TrainingError(
                f"this iteration was stored in detection model format "
                f"{c.get('format_version')!r}; this cvbench reads format {FORMAT_VERSION}. "
                "Train a new iteration."
            )
        spec = DetectorSpec.from_dict(c["detector"])
        # a quick iteration stores no frozen backbone part: it is the domain's pretrained one
        stored = _stored(c)
        det = Detector(spec, pretrained=c["backbone"] in ("pretrained", "partial"))
        state = det.state_dict()
        wanted = {k for k in state if stored(k)}
        missing = sorted(wanted - set(tensors))
        extra = sorted(set(tensors) - wanted)
        if missing or extra:
            raise TrainingError(
                f"the stored detector does not fit its config: missing {missing[:3]}, "
                f"unexpected {extra[:3]}"
            )
        det.load_state_dict({**state, **dict(tensors)}, strict=True)
        self._attach(c, det)

    @classmethod
    def from_detector(cls, detector: Detector, config: Mapping[str, Any]) -> DetectionModel:
        """Wrap a detector already in memory (just trained): no copy, no reload."""
        self = cls.__new__(cls)
        self._attach(dict(config), detector)
        return self

    def _attach(self, config: dict[str, Any], detector: Detector) -> None:
        self.config = config
        self.spec = detector.spec
        self.domain = _domains.get_domain(self.spec.domain)
        self.size = self.spec.image_size
        self.tag_ids: list[str] = [t["id"] for t in config["tags"]]
        self.tag_names: list[str] = [t["name"] for t in config["tags"]]
        post = config["postprocess"]
        self.score_threshold = float(post["score_threshold"])
        self.nms_iou = float(post["iou_threshold"])
        self.pre_nms_top_k = int(post["pre_nms_top_k"])
        self.max_detections = int(post["max_detections"])
        for p in detector.parameters():
            p.requires_grad_(False)
        self.detector = detector.eval()

    # -- prediction ---------------------------------------------------------------------
    def dense(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense ``(boxes, scores)`` of a preprocessed batch (see ``Detector.decode``)."""
        with torch.inference_mode():
            return self.detector.dense(batch)

    def detections(self, batch: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per image: ``(boxes_xyxy, probabilities, tag_indices)`` after NMS, as numpy."""
        boxes, scores = self.dense(batch)
        out = postprocess(
            boxes, scores, score_threshold=self.score_threshold, iou_threshold=self.nms_iou,
            pre_nms_top_k=self.pre_nms_top_k, max_detections=self.max_detections,
        )
        return [(b.numpy(), s.numpy(), lab.numpy()) for b, s, lab in out]

    def to_predictions(self, dets: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
                       ) -> list[list[dict[str, Any]]]:
        """Detections -> Custom Vision prediction dicts, most probable first."""
        result = []
        for boxes, probs, labels in dets:
            ltwh = xyxy_to_ltwh(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
            result.append([
                {
                    "tagId": self.tag_ids[int(j)],
                    "tagName": self.tag_names[int(j)],
                    "probability": float(p),
                    "boundingBox": {"left": float(b[0]), "top": float(b[1]),
                                    "width": float(b[2]), "height": float(b[3])},
                }
                for b, p, j in zip(ltwh, probs, labels, strict=True)
            ])
        return result

    def predict_images(self, images: Sequence[Image.Image], batch_size: int = 8
                       ) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(images), batch_size):
            x = _domains.preprocess(self.domain, list(images[start:start + batch_size]),
                                    self.size)
            out.extend(self.to_predictions(self.detections(x)))
        return out

    def predict_images_from(self, paths: Sequence[Path], batch_size: int = 8,
                            progress: Callable[[int, int], Any] | None = None
                            ) -> list[list[dict[str, Any]]]:
        """Predictions for image files (read with :func:`load_rgb`, a batch at a time)."""
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            out.extend(self.predict_images([load_rgb(p) for p in chunk]))
            if progress is not None:
                progress(start + len(chunk), len(paths))
        return out

    # -- export -------------------------------------------------------------------------
    def export_module(self) -> torch.nn.Module:
        """Preprocessed ``(N, 3, S, S)`` -> dense ``(boxes, scores)``; the exporters add the
        post-processing (:meth:`export_spec` ``"postprocess"``) after it."""
        import copy

        return _Dense(copy.deepcopy(self.detector)).eval()

    def export_spec(self) -> dict[str, Any]:
        d = self.domain
        n_anchors = int(self.detector.anchors.shape[0])
        return {
            "input": _domains.input_spec(d, self.size),
            "output": {
                "name": "detected_boxes",
                "names": ["detected_boxes", "detected_scores", "detected_classes"],
                "detected_boxes": {"shape": [1, "detections", 4],
                                   "format": "normalized x1, y1, x2, y2"},
                "detected_scores": {"shape": [1, "detections"],
                                    "activation": "probability, decreasing"},
                "detected_classes": {"shape": [1, "detections"],
                                     "format": "tag index (into tags)"},
                "batch": 1,
                "postprocess": {
                    "in_graph": True,
                    "score_threshold": self.score_threshold,
                    "iou_threshold": self.nms_iou,
                    "pre_nms_top_k": self.pre_nms_top_k,
                    "max_detections": self.max_detections,
                    "nms": "per tag, greedy by decreasing probability",
                },
                "dense": {"anchors": n_anchors},
            },
        }


def _stored(config: Mapping[str, Any]) -> Callable[[str], bool]:
    """Which state-dict keys an iteration stores: all but the pretrained, frozen part of
    the backbone (``"pretrained"``: the whole backbone; ``"partial"``: its stem and first
    ``config["frozen_blocks"]`` blocks; ``"tuned"``: nothing is left out)."""
    backbone = config["backbone"]
    if backbone == "tuned":
        return lambda key: True
    k = -1 if backbone == "pretrained" else int(config["frozen_blocks"])
    return lambda key: not frozen_key(key, k)


class _Dense(torch.nn.Module):
    def __init__(self, detector: Detector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.detector.dense(x)


# --------------------------------------------------------------------------- task


class DetectionTask:
    """Object detection (see the module docstring)."""

    kinds: tuple[str, ...] = ("detection",)
    default_settings: Mapping[str, Any] = dict(_DEFAULTS)
    #: the input side when ``train(size=None)``, per kind (not the domain's 224 px)
    default_size: Mapping[str, int] = {"detection": IMAGE_SIZE}

    # -- what to learn from -------------------------------------------------------------
    def import_modules(self, mode: str) -> None:
        """Nothing to import ahead: the detector's modules load with this one."""

    def training_set(self, store: Store, *, kind: str, tags: Sequence[Tag] | None,
                     domain: str, size: int) -> TrainingSet:
        d = _domains.get_domain(domain)
        if not d.serves("detection"):
            raise TrainingError(
                f"domain {d.name!r} does not serve object detection; detection domains are "
                f"{_domains.domain_names('detection')}"
            )
        if size < 64 or size % 32:
            raise TrainingError(
                f"size={size} is not a detector input side; it should be a multiple of 32, "
                f"at least 64 (default {IMAGE_SIZE})"
            )
        store.split.ensure()
        all_tags = [t for t in store.tags.all() if t.type == "Regular"]
        with store.lock:  # the boxes and the splits as one view
            regions = store.regions.for_training()
            rows = store.images.in_splits()
        boxes_per_tag: dict[str, int] = {}
        for r in regions:
            boxes_per_tag[r.tag_id] = boxes_per_tag.get(r.tag_id, 0) + 1
        if tags is None:
            selected = [t for t in all_tags if boxes_per_tag.get(t.id)]
        else:
            selected = []
            for tag in tags:
                if tag.id not in {s.id for s in selected}:
                    selected.append(tag)
            empty = [t.name for t in selected if not boxes_per_tag.get(t.id)]
            if empty:
                raise TrainingError(
                    f"tags {empty} have no box; draw boxes with that tag, or leave it out "
                    "with train(tags=[...])"
                )
        selected.sort(key=lambda t: t.name.lower())
        if not selected:
            raise TrainingError(
                "an object detector needs at least one tag with boxes; this project has none. "
                "Draw boxes with project.set_regions(image_id, [...]) or the BoxEditor"
            )
        index = {t.id: j for j, t in enumerate(selected)}
        per_image: dict[str, list[dict[str, Any]]] = {}
        for r in regions:
            if r.tag_id in index:
                per_image.setdefault(r.image_id, []).append({"tagId": r.tag_id, **r.box.as_dict()})
        images = tuple(
            TrainingImage(
                id=image_id,
                sha256=sha,
                path=store.files.image_path(sha, ext),
                split=split,
                truth=tuple(per_image.get(image_id, ())),
            )
            for image_id, sha, ext, split in rows
            if split in ("train", "validation")
        )
        data = TrainingSet(kind="detection", domain=d.name, size=size, tags=tuple(selected),
                           images=images)
        if not data.train:
            raise TrainingError(
                "the training split is empty; draw boxes on more images, or move images to "
                "training with project.set_split(image_ids, 'train')"
            )
        if not data.validation:
            raise TrainingError(
                f"the validation split is empty ({len(data.train)} training images, 0 "
                "validation images); move some images to validation with "
                "project.set_split(image_ids, 'validation'), or draw boxes on more images"
            )
        seen = {b["tagId"] for img in data.train for b in img.truth}
        missing = [t.name for t in selected if t.id not in seen]
        if missing:
            raise TrainingError(
                f"tags {missing} have no box in the training split (all of theirs are in "
                "validation); move some images with project.set_split(image_ids, 'train')"
            )
        return data

    # -- training -----------------------------------------------------------------------
    def train(self, store: Store, data: TrainingSet, *, mode: str,
              budget_seconds: float | None, settings: Mapping[str, Any],
              progress: Progress) -> TrainedModel:
        s = {**self.default_settings, **settings}
        if mode not in ("quick", "advanced"):
            raise TrainingError(f"mode={mode!r} should be 'quick' or 'advanced'")
        if s["quick"] not in ("tail", "head"):
            raise ValueError(f"quick={s['quick']!r} should be 'tail' (the later blocks, FPN "
                             "and head on cached early activations) or 'head' (FPN and head "
                             "on cached feature maps)")
        if s["advanced"] not in ("views", "end-to-end"):
            raise ValueError(f"advanced={s['advanced']!r} should be 'views' or 'end-to-end'")
        head_seconds = None if s["head_seconds"] is None else float(s["head_seconds"])
        if head_seconds is not None and not head_seconds > 0:
            raise ValueError(f"head_seconds={s['head_seconds']!r} should be None (automatic) "
                             "or a positive number of seconds")
        if mode == "quick":
            seconds = QUICK_BUDGET if head_seconds is None else head_seconds
        else:
            seconds = 60.0 * DEFAULT_BUDGET_MINUTES if budget_seconds is None else float(
                budget_seconds)
        warned = few_boxes_warnings(data)
        for w in warned:
            warnings.warn(w, UserWarning, stacklevel=2)
        if mode == "quick":
            progress.plan({"prepare": 1.0, "features": 1.0, "head": 8.0, "evaluate": 0.5,
                           "save": 0.2})
        else:
            progress.plan({"prepare": 1.0, "features": 1.0, "head": 6.0, "fine-tune": 20.0,
                           "evaluate": 1.0, "save": 0.2})
        spec = DetectorSpec(
            domain=data.domain, num_classes=len(data.tags), arch=str(s["arch"]),
            image_size=int(data.size), fpn_channels=int(s["fpn_channels"]),
            head_convs=int(s["head_convs"]),
        )
        progress.stage("prepare", f"reading {len(data.images)} images")
        index = {t.id: j for j, t in enumerate(data.tags)}

        def item(img: TrainingImage) -> tuple[Path, np.ndarray, np.ndarray]:
            ltwh = np.array([[b["left"], b["top"], b["width"], b["height"]] for b in img.truth],
                            dtype=np.float64).reshape(-1, 4)
            return img.path, ltwh_to_xyxy(ltwh), np.array(
                [index[b["tagId"]] for b in img.truth], dtype=np.int64)

        train_imgs, val_imgs = data.train, data.validation
        samples = _fit.load_samples(
            [item(i) for i in train_imgs], spec.image_size,
            progress=lambda done, total: progress.update(done / total,
                                                         message=f"images {done}/{total}"),
        )
        torch.manual_seed(int(s["seed"]))
        detector = Detector(spec, pretrained=True)
        lr, wd, seed = float(s["lr"]), float(s["weight_decay"]), int(s["seed"])
        report = _fit.FitReport()
        val_images = [i.path for i in val_imgs]
        staged = detector.staged and (s["quick"] == "tail" or mode == "advanced")
        k = _fit.FRONT_BLOCKS
        quick_backbone = "partial" if staged else "pretrained"
        # predicting the validation images after training: about 60 ms an image at 320 px
        val_cost = 1.0 + 0.06 * len(val_imgs) * (spec.image_size / 320) ** 2
        engine: dict[str, Any] = {}
        with _fit.torch_threads(s["threads"]) as threads:
            if staged:
                runner = _fit.front_runner(detector, k)
                engine = runner.note()
                progress.stage("features", "activations of the frozen stages")
                t0 = time.monotonic()
                views = [samples, [_fit._flip_sample(x) for x in samples]]
                acts = _fit.cache_fronts(
                    runner, views, spec.domain, check=progress.check,
                    progress=lambda d, t: progress.update(d / t, message=f"activations {d}/{t}"))
                report.seconds["features"] = time.monotonic() - t0
            if mode == "quick":
                min_steps, most = 0, None  # an explicit time is taken as asked
                if head_seconds is None:  # the whole run within QUICK_BUDGET
                    left = max(QUICK_BUDGET - progress.elapsed - val_cost, 3.0)
                    train_s = max(min(left, QUICK_SECONDS_PER_IMAGE * len(samples) + 10.0),
                                  3.0)
                    # the floor's steps may take the rest of the budget but for a tenth:
                    # validating and saving are slow on a busy machine too
                    min_steps, most = QUICK_MIN_STEPS, 0.9 * left
                else:
                    train_s = head_seconds
                progress.stage("head", "training the detector on cached activations")
                if staged:
                    _fit.train_cached(detector, views, acts, seconds=train_s, progress=progress,
                                      report=report, key="head", lr=lr, wd=wd, seed=seed, k=k,
                                      min_steps=min_steps, max_seconds=most)
                else:
                    engine = _fit.maps_runner(detector).note()
                    _fit.train_head(detector, samples, seconds=train_s, progress=progress,
                                    report=report, lr=lr, wd=wd, seed=seed,
                                    min_steps=min_steps, max_seconds=most)
            else:
                t0 = progress.start
                quick_s = head_seconds if head_seconds is not None else max(
                    min(QUICK_SECONDS, seconds / 2), float(s["quick_share"]) * seconds)
                progress.stage("head", "training the detector on cached activations")
                if staged:
                    _fit.train_cached(detector, views, acts, seconds=quick_s, progress=progress,
                                      report=report, key="head", lr=lr, wd=wd, seed=seed, k=k)
                else:
                    _fit.train_head(detector, samples, seconds=quick_s, progress=progress,
                                    report=report, lr=lr, wd=wd, seed=seed)
                quick_config = _config(data, spec, s, backbone=quick_backbone, frozen_blocks=k)
                progress.update(1.0, message="validating the quick model")
                t_val = time.monotonic()
                quick_preds = DetectionModel.from_detector(
                    detector, quick_config).predict_images_from(val_images)
                # the final validation pass costs the same; saving and a step's overrun
                # come on top (measured: 300 s budgets ended 5-13 s late without them)
                val_cost = 1.5 * (time.monotonic() - t_val) + 3.0
                quick_map = self._map(quick_config, val_imgs, quick_preds)
                keep = _stored(quick_config)
                quick_state = {key: v.clone() for key, v in detector.state_dict().items()
                               if keep(key)}
                left = seconds - (time.monotonic() - t0) - val_cost
                if staged and s["advanced"] == "views":
                    progress.stage("fine-tune", "caching augmented views")
                    per_view = max(1, acts[0].numel() * 2)
                    # views fit in memory, and caching them takes at most a third of the
                    # time left (a view costs what the first two cost each)
                    view_s = report.seconds["features"] / len(views)
                    n_views = min(int(s["views"]),
                                  _fit.VIEW_CACHE_BYTES // per_view - len(views),
                                  int(left / 3 / max(view_s, 1e-3)))
                    n_views = max(0, n_views)
                    t1 = time.monotonic()
                    more = _fit.augmented_views(samples, n_views, seed + 1)
                    acts += _fit.cache_fronts(runner, more, spec.domain, check=progress.check)
                    views += more
                    report.seconds["views"] = time.monotonic() - t1
                    left -= time.monotonic() - t1
                    _fit.train_cached(detector, views, acts, seconds=max(1.0, left),
                                      progress=progress, report=report, key="fine-tune",
                                      lr=lr, wd=wd, seed=seed + 1, k=k)
                    tuned_backbone = quick_backbone
                else:
                    _fit.fine_tune(detector, samples, seconds=max(1.0, left), progress=progress,
                                   report=report, lr=lr, wd=wd, seed=seed)
                    tuned_backbone = "tuned"
        del samples
        if staged:
            del acts, views
        if mode == "quick":
            config = _config(data, spec, s, backbone=quick_backbone, frozen_blocks=k)
        else:
            config = _config(data, spec, s, backbone=tuned_backbone, frozen_blocks=k)
        model = DetectionModel.from_detector(detector, config)
        progress.stage("evaluate", f"predicting {len(val_imgs)} validation images")
        val_preds = model.predict_images_from(
            val_images, progress=lambda done, total: progress.update(done / total))
        chosen = mode
        if mode == "advanced":
            tuned_map = self._map(config, val_imgs, val_preds)
            report.validation = {"quick_map": quick_map, "fine_tuned_map": tuned_map}
            if not tuned_map >= quick_map:  # NaN-safe: keep the quick model unless beaten
                chosen = "quick"
                detector = Detector(spec, pretrained=True)
                detector.load_state_dict({**detector.state_dict(), **quick_state})
                _fit._freeze(detector)
                config, val_preds = quick_config, quick_preds
        validation = dict(zip([i.id for i in val_imgs], val_preds, strict=True))
        ev = self.evaluate(config, config["tags"],
                           [(i.id, list(i.truth), validation[i.id]) for i in val_imgs])
        m = ev.at(0.5, 0.5)
        metrics = {
            "precision": _num(m.precision),
            "recall": _num(m.recall),
            "map": _num(m.map),
            "coco_map": _num(ev.coco_map),
            "threshold": 0.5,
            "overlap": 0.5,
        }
        progress.stage("save", "storing the iteration")
        state = detector.state_dict()
        keep = _stored(config)
        tensors = {key: v.detach().contiguous().clone() for key, v in state.items() if keep(key)}
        notes = {
            "fit": report.to_dict(),
            "images": {"train": len(train_imgs), "validation": len(val_imgs),
                       "train_negatives": sum(1 for i in train_imgs if not i.truth),
                       "validation_negatives": sum(1 for i in val_imgs if not i.truth)},
            "budget_seconds": seconds,
            "threads": threads,
            "frozen_backbone": engine,
            "chosen": chosen,
            "warnings": warned,
        }
        return TrainedModel(tensors=tensors, config=config, validation=validation,
                            metrics=metrics, notes=notes)

    # -- model ----------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
             ) -> DetectionModel:
        return DetectionModel(config, tensors)

    def predict_stored(self, store: Store, model: LoadedModel,
                       images: Sequence[tuple[str, Path]]) -> list[list[dict[str, Any]]]:
        if not isinstance(model, DetectionModel):
            raise TypeError(f"the detection task predicts with a DetectionModel, not "
                            f"{type(model).__name__}")
        return model.predict_images_from([p for _, p in images])

    def evaluate(self, config: Mapping[str, Any], tags: Sequence[Mapping[str, Any]],
                 rows: Sequence[tuple[str, Any, list[dict[str, Any]]]]) -> DetectionEvaluation:
        from ..evaluate.detection import DetectionEvaluation

        index = {t["id"]: j for j, t in enumerate(tags)}
        truth, preds = [], []
        for _, true_boxes, predicted in rows:
            truth.append([
                (index[b["tagId"]], (b["left"], b["top"], b["width"], b["height"]))
                for b in true_boxes if b["tagId"] in index
            ])
            preds.append([
                (index[p["tagId"]], min(max(float(p["probability"]), 0.0), 1.0),
                 _ltwh(p["boundingBox"]))
                for p in predicted if p["tagId"] in index
            ])
        return DetectionEvaluation.from_predictions(
            truth, preds, [t["name"] for t in tags], image_ids=[r[0] for r in rows]
        )

    def _map(self, config: Mapping[str, Any], images: Sequence[TrainingImage],
             preds: Sequence[list[dict[str, Any]]]) -> float:
        ev = self.evaluate(config, config["tags"],
                           [(i.id, list(i.truth), p) for i, p in zip(images, preds, strict=True)])
        return float(ev.at(0.5, 0.5).map)

    def uncertainty(self, predictions: Sequence[Mapping[str, Any]]) -> float:
        """The largest ``1 - |2p - 1|`` over the predicted boxes: how close the most
        undecided box is to probability 0.5 (0 when there is no box)."""
        probs = [float(p["probability"]) for p in predictions]
        return float(max((1.0 - abs(2.0 * p - 1.0) for p in probs), default=0.0))


if TYPE_CHECKING:  # pragma: no cover - mypy checks that the task is a Task
    _IS_A_TASK: Task = DetectionTask()


# --------------------------------------------------------------------------- helpers


def few_boxes_warnings(data: TrainingSet) -> list[str]:
    """A message per tag with fewer than :data:`MIN_BOXES_PER_TAG` training boxes."""
    counts = {t.id: 0 for t in data.tags}
    for img in data.images:
        for b in img.truth:
            counts[b["tagId"]] = counts.get(b["tagId"], 0) + 1
    return [
        f"tag {t.name!r} has {counts[t.id]} box{'' if counts[t.id] == 1 else 'es'}; Custom "
        f"Vision asks for at least {MIN_BOXES_PER_TAG} per tag, and the detector will be weak on it. Draw more boxes "
        "with that tag"
        for t in data.tags
        if counts[t.id] < MIN_BOXES_PER_TAG
    ]


def _config(data: TrainingSet, spec: DetectorSpec, s: Mapping[str, Any], *, backbone: str,
            frozen_blocks: int = 0) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "task": "detection",
        "kind": "detection",
        "domain": spec.domain,
        "arch": _domains.get_domain(spec.domain).arch,
        "size": spec.image_size,
        "preprocessing_key": _domains.preprocessing_key(spec.domain, spec.image_size),
        "backbone": backbone,
        "frozen_blocks": frozen_blocks if backbone == "partial" else 0,
        "detector": spec.to_dict(),
        "postprocess": {
            "score_threshold": float(s["score_threshold"]),
            "iou_threshold": float(s["nms_iou"]),
            "pre_nms_top_k": PRE_NMS_TOP_K,
            "max_detections": MAX_DETECTIONS,
        },
        "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in data.tags],
    }


def _ltwh(box: Mapping[str, Any]) -> tuple[float, float, float, float]:
    return (float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"]))


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)
