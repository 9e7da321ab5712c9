"""Training runs (part of the facade): ``Project.train``, ``Project.start_training``,
``Project.check_training`` and ``Project.training_changed_since``.

A run is visible from its start, to every face and every process, under one id:

1. the request is checked (mode, budget, domain, size, settings: ValueError naming the
   valid ones) and the training set is read (:class:`~cvbench.errors.TrainingError` when
   the project cannot train: too few tags or images, an empty split) — nothing is written
   for a refused run;
2. its row is written with status ``Training``, its name (``"Iteration N"``), what was
   asked, the tags it learns and the process that owns it;
3. the task trains (:mod:`cvbench.train`); the files are written atomically, then the row
   becomes ``Completed`` with its images in one transaction. An error marks it ``Failed``
   with the error; a cancel (or Ctrl-C) removes it: nothing is kept. A killed process
   leaves it ``Training`` with a dead owner, which the next reader marks ``Failed``
   (:mod:`cvbench._runs`).

``train`` runs the three steps in the caller's thread; ``start_training`` runs the first two
there (a refusal is raised at once) and the third in a background thread with its own
connection, and returns the Training iteration at once.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _runs
from ._project_base import ProjectBase, now
from ._types import Tag
from .errors import CancelledError, ProjectError, TrainingError
from .iteration import Iteration, get_iteration
from .store import this_process
from .store.repo_iterations import IterationRow
from .train import MODES, Progress, ProgressEvent, get_task, is_cancelled
from .train.base import DEFAULT_BUDGET_MINUTES, Task, TrainedModel, TrainingSet

__all__ = ["train", "start_training", "check_training", "training_changed_since"]

_log = logging.getLogger("cvbench")


@dataclass(frozen=True)
class _Plan:
    """A checked training request."""

    task: Task
    mode: str
    budget_seconds: float | None
    tags: Sequence[Tag] | None
    domain: str
    size: int
    given: dict[str, Any]

    def asked(self, data: TrainingSet) -> dict[str, Any]:
        """What the iteration's settings record as asked."""
        return {
            "mode": self.mode,
            "budget_minutes": None if self.budget_seconds is None else self.budget_seconds / 60,
            "tags": None if self.tags is None else [t.id for t in data.tags],
            "domain": self.domain,
            "size": self.size,
            "settings": {**self.task.default_settings, **self.given},
        }


def _plan(project: ProjectBase, mode: str, budget_minutes: float | None,
          tags: Sequence[Tag] | None, domain: str | None, size: int | None,
          settings: Mapping[str, Any] | None) -> _Plan:
    """Check a training request (ValueError naming the valid values)."""
    from . import domains as _domains

    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a training mode; it should be one of {list(MODES)}")
    if budget_minutes is not None:
        if mode != "advanced":
            raise ValueError(
                "budget_minutes applies to mode='advanced' (quick training takes as long as "
                "one pass of the backbone over the new images)"
            )
        if isinstance(budget_minutes, bool) or not isinstance(budget_minutes, (int, float)) \
                or not math.isfinite(budget_minutes) or budget_minutes <= 0:
            raise ValueError(f"budget_minutes={budget_minutes!r} must be a positive number")
    budget_seconds = None
    if mode == "advanced":
        budget_seconds = 60.0 * float(budget_minutes or DEFAULT_BUDGET_MINUTES)
    task = get_task(project.kind)
    d = _domains.get_domain(domain or project.domain)
    if not d.serves(project.kind):
        raise ValueError(
            f"domain {d.name!r} does not serve {project.kind} projects; choose one of "
            f"{_domains.domain_names(project.kind)}"
        )
    # a task may have its own input side (detection: 320 px), else the domain's
    side = task.default_size.get(project.kind, d.image_size) if size is None else size
    _domains.preprocessing_key(d, side)  # raises ValueError naming a bad size
    given = dict(settings or {})
    unknown = sorted(set(given) - set(task.default_settings))
    if unknown:
        raise ValueError(
            f"unknown training setting(s) {unknown}; the settings of {project.kind} training "
            f"are {dict(task.default_settings)}"
        )
    return _Plan(task, mode, budget_seconds, tags, d.name, side, given)


def _training_set(project: ProjectBase, plan: _Plan) -> TrainingSet:
    return plan.task.training_set(project.store, kind=project.kind, tags=plan.tags,
                                  domain=plan.domain, size=plan.size)


