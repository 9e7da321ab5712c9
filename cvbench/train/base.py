"""What every kind of model (classification, detection, …) provides to iterations.

The iteration machinery (``cvbench.iteration``: training runs, immutable iterations, stored
weights, prediction, export) is the same for every project kind. What differs is behind
a :class:`Task`, looked up in the explicit registry ``cvbench.train.TASKS`` by the
project's kind:

* :meth:`Task.training_set` reads the project's store into a :class:`TrainingSet` (tags in
  model output order, images with their split and truth) and refuses bad input with
  :class:`~cvbench.errors.TrainingError`;
* :meth:`Task.train` turns it into a :class:`TrainedModel`: tensors (stored as
  safetensors), a JSON ``config`` that rebuilds the model from them, the validation
  predictions and the metrics;
* :meth:`Task.load` rebuilds a :class:`LoadedModel` from ``config`` and tensors: it
  predicts on PIL images and gives the ``torch.nn.Module`` that export traces;
* :meth:`Task.evaluate` builds the evaluation (``cvbench.evaluate``) from stored
  validation predictions, and :meth:`Task.uncertainty` scores one image's predictions
  for the Predictions tab and the smart labeler.

Predictions are exchanged as lists of dicts in Custom Vision's JSON shape
(``{"tagId", "tagName", "probability", "boundingBox"?}``), so that they are stored,
compared and served the same way for every kind.

Tasks see the project's :class:`~cvbench.store.Store` (to read what to learn from and to
use the feature cache) and plain data; never the ``Project`` facade. The protocol lists
every method and attribute the facade calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .._types import Tag
from ..store import Store
from ._progress import Progress

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from ..evaluate import ClassificationEvaluation, DetectionEvaluation

    #: what :meth:`Task.evaluate` builds
    Evaluation = ClassificationEvaluation | DetectionEvaluation

__all__ = [
    "TrainingImage",
    "TrainingSet",
    "TrainedModel",
    "LoadedModel",
    "Task",
    "MODES",
    "DEFAULT_BUDGET_MINUTES",
]

#: Training modes, as Custom Vision's training types: Regular (quick) and Advanced.
MODES = ("quick", "advanced")
#: Budget of an advanced run when none is given (minutes).
DEFAULT_BUDGET_MINUTES = 10.0


@dataclass(frozen=True)
class TrainingImage:
    """One image of a training run. ``truth`` is kind-specific and JSON-able: the tag ids
    of a classification image (empty for a Negative image in multilabel), or region dicts
    ``{"tagId", "left", "top", "width", "height"}`` of a detection image."""

    id: str
    sha256: str
    path: Path
    split: str  # "train" or "validation"
    truth: tuple[Any, ...]


@dataclass(frozen=True)
class TrainingSet:
    """A snapshot of what one training run learns from.

    ``tags`` are the model's outputs, in output order. ``domain`` is the backbone, ``size``
    the square input side in pixels.
    """

    kind: str
    domain: str
    size: int
    tags: tuple[Tag, ...]
    images: tuple[TrainingImage, ...]
    negative: Tag | None = None

    @property
    def train(self) -> list[TrainingImage]:
        return [i for i in self.images if i.split == "train"]

    @property
    def validation(self) -> list[TrainingImage]:
        return [i for i in self.images if i.split == "validation"]


@dataclass
class TrainedModel:
    """What training produced, ready to be stored as one iteration.

    ``tensors``: every tensor needed besides the domain's pretrained weights (safetensors,
    no pickle). ``config``: JSON that, with the tensors, rebuilds the model
    (:meth:`Task.load`). ``validation``: image id -> predictions (Custom Vision dicts,
    sorted by probability) on the validation images, as the stored model gives them.
    ``metrics``: JSON numbers for the iteration row. ``notes``: what training did and
    decided (recorded in the iteration's settings).
    """

    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    validation: dict[str, list[dict[str, Any]]]
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


class LoadedModel(Protocol):
    """A model rebuilt from an iteration's files, ready to predict."""

    config: dict[str, Any]

    def predict_images(self, images: Sequence[Image.Image]) -> list[list[dict[str, Any]]]:
        """Predictions per image (Custom Vision dicts, most probable first)."""
        ...

    def export_module(self) -> torch.nn.Module:
        """The module export traces: preprocessed ``(N, 3, H, W)`` -> outputs."""
        ...

    def export_spec(self) -> dict[str, Any]:
        """Input and output description for the export sidecar (size, mean, std, resize,
        output names, activation, …)."""
        ...


class Task(Protocol):
    """The implementation of one or more project kinds (see the module docstring)."""

    kinds: tuple[str, ...]
    #: settings ``Project.train(settings=...)`` accepts, with their defaults
    default_settings: Mapping[str, Any]
    #: the input side per kind when ``train(size=None)`` (kinds absent: the domain's)
    default_size: Mapping[str, int]

    def import_modules(self, mode: str) -> None:
        """Import what training in ``mode`` needs before its clock starts (one-time
        imports are not training time)."""
        ...

    def training_set(self, store: Store, *, kind: str, tags: Sequence[Tag] | None,
                     domain: str, size: int) -> TrainingSet:
        """What to learn from: the project's images of ``tags`` (None: every tag that can
        train) with their split and truth. Raises TrainingError naming what is missing."""
        ...

    def train(self, store: Store, data: TrainingSet, *, mode: str,
              budget_seconds: float | None, settings: Mapping[str, Any],
              progress: Progress) -> TrainedModel: ...

    def load(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
             ) -> LoadedModel: ...

    def predict_stored(self, store: Store, model: LoadedModel,
                       images: Sequence[tuple[str, Path]]) -> list[list[dict[str, Any]]]:
        """Predictions for stored images ``(sha256, path)`` (may use the feature cache)."""
        ...

    def evaluate(self, config: Mapping[str, Any], tags: Sequence[Mapping[str, Any]],
                 rows: Sequence[tuple[str, Any, list[dict[str, Any]]]]) -> Evaluation:
        """The evaluation (``cvbench.evaluate``) of stored validation predictions:
        ``rows`` are ``(image_id, truth, predictions)``."""
        ...

    def uncertainty(self, predictions: Sequence[Mapping[str, Any]]) -> float:
        """How unsure the model is about one image, in [0, 1] (1: most unsure)."""
        ...
