"""What the handlers share: the operation table's row, lookups that answer Custom Vision's
404s, and the wire forms that need the server (artifact URLs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from ..errors import CvbenchError, TagError
from ..project import Project
from . import _wire
from ._errors import ApiError, bad_request, json_response, not_found
from ._http import Call

__all__ = ["Op", "project_of", "tag_of", "tags_of", "images_of", "image_of", "iteration_of",
           "trained_iteration", "default_iteration", "uri_maker", "wire_images", "tag_types",
           "no_content", "page"]


@dataclass(frozen=True)
class Op:
    """One operation of the API: the SDK method that calls it, its HTTP method and path
    (after the API's base), its handler, and the kind of body it reads (None: none;
    ``json``, ``files``, ``image``, ``prediction``: see ``Limits.body_bytes``)."""

    sdk: str
    method: str
    path: str
    handler: Callable[[Call], Response]
    body: str | None = None


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


def project_of(call: Call) -> Project:
    return call.server.projects.get(call.path["projectId"])


def tag_of(project: Project, tag_id: str) -> Any:
    """A tag by id (names are not ids on the wire)."""
    key = str(tag_id).strip().lower()
    for t in project.tags:
        if t.id.lower() == key:
            return t
    raise not_found("NotFoundTag", f"no tag with id {tag_id!r} in this project")


def tags_of(project: Project, tag_ids: Sequence[str]) -> list[Any]:
    by_id = {t.id.lower(): t for t in project.tags}
    out = []
    for tid in tag_ids:
        t = by_id.get(str(tid).strip().lower())
        if t is None:
            raise not_found("NotFoundTag", f"no tag with id {tid!r} in this project")
        if t not in out:
            out.append(t)
    return out


def images_of(project: Project, image_ids: Sequence[str], *, strict: bool = True
              ) -> list[Any]:
    """Images by id, in the order asked; an unknown id is a 404 when ``strict``."""
    ids = [str(i).strip().lower() for i in image_ids]
    found = {img.id.lower(): img for img in project.images(ids=ids)} if ids else {}
    if strict:
        missing = [i for i in ids if i not in found]
        if missing:
            raise not_found("NotFoundImage", f"no image with id {missing[0]!r} in this project")
    seen: set[str] = set()
    out = []
    for i in ids:
        if i in found and i not in seen:
            seen.add(i)
            out.append(found[i])
    return out


def image_of(project: Project, image_id: str) -> Any:
    return images_of(project, [image_id])[0]


def _iterations(project: Project) -> list[Any]:
    """The trained iterations, newest first."""
    return list(project.iterations)


def iteration_of(project: Project, iteration_id: str) -> Any:
    """An iteration of any status (Training, Completed, Failed) by its id; names are not
    ids on the wire."""
    key = str(iteration_id).strip().lower()
    for it in project.all_iterations():
        if it.id.lower() == key:
            return it
    raise not_found("NotFoundIteration", f"no iteration with id {iteration_id!r} in this "
                    "project")


def trained_iteration(call: Call, project: Project, iteration_id: str) -> Any:
    """A Completed iteration by id (BadRequestIterationIsNotTrained for a run)."""
    it = iteration_of(project, iteration_id)
    if it.status != "Completed":
        raise bad_request("BadRequestIterationIsNotTrained",
                          f"{it.name} is {it.status}, not trained")
    return it


def default_iteration(project: Project) -> Any:
    """Quick test's iteration: the newest published one, else the newest."""
    iterations = _iterations(project)
    if not iterations:
        raise not_found("NotFoundProjectDefaultIteration",
                        "this project has no trained iteration; train one first")
    published = [it for it in iterations if it.published_name]
    return (published or iterations)[0]


def published_iteration(project: Project, name: str) -> Any:
    for it in _iterations(project):
        if it.published_name == name:
            return it
    raise not_found("NotFoundIteration", "Invalid iteration")


def uri_maker(call: Call, project: Project, folder: str = "images"
              ) -> Callable[[str, str], str]:
    base = call.base_url
    state = call.server

    def uri(item_id: str, what: str) -> str:
        return state.artifact_url(base, project.id, f"{folder}/{item_id}/{what}")

    return uri


def wire_images(call: Call, project: Project, images: Sequence[Any]) -> list[dict[str, Any]]:
    uri = uri_maker(call, project)
    return [_wire.image(img, uri) for img in images]


def tag_types(iteration: Any) -> dict[str, str]:
    return {t.id: t.type for t in iteration.tags}


def page(items: Sequence[Any], skip: int, take: int) -> list[Any]:
    return list(items[skip:skip + take])


def answer(data: Any, status: int = 200) -> Response:
    return json_response(data, status)


def facade_error(exc: CvbenchError, code: str) -> ApiError:
    status = 404 if code.startswith("NotFound") else 400
    return ApiError(status, code, str(exc))


def tag_error(exc: TagError) -> ApiError:
    return bad_request("BadRequestImageTags", str(exc))
