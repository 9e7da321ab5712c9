"""Iterations: the trained models of a project, and the training runs that make them.

    it = project.train("quick")                      # or "advanced", budget_minutes=3
    it.performance(threshold=0.5).precision
    it.predict("cat.jpg")                            # [Prediction(...), ...]
    it.export("onnx", "out/")                        # checked against the in-app numbers
    it.publish("production")
    run = project.start_training("quick")            # status "Training" at once
    run.wait().status                                # "Completed" (or "Failed", run.error)

An iteration exists from the start of its run: status ``"Training"``, then ``"Completed"``
or ``"Failed"`` (with its ``error``), under one id; every face and every process sees it
(``project.all_iterations()``; ``project.iterations`` lists the trained ones). A trained
model never changes (only its name and published name can be set). What it records:

* the row in ``iterations``: id, name (``"Iteration N"``), status, mode, domain, kind,
  creation and end times, training seconds, ``settings`` (what was asked, and what training
  did and decided), ``tags`` (id, name, type — in model output order, names as at
  training time), ``metrics`` (JSON), the weights' path, the published name;
* one ``iteration_images`` row per image it learnt from or was validated on: the split,
  the truth at training time, and (validation) the predictions of the stored model;
* ``iterations/<id>/model.safetensors`` (tensors, no pickle; the JSON config in its
  metadata) and ``iterations/<id>/config.json``.

Writes are atomic: files go to ``iterations/.tmp-<id>/``, which is renamed to
``iterations/<id>/`` before the row is completed with its images in one transaction. A
cancelled run leaves nothing; a failed one its ``Failed`` row; a killed one a ``Training``
row whose process is gone, which the next reader marks ``Failed`` (:mod:`cvbench._runs`),
and at most a folder without a row, which later runs sweep. The same code serves every
project kind through ``cvbench.train.TASKS``; a training run itself is
:mod:`cvbench._training` (``Project.train``, ``Project.start_training``).

``Iteration`` is facade: it reads and writes through the project's
:class:`~cvbench.store.Store` and hands plain data to the engine (the task's loaded model,
:mod:`cvbench.predict`, :mod:`cvbench.export`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

from . import _runs
from ._project_base import ProjectBase
from ._types import Tag
from .errors import ProjectError
from .evaluate import DEFAULT_RESAMPLES, Interval, bootstrap_intervals
from .export import ExportedModel, ExportSource, export_model, format_named, parity_images
from .insight import Comparison, Saliency, compare, saliency
from .predict import ImageInput, PredictionResult, results_of
from .sources import is_single_source, read_image
from .store import ITERATIONS_DIR, Store
from .store.files import CONFIG_FILE, WEIGHTS_FILE
from .store.images import make_thumbnail
from .store.repo_iterations import STATUSES, IterationRow
from .train import get_task
from .train.base import DEFAULT_BUDGET_MINUTES, LoadedModel, Task

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .evaluate import (
        ClassificationEvaluation,
        ConfusionMatrix,
        DetectionEvaluation,
        PRCurve,
        SuggestedThresholds,
    )
    from .train.base import Evaluation

__all__ = [
    "Iteration",
    "Performance",
    "list_iterations",
    "get_iteration",
    "DEFAULT_BUDGET_MINUTES",
    "ITERATIONS_DIR",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
]

#: Loaded models kept in memory, most recently used last: (project path, iteration id).
_MODELS: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_MODELS_KEPT = 4
_MODELS_LOCK = threading.Lock()


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
    evaluation: Evaluation

    @property
    def map(self) -> float:
        """Mean average precision (the same number as ``average_precision``)."""
        return self.average_precision

    def at(self, threshold: float) -> Performance:
        return _performance(self.evaluation, threshold, self.overlap)

    def intervals(self, level: float = 0.95, resamples: int = DEFAULT_RESAMPLES,
                  seed: int = 0) -> dict[str, Interval]:
        """How sure the headline numbers are: bootstrap intervals of ``precision``,
        ``recall``, ``f1`` and ``map`` at this threshold over the validation images (see
        :func:`cvbench.evaluate.bootstrap_intervals`); few images, wide intervals."""
        return bootstrap_intervals(self.evaluation, self.threshold, self.overlap,
                                   level=level, resamples=resamples, seed=seed)

    def _classification(self) -> ClassificationEvaluation | None:
        """The evaluation as a classification one (None for detection: it has an overlap)."""
        return cast("ClassificationEvaluation", self.evaluation) if self.overlap is None \
            else None

    def _detection(self) -> tuple[DetectionEvaluation, float]:
        return cast("DetectionEvaluation", self.evaluation), float(self.overlap or 0.5)

    def mistakes(self, top: int | None = None) -> pd.DataFrame:
        """The validation images it got wrong at this threshold, worst first."""
        ev = self._classification()
        if ev is not None:
            return ev.mistakes(self.threshold, top=top)
        det, overlap = self._detection()
        return det.mistakes(self.threshold, overlap, top=top)

    def confusion_matrix(self) -> ConfusionMatrix:
        """The confusion matrix at this threshold (classification)."""
        ev = self._classification()
        if ev is None:
            raise AttributeError(
                "detection performance has no confusion matrix; see mistakes() and "
                "pr_curves()")
        return ev.confusion_matrix(self.threshold)

    def pr_curves(self) -> dict[str, PRCurve]:
        ev = self._classification()
        if ev is not None:
            return ev.pr_curves()
        det, overlap = self._detection()
        return det.pr_curves(overlap)

    def suggested_thresholds(self) -> SuggestedThresholds:
        ev = self._classification()
        if ev is not None:
            return ev.suggested_thresholds()
        det, overlap = self._detection()
        return det.suggested_thresholds(overlap)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers (NaN as None), with the per-tag rows."""
        ev = self._classification()
        if ev is not None:
            return ev.to_dict(self.threshold)
        det, overlap = self._detection()
        return det.to_dict(self.threshold, overlap)


