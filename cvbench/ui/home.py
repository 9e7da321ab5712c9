"""``ProjectsHome``: the projects in a folder, as Custom Vision's portal lists them.

    from cvbench.ui import ProjectsHome
    ProjectsHome("~/cv-projects")         # the list; opening a project shows its Workbench

A folder of projects holds one project folder per project, the layout ``cvbench serve
ROOT`` uses (folders whose name starts with a dot are not projects: the server keeps its
own records there). The home lists each project with its name, kind, domain, image count,
newest iteration and a thumbnail; it creates projects (name, description, kind,
classification type, domain), renames, duplicates and deletes them (the browser asks the
person to confirm), and imports a dataset (COCO, Pascal VOC, YOLO, CSV, ImageFolder: a
folder or a .zip, given by its path or uploaded) or a project archive into a new project.

Opening a project shows the :class:`~cvbench.ui.Workbench` for it under the home, which
then shrinks to a bar with the way back to the list. Shown in a notebook, a home is that
app: the box :attr:`ProjectsHome.app`, which holds the home and, while a project is open,
its Workbench (``display(home)`` and ``display(home.app)`` show the same). Every action is
a :class:`~cvbench.Project` call or a move of a project folder; a refused action changes
nothing and says why in the notice line.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import anywidget
import ipywidgets as widgets
import traitlets as t

from .. import domains as _domains
from .. import formats as _formats
from .._types import KINDS, ImportReport
from ..errors import CvbenchError, ProjectError
from ..project import Project, create_project, import_project, open_project
from ._assets import app_css, esm
from ._base import check_dict_list
from ._images import thumbnail_url
from ._messages import RefreshMsg, check_message

__all__ = [
    "ProjectsHome",
    "list_projects",
    "PROJECT_FILE",
    "CreateProjectMsg",
    "OpenProjectMsg",
    "BackMsg",
    "RenameProjectMsg",
    "DeleteProjectMsg",
    "DuplicateProjectMsg",
    "ImportProjectMsg",
]

#: The file that makes a folder a cvbench project.
PROJECT_FILE = "cvbench.db"
#: The largest file the browser may upload for an import, in bytes.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")
_LEVELS = ("info", "success", "error")
_notice_ids = itertools.count(1)
_KIND_LABELS = {"multiclass": "Classification (multiclass)",
                "multilabel": "Classification (multilabel)", "detection": "Object detection"}


# -- messages --------------------------------------------------------------------------------
class CreateProjectMsg(TypedDict):
    """Create a project named ``name`` (its folder is made from the name) and open it."""

    type: Literal["create"]
    name: str
    description: str
    kind: str
    domain: str


class OpenProjectMsg(TypedDict):
    """Open the project in the folder ``folder`` (a name in the home's root)."""

    type: Literal["open"]
    folder: str


class BackMsg(TypedDict):
    """Close the open project's Workbench and show the list again."""

    type: Literal["back"]


class RenameProjectMsg(TypedDict):
    type: Literal["rename"]
    folder: str
    name: str


class DeleteProjectMsg(TypedDict):
    """Delete a project and its folder (the browser has asked the person to confirm)."""

    type: Literal["delete"]
    folder: str


class DuplicateProjectMsg(TypedDict):
    """Copy a project (images, tags, boxes, iterations) into a new project named ``name``."""

    type: Literal["duplicate"]
    folder: str
    name: str


class ImportProjectMsg(TypedDict):
    """Import a dataset (``format``: one of cvbench.formats.FORMATS; ``"archive"``: a whole
    project archive) into a new project. The source is the path ``path`` on this machine,
    or, when ``file_name`` is not empty, the file sent as the message's first buffer."""

    type: Literal["import"]
    name: str
    kind: str
    domain: str
    format: str
    path: str
    file_name: str


# -- the folder of projects ------------------------------------------------------------------
def list_projects(root: str | os.PathLike) -> list[Path]:
    """The project folders in ``root`` (its children holding a project), by name."""
    base = Path(root)
    if not base.is_dir():
        raise ProjectError(f"{base} is not a folder; give the folder that holds the projects")
    return sorted((c for c in base.iterdir()
                   if not c.name.startswith(".") and (c / PROJECT_FILE).is_file()),
                  key=lambda c: c.name.lower())


def _describe(folder: Path) -> dict[str, Any]:
    """What the list shows of one project (opened and closed again)."""
    row: dict[str, Any] = {"folder": folder.name, "name": folder.name, "kind": "", "domain": "",
                           "description": "", "images": 0, "tags": 0, "iterations": 0,
                           "last_iteration": {}, "thumbnail": "", "created": "", "error": ""}
    try:
        with open_project(folder) as p:
            settings = p.settings
            iterations = p.iterations
            newest = p.images(take=1)
            row.update(name=settings["name"], kind=settings["kind"], domain=settings["domain"],
                       description=settings["description"], created=settings["created"],
                       images=p.count_images(), tags=len(p.tags), iterations=len(iterations))
            if iterations:
                it = iterations[0]
                row["last_iteration"] = {"name": it.name, "created": it.created,
                                         "published": it.published_name or ""}
            if newest:
                row["thumbnail"] = thumbnail_url(p, newest[0])
    except (CvbenchError, OSError, ValueError, KeyError) as exc:
        row["error"] = f"this folder's project cannot be read: {exc}"
    except Exception as exc:  # e.g. sqlite3.DatabaseError: a damaged database
        row["error"] = f"this folder's project cannot be read ({type(exc).__name__}): {exc}"
    return row


class ProjectsHome(anywidget.AnyWidget):
    """The projects in a folder: list, create, open, rename, duplicate, delete, import."""

    _esm = esm("home.js")
    _css = app_css("home.css")
    _handlers: ClassVar[dict[str, tuple[type, str]]] = {
        "create": (CreateProjectMsg, "_on_create"),
        "open": (OpenProjectMsg, "_on_open"),
        "back": (BackMsg, "_on_back"),
        "rename": (RenameProjectMsg, "_on_rename"),
        "delete": (DeleteProjectMsg, "_on_delete"),
        "duplicate": (DuplicateProjectMsg, "_on_duplicate"),
        "import": (ImportProjectMsg, "_on_import"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }

    root = t.Unicode(help="The folder of projects, an absolute path (read-only).").tag(sync=True)
    projects = t.List(
        t.Dict(),
        help="The projects, by folder name: {folder, name, kind, domain, description, images, "
        "tags, iterations, last_iteration ({name, created, published} or {}), thumbnail "
        "(data URL or ''), created, error ('' or why it cannot be read)} (read-only).",
    ).tag(sync=True)
    kinds = t.List(t.Dict(), help="The project kinds: {value, label} (read-only).").tag(sync=True)
    domains = t.Dict(
        help="kind -> the domains that serve it: [{name, offline}] (read-only)."
    ).tag(sync=True)
    default_domain = t.Unicode(_domains.DEFAULT_DOMAIN,
                               help="The domain a new project gets (read-only).").tag(sync=True)
    formats = t.List(
        t.Dict(), help="What can be imported: {name, text} (read-only)."
    ).tag(sync=True)
    opened = t.Unicode(
        "", help="The folder of the project shown in the Workbench; '' while the list shows "
        "(read-only: open and back change it)."
    ).tag(sync=True)
    opened_name = t.Unicode("", help="The name of the open project (read-only).").tag(sync=True)
    busy = t.Unicode(
        "", help="What the home is doing ('' when idle), e.g. 'Importing …' (read-only)."
    ).tag(sync=True)
    notice = t.Dict(
        help="The last message for the person: {level: 'info'|'success'|'error', text, id}; "
        "{} for none."
    ).tag(sync=True)

    def __init__(self, root: str | os.PathLike) -> None:
        base = Path(os.path.expanduser(str(root))).resolve()
        if (base / PROJECT_FILE).is_file():
            raise ProjectError(
                f"{base} is a project, not a folder of projects; open it with "
                f"Workbench(cvbench.open_project({str(root)!r})), or give the folder above it")
        if not base.is_dir():
            raise ProjectError(f"{base} is not a folder; create it first (mkdir) or give the "
                               "folder that holds the projects")
        self._lock = threading.RLock()
        self._open_callbacks: list[Callable[[Project], Any]] = []
        self.project: Project | None = None
        self.workbench: Any = None
        #: the report of the last dataset import (None before any, and for archives)
        self.last_import: ImportReport | None = None
        super().__init__()
        self.root = str(base)
        self.kinds = [{"value": k, "label": _KIND_LABELS[k]} for k in KINDS]
        offline = set(_domains.offline_domains())
        self.domains = {k: [{"name": n, "offline": n in offline}
                            for n in _domains.domain_names(k)] for k in KINDS}
        self.formats = [{"name": name, "text": f.description}
                        for name, f in _formats.FORMATS.items()]
        self._app = widgets.VBox([self])
        self._app.add_class("cvb-home-app")
        self.on_msg(self._on_custom_msg)
        self.refresh()

    def __repr__(self) -> str:
        return f"ProjectsHome(root={self.root!r})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # shown in a notebook, the home is its app: the list, or the bar and a Workbench
        return self._app._repr_mimebundle_(**kwargs)

    @property
    def app(self) -> widgets.VBox:
        """The home and, while a project is open, its Workbench under it."""
        return self._app

    # -- validators ----------------------------------------------------------------------------
    @t.validate("projects")
    def _valid_projects(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("folder", "name", "kind", "images"),
                               "projects")

    @t.validate("notice")
    def _valid_notice(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        if value and (value.get("level") not in _LEVELS or not isinstance(value.get("text"), str)):
            raise t.TraitError(f"notice={value!r} should be {{}} or {{'level': one of "
                               f"{list(_LEVELS)}, 'text': str, 'id': int}}")
        return value

    # -- reading -------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.root)

    def refresh(self) -> None:
        """Read the folder's projects again."""
        self.projects = [_describe(folder) for folder in list_projects(self.path)]

    def say(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the notice line (``level``: info, success or error)."""
        self.notice = {"level": level, "text": text, "id": next(_notice_ids)}

    def on_open(self, callback: Callable[[Project], Any]) -> None:
        """Call ``callback(project)`` each time a project is opened."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(project)")
        self._open_callbacks.append(callback)

    def _folder(self, folder: str) -> Path:
        """The project folder ``folder`` of the root (a plain name; it must hold a project)."""
        if (not isinstance(folder, str) or not folder or folder != Path(folder).name
                or folder.startswith(".")):
            raise ValueError(f"folder={folder!r} is not a project folder of {self.root}; give "
                             "the name of one of its project folders")
        path = self.path / folder
        if not (path / PROJECT_FILE).is_file():
            names = [p.name for p in list_projects(self.path)]
            raise ProjectError(f"{path} holds no cvbench project (deleted meanwhile?); the "
                               f"projects here are {names[:20]}")
        return path

    def new_folder(self, name: str) -> Path:
        """A new folder in the root for a project named ``name``: the name made safe for a
        folder, then ``-2``, ``-3`` … if it is taken."""
        base = _SLUG.sub("-", name).strip("-.")[:60] or "project"
        candidate, n = self.path / base, 1
        while candidate.exists():
            n += 1
            candidate = self.path / f"{base}-{n}"
        return candidate

    @staticmethod
    def _check_name(name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("the project's name is empty; give the project a name")
        if len(name.strip()) > 256:
            raise ValueError(f"the name is {len(name.strip())} characters; the most is 256")
        return name.strip()

    def _check_kind_domain(self, kind: Any, domain: Any) -> tuple[str, str]:
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is not a project kind; choose one of {list(KINDS)}")
        names = [d["name"] for d in self.domains[kind]]
        domain = domain or self.default_domain
        if domain not in names:
            raise ValueError(f"domain {domain!r} does not serve {kind} projects; choose one of "
                             f"{names}")
        return kind, domain

    # -- actions -------------------------------------------------------------------------------
    def create(self, name: str, *, kind: str = "multiclass", domain: str | None = None,
               description: str = "", show: bool = True) -> Project:
        """Create a project in a new folder named after ``name`` and (``show``) open it."""
        name = self._check_name(name)
        kind, domain = self._check_kind_domain(kind, domain)
        if not isinstance(description, str) or len(description) > 4000:
            raise ValueError("the description should be text of at most 4,000 characters")
        with self._lock:
            project = create_project(self.new_folder(name), kind=kind, domain=domain, name=name,
                                     description=description)
        self.refresh()
        if show:
            self._show(project)
        return project

    def open_folder(self, folder: str) -> Project:
        """Open the project of ``folder`` and show its Workbench under the home (``open``
        is the widget's own: it opens its connection to the browser)."""
        project = open_project(self._folder(folder))
        self._show(project)
        return project

    def _show(self, project: Project) -> None:
        from .workbench import Workbench

        self._close_workbench()
        workbench = Workbench(project)
        self.project, self.workbench = project, workbench
        with self.hold_sync():
            self.opened = project.path.name
            self.opened_name = project.name
        self._app.children = [self, workbench]
        for callback in self._open_callbacks:
            callback(project)

    def back(self) -> None:
        """Close the open project's Workbench and show the list again."""
        self._close_workbench()
        self._app.children = [self]
        with self.hold_sync():
            self.opened = ""
            self.opened_name = ""
        self.refresh()

    def _close_workbench(self) -> None:
        workbench, self.workbench, self.project = self.workbench, None, None
        if workbench is None:
            return
        for child in [*workbench._widgets.values(), workbench.header, workbench]:
            child.close()

    def rename(self, folder: str, name: str) -> None:
        """Rename the project of ``folder`` (its display name; the folder stays)."""
        name = self._check_name(name)
        with open_project(self._folder(folder)) as p:
            p.rename(name)
        self.refresh()

    def delete(self, folder: str) -> None:
        """Delete the project of ``folder``: its folder leaves the root in one rename, then
        goes. The project open in the Workbench cannot be deleted (go back first)."""
        path = self._folder(folder)
        if self.project is not None and self.project.path == path.resolve():
            raise ValueError(f"{folder!r} is open in the workbench; go back to the projects "
                             "first")
        with self._lock:
            trash = self.path / f".deleting-{uuid.uuid4().hex}"
            os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
        self.refresh()

    def duplicate(self, folder: str, name: str | None = None) -> Project:
        """Copy the project of ``folder`` (images, tags, boxes, splits, iterations) into a
        new project, under a new id, named ``name`` (default: "<name> (copy)")."""
        source = self._folder(folder)
        with open_project(source) as p, self._staging() as staging:
            new_name = self._check_name(name if name else f"{p.name} (copy)")
            archive = staging / "project.zip"
            p.export_dataset(archive, format="archive")
            with self._lock:
                dest = self.new_folder(new_name)
                copy = import_project(archive, dest, new_id=True)
            copy.rename(new_name)
        self.refresh()
        return copy

    def import_dataset(self, source: str | os.PathLike, format: str, *, name: str,
                       kind: str = "multiclass", domain: str | None = None) -> Project:
        """Import ``source`` (a folder or a .zip) into a new project named ``name``.

        ``format`` is one of ``cvbench.formats.FORMATS``; with ``"archive"`` the source is a
        whole project archive and its kind, domain and iterations come with it (``kind``
        and ``domain`` are not used). A dataset that brings no image leaves no project."""
        name = self._check_name(name)
        _formats.get_format(format)  # a ValueError names the formats
        src = Path(os.path.expanduser(str(source)))
        if not str(source).strip():
            raise ValueError("give the path of the dataset to import (a folder or a .zip), "
                             "or upload a .zip")
        if not src.exists():
            raise FileNotFoundError(f"{src} does not exist; give the path of a folder or a .zip "
                                    "on this machine")
        self.last_import = None
        if format == "archive":
            with self._lock:
                dest = self.new_folder(name)
                project = import_project(src, dest, new_id=True)
            project.rename(name)
            self.refresh()
            return project
        kind, domain = self._check_kind_domain(kind, domain)
        with self._lock:
            dest = self.new_folder(name)
            project = create_project(dest, kind=kind, domain=domain, name=name)
        try:
            report = project.import_dataset(src, format=format)
            if report.imported == 0 and report.duplicates == 0:
                problems = "; ".join(f"{p.file}: {p.message}" for p in report.problems[:3])
                raise ValueError(f"no image was imported from {src} as {format}"
                                 + (f" ({problems})" if problems else "")
                                 + "; check the format and the folder's layout")
        except BaseException:
            project.close()
            shutil.rmtree(dest, ignore_errors=True)
            raise
        self.last_import = report
        self.refresh()
        return project

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        """A temporary folder inside the root (one file system), hidden from the list."""
        with tempfile.TemporaryDirectory(prefix=".cvbench-home-", dir=self.path) as folder:
            yield Path(folder)

    # -- messages ------------------------------------------------------------------------------
    def handle_message(self, msg: Any, buffers: Sequence[bytes | memoryview] = ()) -> None:
        """Handle one message as the browser sends it (a dict with a ``"type"``). Mistakes a
        person can fix become an error notice, and change nothing."""
        with self._lock:
            try:
                kind = msg.get("type") if isinstance(msg, dict) else None
                entry = self._handlers.get(kind) if isinstance(kind, str) else None
                if entry is None:
                    raise ValueError(f"message type {kind!r} is unknown to ProjectsHome; it "
                                     f"handles {sorted(self._handlers)}")
                shape, method = entry
                getattr(self, method)(check_message(msg, shape), [bytes(b) for b in buffers])
            except (CvbenchError, ValueError, KeyError, OSError) as exc:
                text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
                self.say(str(text), "error")
            finally:
                self.busy = ""

    def _on_custom_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        self.handle_message(content, buffers or ())

    def _on_create(self, msg: CreateProjectMsg, _buffers: list[bytes]) -> None:
        project = self.create(msg["name"], kind=msg["kind"], domain=msg["domain"] or None,
                              description=msg["description"])
        self.say(f"Created the project {project.name!r} in {project.path}", "success")

    def _on_open(self, msg: OpenProjectMsg, _buffers: list[bytes]) -> None:
        self.open_folder(msg["folder"])

    def _on_back(self, _msg: BackMsg, _buffers: list[bytes]) -> None:
        self.back()

    def _on_rename(self, msg: RenameProjectMsg, _buffers: list[bytes]) -> None:
        self.rename(msg["folder"], msg["name"])
        self.say(f"Renamed to {msg['name'].strip()!r}", "success")

    def _on_delete(self, msg: DeleteProjectMsg, _buffers: list[bytes]) -> None:
        name = next((p["name"] for p in self.projects if p["folder"] == msg["folder"]),
                    msg["folder"])
        self.delete(msg["folder"])
        self.say(f"Deleted the project {name!r}", "success")

    def _on_duplicate(self, msg: DuplicateProjectMsg, _buffers: list[bytes]) -> None:
        self.busy = "Duplicating the project …"
        copy = self.duplicate(msg["folder"], msg["name"] or None)
        self.say(f"Duplicated into {copy.name!r} ({copy.path.name})", "success")
        copy.close()

    def _on_import(self, msg: ImportProjectMsg, buffers: list[bytes]) -> None:
        self.busy = "Importing …"
        if msg["file_name"]:
            if not buffers:
                raise ValueError(f"the file {msg['file_name']!r} did not arrive; choose it again")
            data = buffers[0]
            if len(data) > MAX_UPLOAD_BYTES:
                raise ValueError(f"{msg['file_name']!r} is {len(data) / 1e6:.0f} MB; uploads "
                                 f"take at most {MAX_UPLOAD_BYTES // 10**6} MB: give its path "
                                 "on this machine instead")
            with self._staging() as staging:
                upload = staging / (Path(msg["file_name"]).name or "upload.zip")
                upload.write_bytes(data)
                project = self.import_dataset(upload, msg["format"], name=msg["name"],
                                              kind=msg["kind"], domain=msg["domain"] or None)
        else:
            project = self.import_dataset(msg["path"].strip(), msg["format"], name=msg["name"],
                                          kind=msg["kind"], domain=msg["domain"] or None)
        count = project.count_images()
        report = self.last_import
        problems = len(report.problems) if report is not None else 0
        self.say(f"Imported {count} image{'' if count == 1 else 's'} into the new project "
                 f"{project.name!r}" + (f"; {problems} problems, e.g. {report.problems[0].file}: "
                                        f"{report.problems[0].message}"
                                        if report is not None and problems else ""),
                 "success" if not problems else "info")
        project.close()

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()
        self.say(f"{len(self.projects)} project{'' if len(self.projects) == 1 else 's'} in "
                 f"{self.root}")
