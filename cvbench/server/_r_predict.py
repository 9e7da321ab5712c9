"""Predictions: quick tests, stored predictions, and the prediction API (published
iterations by name)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.responses import Response

from ..errors import ImageError
from . import _wire
from ._common import (
    Op,
    answer,
    default_iteration,
    no_content,
    project_of,
    published_iteration,
    tag_types,
    trained_iteration,
    uri_maker,
)
from ._errors import bad_request
from ._http import Call, image_parts
from ._r_images import fetch_image

__all__ = ["TRAINING_OPS", "PREDICTION_OPS"]

_ORDERS = {"Newest": "newest", "Oldest": "oldest", "Suggested": "uncertainty"}


def _one_image(call: Call, limit: int) -> bytes:
    uploads = image_parts(call.content_type, call.body, max_parts=1)
    if not uploads or not uploads[0].data:
        raise bad_request("BadRequestImageStream", "no image in the request (send it in a "
                          "multipart part named imageData)")
    if len(uploads[0].data) > limit:
        raise bad_request("BadRequestImageSizeBytes",
                          f"the image is {len(uploads[0].data)} bytes; the limit is {limit}")
    return uploads[0].data


def _url_image(call: Call, limit: int) -> bytes:
    url = call.json(empty={}).get("url")
    if not isinstance(url, str) or not url:
        raise bad_request("BadRequestImageUrl", "the body should be {\"url\": \"http(s)://…\"}")
    return fetch_image(call, url, limit)


def _predict(call: Call, it: Any, data: bytes, *, store: bool,
             application: str | None = None) -> Response:
    try:
        with call.server.model_slots:
            result = it.predict(data, store=store, application=application)
    except ImageError as exc:
        code = {"ErrorImageSize": "BadRequestImageSizeBytes",
                "ErrorImageDimensions": "BadRequestImageDimensions"}.get(
                    exc.status, "BadRequestImageFormat")
        raise bad_request(code, exc.message) from None
    return answer(_wire.image_prediction(result, tag_types(it)))


# -- quick test -----------------------------------------------------------------------------
def _quick_iteration(call: Call, project: Any) -> Any:
    iteration_id = call.text("iterationId")
    if iteration_id is None:
        return default_iteration(project)
    return trained_iteration(call, project, iteration_id)


def quick_test_image(call: Call) -> Response:
    project = project_of(call)
    it = _quick_iteration(call, project)
    store = call.flag("store", True)
    data = _one_image(call, call.server.config.limits.training_image_bytes)
    return _predict(call, it, data, store=store)


def quick_test_image_url(call: Call) -> Response:
    project = project_of(call)
    it = _quick_iteration(call, project)
    store = call.flag("store", True)
    data = _url_image(call, call.server.config.limits.training_image_bytes)
    return _predict(call, it, data, store=store)


# -- stored predictions ---------------------------------------------------------------------
def _when(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(_wire.iso(str(text))).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("BadRequestPredictionInvalidQueryParameters",
                          f"{text!r} is not an ISO 8601 time") from None


def _keeps(filters: list[dict[str, Any]]) -> Callable[[Any], bool]:
    def keep(sp: Any) -> bool:
        probs = {p.tag_id.lower(): p.probability for p in sp.predictions}
        for f in filters:
            prob = probs.get(str(f.get("id", "")).lower())
            low = float(f.get("minThreshold") or 0.0)
            top = f.get("maxThreshold")
            high = 1.0 if top is None else float(top)
            if prob is None or not low <= prob <= high:
                return False
        return True

    return keep


def query_predictions(call: Call) -> Response:
    project = project_of(call)
    token = call.json(empty={})
    order = _ORDERS.get(token.get("orderBy") or "Newest")
    if order is None:
        raise bad_request("BadRequestPredictionInvalidQueryParameters",
                          f"orderBy should be one of {list(_ORDERS)}")
    filters = token.get("tags") or []
    if not isinstance(filters, list) or len(filters) > 2:
        raise bad_request("BadRequestPredictionTagsExceededCount",
                          "a query combines at most 2 tags")
    iteration = None
    if token.get("iterationId"):
        iteration = trained_iteration(call, project, token["iterationId"]).id
    start, end = _when(token.get("startTime")), _when(token.get("endTime"))
    most = min(int(token.get("maxCount") or 50), 256)
    continuation = str(token.get("continuation") or "0")
    skip = int(continuation) if continuation.isdigit() else 0
    application = token.get("application") or None
    if application is not None and not isinstance(application, str):
        raise bad_request("BadRequestPredictionInvalidApplicationName",
                          "application should be text")
    found = project.stored_predictions(order="newest" if order == "oldest" else order,
                                       iteration=iteration, application=application)
    if order == "oldest":
        found.reverse()
    keep = _keeps(filters)
    def within(sp: Any) -> bool:
        when = _when(sp.created)
        return when is None or ((start is None or when >= start)
                                and (end is None or when <= end))

    found = [sp for sp in found if keep(sp) and within(sp)]
    chunk = found[skip:skip + most]
    uri = uri_maker(call, project, "predictions")
    types = {t.id: t.type for t in project.tags}
    results = [{
        "resizedImageUri": uri(sp.id, "original"), "thumbnailUri": uri(sp.id, "thumbnail"),
        "originalImageUri": uri(sp.id, "original"), "domain": project.domain, "id": sp.id,
        "project": project.id, "iteration": sp.iteration_id, "created": _wire.iso(sp.created),
        "predictions": _wire.predictions(sp.predictions, types),
    } for sp in chunk]
    following = skip + most if skip + most < len(found) else None
    return answer({"token": {**token, "maxCount": most,
                             "continuation": None if following is None else str(following)},
                   "results": results})


def delete_prediction(call: Call) -> Response:
    project = project_of(call)
    project.delete_stored_predictions(call.csv("ids", required=True, most=64))
    return no_content()


# -- the prediction API ---------------------------------------------------------------------
def _published(call: Call, kind: str) -> Any:
    project = project_of(call)
    it = published_iteration(project, call.path["publishedName"])
    if (kind == "detect") != (it.kind == "detection"):
        other = "detect" if it.kind == "detection" else "classify"
        raise bad_request("BadRequestNotSupported",
                          f"this is a {it.kind} model: call {other}_image, not {kind}_image")
    return it


def _prediction_op(kind: str, source: str, store: bool) -> Callable[[Call], Response]:
    def handler(call: Call) -> Response:
        application = call.text("application")  # the client's label, kept with the image
        if application is not None and not 0 < len(application) <= 256:
            raise bad_request("BadRequestPredictionInvalidApplicationName",
                              "application should be a name of 1 to 256 characters")
        it = _published(call, kind)
        limit = call.server.config.limits.prediction_image_bytes
        data = _one_image(call, limit) if source == "image" else _url_image(call, limit)
        return _predict(call, it, data, store=store, application=application)

    handler.__name__ = f"{kind}_{source}{'' if store else '_nostore'}"
    return handler


def _prediction_ops() -> list[Op]:
    ops = []
    for kind in ("classify", "detect"):
        for source in ("image", "url"):
            for store in (True, False):
                sdk = f"{kind}_image" + ("_url" if source == "url" else "") + \
                    ("" if store else "_with_no_store")
                path = f"/{{projectId}}/{kind}/iterations/{{publishedName}}/{source}" + \
                    ("" if store else "/nostore")
                ops.append(Op(sdk, "POST", path, _prediction_op(kind, source, store),
                              body="prediction" if source == "image" else "json"))
    return ops


TRAINING_OPS = [
    Op("quick_test_image", "POST", "/projects/{projectId}/quicktest/image", quick_test_image,
       body="single"),
    Op("quick_test_image_url", "POST", "/projects/{projectId}/quicktest/url",
       quick_test_image_url, body="json"),
    Op("query_predictions", "POST", "/projects/{projectId}/predictions/query",
       query_predictions, body="json"),
    Op("delete_prediction", "DELETE", "/projects/{projectId}/predictions", delete_prediction),
]
PREDICTION_OPS = _prediction_ops()
