"""Work that outlives a request: training runs and model exports, so the server keeps
answering.

A training run is the facade's (``Project.start_training``): its iteration is in the
project's database from its start, with status Training under the id the client gets,
visible to every face, and Failed if the process that trains it dies. Exports run in a
thread of the server with their own :class:`~cvbench.Project` and are recorded
(``Records``) when they start and when they end, so a server killed in between finds them
at its next start and marks them Failed."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from ..iteration import Iteration
from ..project import Project, open_project
from ._domains import EXPORT_PLATFORMS
from ._errors import bad_request
from ._wire import now

__all__ = ["Trainer", "Exporter", "STOPPED"]

_log = logging.getLogger("cvbench.server")
#: Why a job that was running when the server stopped is Failed.
STOPPED = ("the server stopped while this ran (it was killed or shut down); nothing of the "
           "run was kept: start it again")


class Trainer:
    """Starts the runs of ``train_project``: one at a time per project, refused at once
    when the project cannot train or (without ``forceTrain``) nothing changed."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.Lock()

    @staticmethod
    def running(project: Project) -> Iteration | None:
        """The project's run in progress (started by any face), if any."""
        return next((it for it in project.all_iterations() if it.status == "Training"), None)

    def start(self, project: Project, *, training_type: str, reserved_hours: int,
              tags: list[str] | None, force: bool) -> Iteration:
        """Start a run in the background; returns its iteration (status Training)."""
        options = self.state.config.training_options(project.kind)
        mode = "advanced" if training_type == "Advanced" else "quick"
        budget: float | None = None
        if mode == "advanced":
            budget = 60.0 * reserved_hours if reserved_hours else 10.0
            cap = options.get("max_budget_minutes")
            if cap:
                budget = min(budget, float(cap))
        with self._lock:  # two requests at once start one run
            busy = self.running(project)
            if busy is not None:
                raise bad_request("BadRequestTrainingAlreadyInProgress",
                                  f"{busy.name} of this project is training; wait until its "
                                  "status is Completed or Failed")
            if not force and project.iterations:
                last = project.iterations[0]
                changed = (tags is None and last.settings.get("tags") is not None) or \
                    project.training_changed_since(last, mode=mode, tags=tags)
                if not changed:
                    raise bad_request("BadRequestTrainingNotNeeded",
                                      f"nothing changed since {last.name} was trained; pass "
                                      "forceTrain=true to train again")
            reasons = project.check_training(mode, tags, size=options.get("size"),
                                             settings=options.get("settings"))
            if reasons:
                raise bad_request("BadRequestTrainingValidationFailed", "; ".join(reasons))
            return project.start_training(mode, budget, tags=tags, size=options.get("size"),
                                          settings=options.get("settings"))


class Exporter:
    """Model exports started by ``export_iteration``; the files live in the server's
    folder, one per iteration and platform."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.Lock()

    def folder(self, iteration_id: str, platform: str) -> Path:
        return self.state.state_dir / "exports" / iteration_id / platform

    def recover(self) -> None:
        def mark(data: dict[str, Any]) -> None:
            for per_platform in data["exports"].values():
                for record in per_platform.values():
                    if record.get("status") == "Exporting":
                        record.update(status="Failed", error=STOPPED)

        for project_id in self.state.records.project_ids():
            self.state.records.update(project_id, mark)

    def list(self, project_id: str, iteration_id: str) -> list[dict[str, Any]]:
        exports = self.state.records.read(project_id)["exports"].get(iteration_id, {})
        return [exports[k] for k in sorted(exports)]

    def file(self, project_id: str, iteration_id: str, platform: str) -> Path | None:
        record = self.state.records.read(project_id)["exports"].get(iteration_id, {}).get(
            platform)
        if not record or record.get("status") != "Done" or not record.get("file"):
            return None
        path = self.folder(iteration_id, platform) / record["file"]
        return path if path.is_file() else None

    def start(self, project: Project, iteration: Any, platform: str,
              flavor: str | None) -> dict[str, Any]:
        fmt = EXPORT_PLATFORMS[platform]
        with self._lock:
            current = self.state.records.read(project.id)["exports"].get(
                iteration.id, {}).get(platform)
            if current and current.get("status") == "Exporting":
                raise bad_request("BadRequestExportAlreadyInProgress",
                                  f"{iteration.name} is already being exported to {platform}")
            record = {"platform": platform, "status": "Exporting", "flavor": flavor,
                      "file": None, "error": None, "created": now()}

            def put(data: dict[str, Any]) -> None:
                data["exports"].setdefault(iteration.id, {})[platform] = record

            self.state.records.update(project.id, put)
            threading.Thread(target=self._run, daemon=True,
                             name=f"cvbench-export-{iteration.id[:8]}",
                             args=(project.path, project.id, iteration.id, platform, fmt)
                             ).start()
        return record

    def _run(self, path: Path, project_id: str, iteration_id: str, platform: str,
             fmt: str) -> None:
        final = self.folder(iteration_id, platform)
        tmp = final.with_name(f"tmp-{platform}-{uuid.uuid4().hex}")  # no dot: a folder
        fields: dict[str, Any]
        try:
            tmp.mkdir(parents=True)
            project = open_project(path)
            try:
                exported = project.iteration(iteration_id).export(fmt, tmp)
            finally:
                project.close()
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            fields = {"status": "Done", "file": exported.path.name}
        except BaseException as exc:  # recorded for get_exports
            shutil.rmtree(tmp, ignore_errors=True)
            _log.warning("export of %s to %s failed: %s", iteration_id, platform, exc)
            fields = {"status": "Failed", "error": f"{type(exc).__name__}: {exc}"}

        def change(data: dict[str, Any]) -> None:
            record = data["exports"].get(iteration_id, {}).get(platform)
            if record is not None:
                record.update(fields)

        self.state.records.update(project_id, change)
