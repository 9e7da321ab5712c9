"""Labels: image tags, image regions, region proposals, suggested tags and regions."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .. import Region
from ..errors import TagError
from . import _wire
from ._common import (
    Op,
    answer,
    image_of,
    images_of,
    no_content,
    project_of,
    tag_types,
    tags_of,
    trained_iteration,
    uri_maker,
)
from ._errors import bad_request
from ._http import Call

__all__ = ["OPS"]

_EPS = 1e-6
_SORT = {"UncertaintyAscending": False, "UncertaintyDescending": True}


def _entries(call: Call, key: str, fields: tuple[str, ...], most: int) -> list[dict[str, Any]]:
    body = call.json(empty={})
    items = body.get(key) or []
    if not isinstance(items, list) or not all(isinstance(e, dict) for e in items):
        raise bad_request("BadRequest", f"{key} should be a list of objects")
    if len(items) > most:
        raise bad_request("BadRequestExceededBatchSize",
                          f"{len(items)} entries; the most is {most}")
    for e in items:
        lacking = [f for f in fields if e.get(f) is None]
        if lacking:
            raise bad_request("BadRequestRequiredParamIsNull",
                              f"an entry of {key} lacks {lacking}")
    return items


# -- image tags -----------------------------------------------------------------------------
def create_image_tags(call: Call) -> Response:
    project = project_of(call)
    items = _entries(call, "tags", ("imageId", "tagId"), 64 * 20)
    if project.kind == "detection" and items:
        raise bad_request("BadRequestNotSupported", "detection images are tagged through "
                          "their regions (create_image_regions)")
    images = {i.id.lower(): i for i in images_of(project, [e["imageId"] for e in items])}
    tags = {t.id.lower(): t for t in tags_of(project, [e["tagId"] for e in items])}
    wanted: dict[str, list[str]] = {}
    created, duplicated = [], []
    for e in items:
        img, tag = images[e["imageId"].lower()], tags[e["tagId"].lower()]
        entry = {"imageId": img.id, "tagId": tag.id}
        if tag.id in img.tag_ids or tag.id in wanted.get(img.id, []):
            duplicated.append(entry)
            continue
        wanted.setdefault(img.id, []).append(tag.id)
        created.append(entry)
    if project.kind == "multiclass" and any(len(v) > 1 for v in wanted.values()):
        raise bad_request("BadRequestImageTags", "a multiclass image takes one tag")
    try:
        for image_id, tag_ids in wanted.items():
            project.tag_images([image_id], tag_ids, create_tags=False)
    except TagError as exc:
        raise bad_request("BadRequestImageTags", str(exc)) from None
    return answer({"created": created, "duplicated": duplicated, "exceeded": []})


def delete_image_tags(call: Call) -> Response:
    project = project_of(call)
    image_ids = call.csv("imageIds", required=True, most=64)
    tags = tags_of(project, call.csv("tagIds", required=True, most=20))
    images = images_of(project, image_ids, strict=False)
    if images:
        project.untag_images([i.id for i in images], [t.id for t in tags])
    return no_content()


# -- regions --------------------------------------------------------------------------------
def _box(e: dict[str, Any]) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(e[k]) for k in ("left", "top", "width", "height"))
    except (TypeError, ValueError):
        raise bad_request("BadRequestImageRegions", "left, top, width and height should be "
                          "numbers") from None
    left, top, width, height = box
    if not (0 <= left <= 1 and 0 <= top <= 1 and 0 < width <= 1 and 0 < height <= 1
            and left + width <= 1 + _EPS and top + height <= 1 + _EPS):
        raise bad_request("BadRequestImageRegions",
                          f"the region {box} is not a box inside the image (left, top, width, "
                          "height normalized to [0, 1])")
    return box  # type: ignore[return-value]


def _same(a: Any, tag_id: str, box: tuple[float, ...]) -> bool:
    return a.tag_id == tag_id and all(
        abs(x - y) < _EPS for x, y in zip((a.left, a.top, a.width, a.height), box, strict=True))


def create_image_regions(call: Call) -> Response:
    project = project_of(call)
    items = _entries(call, "regions", ("imageId", "tagId", "left", "top", "width", "height"),
                     64)
    if project.kind != "detection" and items:
        raise bad_request("BadRequestNotSupported", "regions belong to object detection "
                          "projects")
    boxes = [_box(e) for e in items]
    images = {i.id: i for i in images_of(project, [e["imageId"] for e in items])}
    by_lower = {k.lower(): v for k, v in images.items()}
    tags = {t.id.lower(): t for t in tags_of(project, [e["tagId"] for e in items])}
    limit = call.server.config.limits.regions_per_image
    plan: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    created, duplicated, exceeded = [], [], []
    for e, box in zip(items, boxes, strict=True):
        img, tag = by_lower[e["imageId"].lower()], tags[e["tagId"].lower()]
        entry = {"imageId": img.id, "tagId": tag.id, "left": box[0], "top": box[1],
                 "width": box[2], "height": box[3]}
        new = plan.setdefault(img.id, [])
        if any(_same(r, tag.id, box) for r in img.regions) or (tag.id, box) in new:
            duplicated.append(entry)
        elif len(img.regions) + len(new) >= limit:
            exceeded.append(entry)
        else:
            new.append((tag.id, box))
            created.append((img.id, tag.id, box))
    out = []
    for image_id, new in plan.items():
        if not new:
            continue
        try:
            added = project.add_regions(
                image_id, [Region(t, "", b[0], b[1], b[2], b[3]) for t, b in new],
                create_tags=False)
        except TagError as exc:
            raise bad_request("BadRequestImageRegions", str(exc)) from None
        for r in added:
            out.append({"imageId": image_id, "regionId": r.id,
                        "tagName": tags[r.tag_id.lower()].name, "created": _wire.now(),
                        "tagId": r.tag_id, "left": r.left, "top": r.top, "width": r.width,
                        "height": r.height})
    status = 200 if not duplicated and not exceeded else 207
    return answer({"created": out, "duplicated": duplicated, "exceeded": exceeded}, status)


def delete_image_regions(call: Call) -> Response:
    project = project_of(call)
    region_ids = {r.lower() for r in call.csv("regionIds", required=True, most=64)}
    project.delete_regions(sorted(region_ids))
    return no_content()


def get_image_region_proposals(call: Call) -> Response:
    project = project_of(call)
    img = image_of(project, call.path["imageId"])
    with call.server.model_slots:
        found = project.region_proposals(img.id)
    proposals = [{"confidence": confidence, "boundingBox": box.as_dict()}
                 for confidence, box in found]
    return answer({"projectId": project.id, "imageId": img.id, "proposals": proposals})


# -- suggestions ----------------------------------------------------------------------------
def suggest_tags_and_regions(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.text("iterationId", required=True) or "")
    images = images_of(project, call.csv("imageIds", required=True, most=64))
    results = it.predict([img.path for img in images])
    types = tag_types(it)
    return answer([{
        "id": img.id, "project": project.id, "iteration": it.id, "created": _wire.now(),
        "predictions": _wire.predictions(r, types),
        "predictionUncertainty": float(r.uncertainty or 0.0),
    } for img, r in zip(images, results, strict=True)])


def _suggestions(call: Call, project: Any, it: Any, tag_ids: list[str],
                 threshold: float) -> list[tuple[Any, list[Any]]]:
    wanted = {t.id for t in tags_of(project, tag_ids)} if tag_ids else None
    out = []
    for s in project.suggest_tags(iteration=it, threshold=threshold, order="uncertainty"):
        chosen = [p for p in s.predictions if p.probability >= threshold
                  and (wanted is None or p.tag_id in wanted)]
        if chosen:
            out.append((s, chosen))
    return out


def query_suggested_images(call: Call) -> Response:
    project = project_of(call)
    iteration_id = call.text("iterationId", required=True) or ""
    it = trained_iteration(call, project, iteration_id)
    token = call.json(empty={})
    threshold = float(token.get("threshold") or 0.0)
    most = min(int(token.get("maxCount") or 50), 256)
    skip = int(token.get("continuation") or 0) if str(token.get("continuation") or "0"
                                                       ).isdigit() else 0
    descending = _SORT.get(token.get("sortBy") or "UncertaintyDescending", True)
    found = _suggestions(call, project, it, list(token.get("tagIds") or []), threshold)
    found.sort(key=lambda x: x[0].uncertainty, reverse=descending)
    chunk = found[skip:skip + most]
    images = {i.id: i for i in images_of(project, [s.image_id for s, _ in chunk],
                                         strict=False)}
    uri = uri_maker(call, project)
    types = tag_types(it)
    results = []
    for s, chosen in chunk:
        img = images.get(s.image_id)
        results.append({
            "width": img.width if img else None, "height": img.height if img else None,
            "resizedImageUri": uri(s.image_id, "resized"),
            "thumbnailUri": uri(s.image_id, "thumbnail"),
            "originalImageUri": uri(s.image_id, "original"),
            "domain": it.domain, "id": s.image_id, "project": project.id,
            "iteration": it.id, "created": _wire.iso(img.created) if img else None,
            "predictions": _wire.predictions(chosen, types),
            "predictionUncertainty": float(s.uncertainty),
        })
    following = skip + most if skip + most < len(found) else None
    return answer({"token": {**token, "continuation": None if following is None
                             else str(following), "maxCount": most},
                   "results": results})


def query_suggested_image_count(call: Call) -> Response:
    project = project_of(call)
    iteration_id = call.text("iterationId", required=True) or ""
    it = trained_iteration(call, project, iteration_id)
    body = call.json(empty={})
    tag_ids = list(body.get("tagIds") or [])
    threshold = float(body.get("threshold") or 0.0)
    found = _suggestions(call, project, it, tag_ids, threshold)
    keys = [t.id for t in tags_of(project, tag_ids)] if tag_ids else [t.id for t in it.tags]
    counts = {k: sum(1 for _, chosen in found if any(p.tag_id == k for p in chosen))
              for k in keys}
    return answer(counts)


OPS = [
    Op("create_image_tags", "POST", "/projects/{projectId}/images/tags", create_image_tags,
       body="json"),
    Op("delete_image_tags", "DELETE", "/projects/{projectId}/images/tags", delete_image_tags),
    Op("create_image_regions", "POST", "/projects/{projectId}/images/regions",
       create_image_regions, body="json"),
    Op("delete_image_regions", "DELETE", "/projects/{projectId}/images/regions",
       delete_image_regions),
    Op("get_image_region_proposals", "POST",
       "/projects/{projectId}/images/{imageId}/regionproposals", get_image_region_proposals),
    Op("suggest_tags_and_regions", "POST", "/projects/{projectId}/tagsandregions/suggestions",
       suggest_tags_and_regions),
    Op("query_suggested_images", "POST", "/projects/{projectId}/images/suggested",
       query_suggested_images, body="json"),
    Op("query_suggested_image_count", "POST", "/projects/{projectId}/images/suggested/count",
       query_suggested_image_count, body="json"),
]
