"""The smart labeler of detection projects: a detector's predictions as suggested boxes
for the BoxEditor (re-exported by :mod:`cvbench.train.detect`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..errors import TrainingError
from ..store.images import load_rgb
from .base import LoadedModel

__all__ = ["to_suggestions", "box_suggester", "DetectionModelSource"]


def to_suggestions(predictions: Sequence[Mapping[str, Any]], *, threshold: float = 0.5
                   ) -> list[dict[str, Any]]:
    """Detection predictions -> the smart labeler's suggested boxes for the BoxEditor
    (``{"tag" (id), "left", "top", "width", "height", "probability"}``), those at or above
    ``threshold``, most probable first."""
    out = []
    for p in predictions:
        if float(p["probability"]) < threshold or "boundingBox" not in p:
            continue
        b = p["boundingBox"]
        out.append({"tag": p["tagId"], "left": float(b["left"]), "top": float(b["top"]),
                    "width": float(b["width"]), "height": float(b["height"]),
                    "probability": float(p["probability"])})
    out.sort(key=lambda d: -d["probability"])
    return out


class DetectionModelSource(Protocol):
    """What gives a box suggester its model: an iteration, or anything with a kind, a
    name and a ``model()``."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    def model(self) -> LoadedModel: ...


def box_suggester(iteration: DetectionModelSource, *, threshold: float = 0.5
                  ) -> Callable[[Any, Any], list[dict[str, Any]]]:
    """Smart labeler for the BoxEditor: ``BoxEditor(project, suggest=box_suggester(it))``.

    Returns ``suggest(project, image)`` giving the boxes ``iteration`` finds on a stored
    image at or above ``threshold`` (see :func:`to_suggestions`); images that already have
    boxes get none (the person's boxes win).
    """
    if iteration.kind != "detection":
        raise TrainingError(
            f"box suggestions need a detection iteration; {iteration.name!r} is "
            f"{iteration.kind}"
        )
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold!r} must lie between 0 and 1")

    def suggest(project: Any, image: Any) -> list[dict[str, Any]]:
        if image.regions:
            return []
        (preds,) = iteration.model().predict_images([load_rgb(image.path)])
        return to_suggestions(preds, threshold=threshold)

    return suggest
