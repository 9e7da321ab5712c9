"""Domains, projects, project export/import and artifacts."""

from __future__ import annotations

import json
import mimetypes
import secrets
from pathlib import Path

from starlette.responses import Response

from .. import import_project
from ..errors import ProjectError
from ..project import Project
from . import _domains, _wire
from ._common import Op, answer, no_content, project_of
from ._errors import ApiError, bad_request, not_found
from ._http import Call

__all__ = ["OPS", "artifact"]


# -- domains --------------------------------------------------------------------------------
def get_domains(call: Call) -> Response:
    return answer([d.to_dict() for d in _domains.WIRE_DOMAINS])


def get_domain(call: Call) -> Response:
    d = _domains.find(call.path["domainId"])
    if d is None:
        raise not_found("NotFoundDomain", f"no domain with id {call.path['domainId']!r}")
    return answer(d.to_dict())


# -- projects -------------------------------------------------------------------------------
def get_projects(call: Call) -> Response:
    return answer([_wire.project(p) for p in call.server.projects.all()])


def _kind(domain: _domains.WireDomain, classification: str | None) -> str:
    if domain.type == "ObjectDetection":
        return "detection"
    if classification is None:
        return "multiclass"
    kind = _wire.KIND_OF.get(classification)
    if kind is None:
        raise bad_request("BadRequestProjectUnknownClassification",
                          f"classificationType={classification!r} should be Multiclass or "
                          "Multilabel")
    return kind


def _domain(domain_id: str | None) -> _domains.WireDomain:
    if domain_id is None:
        return _domains.DEFAULT_DOMAIN
    d = _domains.find(domain_id)
    if d is None:
        raise bad_request("BadRequestProjectUnknownDomain",
                          f"no domain with id {domain_id!r}; see GET /domains")
    return d


def _platforms(call: Call) -> None:
    unknown = [p for p in call.csv("targetExportPlatforms") if p not in _domains.EXPORT_PLATFORMS]
    if unknown:
        raise bad_request("BadRequestProjectUnsupportedExportPlatform",
                          f"cvbench exports to {list(_domains.EXPORT_PLATFORMS)}, not {unknown}")


def create_project(call: Call) -> Response:
    name = (call.text("name", required=True) or "").strip()
    if not name or len(name) > 256:
        raise bad_request("BadRequestProjectName", "a project needs a name of 1 to 256 "
                          "characters")
    description = call.text("description")
    domain = _domain(call.text("domainId"))
    kind = _kind(domain, call.text("classificationType"))
    _platforms(call)
    call.json(empty={})  # CreateProjectOptions (blob and queue URIs: nothing to do here)
    if description and len(description) > 4000:
        raise bad_request("BadRequestProjectDescription", "a description has at most 4,000 "
                          "characters")
    project = call.server.projects.create(name, kind=kind, domain=domain.cvbench,
                                          description=description or "")
    return answer(_wire.project(project))


def get_project(call: Call) -> Response:
    return answer(_wire.project(project_of(call)))


def update_project(call: Call) -> Response:
    project = project_of(call)
    body = call.json(empty={})
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise bad_request("BadRequest", "settings should be an object")
    name = body.get("name")
    description = body.get("description")
    if name is not None and (not isinstance(name, str) or not name.strip()
                             or len(name.strip()) > 256):
        raise bad_request("BadRequestProjectName", "a project needs a name of 1 to 256 "
                          "characters")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > 4000):
        raise bad_request("BadRequestProjectDescription", "a description is text of at most "
                          "4,000 characters")
    domain = None
    if settings.get("domainId"):
        d = _domain(settings["domainId"])
        if (d.type == "ObjectDetection") != (project.kind == "detection"):
            raise bad_request("BadRequestProjectUnsupportedDomainTypeChange",
                              "a project cannot change between classification and detection")
        domain = d.cvbench
    kind = None
    classification = settings.get("classificationType")
    if classification and project.kind != "detection":
        kind = _kind(_domains.DEFAULT_DOMAIN, classification)
    if kind is not None and kind != project.kind:  # the one change that can be refused
        try:
            project.set_kind(kind)
        except ProjectError as exc:
            raise bad_request("BadRequest", str(exc)) from None
    if name is not None and name.strip() != project.name:
        project.rename(name.strip())
    if description is not None and description != project.description:
        project.set_description(description)
    if domain is not None and domain != project.domain:
        project.domain = domain
    return answer(_wire.project(project))


def delete_project(call: Call) -> Response:
    project = project_of(call)
    published = [it.name for it in project.iterations if it.published_name]
    if published:
        raise bad_request("BadRequestIterationIsPublished",
                          f"unpublish {published} before deleting the project")
    if call.server.trainer.running(project) is not None:
        raise bad_request("BadRequestTrainingAlreadyInProgress",
                          "this project is training; wait until the run ends")
    call.server.projects.delete(project)
    call.server.records.drop(project.id)
    return no_content()


