"""Iterations: immutable trained models of a project, and the training run that makes one.

    it = project.train("quick")                      # or "advanced", budget_minutes=3
    it.performance(threshold=0.5).precision
    it.predict("cat.jpg")                            # [Prediction(...), ...]
    it.export("onnx", "out/")                        # checked against the in-app numbers
    it.publish("production")

An iteration is written once and never changed (only its published name can be set and
cleared). What it records:

* the row in ``iterations``: id, name (``"Iteration N"``), mode, domain, kind, creation
  time, training seconds, ``settings`` (what was asked, and what training did and decided),
  ``tags`` (id, name, type — in model output order, names as at training time),
  ``metrics`` (JSON), the weights' path, the published name;
* one ``iteration_images`` row per image it learnt from or was validated on: the split,
  the truth at training time, and (validation) the predictions of the stored model;
* ``iterations/<id>/model.safetensors`` (tensors, no pickle; the JSON config in its
  metadata) and ``iterations/<id>/config.json``.

Writes are atomic: files go to ``iterations/.tmp-<id>/``, which is renamed to
``iterations/<id>/`` before the rows are committed in one transaction. A cancelled run
writes nothing; a killed one leaves at most a folder without a row, which later runs sweep.
The same code serves every project kind through ``cvbench.train.TASKS``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._types import Tag
from .errors import ProjectError
from .store import db as _db

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .export import ExportedModel
    from .predict import ImageInput, PredictionResult
    from .project import Project
    from .train.base import LoadedModel, Task

__all__ = [
    "Iteration",
    "Performance",
    "train",
    "list_iterations",
    "get_iteration",
    "DEFAULT_BUDGET_MINUTES",
    "ITERATIONS_DIR",
]

#: Budget of an advanced run when none is given (minutes).
DEFAULT_BUDGET_MINUTES = 10.0
ITERATIONS_DIR = "iterations"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_SWEEP_AGE_SECONDS = 3600.0
#: Loaded models kept in memory, most recently used last: (project path, iteration id).
_MODELS: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MODELS_KEPT = 4
_MODELS_LOCK = threading.Lock()
_NAME = re.compile(r"^Iteration (\d+)$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- performance


@dataclass(frozen=True)
class Performance:
    """An iteration's performance on its validation images at one threshold.

    Plain numbers — ``precision``, ``recall``, ``f1``, ``average_precision`` (mAP, mean AP
    over the tags) — and ``per_tag``, a DataFrame (``tag, precision, recall, f1, ap,
    n_true, n_predicted, n_correct, in_map``). ``evaluation`` is the full
    ``cvbench.evaluate`` object (PR curves, confusion matrix, mistakes, suggested
    thresholds); ``at(t)`` gives the same at another threshold without recomputation.
    Built from the predictions stored at training time: the model is not run again.
    """

    threshold: float
    overlap: float | None
    precision: float
    recall: float
    f1: float
    average_precision: float
    n_images: int
    per_tag: pd.DataFrame
    evaluation: Any

    @property
    def map(self) -> float:
        """Mean average precision (the same number as ``average_precision``)."""
        return self.average_precision

    def at(self, threshold: float) -> Performance:
        return _performance(self.evaluation, threshold, self.overlap)

    @property
    def _overlap(self) -> tuple[float, ...]:
        """The overlap argument of detection evaluations (none for classification)."""
        return () if self.overlap is None else (self.overlap,)

    def mistakes(self, top: int | None = None) -> pd.DataFrame:
        """The validation images it got wrong at this threshold, worst first."""
        return self.evaluation.mistakes(self.threshold, *self._overlap, top=top)

    def confusion_matrix(self) -> Any:
        return self.evaluation.confusion_matrix(self.threshold)

    def pr_curves(self) -> Any:
        return self.evaluation.pr_curves(*self._overlap)

    def suggested_thresholds(self) -> Any:
        return self.evaluation.suggested_thresholds(*self._overlap)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers (NaN as None), with the per-tag rows."""
        return self.evaluation.to_dict(self.threshold) if self.overlap is None else \
            self.evaluation.to_dict(self.threshold, self.overlap)


