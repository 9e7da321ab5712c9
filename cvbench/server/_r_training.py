"""Iterations, training, performance, publishing and model exports."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..errors import CvbenchError, ProjectError
from . import _domains, _wire
from ._common import (
    Op,
    answer,
    images_of,
    iteration_of,
    no_content,
    project_of,
    tag_types,
    tags_of,
    trained_iteration,
    uri_maker,
)
from ._errors import ApiError, bad_request, not_found
from ._http import Call

__all__ = ["OPS"]

_TRAINING_TYPES = {"Regular": "Regular", "Advanced": "Advanced"}
_ORDER = {"Newest": True, "Oldest": False}
_FLAVORS = {"ONNX": (None, "ONNX10", "ONNX12")}


def _wire_iteration(call: Call, project: Any, it: Any) -> dict[str, Any]:
    resources = call.server.records.read(project.id)["publish"]
    return _wire.iteration(it, publish_resource=resources.get(it.id))


# -- iterations -----------------------------------------------------------------------------
def get_iterations(call: Call) -> Response:
    """Every iteration, runs in progress and failed ones included (any face's)."""
    project = project_of(call)
    return answer([_wire_iteration(call, project, it) for it in project.all_iterations()])


def get_iteration(call: Call) -> Response:
    project = project_of(call)
    return answer(_wire_iteration(call, project, iteration_of(project, call.path["iterationId"])))


def update_iteration(call: Call) -> Response:
    project = project_of(call)
    name = call.json(empty={}).get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("BadRequestIterationName", "an iteration needs a non-empty name")
    it = iteration_of(project, call.path["iterationId"])
    if name.strip() != it.name:
        try:
            it.rename(name.strip())
        except ProjectError as exc:
            raise bad_request("BadRequestIterationNameNotUnique", str(exc)) from None
        except ValueError as exc:
            raise bad_request("BadRequestIterationName", str(exc)) from None
    return answer(_wire_iteration(call, project, it))


def delete_iteration(call: Call) -> Response:
    project = project_of(call)
    it = iteration_of(project, call.path["iterationId"])
    if it.status == "Training":
        raise bad_request("BadRequestTrainingAlreadyInProgress",
                          f"{it.name} is training; wait until it ends")
    if it.published_name:
        raise bad_request("BadRequestIterationIsPublished",
                          f"{it.name} is published as {it.published_name!r}; unpublish it first")
    it.delete()

    def forget(data: dict[str, Any]) -> None:
        data["publish"].pop(it.id, None)
        data["exports"].pop(it.id, None)

    call.server.records.update(project.id, forget)
    return no_content()


# -- training -------------------------------------------------------------------------------
def train_project(call: Call) -> Response:
    project = project_of(call)
    training_type = call.choice("trainingType", _TRAINING_TYPES, "Regular")
    hours = call.integer("reservedBudgetInHours", 0)
    force = call.flag("forceTrain")
    call.text("notificationEmailAddress")  # no mail is sent from a laptop
    body = call.json(empty={})
    if body.get("customBaseModelInfo"):
        raise bad_request("BadRequestNotSupported", "cvbench starts every run from the "
                          "domain's pretrained backbone; customBaseModelInfo is not supported")
    selected = body.get("selectedTags")
    tags = [t.id for t in tags_of(project, selected)] if selected else None
    it = call.server.trainer.start(project, training_type=training_type, reserved_hours=hours,
                                   tags=tags, force=force)
    return answer(_wire_iteration(call, project, it))


# -- performance ----------------------------------------------------------------------------
def get_iteration_performance(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    threshold = call.number("threshold", 0.5)
    overlap = call.number("overlapThreshold", None)
    try:
        perf = it.performance(threshold, overlap if it.kind == "detection" else None)
    except CvbenchError as exc:
        raise not_found("NotFoundIterationPerformance", str(exc)) from None
    return answer(_wire.performance(perf, it.tags, it.kind))


def _truth_tags(truth: list[Any]) -> set[str]:
    return {t["tagId"] if isinstance(t, dict) else str(t) for t in truth}


def _image_performances(call: Call, project: Any, it: Any) -> list[tuple[Any, dict]]:
    tag_ids = call.csv("tagIds", most=20)
    wanted = {t.id for t in tags_of(project, tag_ids)} if tag_ids else None
    rows = it.validation_predictions()
    if wanted is not None:
        rows = [r for r in rows if wanted & _truth_tags(r["truth"])]
    images = {i.id: i for i in images_of(project, [r["image_id"] for r in rows], strict=False)}
    newest = call.choice("orderBy", _ORDER, True)
    found = [(images[r["image_id"]], r) for r in rows if r["image_id"] in images]
    found.sort(key=lambda x: x[0].created, reverse=newest)
    return found


def get_image_performances(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    skip, take = call.integer("skip", 0), call.integer("take", 50, high=256)
    uri = uri_maker(call, project)
    types = tag_types(it)
    out = []
    for img, row in _image_performances(call, project, it)[skip:skip + take]:
        wired = _wire.image(img, uri)
        preds = sorted(row["predictions"], key=lambda p: -float(p.get("probability", 0)))
        out.append({
            "predictions": _wire.predictions(preds, types), "id": img.id,
            "created": wired["created"], "width": img.width, "height": img.height,
            "imageUri": wired["originalImageUri"], "thumbnailUri": wired["thumbnailUri"],
            "tags": wired["tags"], "regions": wired["regions"],
        })
    return answer(out)


def get_image_performance_count(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    return answer(len(_image_performances(call, project, it)))


# -- publishing -----------------------------------------------------------------------------
def publish_iteration(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    name = (call.text("publishName", required=True) or "").strip()
    resource = call.text("predictionId", required=True) or ""
    overwrite = call.flag("overwrite")
    if len(name) > 256:
        raise bad_request("BadRequestInvalidPublishName", "a publish name has at most 256 "
                          "characters")
    holder = next((o for o in project.iterations
                   if o.published_name == name and o.id != it.id), None)
    if holder is not None:
        if not overwrite:
            raise bad_request("BadRequestInvalidPublishName",
                              f"{holder.name} is published as {name!r}; unpublish it or pass "
                              "overwrite=true")
        holder.unpublish()
    it.publish(name)
    call.server.records.update(project.id,
                               lambda d: d["publish"].__setitem__(it.id, resource))
    return answer(True)


def unpublish_iteration(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    if not it.published_name:
        raise bad_request("BadRequestIterationNotPublished", f"{it.name} is not published")
    it.unpublish()
    call.server.records.update(project.id, lambda d: d["publish"].pop(it.id, None))
    return no_content()


# -- exports --------------------------------------------------------------------------------
def _wire_export(call: Call, project: Any, iteration_id: str, r: dict[str, Any]
                 ) -> dict[str, Any]:
    done = r.get("status") == "Done"
    uri = call.server.artifact_url(call.base_url, project.id,
                                   f"exports/{iteration_id}/{r['platform']}") if done else ""
    return {"platform": r["platform"], "status": r["status"], "downloadUri": uri,
            "flavor": r.get("flavor"), "newerVersionAvailable": False}


def get_exports(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    return answer([_wire_export(call, project, it.id, r)
                   for r in call.server.exporter.list(project.id, it.id)])


def export_iteration(call: Call) -> Response:
    project = project_of(call)
    it = trained_iteration(call, project, call.path["iterationId"])
    platform = call.text("platform", required=True) or ""
    flavor = call.text("flavor")
    match = next((p for p in _domains.EXPORT_PLATFORMS if p.lower() == platform.lower()), None)
    if match is None:
        raise bad_request("BadRequestNotSupported", f"platform={platform!r}: cvbench exports "
                          f"to {list(_domains.EXPORT_PLATFORMS)}")
    if flavor not in _FLAVORS[match]:
        raise bad_request("BadRequestNotSupported", f"flavor={flavor!r}: the {match} flavors "
                          f"are {[f for f in _FLAVORS[match] if f]}")
    try:
        record = call.server.exporter.start(project, it, match, flavor)
    except ApiError:
        raise
    return answer(_wire_export(call, project, it.id, record))


OPS = [
    Op("get_iterations", "GET", "/projects/{projectId}/iterations", get_iterations),
    Op("get_iteration", "GET", "/projects/{projectId}/iterations/{iterationId}", get_iteration),
    Op("update_iteration", "PATCH", "/projects/{projectId}/iterations/{iterationId}",
       update_iteration, body="json"),
    Op("delete_iteration", "DELETE", "/projects/{projectId}/iterations/{iterationId}",
       delete_iteration),
    Op("train_project", "POST", "/projects/{projectId}/train", train_project, body="json"),
    Op("get_iteration_performance", "GET",
       "/projects/{projectId}/iterations/{iterationId}/performance", get_iteration_performance),
    Op("get_image_performances", "GET",
       "/projects/{projectId}/iterations/{iterationId}/performance/images",
       get_image_performances),
    Op("get_image_performance_count", "GET",
       "/projects/{projectId}/iterations/{iterationId}/performance/images/count",
       get_image_performance_count),
    Op("publish_iteration", "POST", "/projects/{projectId}/iterations/{iterationId}/publish",
       publish_iteration),
    Op("unpublish_iteration", "DELETE",
       "/projects/{projectId}/iterations/{iterationId}/publish", unpublish_iteration),
    Op("get_exports", "GET", "/projects/{projectId}/iterations/{iterationId}/export",
       get_exports),
    Op("export_iteration", "POST", "/projects/{projectId}/iterations/{iterationId}/export",
       export_iteration),
]
