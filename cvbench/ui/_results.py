"""Prediction results as the widgets send them to the browser (QuickTest, Predictions).

A result is what ``iteration.predict`` returns (or a stored prediction's ``predictions``):
predictions, most probable first, each with a tag and, for detection, a normalized box.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["prediction_rows", "suggested_labels"]


def _box(b: Any) -> dict[str, float]:
    return {"left": b.left, "top": b.top, "width": b.width, "height": b.height}


def prediction_rows(result: Iterable[Any]) -> list[dict[str, Any]]:
    """``[{tag (id), name, probability, box ({left, top, width, height} or None)}]``, in the
    result's order (most probable first)."""
    return [
        {
            "tag": p.tag_id,
            "name": p.tag_name,
            "probability": float(p.probability),
            "box": None if p.bounding_box is None else _box(p.bounding_box),
        }
        for p in result
    ]


def suggested_labels(result: Iterable[Any], *, kind: str, threshold: float,
                     known: set[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """(tag ids, boxes) a result suggests, by the smart labeler's rule, among the ``known``
    tag ids: multiclass, the most probable tag; multilabel, the tags at or above
    ``threshold``; detection, the boxes at or above it (``{tag, left, top, width, height,
    probability}``)."""
    preds = [p for p in result if p.tag_id in known]
    if kind == "detection":
        regions = [
            {"tag": p.tag_id, **_box(p.bounding_box), "probability": float(p.probability)}
            for p in preds if p.bounding_box is not None and p.probability >= threshold
        ]
        return [], regions
    if kind == "multilabel":
        return [p.tag_id for p in preds if p.probability >= threshold], []
    return ([preds[0].tag_id] if preds else []), []
