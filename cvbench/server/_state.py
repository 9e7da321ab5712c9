"""What one server holds: the projects in ROOT, its own records beside them, signed URLs.

ROOT holds one folder per project (a cvbench project folder, which the Voila workbench
and notebooks open too; training runs are recorded there, by the facade) and the server's
own folder ``.cvbench-serve/``::

    .cvbench-serve/projects/<project id>.json    the prediction resource of each publish,
                                                  exports (written atomically)
    .cvbench-serve/exports/<iteration id>/<platform>/   exported models
    .cvbench-serve/archives/<token>.zip           project exports waiting for an import
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import hmac
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import ProjectError
from ..project import Project, create_project, open_project
from ._config import ServerConfig
from ._errors import ApiError, not_found

__all__ = ["Projects", "Records", "ServerState", "PROJECT_FILE", "STATE_DIR"]

#: The file that makes a folder a cvbench project (see cvbench.project's docstring).
PROJECT_FILE = "cvbench.db"
STATE_DIR = ".cvbench-serve"
_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Projects:
    """The projects in ROOT by id, opened once and shared by the server's threads (a
    :class:`~cvbench.Project` locks its own connection). Folders that other faces create
    or delete are noticed at the next lookup."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._by_id: dict[str, Path] = {}
        self._open: dict[Path, Project] = {}

    def _scan(self) -> None:
        with self._lock:
            seen: dict[str, Path] = {}
            for child in sorted(self.root.iterdir()):
                if child.name.startswith(".") or not (child / PROJECT_FILE).is_file():
                    continue
                try:
                    project = self._opened(child)
                except Exception:  # a folder that is not a usable project is not listed
                    continue
                seen[project.id.lower()] = child
            for path in set(self._open) - set(seen.values()):
                self._forget(path)
            self._by_id = seen

    def _opened(self, path: Path) -> Project:
        project = self._open.get(path)
        if project is None:
            project = open_project(path)
            self._open[path] = project
        return project

    def _forget(self, path: Path) -> None:
        project = self._open.pop(path, None)
        if project is not None:
            project.close()

    def get(self, project_id: str) -> Project:
        key = str(project_id).strip().lower()
        with self._lock:
            path = self._by_id.get(key)
            if path is None or not (path / PROJECT_FILE).is_file():
                self._scan()
                path = self._by_id.get(key)
            if path is None:
                raise not_found("NotFoundProject", f"no project with id {project_id!r}")
            return self._opened(path)

    def all(self) -> list[Project]:
        with self._lock:
            self._scan()
            projects = [self._opened(p) for p in self._by_id.values()]
        return sorted(projects, key=lambda p: p.settings["created"])

    def new_folder(self, name: str) -> Path:
        """A new folder for a project named ``name``: its name made safe, then ``-2``…"""
        base = _SLUG.sub("-", name).strip("-.")[:60] or "project"
        with self._lock:
            candidate, n = self.root / base, 1
            while candidate.exists():
                n += 1
                candidate = self.root / f"{base}-{n}"
            return candidate

    def create(self, name: str, *, kind: str, domain: str, description: str = "") -> Project:
        with self._lock:
            folder = self.new_folder(name)
            project = create_project(folder, kind=kind, domain=domain, name=name,
                                     description=description)
            self._open[folder.resolve()] = project
            self._by_id[project.id.lower()] = folder.resolve()
            return project

    def adopt(self, folder: Path) -> Project:
        """Register a project folder made by another call (an import)."""
        with self._lock:
            project = self._opened(folder.resolve())
            self._by_id[project.id.lower()] = folder.resolve()
            return project

    def delete(self, project: Project) -> None:
        """Take the folder out of ROOT in one rename, then remove it."""
        with self._lock:
            path = project.path
            self._forget(path)
            self._by_id.pop(project.id.lower(), None)
            trash = self.root / f".deleting-{uuid.uuid4().hex}"
            os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            for path in list(self._open):
                self._forget(path)


class Records:
    """The server's own records of a project (publish resources, exports): one JSON file
    per project, replaced whole on every change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()

    def _path(self, project_id: str) -> Path:
        return self.folder / f"{project_id.lower()}.json"

    def read(self, project_id: str) -> dict[str, Any]:
        with self._lock:
            try:
                data = json.loads(self._path(project_id).read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {}
        data.pop("trainings", None)  # written by older servers: runs live in the project
        for key in ("publish", "exports"):
            data.setdefault(key, {})
        return data

    def update(self, project_id: str, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Apply ``change`` to the project's records and write them; returns its result."""
        with self._lock:
            data = self.read(project_id)
            result = change(data)
            _write_json(self._path(project_id), data)
            return copy.deepcopy(result)

    def project_ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return [p.stem for p in self.folder.glob("*.json")]

    def drop(self, project_id: str) -> None:
        with self._lock:
            self._path(project_id).unlink(missing_ok=True)


class ServerState:
    """The projects, the records, the background jobs and the signing key of a server."""

    def __init__(self, config: ServerConfig) -> None:
        from ._jobs import Exporter, Trainer

        self.config = config
        self.root = Path(config.root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.root / STATE_DIR
        self._lock_file = self._claim(self.state_dir / "server.lock")
        self.projects = Projects(self.root)
        self.records = Records(self.state_dir / "projects")
        self.trainer = Trainer(self)
        self.exporter = Exporter(self)
        #: Model calls at once: torch already spreads one call over the cores, and more
        #: calls in parallel only make them fight for the same cores (measured with
        #: benchmarks/bench_server.py: higher throughput, lower p99 on 2 cores).
        self.model_slots = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))
        self._signing = hashlib.sha256(b"cvbench-artifacts:" + config.training_key.encode()
                                       ).digest()

    @staticmethod
    def _claim(path: Path) -> Any:
        """One server per ROOT: its records say which runs are its own. The lock is the
        kernel's, so a killed server leaves none behind."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ProjectError(f"{path.parent.parent} is already served by {holder}; stop it "
                               "first, or serve another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"cvbench serve (pid {os.getpid()})")
        handle.flush()
        return handle

    def recover(self) -> None:
        """After a stop (even ``kill -9``): exports that were running when the server
        stopped are marked Failed (training runs are the facade's: a run whose process is
        gone shows as Failed by itself)."""
        self.exporter.recover()

    def close(self) -> None:
        self.projects.close()
        self._lock_file.close()

    # -- artifacts ---------------------------------------------------------------------
    def signature(self, project_id: str, path: str) -> str:
        message = f"{project_id.lower()}/{path}".encode()
        return hmac.new(self._signing, message, hashlib.sha256).hexdigest()[:40]

    def check_signature(self, project_id: str, path: str, signature: str) -> bool:
        return hmac.compare_digest(self.signature(project_id, path), signature or "")

    def artifact_url(self, base_url: str, project_id: str, path: str) -> str:
        """A URL that serves one artifact without a key: it carries its own signature
        (as Custom Vision's blob URLs carry theirs)."""
        return (f"{base_url.rstrip('/')}/customvision/artifacts/{project_id}/"
                f"{quote(path, safe='/')}?sig={self.signature(project_id, path)}")

    def archive_path(self, token: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token or ""):
            raise ApiError(400, "BadRequestInvalidImportToken",
                           "the import token is not one this server gave out")
        return self.state_dir / "archives" / f"{token}.zip"
