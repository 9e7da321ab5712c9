"""cvbench's objects as Custom Vision's wire models: camelCase fields, UTC dates with Z."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from . import _domains

__all__ = ["iso", "now", "project", "tag", "image", "region", "iteration", "performance",
           "predictions", "image_prediction", "KIND_OF", "CLASSIFICATION_OF"]

#: Custom Vision's classificationType -> cvbench project kind (and back).
KIND_OF = {"Multiclass": "multiclass", "Multilabel": "multilabel"}
CLASSIFICATION_OF = {"multiclass": "Multiclass", "multilabel": "Multilabel", "detection": None}
#: cvbench's training mode -> Custom Vision's trainingType.
TRAINING_TYPE = {"quick": "Regular", "advanced": "Advanced"}

#: (kind, what) -> artifact URI of an image: ``uri(image_id, "original")``.
UriMaker = Callable[[str, str], str]


def iso(text: str | None) -> str | None:
    """cvbench's ISO timestamps (any offset) as Custom Vision writes them: UTC with Z."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(x: Any) -> float:
    """A float for JSON: NaN (no prediction, no truth) becomes 0.0."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(v) or math.isinf(v) else v


def project(p: Any) -> dict[str, Any]:
    settings = p.settings
    domain = _domains.for_project(p.kind, p.domain)
    created = iso(settings.get("created"))
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "settings": {
            "domainId": domain.id if domain else None,
            "classificationType": CLASSIFICATION_OF.get(p.kind),
            "targetExportPlatforms": [],
            "useNegativeSet": p.kind != "detection",
            "imageProcessingSettings": {"augmentationMethods": {}},
        },
        "created": created,
        "lastModified": created,
        "thumbnailUri": "",
        "drModeEnabled": False,
        "status": "Succeeded",
    }


def tag(t: Any, image_count: int | None = None) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "description": t.description or None,
        "type": t.type,
        "imageCount": t.image_count if image_count is None else image_count,
    }


def region(r: Any, created: str | None) -> dict[str, Any]:
    return {"regionId": r.id, "tagName": r.tag_name, "created": created, "tagId": r.tag_id,
            "left": r.left, "top": r.top, "width": r.width, "height": r.height}


def image(img: Any, uri: UriMaker) -> dict[str, Any]:
    created = iso(img.created)
    return {
        "id": img.id,
        "created": created,
        "width": img.width,
        "height": img.height,
        "resizedImageUri": uri(img.id, "resized"),
        "thumbnailUri": uri(img.id, "thumbnail"),
        "originalImageUri": uri(img.id, "original"),
        "tags": [{"tagId": tid, "tagName": name, "created": created}
                 for tid, name in zip(img.tag_ids, img.tags, strict=True)] or None,
        "regions": [region(r, created) for r in img.regions] or None,
        "metadata": dict(img.metadata) or None,
    }


def iteration(it: Any, *, publish_resource: str | None = None) -> dict[str, Any]:
    """An Iteration of any status: a run in progress (Training), a trained one
    (Completed) or a failed one (Failed, with ``trainingErrorDetails``)."""
    settings = it.settings
    budget = settings.get("budget_minutes")
    domain = _domains.for_project(it.kind, it.domain)
    created = iso(it.created)
    trained = it.status == "Completed"
    finished = iso(it.finished)
    return {
        "id": it.id,
        "name": it.name,
        "status": it.status,
        "created": created,
        "lastModified": finished or created,
        "trainedAt": finished if trained else None,
        "projectId": it.project.id,
        "exportable": trained,
        "exportableTo": list(_domains.EXPORT_PLATFORMS) if trained else [],
        "domainId": domain.id if domain else None,
        "classificationType": CLASSIFICATION_OF.get(it.kind),
        "trainingType": TRAINING_TYPE.get(it.mode, "Regular"),
        "reservedBudgetInHours": 0 if not budget else max(1, round(float(budget) / 60.0)),
        "trainingTimeInMinutes": max(0, round(it.trained_seconds / 60.0)),
        "publishName": it.published_name,
        "originalPublishResourceId": publish_resource if it.published_name else None,
        "trainingErrorDetails": it.error,
    }


def performance(perf: Any, tags: Iterable[Any], kind: str) -> dict[str, Any]:
    """IterationPerformance from a :class:`cvbench.Performance`; ``tags`` are the
    iteration's (id, name) in output order."""
    by_name = {}
    frame = perf.per_tag
    for _, row in frame.iterrows():
        by_name[str(row["tag"])] = row
    per_tag = []
    for t in tags:
        row = by_name.get(t.name)
        ap = None if row is None else row.get("ap")
        per_tag.append({
            "id": t.id,
            "name": t.name,
            "precision": _number(None if row is None else row["precision"]),
            "precisionStdDeviation": 0.0,
            "recall": _number(None if row is None else row["recall"]),
            "recallStdDeviation": 0.0,
            "averagePrecision": None if ap is None or _number(ap) != ap else float(ap),
        })
    return {
        "perTagPerformance": per_tag,
        "precision": _number(perf.precision),
        "precisionStdDeviation": 0.0,
        "recall": _number(perf.recall),
        "recallStdDeviation": 0.0,
        "averagePrecision": _number(perf.average_precision),
    }


def predictions(preds: Iterable[Any], tag_types: Mapping[str, str] | None = None
                ) -> list[dict[str, Any]]:
    out = []
    for p in preds:
        d = p.to_dict() if hasattr(p, "to_dict") else dict(p)
        d["probability"] = _number(d.get("probability"))
        d["tagType"] = (tag_types or {}).get(str(d.get("tagId")), "Regular")
        out.append(d)
    return out


def image_prediction(result: Any, tag_types: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """ImagePrediction from a :class:`cvbench.PredictionResult`."""
    return {
        "id": result.id,
        "project": result.project,
        "iteration": result.iteration,
        "created": iso(result.created),
        "predictions": predictions(result, tag_types),
    }