def _performance(evaluation: Any, threshold: float, overlap: float | None) -> Performance:
    m = evaluation.at(threshold) if overlap is None else evaluation.at(threshold, overlap)
    return Performance(
        threshold=float(m.threshold),
        overlap=overlap,
        precision=float(m.precision),
        recall=float(m.recall),
        f1=float(m.f1),
        average_precision=float(m.map),
        n_images=int(m.n_images),
        per_tag=m.to_frame(),
        evaluation=evaluation,
    )


# --------------------------------------------------------------------------- iteration


class Iteration:
    """One trained model of a project (immutable). Get them from ``project.iterations``,
    ``project.iteration(id_or_name)`` or ``project.train(...)``."""

    def __init__(self, project: Project, row: Mapping[str, Any]) -> None:
        self._project = project
        self._row = dict(row)
        self._model: LoadedModel | None = None
        self._evaluation: Any = None

    # -- what it is -----------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return self._project

    @property
    def id(self) -> str:
        return self._row["id"]

    @property
    def name(self) -> str:
        return self._row["name"]

    @property
    def status(self) -> str:
        return self._row["status"]

    @property
    def mode(self) -> str:
        return self._row["mode"]

    @property
    def domain(self) -> str:
        return self._row["domain"]

    @property
    def kind(self) -> str:
        return self._row["kind"]

    @property
    def created(self) -> str:
        return self._row["created"]

    @property
    def trained_seconds(self) -> float:
        return float(self._row["trained_seconds"])

    @property
    def settings(self) -> dict[str, Any]:
        """What was asked (mode, budget, size, settings) and what training did (notes)."""
        return json.loads(self._row["settings"])

    @property
    def tags(self) -> list[Tag]:
        """The model's tags, in output order, as they were at training time."""
        return [Tag(t["id"], t["name"], t.get("type", "Regular"))
                for t in json.loads(self._row["tags"])]

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads(self._row["metrics"])

    @property
    def published_name(self) -> str | None:
        self._refresh()
        return self._row["published_name"]

    @property
    def weights_path(self) -> Path:
        return self._project.path / self._row["weights"]

    @property
    def exists(self) -> bool:
        """False once the iteration was deleted."""
        row = self._project.connection.execute(
            "SELECT published_name FROM iterations WHERE id = ?", (self.id,)
        ).fetchone()
        return row is not None

    def _refresh(self) -> None:
        row = self._project.connection.execute(
            "SELECT published_name FROM iterations WHERE id = ?", (self.id,)
        ).fetchone()
        if row is not None:
            self._row["published_name"] = row[0]

    def _require(self, action: str) -> None:
        if not self.exists:
            raise ProjectError(
                f"iteration {self.name!r} ({self.id}) was deleted; it cannot be {action}. "
                "The project's iterations are listed by project.iterations"
            )

    def split(self) -> dict[str, str]:
        """Image id -> ``"train"`` or ``"validation"``, as used by this iteration."""
        rows = self._project.connection.execute(
            "SELECT image_id, split FROM iteration_images WHERE iteration_id = ?", (self.id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def validation_predictions(self) -> list[dict[str, Any]]:
        """Per validation image: ``image_id``, ``truth`` and ``predictions`` (stored)."""
        rows = self._project.connection.execute(
            "SELECT image_id, truth, predictions FROM iteration_images "
            "WHERE iteration_id = ? AND split = 'validation' ORDER BY image_id",
            (self.id,),
        ).fetchall()
        return [{"image_id": r[0], "truth": json.loads(r[1]),
                 "predictions": json.loads(r[2] or "[]")} for r in rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "mode": self.mode,
            "domain": self.domain,
            "kind": self.kind,
            "created": self.created,
            "trained_seconds": self.trained_seconds,
            "published_name": self.published_name,
            "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in self.tags],
            "settings": self.settings,
            "metrics": self.metrics,
        }

    def __repr__(self) -> str:
        pub = f" published as {self.published_name!r}" if self.published_name else ""
        return (f"<cvbench.Iteration {self.name!r} {self.mode} {self.kind}, "
                f"{len(self.tags)} tags{pub}>")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Iteration) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # -- evaluation -----------------------------------------------------------------------
    @property
    def task(self) -> Task:
        from .train import get_task

        return get_task(self.kind)

    def evaluation(self) -> Any:
        """The ``cvbench.evaluate`` evaluation of the stored validation predictions."""
        if self._evaluation is None:
            rows = [(r["image_id"], r["truth"], r["predictions"])
                    for r in self.validation_predictions()]
            if not rows:
                raise ProjectError(f"iteration {self.name!r} has no validation predictions")
            config = self.config()
            self._evaluation = self.task.evaluate(config, config["tags"], rows)
        return self._evaluation

    def performance(self, threshold: float = 0.5, overlap: float | None = None
                    ) -> Performance:
        """Precision, recall, AP per tag and mAP on the validation images at ``threshold``
        (and, for detection, ``overlap``: IoU, default 0.5), as Custom Vision defines them."""
        if overlap is None and self.kind == "detection":
            overlap = 0.5
        return _performance(self.evaluation(), threshold, overlap)

    # -- the model ------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The stored model config (JSON): domain, size, preprocessing, tags, head."""
        path = self.weights_path.parent / CONFIG_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            self._require("read")
            raise ProjectError(
                f"the files of iteration {self.name!r} are missing ({path}); the project "
                "folder is incomplete — delete this iteration and train again"
            ) from None

    def model(self) -> LoadedModel:
        """The model (safetensors: no code runs while loading). Loaded models are kept in
        a small process-wide cache by project and iteration id (iterations never change),
        so that ``project.predict`` does not reload the weights on every call."""
        if self._model is None:
            self._require("loaded")
            key = (str(self._project.path), self.id)
            with _MODELS_LOCK:
                model = _MODELS.pop(key, None)
            if model is None:
                from safetensors.torch import load_file

                model = self.task.load(self.config(), load_file(str(self.weights_path)))
            with _MODELS_LOCK:
                _MODELS[key] = model
                while len(_MODELS) > _MODELS_KEPT:
                    _MODELS.popitem(last=False)
            self._model = model
        return self._model

    def predict(self, images: ImageInput | Sequence[ImageInput], *, store: bool = False,
                batch_size: int = 32) -> PredictionResult | list[PredictionResult]:
        """Predict tags (and boxes) of one image or a list of images.

        An image is a path, bytes, a PIL image or an http(s) URL; it passes the same checks
        as an import (an unreadable or oversized image raises
        :class:`~cvbench.errors.ImageError` with Custom Vision's status). One image gives
        a :class:`~cvbench.predict.PredictionResult` — a list of
        :class:`~cvbench.predict.Prediction`, most probable first, serialisable to Custom
        Vision's JSON with ``to_dict()``; a list gives a list of them (run in batches).
        ``store=True`` keeps the image and its predictions for ``project.stored_predictions``.
        """
        from .predict import predict_images

        self._require("used to predict")
        return predict_images(self, images, store=store, batch_size=batch_size)

    def export(self, format: str, dest: str | os.PathLike, *, check: bool = True
               ) -> ExportedModel:
        """Export the model: ``"onnx"``, ``"torchscript"`` or ``"fastai"`` (see
        :mod:`cvbench.export`). ONNX and TorchScript exports are checked against the in-app
        predictions on validation images, and the export fails if they differ."""
        from .export import export_iteration

        self._require("exported")
        return export_iteration(self, format, dest, check=check)

    # -- publishing and deleting -----------------------------------------------------------
    def publish(self, name: str) -> Iteration:
        """Publish under ``name`` (unique in the project): the prediction API and
        ``project.iteration(name)`` find it by that name."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"publish name {name!r} is empty; give a name such as 'production'")
        name = name.strip()
        self._require("published")
        with self._project.lock, _db.transaction(self._project.connection) as conn:
            other = conn.execute(
                "SELECT name FROM iterations WHERE published_name = ? AND id != ?",
                (name, self.id),
            ).fetchone()
            if other is not None:
                raise ProjectError(
                    f"{other[0]!r} is already published as {name!r}; unpublish it first or "
                    "choose another name"
                )
            conn.execute("UPDATE iterations SET published_name = ? WHERE id = ?", (name, self.id))
        self._row["published_name"] = name
        return self

    def unpublish(self) -> Iteration:
        with self._project.lock, _db.transaction(self._project.connection) as conn:
            conn.execute("UPDATE iterations SET published_name = NULL WHERE id = ?", (self.id,))
        self._row["published_name"] = None
        return self

    def delete(self) -> None:
        """Delete the iteration: its rows, then its files. A published iteration must be
        unpublished first (as in Custom Vision)."""
        self._require("deleted")
        if self.published_name:
            raise ProjectError(
                f"iteration {self.name!r} is published as {self.published_name!r}; "
                "unpublish it first (iteration.unpublish())"
            )
        with self._project.lock, _db.transaction(self._project.connection) as conn:
            conn.execute("DELETE FROM iterations WHERE id = ?", (self.id,))
        shutil.rmtree(self.weights_path.parent, ignore_errors=True)
        self._model = None
        with _MODELS_LOCK:
            _MODELS.pop((str(self._project.path), self.id), None)


# --------------------------------------------------------------------------- listing


def _rows(project: Project, where: str = "", params: Sequence[Any] = ()) -> list[Any]:
    return project.connection.execute(
        f"SELECT * FROM iterations {where} ORDER BY created DESC, name DESC", list(params)
    ).fetchall()


def list_iterations(project: Project) -> list[Iteration]:
    """The project's iterations, newest first."""
    with project.lock:
        return [Iteration(project, r) for r in _rows(project)]


def get_iteration(project: Project, id_or_name: str | Iteration | None = None) -> Iteration:
    """An iteration by id, name or published name; None: the newest one."""
    if isinstance(id_or_name, Iteration):
        return id_or_name
    with project.lock:
        if id_or_name is None:
            rows = _rows(project)
        else:
            key = str(id_or_name)
            rows = _rows(project, "WHERE id = ? OR name = ? OR published_name = ?",
                         (key, key, key))
    if not rows:
        names = [it.name for it in list_iterations(project)]
        if id_or_name is None:
            raise ProjectError("this project has no iteration yet; train one with "
                               "project.train('quick')")
        raise ProjectError(
            f"no iteration {id_or_name!r} in this project (ids, names and published names "
            f"are accepted); it has {names[:20]}"
        )
    return Iteration(project, rows[0])


# --------------------------------------------------------------------------- training


def train(
    project: Project,
    mode: str = "quick",
    budget_minutes: float | None = None,
    tags: Sequence[str | Tag] | None = None,
    domain: str | None = None,
    *,
    size: int | None = None,
    settings: Mapping[str, Any] | None = None,
    on_progress: Callable[[dict[str, Any]], Any] | None = None,
    cancel: Any = None,
    progress_bar: bool = True,
) -> Iteration:
    """Train a new iteration of ``project``; see :meth:`cvbench.Project.train`."""
    from . import domains as _domains
    from .train import MODES, Progress, get_task

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
    domain_name = domain or project.domain
    d = _domains.get_domain(domain_name)
    if not d.serves(project.kind):
        raise ValueError(
            f"domain {d.name!r} does not serve {project.kind} projects; choose one of "
            f"{_domains.domain_names(project.kind)}"
        )
    # a task may have its own input side (detection: 320 px), else the domain's
    default_side = getattr(task, "default_size", {}).get(project.kind, d.image_size)
    side = default_side if size is None else size
    _domains.preprocessing_key(d, side)  # raises ValueError naming a bad size
    given = dict(settings or {})
    unknown = sorted(set(given) - set(task.default_settings))
    if unknown:
        raise ValueError(
            f"unknown training setting(s) {unknown}; the settings of {project.kind} training "
            f"are {dict(task.default_settings)}"
        )
    import_modules = getattr(task, "import_modules", None)
    if import_modules is not None:  # one-time imports are not training time
        import_modules(mode)
    progress = Progress(on_progress, cancel, progress_bar,
                        description=f"{mode} training")
    started = progress.start
    try:
        progress.stage("prepare", "reading the project")
        _sweep(project)
        data = task.training_set(project, tags=tags, domain=d.name, size=side)
        trained = task.train(project, data, mode=mode, budget_seconds=budget_seconds,
                             settings=given, progress=progress)
        progress.stage("save", "saving the iteration")
        iteration = _save(project, data, trained, mode=mode, started=started, asked={
            "mode": mode,
            "budget_minutes": None if budget_seconds is None else budget_seconds / 60.0,
            "tags": None if tags is None else [t.id for t in data.tags],
            "domain": d.name,
            "size": side,
            "settings": {**task.default_settings, **given},
        }, progress=progress)
    except BaseException:
        progress.close()
        raise
    progress.done(f"{iteration.name} trained in {iteration.trained_seconds:.1f} s")
    return iteration


def _iterations_dir(project: Project) -> Path:
    return project.path / ITERATIONS_DIR


def _sweep(project: Project) -> None:
    """Remove what killed runs left: temporary folders and folders without a row (only old
    ones: another process may be saving right now)."""
    root = _iterations_dir(project)
    if not root.is_dir():
        return
    known = {r[0] for r in project.connection.execute("SELECT id FROM iterations")}
    cutoff = time.time() - _SWEEP_AGE_SECONDS
    for p in root.iterdir():
        if p.name in known or not p.is_dir():
            continue
        try:
            if p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)
        except FileNotFoundError:
            pass