def _performance(evaluation: Evaluation, threshold: float, overlap: float | None
                 ) -> Performance:
    if overlap is None:
        m = cast("ClassificationEvaluation", evaluation).at(threshold)
    else:
        m = cast("DetectionEvaluation", evaluation).at(threshold, overlap)
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

    def __init__(self, project: ProjectBase, row: IterationRow) -> None:
        self._project = project
        self._row = row
        self._published: str | None = row.published_name
        self._model: LoadedModel | None = None
        self._evaluation: Evaluation | None = None

    # -- what it is -----------------------------------------------------------------------
    @property
    def project(self) -> ProjectBase:
        """The project (a :class:`cvbench.Project`) it belongs to."""
        return self._project

    @property
    def id(self) -> str:
        return self._row.id

    @property
    def name(self) -> str:
        return self._row.name

    @property
    def status(self) -> str:
        """``"Training"`` while its run goes on, then ``"Completed"`` or ``"Failed"`` (read
        again from the project while training, so that every face sees the end; a run whose
        process is gone turns Failed)."""
        return self._fresh().status

    @property
    def error(self) -> str | None:
        """Why its run failed (None unless the status is ``"Failed"``)."""
        return self._fresh().error

    @property
    def finished(self) -> str | None:
        """When its run ended (ISO time; None while training)."""
        row = self._fresh()
        return row.finished or (row.created if row.status == "Completed" else None)

    def _fresh(self) -> IterationRow:
        """The row, read again while it is Training (its status, model and tags change
        once, when the run ends)."""
        if self._row.status == "Training":
            _runs.sweep(self._store)
            row = self._store.iterations.get(self.id)
            # gone: the run was cancelled (nothing kept) or deleted
            self._row = row if row is not None else dataclasses.replace(
                self._row, status="Failed", finished=_now(),
                error="the run was cancelled or deleted; nothing of it was kept")
        return self._row

    @property
    def mode(self) -> str:
        return self._row.mode

    @property
    def domain(self) -> str:
        return self._row.domain

    @property
    def kind(self) -> str:
        return self._row.kind

    @property
    def created(self) -> str:
        return self._row.created

    @property
    def trained_seconds(self) -> float:
        return float(self._fresh().trained_seconds)

    @property
    def settings(self) -> dict[str, Any]:
        """What was asked (mode, budget, size, settings) and what training did (notes)."""
        settings: dict[str, Any] = json.loads(self._fresh().settings)
        return settings

    @property
    def tags(self) -> list[Tag]:
        """The model's tags, in output order, as they were at training time (while
        training: the tags it learns)."""
        return [Tag(t["id"], t["name"], t.get("type", "Regular"))
                for t in json.loads(self._fresh().tags)]

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags]

    @property
    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = json.loads(self._fresh().metrics)
        return metrics

    @property
    def published_name(self) -> str | None:
        exists, name = self._store.iterations.published_name(self.id)
        if exists:
            self._published = name
        return self._published

    @property
    def weights_path(self) -> Path:
        return self._project.path / self._fresh().weights

    @property
    def exists(self) -> bool:
        """False once the iteration was deleted."""
        return self._store.iterations.exists(self.id)

    @property
    def _store(self) -> Store:
        return self._project.store

    def _require(self, action: str) -> None:
        """Refuse ``action`` unless the iteration exists and is trained."""
        if not self.exists:
            raise ProjectError(
                f"iteration {self.name!r} ({self.id}) was deleted; it cannot be {action}. "
                "The project's iterations are listed by project.iterations"
            )
        status = self.status
        if status == "Training":
            raise ProjectError(
                f"iteration {self.name!r} is still training; it can be {action} once its "
                "status is Completed (iteration.wait() waits for it)")
        if status != "Completed":
            raise ProjectError(
                f"iteration {self.name!r} is {status} ({self.error}); it cannot be {action}: "
                "train again with project.train()")

    def wait(self, timeout: float | None = None) -> Iteration:
        """Wait until the run ends (status Completed or Failed) and return the iteration;
        TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status == "Training":
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"iteration {self.name!r} is still training after "
                                   f"{timeout} s")
            _runs.wait(self.id, left)
        return self

    def cancel(self) -> None:
        """Stop the run (this process's runs only): nothing of it is kept, and its row
        goes away once it has stopped (see :meth:`wait`)."""
        run = _runs.active(self.id)
        if run is None:
            if self.status == "Training":
                raise ProjectError(
                    f"iteration {self.name!r} trains in another process; stop it there")
            return
        run.cancel.set()

    def rename(self, name: str) -> Iteration:
        """Change the name (1 to 256 characters, unique in the project among iteration
        names and published names); its id, published name and files stay."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name={name!r} is empty; give the iteration a name")
        name = name.strip()
        if len(name) > 256:
            raise ValueError(f"the name {name[:40]!r}… is {len(name)} characters; the most "
                             "is 256")
        if not self.exists:
            raise ProjectError(f"iteration {self.name!r} ({self.id}) was deleted")
        self._store.iterations.rename(self.id, name)
        self._row = dataclasses.replace(self._fresh(), name=name)
        return self

    def split(self) -> dict[str, str]:
        """Image id -> ``"train"`` or ``"validation"``, as used by this iteration."""
        return self._store.iterations.split_of(self.id)

    def validation_predictions(self) -> list[dict[str, Any]]:
        """Per validation image: ``image_id``, ``truth`` and ``predictions`` (stored)."""
        return [{"image_id": r.image_id, "truth": r.truth, "predictions": r.predictions}
                for r in self._store.iterations.validation_rows(self.id)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "error": self.error,
            "finished": self.finished,
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
        return get_task(self.kind)

    def evaluation(self) -> Evaluation:
        """The ``cvbench.evaluate`` evaluation of the stored validation predictions
        (a ``ClassificationEvaluation`` or a ``DetectionEvaluation``)."""
        if self._evaluation is None:
            if self._fresh().status != "Completed":
                self._require("evaluated")
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
        files = self._store.iteration_files
        try:
            config: dict[str, Any] = files.read_config(self._project.path, self._row.weights)
            return config
        except FileNotFoundError:
            self._require("read")
            raise ProjectError(
                f"the files of iteration {self.name!r} are missing "
                f"({files.config_path(self._project.path, self._row.weights)}); the project "
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
                config = self.config()  # first: it names missing files clearly
                tensors = self._store.iteration_files.load_tensors(self._project.path,
                                                                   self._row.weights)
                model = self.task.load(config, tensors)
            with _MODELS_LOCK:
                _MODELS[key] = model
                while len(_MODELS) > _MODELS_KEPT:
                    _MODELS.popitem(last=False)
            self._model = model
        return self._model

    @overload
    def predict(self, images: ImageInput, *, store: bool = False,  # type: ignore[overload-overlap]
                batch_size: int = 32, application: str | None = None
                ) -> PredictionResult: ...  # (a str is a Sequence too)

    @overload
    def predict(self, images: Sequence[ImageInput], *, store: bool = False,
                batch_size: int = 32, application: str | None = None
                ) -> list[PredictionResult]: ...

    def predict(self, images: ImageInput | Sequence[ImageInput], *, store: bool = False,
                batch_size: int = 32, application: str | None = None
                ) -> PredictionResult | list[PredictionResult]:
        """Predict tags (and boxes) of one image or a list of images.

        An image is a path, bytes, a PIL image or an http(s) URL; it passes the same checks
        as an import (an unreadable or oversized image raises
        :class:`~cvbench.errors.ImageError` with Custom Vision's status). One image gives
        a :class:`~cvbench.predict.PredictionResult` — a list of
        :class:`~cvbench.predict.Prediction`, most probable first, serialisable to Custom
        Vision's JSON with ``to_dict()``; a list gives a list of them (run in batches).
        ``store=True`` keeps the image and its predictions for ``project.stored_predictions``,
        labelled with ``application`` (the client's name for itself, at most 256
        characters; ``stored_predictions(application=…)`` filters by it).
        """
        if application is not None and (not isinstance(application, str)
                                        or not 0 < len(application) <= 256):
            raise ValueError(f"application={application!r} should be a name of 1 to 256 "
                             "characters, or None")
        self._require("used to predict")
        single = is_single_source(images)
        sources: list[ImageInput] = (
            [images] if is_single_source(images) else list(images))  # type: ignore[arg-type]
        project = self._project
        model = self.model()
        task = self.task
        results: list[PredictionResult] = []
        limits = project.limits  # read once for every image
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for start in range(0, len(sources), batch_size):
                chunk = sources[start:start + batch_size]
                read = list(pool.map(lambda s: read_image(s, limits), chunk))
                outputs = model.predict_images([r.image for r in read])
                chunk_results = results_of(outputs, uncertainty=task.uncertainty,
                                           project=project.id, iteration=self.id)
                for r, result in zip(read, chunk_results, strict=True):
                    if store:
                        self._store.predictions.add(
                            id=result.id, iteration_id=self.id, data=r.data, ext=r.ext,
                            width=r.width, height=r.height, original_name=r.name,
                            created=result.created, uncertainty=float(result.uncertainty or 0),
                            predictions=[p.to_dict() for p in result],
                            thumbnail=functools.partial(make_thumbnail, r.image),
                            application=application)
                    results.append(result)
        return results[0] if single else results

    def export(self, format: str, dest: str | os.PathLike, *, check: bool = True
               ) -> ExportedModel:
        """Export the model: ``"onnx"``, ``"torchscript"``, ``"fastai"``, ``"openvino"`` or
        ``"coreml"`` (see :mod:`cvbench.export`). ONNX, TorchScript and OpenVINO exports are
        checked against the in-app predictions on validation images, and the export fails
        if they differ; fastai and Core ML say why they are not (``unchecked``). A target
        that cannot be built here (``"tflite"``) raises ExportError with the reason."""
        format_named(format)  # a bad format is refused before anything else
        self._require("exported")
        return export_model(self.export_source(check=check), format, dest, check=check)

    def export_source(self, *, check: bool = True) -> ExportSource:
        """What :func:`cvbench.export.export_model` needs to export this iteration: the
        loaded model, the sidecar's facts and (``check``) the images to check parity on."""
        images: list[Path | bytes] = []
        source = "none"
        if check:
            images, source = self._parity_images()
        project = self._project
        return ExportSource(
            model=self.model(), kind=self.kind, domain=self.domain, project_id=project.id,
            project_name=project.name, iteration_id=self.id, iteration_name=self.name,
            created=self.created, mode=self.mode, parity_images=tuple(images),
            parity_source=source)

    def _parity_images(self, n: int = 20) -> tuple[list[Path | bytes], str]:
        """The validation images still in the project (else the training ones) to compare
        an export on; synthetic ones when none is left (:func:`cvbench.export.parity_images`)."""
        split = self.split()
        found: dict[str, list[Path]] = {}
        for which in ("validation", "train"):
            ids = sorted(i for i, s in split.items() if s == which)
            found[which] = [img.path for img in self._store.images.load(ids[: 4 * n])
                            if img.path.exists()]
            if found[which]:
                break
        return parity_images(found.get("validation", []), found.get("train", []), n)

    # -- seeing why ------------------------------------------------------------------------
    def saliency(self, image: ImageInput, tag: str | None = None) -> Saliency:
        """Where the model looks for ``tag`` (a name or id; None: the most probable tag, or
        the most probable box's) on ``image`` (a path, bytes, PIL image or URL): a heat map
        in [0, 1] at the image's size, the probability, and ``overlay()``. Grad-CAM on this
        iteration's own network; see :mod:`cvbench.insight.saliency` for what is explained."""
        self._require("explained")
        return saliency(self.model(), read_image(image, self._project.limits).image, tag)

    def compare(self, other: Iteration, threshold: float = 0.5, overlap: float | None = None
                ) -> Comparison:
        """This iteration against ``other`` of the same project (a
        :class:`cvbench.insight.Comparison`): per-tag precision, recall and AP of both and
        their difference, the shared validation images one got right and the other wrong
        (fixed / broken), both PR curves (``plot()``), at ``threshold`` (and ``overlap``)."""
        if not isinstance(other, Iteration):
            raise TypeError(f"other should be an Iteration, not {type(other).__name__}")
        if other.project.id != self._project.id or other.kind != self.kind:
            raise ProjectError(
                f"iterations of one project and kind compare; {self.name!r} is a {self.kind} "
                f"iteration of project {self._project.name!r}, {other.name!r} a {other.kind} "
                f"iteration of project {other.project.name!r}")
        return compare(self.name, self.evaluation(), other.name, other.evaluation(),
                       kind=self.kind, threshold=threshold, overlap=overlap)

    # -- publishing and deleting -----------------------------------------------------------
    def publish(self, name: str) -> Iteration:
        """Publish under ``name`` (unique in the project): the prediction API and
        ``project.iteration(name)`` find it by that name. Only a trained (Completed)
        iteration is published."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"publish name {name!r} is empty; give a name such as 'production'")
        name = name.strip()
        self._require("published")
        self._store.iterations.publish(self.id, name)
        self._published = name
        return self

    def unpublish(self) -> Iteration:
        self._store.iterations.unpublish(self.id)
        self._published = None
        return self

    def delete(self) -> None:
        """Delete the iteration: its rows, then its files. A published iteration must be
        unpublished first (as in Custom Vision), and a run waits until it ends."""
        if not self.exists:
            self._require("deleted")
        if self.status == "Training":
            raise ProjectError(
                f"iteration {self.name!r} is training; wait until it ends (iteration.wait())"
                " or cancel it (iteration.cancel()), then delete it")
        if self.published_name:
            raise ProjectError(
                f"iteration {self.name!r} is published as {self.published_name!r}; "
                "unpublish it first (iteration.unpublish())"
            )
        self._store.iterations.delete(self.id)
        self._store.iteration_files.remove(self.id)
        self._model = None
        with _MODELS_LOCK:
            _MODELS.pop((str(self._project.path), self.id), None)


# --------------------------------------------------------------------------- listing


def list_iterations(project: ProjectBase, status: str | None = "Completed"
                    ) -> list[Iteration]:
    """The project's iterations of ``status`` (None: every one, runs in progress and
    failed ones included), newest first."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status={status!r} should be one of {list(STATUSES)} or None")
    _runs.sweep(project.store)
    return [Iteration(project, r) for r in project.store.iterations.all(status)]


def get_iteration(project: ProjectBase, id_or_name: str | Iteration | None = None
                  ) -> Iteration:
    """An iteration (of any status) by id, name or published name; None: the newest
    trained (Completed) one."""
    if isinstance(id_or_name, Iteration):
        return id_or_name
    repo = project.store.iterations
    _runs.sweep(project.store)
    if id_or_name is None:
        rows = repo.all("Completed")
        row = rows[0] if rows else None
    else:
        row = repo.find(str(id_or_name))
    if row is None:
        names = [it.name for it in list_iterations(project)]
        if id_or_name is None:
            raise ProjectError("this project has no iteration yet; train one with "
                               "project.train('quick')")
        raise ProjectError(
            f"no iteration {id_or_name!r} in this project (ids, names and published names "
            f"are accepted); it has {names[:20]}"
        )
    return Iteration(project, row)
