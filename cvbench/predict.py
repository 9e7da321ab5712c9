"""Predictions: the objects, Custom Vision's JSON, stored predictions and suggested tags.

    result = iteration.predict("cat.jpg")       # PredictionResult: a list of Prediction
    result[0].tag_name, result[0].probability
    result.to_dict()                             # Custom Vision's prediction JSON
    iteration.predict(["a.jpg", b"...", pil])    # a list of PredictionResult, batched

Every image given to a prediction is read as an import reads it (:func:`read_image`,
:mod:`cvbench.sources`): paths, bytes, PIL images and http(s) URLs, refused with the same
:class:`~cvbench.errors.ImageError` and status, and decoded with
:func:`~cvbench.store.images.load_rgb`.

With ``store=True`` the image is kept (content-addressed, as imports are, under
``predictions/``) with its predictions and an *uncertainty* score, for Custom Vision's
Predictions tab: ``project.stored_predictions(order="uncertainty")``, and
``project.add_stored_prediction(id, tags=[...])`` moves one into the training set.

This module holds the objects and the pure steps between a model's output and them
(:func:`results_of`, :func:`suggestion_of`, :meth:`StoredPrediction.from_row`); reading
images, running the model and storing are the facade's (``Iteration.predict``,
``Project.stored_predictions``, ``Project.suggest_tags``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .boxes import Box
from .sources import ImageSource, ReadImage
from .sources import read_image as _read_image
from .store import PREDICTIONS_DIR
from .store.images import Limits
from .store.repo_predictions import PredictionRow

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "Prediction",
    "PredictionResult",
    "StoredPrediction",
    "TagSuggestion",
    "ImageInput",
    "ReadImage",
    "read_image",
    "results_of",
    "suggestion_of",
    "region_proposals",
    "merge_proposals",
    "PREDICTIONS_DIR",
]

#: What an image to predict can be given as (a path, bytes, a PIL image or a URL).
ImageInput = ImageSource


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Prediction:
    """One predicted tag: ``probability`` in [0, 1]; ``bounding_box`` (detection) is
    normalized ``left, top, width, height`` (see :mod:`cvbench.boxes`)."""

    tag_id: str
    tag_name: str
    probability: float
    bounding_box: Box | None = None

    def to_dict(self) -> dict[str, Any]:
        """Custom Vision's shape: ``probability, tagId, tagName[, boundingBox]``."""
        d: dict[str, Any] = {"probability": self.probability, "tagId": self.tag_id,
                             "tagName": self.tag_name}
        if self.bounding_box is not None:
            d["boundingBox"] = self.bounding_box.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prediction:
        box = d.get("boundingBox")
        return cls(
            tag_id=str(d["tagId"]),
            tag_name=str(d["tagName"]),
            probability=float(d["probability"]),
            bounding_box=None if box is None else Box(
                float(box["left"]), float(box["top"]), float(box["width"]),
                float(box["height"])),
        )


class PredictionResult(list[Prediction]):
    """The predictions of one image, most probable first (a list of :class:`Prediction`),
    with Custom Vision's envelope: ``id``, ``project``, ``iteration``, ``created``.

    ``to_dict()`` / ``to_json()`` give Custom Vision's prediction JSON::

        {"id": ..., "project": ..., "iteration": ..., "created": ...,
         "predictions": [{"probability": 0.97, "tagId": ..., "tagName": "cat"}, ...]}
    """

    def __init__(self, predictions: Sequence[Prediction] = (), *, id: str = "",
                 project: str = "", iteration: str = "", created: str = "",
                 uncertainty: float | None = None) -> None:
        super().__init__(predictions)
        self.id = id or str(uuid.uuid4())
        self.project = project
        self.iteration = iteration
        self.created = created or _now()
        self.uncertainty = uncertainty

    @property
    def top(self) -> Prediction | None:
        """The most probable prediction (None when there is none)."""
        return self[0] if self else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "iteration": self.iteration,
            "created": self.created,
            "predictions": [p.to_dict() for p in self],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.tag_name}: {p.probability:.3f}" for p in self[:5])
        more = ", …" if len(self) > 5 else ""
        return f"<PredictionResult [{shown}{more}]>"