def _tags_json(tags: Sequence[Tag]) -> str:
    return json.dumps([{"id": t.id, "name": t.name, "type": t.type} for t in tags])


def _truth_json(truth: Sequence[Any]) -> str:
    return json.dumps(list(truth), default=_json_default)


def _begin(project: ProjectBase, plan: _Plan, iteration_id: str, progress: Progress
           ) -> TrainingSet:
    """Steps 1 and 2 (see the module docstring): read the training set (refusals raise
    here) and write the run's Training row."""
    store = project.store
    progress.stage("prepare", "reading the project")
    store.iteration_files.sweep(store.iterations.ids())
    data = _training_set(project, plan)
    store.iterations.begin(IterationRow(
        id=iteration_id, name="", status="Training", mode=plan.mode, domain=data.domain,
        kind=data.kind, created=now(), trained_seconds=0.0,
        settings=json.dumps(plan.asked(data), default=_json_default),
        tags=_tags_json(data.tags), metrics="{}", weights="", published_name=None,
    ), this_process())
    return data


def _ended(what: Callable[[], object]) -> None:
    """Record how a run ended while its exception propagates. Should the record fail
    too (the connection closed under it), the row keeps a dead run's status, which the
    next reader's sweep turns Failed once this process is gone."""
    try:
        what()
    except Exception as exc:  # the run's own exception is the one to raise
        _log.warning("could not record the end of a training run: %s", exc)


def _execute(project: ProjectBase, plan: _Plan, data: TrainingSet, iteration_id: str,
             progress: Progress) -> Iteration:
    """Step 3: train, store the model, complete (or fail, or remove) the run's row."""
    store = project.store
    try:
        trained = plan.task.train(store, data, mode=plan.mode,
                                  budget_seconds=plan.budget_seconds, settings=plan.given,
                                  progress=progress)
        progress.stage("save", "saving the iteration")
        _save(project, data, trained, iteration_id, plan.asked(data), started=progress.start,
              progress=progress)
    except (CancelledError, KeyboardInterrupt):
        progress.close()
        _ended(lambda: store.iterations.discard(iteration_id))
        raise
    except BaseException as exc:
        progress.close()
        error = f"{type(exc).__name__}: {exc}"
        _ended(lambda: store.iterations.fail(iteration_id, error, now()))
        raise
    finally:
        _runs.unregister(iteration_id)
    iteration = get_iteration(project, iteration_id)
    progress.done(f"{iteration.name} trained in {iteration.trained_seconds:.1f} s")
    return iteration


def _cancel_token(cancel: Any, run: _runs.Active) -> Callable[[], bool]:
    is_cancelled(cancel)  # a bad token is refused before anything starts
    return lambda: run.cancel.is_set() or is_cancelled(cancel)


def train(
    project: ProjectBase,
    mode: str = "quick",
    budget_minutes: float | None = None,
    tags: Sequence[Tag] | None = None,
    domain: str | None = None,
    *,
    size: int | None = None,
    settings: Mapping[str, Any] | None = None,
    on_progress: Callable[[ProgressEvent], Any] | None = None,
    cancel: Any = None,
    progress_bar: bool = True,
) -> Iteration:
    """Train a new iteration of ``project`` on ``tags`` (resolved; None: every tag that
    trains) in this thread; see :meth:`cvbench.Project.train`."""
    plan = _plan(project, mode, budget_minutes, tags, domain, size, settings)
    plan.task.import_modules(mode)  # one-time imports are not training time
    iteration_id = str(uuid.uuid4())
    run = _runs.register(iteration_id)  # before its row: never taken for an orphan
    progress = Progress(on_progress, _cancel_token(cancel, run), progress_bar,
                        description=f"{mode} training")
    try:
        data = _begin(project, plan, iteration_id, progress)
    except BaseException:
        _runs.unregister(iteration_id)
        progress.close()
        raise
    return _execute(project, plan, data, iteration_id, progress)


