"""Tags: list, create, get, update, delete."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import TagError
from . import _wire
from ._common import Op, answer, no_content, project_of, tag_of, trained_iteration
from ._errors import bad_request
from ._http import Call

__all__ = ["OPS"]

_TYPES = ("Regular", "Negative")


def _check_type(tag_type: str | None) -> str:
    tag_type = tag_type or "Regular"
    if tag_type not in _TYPES:
        raise bad_request("BadRequestTagType",
                          f"type={tag_type!r}: cvbench's tag types are {list(_TYPES)}")
    return tag_type


def _check_new(project, name: str, tag_type: str, *, other_than: str | None = None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 256:
        raise bad_request("BadRequestTagName", "a tag needs a name of 1 to 256 characters")
    for t in project.tags:
        if t.id != other_than and t.name.lower() == name.lower():
            raise bad_request("BadRequestTagNameNotUnique",
                              f"a tag named {t.name!r} already exists (names ignore case)")
    if tag_type == "Negative":
        if project.kind == "detection":
            raise bad_request("BadRequestTagType", "detection projects have no Negative tag")
        if any(t.type == "Negative" and t.id != other_than for t in project.tags):
            raise bad_request("BadRequestMultipleNegativeTag",
                              "this project already has its Negative tag")
    return name


def get_tags(call: Call) -> Response:
    project = project_of(call)
    iteration_id = call.text("iterationId")
    if iteration_id is None:
        return answer([_wire.tag(t) for t in project.tags])
    it = trained_iteration(call, project, iteration_id)
    counts = {t.id: t.image_count for t in project.tags}
    return answer([_wire.tag(t, counts.get(t.id, 0)) for t in it.tags])


def create_tag(call: Call) -> Response:
    project = project_of(call)
    tag_type = _check_type(call.text("type"))
    name = _check_new(project, call.text("name", required=True) or "", tag_type)
    try:
        tag = project.create_tag(name, tag_type, call.text("description") or "")
    except TagError as exc:
        code = ("BadRequestExceedTagPerProjectLimit" if "limit" in str(exc)
                else "BadRequestTagName")
        raise bad_request(code, str(exc)) from None
    return answer(_wire.tag(tag))


def get_tag(call: Call) -> Response:
    project = project_of(call)
    iteration_id = call.text("iterationId")
    if iteration_id is not None:
        it = trained_iteration(call, project, iteration_id)
        key = call.path["tagId"].lower()
        for t in it.tags:
            if t.id.lower() == key:
                counts = {x.id: x.image_count for x in project.tags}
                return answer(_wire.tag(t, counts.get(t.id, 0)))
    return answer(_wire.tag(tag_of(project, call.path["tagId"])))


def update_tag(call: Call) -> Response:
    project = project_of(call)
    tag = tag_of(project, call.path["tagId"])
    body = call.json(empty={})
    name = body.get("name", tag.name)
    description = body.get("description")
    tag_type = _check_type(body.get("type") or tag.type)
    name = _check_new(project, name, tag_type, other_than=tag.id)
    if description is not None and not isinstance(description, str):
        raise bad_request("BadRequestTagDescription", "a description is text")
    try:
        tag = project.update_tag(tag.id, name=name, description=description, type=tag_type)
    except TagError as exc:
        raise bad_request("BadRequestTagType" if tag_type != tag.type else "BadRequestTagName",
                          str(exc)) from None
    return answer(_wire.tag(tag))


def delete_tag(call: Call) -> Response:
    project = project_of(call)
    project.delete_tag(tag_of(project, call.path["tagId"]).id)
    return no_content()


OPS = [
    Op("get_tags", "GET", "/projects/{projectId}/tags", get_tags),
    Op("create_tag", "POST", "/projects/{projectId}/tags", create_tag),
    Op("get_tag", "GET", "/projects/{projectId}/tags/{tagId}", get_tag),
    Op("update_tag", "PATCH", "/projects/{projectId}/tags/{tagId}", update_tag, body="json"),
    Op("delete_tag", "DELETE", "/projects/{projectId}/tags/{tagId}", delete_tag),
]