@dataclass(frozen=True)
class StoredPrediction:
    """An image predicted with ``store=True``, for the Predictions tab."""

    id: str
    iteration_id: str
    path: Path
    thumbnail_path: Path
    width: int
    height: int
    original_name: str
    created: str
    uncertainty: float
    predictions: PredictionResult
    #: the label the client gave (``predict(..., application=…)``), or None
    application: str | None = None

    @classmethod
    def from_row(cls, row: PredictionRow, project_id: str) -> StoredPrediction:
        """A stored prediction as the store keeps it."""
        return cls(
            id=row.id,
            iteration_id=row.iteration_id,
            path=row.path,
            thumbnail_path=row.thumbnail_path,
            width=row.width,
            height=row.height,
            original_name=row.original_name,
            created=row.created,
            uncertainty=row.uncertainty,
            predictions=PredictionResult(
                [Prediction.from_dict(p) for p in row.predictions],
                id=row.id, project=project_id, iteration=row.iteration_id,
                created=row.created, uncertainty=row.uncertainty),
            application=row.application,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "iteration": self.iteration_id,
            "path": str(self.path),
            "thumbnail_path": str(self.thumbnail_path),
            "width": self.width,
            "height": self.height,
            "original_name": self.original_name,
            "created": self.created,
            "uncertainty": self.uncertainty,
            "predictions": [p.to_dict() for p in self.predictions],
            "application": self.application,
        }


@dataclass(frozen=True)
class TagSuggestion:
    """Smart labeler: suggested tags for one untagged image, for a person to confirm.

    ``tags`` are the suggested tag names (multiclass: the most probable tag; multilabel:
    the tags at or above the threshold), ``predictions`` everything the model said.
    """

    image_id: str
    tags: tuple[str, ...]
    tag_ids: tuple[str, ...]
    uncertainty: float
    predictions: PredictionResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "tags": list(self.tags),
            "tag_ids": list(self.tag_ids),
            "uncertainty": self.uncertainty,
            "predictions": [p.to_dict() for p in self.predictions],
        }


# --------------------------------------------------------------------------- steps


class _HasLimits(Protocol):
    @property
    def limits(self) -> Limits: ...


def read_image(limits: Limits | _HasLimits, source: ImageInput) -> ReadImage:
    """Read ``source`` as an import does (see :func:`cvbench.sources.read_image`) under
    ``limits`` (a project's :class:`~cvbench.store.images.Limits`, or anything that has
    them, such as the project: ``read_image(project, "cat.jpg")``)."""
    return _read_image(source, limits if isinstance(limits, Limits) else limits.limits)


def results_of(outputs: Sequence[Sequence[Mapping[str, Any]]], *,
               uncertainty: Any, project: str, iteration: str) -> list[PredictionResult]:
    """A model's outputs (Custom Vision dicts per image, most probable first) as
    :class:`PredictionResult` objects, each with its ``uncertainty(predictions)`` score."""
    return [
        PredictionResult([Prediction.from_dict(p) for p in preds], project=project,
                         iteration=iteration, uncertainty=uncertainty(preds))
        for preds in outputs
    ]


def suggestion_of(image_id: str, result: PredictionResult, *, several: bool,
                  threshold: float) -> TagSuggestion:
    """The smart labeler's suggestion for one image: the most probable tag, or (``several``:
    multilabel, detection) every tag at or above ``threshold``."""
    chosen = [p for p in result if p.probability >= threshold] if several else result[:1]
    return TagSuggestion(
        image_id=image_id,
        tags=tuple(p.tag_name for p in chosen),
        tag_ids=tuple(p.tag_id for p in chosen),
        uncertainty=float(result.uncertainty or 0.0),
        predictions=result,
    )


# --------------------------------------------------------------------------- proposals

#: Felzenszwalb scales (larger: coarser segments), and the side images are shrunk to.
_PROPOSAL_SCALES = (50, 150, 400)
_PROPOSAL_SIDE = 160


