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
from typing import Any, Protocol

from .boxes import Box
from .sources import ImageSource, ReadImage
from .sources import read_image as _read_image
from .store import PREDICTIONS_DIR
from .store.images import Limits
from .store.repo_predictions import PredictionRow

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
