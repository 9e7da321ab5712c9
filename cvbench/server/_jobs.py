"""Work that outlives a request: training runs and model exports, each in a thread of the
server with its own :class:`~cvbench.Project` (its own SQLite connection), so the server
keeps answering. Each job is recorded (``Records``) when it starts and when it ends, so a
server killed in between finds it at its next start and marks it Failed."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from ..project import Project, open_project
from ._domains import EXPORT_PLATFORMS
from ._errors import ApiError, bad_request, from_exception
from ._wire import now

__all__ = ["Trainer", "Exporter", "STOPPED"]

_log = logging.getLogger("cvbench.server")
#: Why a job that was running when the server stopped is Failed.
STOPPED = ("the server stopped while this ran (it was killed or shut down); nothing of the "
           "run was kept: start it again")
#: Seconds train_project waits for the run to pass the checks that refuse a project.
_VALIDATION_WAIT = 120.0


class _Job:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events = 0
        self.ready = threading.Event()
        self.early: BaseException | None = None
        self.handed_over = False
        self.thread: threading.Thread | None = None


class Trainer:
    """Training runs started by ``train_project``, one at a time per project."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}

    def recover(self) -> None:
        def mark(data: dict[str, Any]) -> None:
            for record in data["trainings"].values():
                if record.get("status") == "Training":
                    record.update(status="Failed", error=STOPPED, finished=now())

        for project_id in self.state.records.project_ids():
            self.state.records.update(project_id, mark)

    def running(self, project_id: str) -> bool:
        with self._lock:
            records = self.state.records.read(project_id)["trainings"]
            return any(r.get("status") == "Training" and k in self._jobs
                       and self._jobs[k].thread is not None and self._jobs[k].thread.is_alive()
                       for k, r in records.items())

    def start(self, project: Project, *, training_type: str, reserved_hours: int,
              tags: list[str] | None) -> dict[str, Any]:
        """Start a run in the background; returns its record once the run is past the
        checks that refuse a project (a refusal is raised here, as a 400)."""
        options = self.state.config.training_options(project.kind)
        mode = "advanced" if training_type == "Advanced" else "quick"
        budget: float | None = None
        if mode == "advanced":
            budget = 60.0 * reserved_hours if reserved_hours else 10.0
            cap = options.get("max_budget_minutes")
            if cap:
                budget = min(budget, float(cap))
        with self._lock:
            for wire_id, record in self.state.records.read(project.id)["trainings"].items():
                job = self._jobs.get(wire_id)
                if record.get("status") == "Training" and job is not None:
                    raise bad_request("BadRequestTrainingAlreadyInProgress",
                                      f"{record['name']} of this project is training; wait "
                                      "until its status is Completed or Failed")
            numbers = [int(it.name.split()[-1]) for it in project.iterations
                       if it.name.split()[-1].isdigit()]
            wire_id = str(uuid.uuid4())
            record = {
                "id": wire_id, "name": f"Iteration {1 + max(numbers, default=0)}",
                "status": "Training", "created": now(), "finished": None,
                "trainingType": training_type, "reservedBudgetInHours": reserved_hours,
                "iterationId": None, "error": None, "pid": os.getpid(),
                "kind": project.kind, "domain": project.domain,
            }
            self.state.records.update(project.id,
                                      lambda d: d["trainings"].__setitem__(wire_id, record))
            job = _Job()
            self._jobs[wire_id] = job
            job.thread = threading.Thread(
                target=self._run, name=f"cvbench-train-{wire_id[:8]}", daemon=True,
                args=(project.path, project.id, wire_id, mode, budget, tags, options, job))
            job.thread.start()
        job.ready.wait(_VALIDATION_WAIT)
        with job.lock:
            job.handed_over = True
            early = job.early
        if early is not None:
            self.state.records.update(project.id, lambda d: d["trainings"].pop(wire_id, None))
            with self._lock:
                self._jobs.pop(wire_id, None)
            raise from_exception(early)
        return self.state.records.read(project.id)["trainings"][wire_id]

    def _run(self, path: Path, project_id: str, wire_id: str, mode: str,
             budget: float | None, tags: list[str] | None, options: dict[str, Any],
             job: _Job) -> None:
        def on_progress(event: dict[str, Any]) -> None:
            job.events += 1
            if job.events >= 2:  # the first stage is over: the project was accepted
                job.ready.set()

        try:
            project = open_project(path)
            try:
                iteration = project.train(
                    mode, budget, tags=tags, size=options.get("size"),
                    settings=options.get("settings"), on_progress=on_progress,
                    progress_bar=False)
                iteration_id = iteration.id
            finally:
                project.close()
        except BaseException as exc:  # every way a run ends is recorded
            with job.lock:
                if not job.handed_over:
                    job.early = exc
                    job.ready.set()
                    return
            if not isinstance(exc, (ApiError, ValueError)):
                _log.warning("training %s failed: %s", wire_id, exc)
            self._finish(project_id, wire_id, status="Failed",
                         error=f"{type(exc).__name__}: {exc}")
        else:
            self._finish(project_id, wire_id, status="Completed", iterationId=iteration_id)
        finally:
            job.ready.set()

    def _finish(self, project_id: str, wire_id: str, **fields: Any) -> None:
        def change(data: dict[str, Any]) -> None:
            if wire_id in data["trainings"]:
                data["trainings"][wire_id].update(finished=now(), **fields)

        self.state.records.update(project_id, change)


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