def start_training(
    project: ProjectBase,
    mode: str = "quick",
    budget_minutes: float | None = None,
    tags: Sequence[Tag] | None = None,
    domain: str | None = None,
    *,
    size: int | None = None,
    settings: Mapping[str, Any] | None = None,
    on_progress: Callable[[ProgressEvent], Any] | None = None,
    cancel: Any = None,
) -> Iteration:
    """Start a run in a background thread and return its iteration (status
    ``"Training"``) once the project was accepted; see :meth:`cvbench.Project.start_training`."""
    plan = _plan(project, mode, budget_minutes, tags, domain, size, settings)
    plan.task.import_modules(mode)
    iteration_id = str(uuid.uuid4())
    run = _runs.register(iteration_id)
    progress = Progress(on_progress, _cancel_token(cancel, run), False,
                        description=f"{mode} training")
    began = False
    try:
        data = _begin(project, plan, iteration_id, progress)
        began = True
        worker = type(project)(project.path)  # its own connection, closed when it ends
    except BaseException as exc:
        if began:
            error = f"{type(exc).__name__}: {exc}"
            _ended(lambda: project.store.iterations.fail(iteration_id, error, now()))
        _runs.unregister(iteration_id)
        progress.close()
        raise

    def work() -> None:
        try:
            _execute(worker, plan, data, iteration_id, progress)
        except BaseException as exc:  # recorded in the row: status Failed and the error
            _log.info("training run %s ended: %s: %s", iteration_id, type(exc).__name__, exc)
        finally:
            worker.close()

    threading.Thread(target=work, name=f"cvbench-train-{iteration_id[:8]}", daemon=True
                     ).start()
    return get_iteration(project, iteration_id)


def check_training(project: ProjectBase, mode: str = "quick", tags: Sequence[Tag] | None = None,
                   domain: str | None = None, *, size: int | None = None,
                   settings: Mapping[str, Any] | None = None) -> list[str]:
    """Why ``train`` would refuse now (empty when it would start); see
    :meth:`cvbench.Project.check_training`."""
    try:
        _training_set(project, _plan(project, mode, None, tags, domain, size, settings))
    except (TrainingError, ValueError) as exc:
        return [str(exc)]
    return []


def training_changed_since(project: ProjectBase, iteration: Iteration, *,
                           mode: str | None = None, tags: Sequence[Tag] | None = None) -> bool:
    """Whether training now would learn something else than ``iteration`` did; see
    :meth:`cvbench.Project.training_changed_since`."""
    if iteration.status != "Completed" or (mode is not None and mode != iteration.mode):
        return True
    asked = iteration.settings
    if project.domain != iteration.domain and asked.get("domain") == iteration.domain:
        return True  # the project's domain changed since (an explicit domain stays)
    if tags is None and asked.get("tags") is not None:
        chosen = set(asked["tags"])
        tags = [t for t in project.store.tags.all() if t.id in chosen]
    try:
        data = _training_set(project, _plan(project, iteration.mode, None, tags,
                                            iteration.domain, asked.get("size"), None))
    except (TrainingError, ValueError):
        return True  # training would refuse: that is news too
    if [(t.id, t.name, t.type) for t in data.tags] != \
            [(t.id, t.name, t.type) for t in iteration.tags]:
        return True
    learnt = project.store.iterations.learnt(iteration.id)
    now_ = {img.id: (img.split, _truth_json(img.truth)) for img in data.images}
    return now_ != learnt


def _save(project: ProjectBase, data: TrainingSet, trained: TrainedModel, iteration_id: str,
          asked: dict[str, Any], *, started: float, progress: Progress) -> None:
    """Store a trained model as the run's iteration: the files first (atomically), then
    its row completed with its images in one transaction."""
    store = project.store
    store.iteration_files.write(iteration_id, trained.tensors, trained.config,
                                before_rename=progress.check)
    settings = {**asked, "notes": trained.notes}
    image_rows = [
        (img.id, img.split, _truth_json(img.truth),
         json.dumps(trained.validation[img.id]) if img.split == "validation" else None)
        for img in data.images
    ]
    seconds = time.monotonic() - started  # training time, files written included
    try:
        completed = store.iterations.complete(
            iteration_id, trained_seconds=float(seconds),
            settings=json.dumps(settings, default=_json_default), tags=_tags_json(data.tags),
            metrics=json.dumps(trained.metrics, default=_json_default),
            weights=store.iteration_files.weights_name(iteration_id), finished=now(),
            images=image_rows)
    except BaseException:
        store.iteration_files.remove(iteration_id)
        raise
    if not completed:
        store.iteration_files.remove(iteration_id)
        raise ProjectError(
            f"the run {iteration_id} was deleted or marked Failed while it trained; nothing "
            "was kept: train again")


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