def _iou(a: Box, b: Box) -> float:
    iw = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    ih = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a.width * a.height + b.width * b.height - inter)


def merge_proposals(*lists: Sequence[tuple[float, Box]], overlap: float = 0.7,
                    limit: int = 20) -> list[tuple[float, Box]]:
    """Proposals ``(confidence, box)`` from several sources as one list, most confident
    first, without near-duplicates (a box that overlaps a kept one by ``overlap`` IoU or
    more is left out), at most ``limit``."""
    kept: list[tuple[float, Box]] = []
    for confidence, box in sorted((p for ps in lists for p in ps), key=lambda p: -p[0]):
        if all(_iou(box, k) < overlap for _, k in kept):
            kept.append((confidence, box))
            if len(kept) >= limit:
                break
    return kept


def region_proposals(image: Image.Image, *, limit: int = 20) -> list[tuple[float, Box]]:
    """Class-agnostic object proposals ``(confidence, box)`` for an image, most confident
    first, with no model: the image (shrunk to 160 px) is segmented at three scales
    (Felzenszwalb's graph segmentation, scikit-image), and each segment's bounding box is
    scored by how much the segment's colour (CIELAB) stands out from a ring around its box,
    times the square root of how much of its box it fills — a simple objectness. Boxes
    smaller than 0.4% or larger than 90% of the image are left out; the confidence is
    ``1 - exp(-score / 25)``, in (0, 1)."""
    import numpy as np
    from PIL import Image as PILImage
    from skimage.color import rgb2lab
    from skimage.segmentation import felzenszwalb

    img = image.convert("RGB")
    scale = min(1.0, _PROPOSAL_SIDE / max(img.size))
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         PILImage.Resampling.BILINEAR)
    rgb = np.asarray(img, dtype=np.float64) / 255.0
    h, w = rgb.shape[:2]
    lab = rgb2lab(rgb).reshape(-1, 3)
    ys, xs = (a.ravel() for a in np.indices((h, w)))
    found: list[tuple[float, Box]] = []
    for k in _PROPOSAL_SCALES:
        seg = felzenszwalb(rgb, scale=k, sigma=0.8, min_size=max(4, h * w // 400)).ravel()
        n = int(seg.max()) + 1
        counts = np.bincount(seg, minlength=n)
        x0, y0 = np.full(n, w), np.full(n, h)
        x1, y1 = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
        np.minimum.at(x0, seg, xs)
        np.maximum.at(x1, seg, xs)
        np.minimum.at(y0, seg, ys)
        np.maximum.at(y1, seg, ys)
        means = np.stack([np.bincount(seg, weights=lab[:, c], minlength=n) for c in range(3)],
                         axis=1) / np.maximum(counts, 1)[:, None]
        grid = lab.reshape(h, w, 3)
        for s in range(n):
            bw, bh = int(x1[s] - x0[s] + 1), int(y1[s] - y0[s] + 1)
            if not 0.004 * h * w <= bw * bh <= 0.9 * h * w:
                continue
            px, py = max(1, bw // 4), max(1, bh // 4)
            rx0, ry0 = max(0, int(x0[s]) - px), max(0, int(y0[s]) - py)
            rx1, ry1 = min(w, int(x1[s]) + 1 + px), min(h, int(y1[s]) + 1 + py)
            ring = np.ones((ry1 - ry0, rx1 - rx0), dtype=bool)
            ring[int(y0[s]) - ry0:int(y1[s]) + 1 - ry0, int(x0[s]) - rx0:int(x1[s]) + 1 - rx0] = False
            if not ring.any():
                continue  # the box is the whole image: nothing around it to stand out from
            contrast = float(np.linalg.norm(means[s] - grid[ry0:ry1, rx0:rx1][ring].mean(axis=0)))
            score = contrast * float(np.sqrt(counts[s] / (bw * bh)))
            box = Box(x0[s] / w, y0[s] / h, min(bw / w, 1.0 - x0[s] / w),
                      min(bh / h, 1.0 - y0[s] / h))
            found.append((float(1.0 - np.exp(-score / 25.0)), box))
    return merge_proposals(found, limit=limit)