def _save(project: Project, data: Any, trained: Any, *, mode: str, started: float,
          asked: dict[str, Any], progress: Any) -> Iteration:
    from safetensors.torch import save_file

    iteration_id = str(uuid.uuid4())
    root = _iterations_dir(project)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{iteration_id}"
    final = root / iteration_id
    config_json = json.dumps(trained.config, sort_keys=True)
    tmp.mkdir()
    try:
        save_file(trained.tensors, str(tmp / WEIGHTS_FILE), metadata={"cvbench": config_json})
        (tmp / CONFIG_FILE).write_text(json.dumps(trained.config, indent=1, sort_keys=True))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        progress.check()  # last moment to cancel: nothing is visible yet
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    settings = {**asked, "notes": trained.notes}
    tags_json = json.dumps([{"id": t.id, "name": t.name, "type": t.type} for t in data.tags])
    image_rows = [
        (iteration_id, img.id, img.split, json.dumps(list(img.truth)),
         json.dumps(trained.validation[img.id]) if img.split == "validation" else None)
        for img in data.images
    ]
    seconds = time.monotonic() - started  # training time, files written included
    try:
        with project.lock, _db.transaction(project.connection) as conn:
            number = 1 + max(
                [int(m.group(1)) for (n,) in conn.execute("SELECT name FROM iterations")
                 if (m := _NAME.match(n))]
                + [int(project._get_meta("iteration_seq", "0") or 0)]
            )
            name = f"Iteration {number}"
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('iteration_seq', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(number),))
            conn.execute(
                "INSERT INTO iterations (id, name, status, mode, domain, kind, created, "
                "trained_seconds, settings, tags, metrics, weights, published_name) "
                "VALUES (?, ?, 'Completed', ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (iteration_id, name, mode, data.domain, data.kind, _now(), float(seconds),
                 json.dumps(settings, default=_json_default), tags_json,
                 json.dumps(trained.metrics, default=_json_default),
                 f"{ITERATIONS_DIR}/{iteration_id}/{WEIGHTS_FILE}"),
            )
            conn.executemany(
                "INSERT INTO iteration_images (iteration_id, image_id, split, truth, "
                "predictions) VALUES (?, ?, ?, ?, ?)", image_rows)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    return get_iteration(project, iteration_id)


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")

