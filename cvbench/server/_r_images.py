"""Images: create (files, URLs, stored predictions, raw uploads), list, count, delete,
metadata."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from ..errors import CvbenchError
from ..fetch import URLError, fetch_url
from ._common import (
    Op,
    answer,
    images_of,
    no_content,
    project_of,
    trained_iteration,
    wire_images,
)
from ._errors import bad_request
from ._http import Call, image_parts

__all__ = ["OPS", "fetch_image"]

_ORDER = {"Newest": "newest", "Oldest": "oldest"}
_TAGGING = {"All": "All", "Tagged": "Tagged", "Untagged": "Untagged"}
_METADATA_PAIRS, _METADATA_KEY, _METADATA_VALUE = 50, 256, 512


@dataclass
class _Entry:
    """One image of a create batch, on its way to ``Project.add_images``."""

    source: str
    data: bytes | None = None
    tag_ids: list[str] = field(default_factory=list)
    regions: list[dict[str, Any]] = field(default_factory=list)
    prediction_id: str | None = None
    status: str | None = None  # set when refused before anything is written
    message: str = ""
    image_id: str | None = None


def fetch_image(call: Call, url: str, max_bytes: int) -> bytes:
    """An image's bytes from ``url`` on the client's behalf: http(s) only, bounded, and
    (unless ``--allow-private-urls``) only from public addresses."""
    return fetch_url(url, max_bytes=max_bytes, timeout=call.server.config.url_timeout,
                     allow_private=call.server.config.allow_private_urls)


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request("BadRequest", f"{what} should be a list of ids")
    return value


def _batch(call: Call, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], dict]:
    limits = call.server.config.limits
    images = body.get("images") or []
    if not isinstance(images, list) or not all(isinstance(e, dict) for e in images):
        raise bad_request("BadRequest", "images should be a list of objects")
    if not images:
        raise bad_request("BadRequestImageBatch", "the batch holds no image")
    if len(images) > limits.batch_images:
        raise bad_request("BadRequestImageBatch", f"the batch holds {len(images)} images; "
                          f"the most is {limits.batch_images}")
    tag_ids = _str_list(body.get("tagIds"), "tagIds")
    metadata = body.get("metadata") or {}
    _check_metadata(metadata)
    for e in images:
        if len(set(tag_ids) | set(_str_list(e.get("tagIds"), "tagIds"))) > limits.batch_tags:
            raise bad_request("BadRequestImageTags", f"more than {limits.batch_tags} tags on "
                              "one image of the batch")
        if e.get("regions") is not None and not isinstance(e["regions"], list):
            raise bad_request("BadRequest", "regions should be a list")
    return images, tag_ids, metadata


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise bad_request("BadRequest", "metadata should be an object of strings")
    if len(metadata) > _METADATA_PAIRS:
        raise bad_request("BadRequestImageMetadataKey",
                          f"{len(metadata)} metadata pairs; the most is {_METADATA_PAIRS}")
    for k, v in metadata.items():
        if not k or len(k) > _METADATA_KEY:
            raise bad_request("BadRequestImageMetadataKey",
                              f"metadata key {k[:40]!r} should have 1 to {_METADATA_KEY} characters")
        if not isinstance(v, str) or len(v) > _METADATA_VALUE:
            raise bad_request("BadRequestImageMetadataValue",
                              f"metadata value of {k!r} should be text of at most "
                              f"{_METADATA_VALUE} characters")


def _check_entries(call: Call, project: Any, entries: list[_Entry]) -> None:
    """Refuse, image by image, what ``add_images`` would refuse for the whole call."""
    known = {t.id.lower(): t for t in project.tags}
    limit = call.server.config.limits.regions_per_image
    for e in entries:
        if e.status is not None:
            continue
        wanted = [*e.tag_ids, *(str(r.get("tagId", "")) for r in e.regions)]
        unknown = [t for t in wanted if t.lower() not in known]
        if unknown:
            e.status, e.message = "ErrorInvalidTag", f"no tag with id {unknown[0]!r}"
        elif project.kind == "detection" and e.tag_ids:
            e.status, e.message = ("ErrorInvalidTag", "detection images are tagged through "
                                   "their regions; send regions instead of tagIds")
        elif project.kind != "detection" and e.regions:
            e.status, e.message = ("ErrorInvalidTag", "regions belong to object detection "
                                   "projects; send tagIds")
        elif len(e.regions) > limit:
            e.status, e.message = ("ErrorRegionLimitExceed",
                                   f"{len(e.regions)} regions; the most is {limit}")
        else:
            e.tag_ids = [known[t.lower()].id for t in e.tag_ids]
            try:
                e.regions = [{"tag": known[str(r["tagId"]).lower()].id,
                              **{k: float(r[k]) for k in ("left", "top", "width", "height")}}
                             for r in e.regions]
            except (KeyError, TypeError, ValueError):
                e.status, e.message = ("ErrorInvalidTag", "a region needs tagId, left, top, "
                                       "width and height (numbers, normalized)")


def _add(call: Call, project: Any, entries: list[_Entry], metadata: dict[str, str]
         ) -> Response:
    _check_entries(call, project, entries)
    groups: dict[tuple[str, ...], list[_Entry]] = {}
    for e in entries:
        if e.status is None:
            groups.setdefault(tuple(sorted(set(e.tag_ids))), []).append(e)
    for tags, group in groups.items():
        files = [e for e in group if e.prediction_id is None]
        for e in group:
            if e.prediction_id is not None:
                _from_prediction(project, e, list(tags))
        if not files:
            continue
        try:
            results = project.add_images(
                [e.data for e in files], tags=list(tags) or None,
                regions=[e.regions for e in files] if project.kind == "detection" else None,
                names=[e.source for e in files], create_tags=False)
        except (CvbenchError, ValueError) as exc:
            for e in files:
                e.status, e.message = "ErrorInvalidTag", str(exc)
            continue
        for e, r in zip(files, results, strict=True):
            e.status, e.message, e.image_id = r.status, r.message, r.image_id
    created = [e.image_id for e in entries if e.status == "OK" and e.image_id]
    if metadata and created:
        project.set_image_metadata(created, metadata)
    found = {img.id: img for img in images_of(
        project, [e.image_id for e in entries if e.image_id], strict=False)}
    wired = dict(zip(found, wire_images(call, project, list(found.values())), strict=True))
    results = [{"sourceUrl": e.source, "status": e.status,
                "image": wired.get(e.image_id) if e.image_id else None} for e in entries]
    ok = all(str(e.status).startswith("OK") for e in entries)
    return answer({"isBatchSuccessful": ok, "images": results}, 200 if ok else 207)


def _from_prediction(project: Any, e: _Entry, tags: list[str]) -> None:
    try:
        r = project.add_stored_prediction(
            e.prediction_id, tags=tags or None,
            regions=e.regions if project.kind == "detection" else None, delete=False)
    except (CvbenchError, ValueError, KeyError) as exc:
        e.status, e.message = "ErrorSource", str(exc)
        return
    e.status, e.message, e.image_id = r.status, r.message, r.image_id


def create_images_from_files(call: Call) -> Response:
    project = project_of(call)
    images, batch_tags, metadata = _batch(call, call.json(empty={}))
    limit = call.server.config.limits.training_image_bytes
    entries = []
    for k, raw in enumerate(images):
        e = _Entry(str(raw.get("name") or f"image {k}"),
                   tag_ids=[*batch_tags, *_str_list(raw.get("tagIds"), "tagIds")],
                   regions=list(raw.get("regions") or []))
        try:
            e.data = base64.b64decode(str(raw.get("contents") or ""), validate=True)
        except (binascii.Error, ValueError):
            e.status, e.message = "ErrorImageFormat", "contents is not base64"
        if e.status is None and not e.data:
            e.status, e.message = "ErrorImageFormat", "the image has no contents"
        elif e.status is None and e.data is not None and len(e.data) > limit:
            e.status, e.message = "ErrorImageSize", f"above the limit of {limit} bytes"
        entries.append(e)
    return _add(call, project, entries, metadata)


def create_images_from_urls(call: Call) -> Response:
    project = project_of(call)
    images, batch_tags, metadata = _batch(call, call.json(empty={}))
    limit = call.server.config.limits.training_image_bytes
    entries = [_Entry(str(raw.get("url") or ""),
                      tag_ids=[*batch_tags, *_str_list(raw.get("tagIds"), "tagIds")],
                      regions=list(raw.get("regions") or [])) for raw in images]

    def fetch(e: _Entry) -> None:
        try:
            e.data = fetch_image(call, e.source, limit)
        except URLError as exc:
            e.status, e.message = exc.status, exc.message

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(fetch, entries))
    return _add(call, project, entries, metadata)


def create_images_from_predictions(call: Call) -> Response:
    project = project_of(call)
    images, batch_tags, metadata = _batch(call, call.json(empty={}))
    entries = [_Entry(str(raw.get("id") or ""), prediction_id=str(raw.get("id") or ""),
                      tag_ids=[*batch_tags, *_str_list(raw.get("tagIds"), "tagIds")],
                      regions=list(raw.get("regions") or [])) for raw in images]
    return _add(call, project, entries, metadata)


def create_images_from_data(call: Call) -> Response:
    project = project_of(call)
    limits = call.server.config.limits
    tag_ids = call.csv("tagIds", most=limits.batch_tags)
    uploads = image_parts(call.content_type, call.body, max_parts=limits.batch_images)
    if not uploads:
        raise bad_request("BadRequestImageBatch", "the upload holds no image (send it in a "
                          "multipart part named imageData)")
    entries = []
    for k, up in enumerate(uploads):
        e = _Entry(up.filename or f"imageData {k}", data=up.data, tag_ids=list(tag_ids))
        if len(up.data) > limits.training_image_bytes:
            e.status, e.message = ("ErrorImageSize",
                                   f"above the limit of {limits.training_image_bytes} bytes")
        entries.append(e)
    return _add(call, project, entries, {})


# -- listing and counting ---------------------------------------------------------------------
def _select(call: Call, project: Any, tagging: str, *, paged: bool = True,
            take_most: int = 256) -> tuple[list[Any], int]:
    """(page of images, count of all matches) for the filters of the query string: one
    indexed query each (tags OR'ed, tagged or untagged, an iteration's images, the
    metadata ``$filter``)."""
    tag_ids = call.csv("tagIds", most=20)
    iteration_id = call.text("iterationId")
    expression = call.text("$filter")
    order = call.choice("orderBy", _ORDER, "newest")
    skip = call.integer("skip", 0)
    take = call.integer("take", 50, high=take_most)
    known = {t.id.lower(): t.id for t in project.tags}
    if any(x.lower() not in known for x in tag_ids):
        return [], 0  # an unknown tag filters everything out
    tags = list(dict.fromkeys(known[x.lower()] for x in tag_ids))
    if tags and tagging == "Untagged":
        return [], 0
    filters: dict[str, Any] = {
        "tags": tags or None,
        "tagged": {"Tagged": True, "Untagged": False}.get(tagging),
        "iteration": None if iteration_id is None else
        trained_iteration(call, project, iteration_id).id,
        "metadata_filter": expression,
    }
    try:
        count = project.count_images(**filters)
        images = project.images(skip=skip, take=take, order=order, **filters) if paged else []
    except ValueError as exc:  # a $filter that does not parse
        raise bad_request("BadRequestInvalid", str(exc)) from None
    return images, count


def get_images(call: Call) -> Response:
    project = project_of(call)
    tagging = call.choice("taggingStatus", _TAGGING, "All")
    images, _ = _select(call, project, tagging)
    return answer(wire_images(call, project, images))


def get_tagged_images(call: Call) -> Response:
    project = project_of(call)
    return answer(wire_images(call, project, _select(call, project, "Tagged")[0]))


def get_untagged_images(call: Call) -> Response:
    project = project_of(call)
    return answer(wire_images(call, project, _select(call, project, "Untagged")[0]))


def get_images_by_ids(call: Call) -> Response:
    project = project_of(call)
    ids = call.csv("imageIds", most=256)
    if call.text("iterationId") is not None:
        members = trained_iteration(call, project, call.text("iterationId") or "").split()
        ids = [i for i in ids if i in members]
    images = images_of(project, ids, strict=False) if ids else project.images(take=256)
    return answer(wire_images(call, project, images))


def get_image_count(call: Call) -> Response:
    project = project_of(call)
    tagging = call.choice("taggingStatus", _TAGGING, "All")
    return answer(_select(call, project, tagging, paged=False)[1])


def get_tagged_image_count(call: Call) -> Response:
    project = project_of(call)
    return answer(_select(call, project, "Tagged", paged=False)[1])


def get_untagged_image_count(call: Call) -> Response:
    project = project_of(call)
    return answer(_select(call, project, "Untagged", paged=False)[1])


# -- deleting, metadata -----------------------------------------------------------------------
def delete_images(call: Call) -> Response:
    project = project_of(call)
    every = call.flag("allImages")
    call.flag("allIterations")  # iterations keep what they learnt from, as they are
    ids: Sequence[str] = call.csv("imageIds", most=256)
    if every:
        ids = [i.id for i in project.images()]
    elif not ids:
        raise bad_request("BadRequestRequiredParamIsNull", "give imageIds or allImages=true")
    project.delete_images([i.lower() for i in ids])
    return no_content(202 if every else 204)


def update_image_metadata(call: Call) -> Response:
    project = project_of(call)
    ids = call.csv("imageIds", required=True, most=256)
    metadata = call.json(empty={})
    _check_metadata(metadata)
    found = {i.id.lower(): i for i in images_of(project, ids, strict=False)}
    present = [found[i.lower()].id for i in ids if i.lower() in found]
    limited: dict[str, str] = {}
    if present:
        try:
            project.set_image_metadata(present, metadata)
        except ValueError:  # some image would hold too many pairs: one by one
            for image_id in present:
                try:
                    project.set_image_metadata([image_id], metadata)
                except ValueError:
                    limited[image_id] = "ErrorLimitExceed"
    after = {i.id: i for i in images_of(project, present, strict=False)}
    entries: list[dict[str, Any]] = []
    for i in ids:
        img = found.get(i.lower())
        if img is None:
            entries.append({"imageId": i, "status": "ErrorImageNotFound", "metadata": None})
        elif img.id in limited:
            entries.append({"imageId": img.id, "status": limited[img.id],
                            "metadata": dict(after[img.id].metadata)})
        else:
            entries.append({"imageId": img.id, "status": "OK",
                            "metadata": dict(after[img.id].metadata)})
    ok = all(e["status"] == "OK" for e in entries)
    return answer({"isBatchSuccessful": ok, "images": entries}, 200 if ok else 207)


OPS = [
    Op("create_images_from_files", "POST", "/projects/{projectId}/images/files",
       create_images_from_files, body="files"),
    Op("create_images_from_urls", "POST", "/projects/{projectId}/images/urls",
       create_images_from_urls, body="json"),
    Op("create_images_from_predictions", "POST", "/projects/{projectId}/images/predictions",
       create_images_from_predictions, body="json"),
    Op("create_images_from_data", "POST", "/projects/{projectId}/images",
       create_images_from_data, body="image"),
    Op("get_images", "GET", "/projects/{projectId}/images", get_images),
    Op("get_images_by_ids", "GET", "/projects/{projectId}/images/id", get_images_by_ids),
    Op("get_tagged_images", "GET", "/projects/{projectId}/images/tagged", get_tagged_images),
    Op("get_untagged_images", "GET", "/projects/{projectId}/images/untagged",
       get_untagged_images),
    Op("get_image_count", "GET", "/projects/{projectId}/images/count", get_image_count),
    Op("get_tagged_image_count", "GET", "/projects/{projectId}/images/tagged/count",
       get_tagged_image_count),
    Op("get_untagged_image_count", "GET", "/projects/{projectId}/images/untagged/count",
       get_untagged_image_count),
    Op("delete_images", "DELETE", "/projects/{projectId}/images", delete_images),
    Op("update_image_metadata", "POST", "/projects/{projectId}/images/metadata",
       update_image_metadata, body="json"),
]