# -- export / import ------------------------------------------------------------------------
def export_project(call: Call) -> Response:
    project = project_of(call)
    token = secrets.token_urlsafe(32)
    archive = call.server.archive_path(token)
    archive.parent.mkdir(parents=True, exist_ok=True)
    report = project.export_dataset(archive, format="archive")
    archive.with_suffix(".json").write_text(json.dumps(
        {"project_id": project.id, "name": project.name}), encoding="utf-8")
    images = project.count_images()
    return answer({
        "iterationCount": len(project.iterations),
        "imageCount": images,
        "tagCount": len(project.tags),
        "regionCount": int(getattr(report, "regions", 0) or 0),
        "estimatedImportTimeInMS": 1000 + 2 * images,
        "token": token,
    })


def import_project_(call: Call) -> Response:
    token = call.text("token", required=True) or ""
    name = call.text("name")
    archive = call.server.archive_path(token)
    if not archive.is_file():
        raise bad_request("BadRequestInvalidImportToken",
                          "the import token is not one this server gave out")
    about = json.loads(archive.with_suffix(".json").read_text(encoding="utf-8"))
    projects = call.server.projects
    try:
        projects.get(about["project_id"])
        taken = True  # the original is still here: the copy gets an id of its own
    except ApiError:
        taken = False
    if name is not None and (not name.strip() or len(name.strip()) > 256):
        raise bad_request("BadRequestProjectName", "a project needs a name of 1 to 256 "
                          "characters")
    folder = projects.new_folder(name or about.get("name") or "imported")
    import_project(archive, folder, new_id=taken).close()
    project = projects.adopt(folder)
    if name and name.strip() != project.name:
        project.rename(name.strip())
    return answer(_wire.project(project))


# -- artifacts ------------------------------------------------------------------------------
def artifact(call: Call, project: Project, path: str) -> tuple[bytes | Path, str]:
    """The bytes (or file) of an artifact path and its media type:
    ``images/<id>/original|resized|thumbnail``, ``predictions/<id>/original|thumbnail``,
    ``exports/<iteration id>/<platform>``."""
    parts = [p for p in path.strip("/").split("/") if p]
    missing = not_found("NotFound", f"no artifact {path!r} in this project")
    if len(parts) == 3 and parts[0] == "images":
        found = project.images(ids=[parts[1]])
        if not found:
            raise missing
        if parts[2] == "thumbnail":
            return project.thumbnail(found[0].id), "image/jpeg"
        if parts[2] in ("original", "resized"):
            return found[0].path, mimetypes.guess_type(found[0].path.name)[0] or \
                "application/octet-stream"
    if len(parts) == 3 and parts[0] == "predictions" and parts[2] in ("original", "thumbnail"):
        for sp in project.stored_predictions(ids=[parts[1].lower()]):
            file = sp.thumbnail_path if parts[2] == "thumbnail" else sp.path
            if file.is_file():
                return file, mimetypes.guess_type(file.name)[0] or "image/jpeg"
        raise missing
    if len(parts) == 3 and parts[0] == "exports":
        file = call.server.exporter.file(project.id, parts[1], parts[2])
        if file is not None:
            return file, "application/octet-stream"
    raise missing


def _bytes(found: bytes | Path) -> bytes:
    return found if isinstance(found, bytes) else found.read_bytes()


def get_artifact(call: Call) -> Response:
    project = project_of(call)
    found, _ = artifact(call, project, call.text("path", required=True) or "")
    return Response(_bytes(found), media_type="application/octet-stream")


def download(call: Call) -> Response:
    """The keyless, signed URLs of images and exports (``artifact_url``)."""
    project_id, path = call.path["projectId"], call.path["path"]
    if not call.server.check_signature(project_id, path, call.text("sig") or ""):
        raise ApiError(403, "Forbidden", "this download link is not valid")
    project = call.server.projects.get(project_id)
    found, media = artifact(call, project, path)
    headers = {}
    if path.startswith("exports/") and isinstance(found, Path):
        headers["Content-Disposition"] = f'attachment; filename="{found.name}"'
    return Response(_bytes(found), media_type=media, headers=headers)


OPS = [
    Op("get_domains", "GET", "/domains", get_domains),
    Op("get_domain", "GET", "/domains/{domainId}", get_domain),
    Op("get_projects", "GET", "/projects", get_projects),
    Op("create_project", "POST", "/projects", create_project, body="json"),
    Op("import_project", "POST", "/projects/import", import_project_),
    Op("get_project", "GET", "/projects/{projectId}", get_project),
    Op("update_project", "PATCH", "/projects/{projectId}", update_project, body="json"),
    Op("delete_project", "DELETE", "/projects/{projectId}", delete_project),
    Op("export_project", "GET", "/projects/{projectId}/export", export_project),
    Op("get_artifact", "GET", "/projects/{projectId}/artifacts", get_artifact),
]
