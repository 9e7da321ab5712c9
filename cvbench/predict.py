"""Predictions: the objects, Custom Vision's JSON, stored predictions and suggested tags.

    result = iteration.predict("cat.jpg")       # PredictionResult: a list of Prediction
    result[0].tag_name, result[0].probability
    result.to_dict()                             # Custom Vision's prediction JSON
    iteration.predict(["a.jpg", b"...", pil])    # a list of PredictionResult, batched

Every image given to a prediction is read as an import reads it: paths, bytes, PIL images
and http(s) URLs, refused with the same :class:`~cvbench.errors.ImageError` and status,
and decoded with :func:`~cvbench.store.images.load_rgb`.

With ``store=True`` the image is kept (content-addressed, as imports are, under
``predictions/``) with its predictions and an *uncertainty* score, for Custom Vision's
Predictions tab: ``project.stored_predictions(order="uncertainty")``, and
``project.add_stored_prediction(id, tags=[...])`` moves one into the training set.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image as PILImage

from .boxes import Box
from .errors import ImageError, ProjectError
from .store import db as _db
from .store.files import FileStore, sha256_bytes
from .store.images import inspect_image, load_rgb, make_thumbnail

if TYPE_CHECKING:  # pragma: no cover
    from .iteration import Iteration
    from .project import Project

__all__ = [
    "Prediction",
    "PredictionResult",
    "StoredPrediction",
    "TagSuggestion",
    "ImageInput",
    "read_image",
    "predict_images",
    "stored_predictions",
    "suggest_tags",
    "PREDICTIONS_DIR",
]

ImageInput = str | os.PathLike | bytes | PILImage.Image
#: Folder (inside the project) of the images kept by ``predict(..., store=True)``.
PREDICTIONS_DIR = "predictions"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Prediction:
    """One predicted tag: ``probability`` in [0, 1]; ``bounding_box`` (detection) is
    normalized ``left, top, width, height`` (see :mod:`cvbench.boxes`)."""

    tag_id: str
    tag_name: str
    probability: float
    bounding_box: Box | None = None

    def to_dict(self) -> dict[str, Any]:
        """Custom Vision's shape: ``probability, tagId, tagName[, boundingBox]``."""
        d: dict[str, Any] = {"probability": self.probability, "tagId": self.tag_id,
                             "tagName": self.tag_name}
        if self.bounding_box is not None:
            d["boundingBox"] = self.bounding_box.as_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prediction:
        box = d.get("boundingBox")
        return cls(
            tag_id=str(d["tagId"]),
            tag_name=str(d["tagName"]),
            probability=float(d["probability"]),
            bounding_box=None if box is None else Box(
                float(box["left"]), float(box["top"]), float(box["width"]),
                float(box["height"])),
        )


class PredictionResult(list):
    """The predictions of one image, most probable first (a list of :class:`Prediction`),
    with Custom Vision's envelope: ``id``, ``project``, ``iteration``, ``created``.

    ``to_dict()`` / ``to_json()`` give Custom Vision's prediction JSON::

        {"id": ..., "project": ..., "iteration": ..., "created": ...,
         "predictions": [{"probability": 0.97, "tagId": ..., "tagName": "cat"}, ...]}
    """

    def __init__(self, predictions: Sequence[Prediction] = (), *, id: str = "",
                 project: str = "", iteration: str = "", created: str = "",
                 uncertainty: float | None = None) -> None:
        super().__init__(predictions)
        self.id = id or str(uuid.uuid4())
        self.project = project
        self.iteration = iteration
        self.created = created or _now()
        self.uncertainty = uncertainty

    @property
    def top(self) -> Prediction | None:
        """The most probable prediction (None when there is none)."""
        return self[0] if self else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project": self.project,
            "iteration": self.iteration,
            "created": self.created,
            "predictions": [p.to_dict() for p in self],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.tag_name}: {p.probability:.3f}" for p in self[:5])
        more = ", …" if len(self) > 5 else ""
        return f"<PredictionResult [{shown}{more}]>"


@dataclass(frozen=True)
class StoredPrediction:
    """An image predicted with ``store=True``, for the Predictions tab."""

    id: str
    iteration_id: str
    path: Path
    thumbnail_path: Path
    width: int
    height: int
    original_name: str
    created: str
    uncertainty: float
    predictions: PredictionResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "iteration": self.iteration_id,
            "path": str(self.path),
            "thumbnail_path": str(self.thumbnail_path),
            "width": self.width,
            "height": self.height,
            "original_name": self.original_name,
            "created": self.created,
            "uncertainty": self.uncertainty,
            "predictions": [p.to_dict() for p in self.predictions],
        }


@dataclass(frozen=True)
class TagSuggestion:
    """Smart labeler: suggested tags for one untagged image, for a person to confirm.

    ``tags`` are the suggested tag names (multiclass: the most probable tag; multilabel:
    the tags at or above the threshold), ``predictions`` everything the model said.
    """

    image_id: str
    tags: tuple[str, ...]
    tag_ids: tuple[str, ...]
    uncertainty: float
    predictions: PredictionResult = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "tags": list(self.tags),
            "tag_ids": list(self.tag_ids),
            "uncertainty": self.uncertainty,
            "predictions": [p.to_dict() for p in self.predictions],
        }


# --------------------------------------------------------------------------- images


@dataclass
class _Read:
    data: bytes
    name: str
    image: PILImage.Image
    ext: str
    width: int
    height: int


def read_image(project: Project, source: ImageInput) -> _Read:
    """Read a source as an import does: the same sources, checks and errors
    (:class:`~cvbench.errors.ImageError` with Custom Vision's status), then decode it
    with :func:`~cvbench.store.images.load_rgb`."""
    data, name = project._read_source(source)
    info = inspect_image(data, project.limits, decode=True)
    try:
        image = load_rgb(data)
    except Exception as exc:  # decoding the pixels is where truncation shows
        raise ImageError(
            "ErrorImageFormat",
            f"the image data is truncated or corrupt ({exc}); re-save or re-download it",
        ) from None
    return _Read(data, name, image, info.ext, info.width, info.height)


def _is_single(images: Any) -> bool:
    return isinstance(images, (str, os.PathLike, bytes, PILImage.Image))


def predict_images(iteration: Iteration, images: ImageInput | Sequence[ImageInput], *,
                   store: bool = False, batch_size: int = 32
                   ) -> PredictionResult | list[PredictionResult]:
    """Predict with ``iteration``; see :meth:`cvbench.iteration.Iteration.predict`."""
    single = _is_single(images)
    sources = [images] if single else list(images)
    project = iteration.project
    model = iteration.model()
    task = iteration.task
    results: list[PredictionResult] = []
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for start in range(0, len(sources), batch_size):
            chunk = sources[start:start + batch_size]
            read = list(pool.map(lambda s: read_image(project, s), chunk))
            outputs = model.predict_images([r.image for r in read])
            for r, preds in zip(read, outputs, strict=True):
                result = PredictionResult(
                    [Prediction.from_dict(p) for p in preds],
                    project=project.id,
                    iteration=iteration.id,
                    uncertainty=task.uncertainty(preds),
                )
                if store:
                    _store(project, iteration, r, result)
                results.append(result)
    return results[0] if single else results


def _prediction_files(project: Project) -> FileStore:
    return FileStore(project.path / PREDICTIONS_DIR)


def _store(project: Project, iteration: Iteration, read: _Read,
           result: PredictionResult) -> None:
    files = _prediction_files(project)
    sha = sha256_bytes(read.data)
    files.put_image(sha, read.ext, read.data)
    if not files.thumb_path(sha).exists():
        files.put_thumb(sha, make_thumbnail(read.image))
    with project.lock, _db.transaction(project.connection) as conn:
        conn.execute(
            "INSERT INTO predictions (id, iteration_id, sha256, ext, width, height, "
            "original_name, created, uncertainty, predictions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (result.id, iteration.id, sha, read.ext, read.width, read.height, read.name,
             result.created, float(result.uncertainty or 0.0),
             json.dumps([p.to_dict() for p in result])),
        )


# --------------------------------------------------------------------------- stored


def stored_predictions(project: Project, *, order: str = "uncertainty", skip: int = 0,
                       take: int | None = None, iteration: str | None = None,
                       ids: Sequence[str] | None = None) -> list[StoredPrediction]:
    """Stored predictions, most uncertain first (``order="uncertainty"``) or newest first
    (``order="newest"``), paged with ``skip``/``take``, optionally of one iteration."""
    orders = {"uncertainty": "uncertainty DESC, created DESC", "newest": "created DESC"}
    if order not in orders:
        raise ValueError(f"order={order!r} should be one of {list(orders)}")
    where, params = [], []
    if iteration is not None:
        where.append("iteration_id = ?")
        params.append(iteration)
    if ids is not None:
        ids = list(ids)
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    sql = "SELECT * FROM predictions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {orders[order]} LIMIT ? OFFSET ?"
    params += [-1 if take is None else int(take), int(skip)]
    files = _prediction_files(project)
    with project.lock:
        rows = project.connection.execute(sql, params).fetchall()
    return [
        StoredPrediction(
            id=r["id"],
            iteration_id=r["iteration_id"],
            path=files.image_path(r["sha256"], r["ext"]),
            thumbnail_path=files.thumb_path(r["sha256"]),
            width=r["width"],
            height=r["height"],
            original_name=r["original_name"],
            created=r["created"],
            uncertainty=float(r["uncertainty"]),
            predictions=PredictionResult(
                [Prediction.from_dict(p) for p in json.loads(r["predictions"])],
                id=r["id"], project=project.id, iteration=r["iteration_id"],
                created=r["created"], uncertainty=float(r["uncertainty"])),
        )
        for r in rows
    ]


def delete_stored_predictions(project: Project, ids: Sequence[str] | str) -> int:
    """Delete stored predictions (rows, then the files no other stored prediction uses)."""
    ids = [ids] if isinstance(ids, str) else list(ids)
    gone: list[tuple[str, str]] = []
    with project.lock, _db.transaction(project.connection) as conn:
        for pid in ids:
            row = conn.execute("SELECT sha256, ext FROM predictions WHERE id = ?",
                               (pid,)).fetchone()
            if row is None:
                continue
            conn.execute("DELETE FROM predictions WHERE id = ?", (pid,))
            gone.append((row[0], row[1]))
        still = {
            r[0] for r in conn.execute(
                f"SELECT sha256 FROM predictions WHERE sha256 IN "
                f"({','.join('?' * len(gone))})", [g[0] for g in gone])
        } if gone else set()
    files = _prediction_files(project)
    for sha, ext in gone:
        if sha not in still:
            files.remove(sha, ext)
    return len(gone)


def add_stored_prediction(project: Project, prediction_id: str, tags: Any = None,
                          regions: Any = None, *, delete: bool = True) -> Any:
    """Add a stored prediction's image to the project's images with ``tags``
    (classification) or ``regions`` (detection); by default the stored prediction is then
    deleted. Returns the :class:`~cvbench.AddResult`."""
    found = stored_predictions(project, ids=[prediction_id])
    if not found:
        raise ProjectError(f"no stored prediction {prediction_id!r} in this project")
    sp = found[0]
    try:
        data = sp.path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(
            f"the image of stored prediction {prediction_id!r} is missing ({sp.path})"
        ) from None
    (result,) = project.add_images(
        [data], tags=tags, regions=None if regions is None else [regions],
        names=[sp.original_name or f"prediction-{prediction_id}"])
    if result.ok and delete:
        delete_stored_predictions(project, [prediction_id])
    return result


# --------------------------------------------------------------------------- smart labeler


def suggest_tags(project: Project, iteration: Iteration, *, take: int | None = None,
                 threshold: float = 0.5, order: str = "uncertainty") -> list[TagSuggestion]:
    """Suggested tags for the project's untagged images, by ``iteration``.

    Ranked most uncertain first (``order="uncertainty"``: the images a person's answer
    teaches the model most) or most confident first (``order="confidence"``: quick batch
    confirmations). ``take`` keeps the first ones. Quick iterations predict from the
    feature cache (vectors computed once per image).
    """
    if order not in ("uncertainty", "confidence"):
        raise ValueError(f"order={order!r} should be 'uncertainty' or 'confidence'")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold={threshold!r} must lie between 0 and 1")
    images = project.images(untagged=True)
    if not images:
        return []
    task = iteration.task
    model = iteration.model()
    outputs = task.predict_stored(project, model, [(i.sha256, i.path) for i in images])
    # multilabel: every tag at or above the threshold; detection: every box at or above it
    multilabel = iteration.kind in ("multilabel", "detection")
    out: list[TagSuggestion] = []
    for img, preds in zip(images, outputs, strict=True):
        result = PredictionResult([Prediction.from_dict(p) for p in preds],
                                  project=project.id, iteration=iteration.id,
                                  uncertainty=task.uncertainty(preds))
        if multilabel:
            chosen = [p for p in result if p.probability >= threshold]
        else:
            chosen = result[:1]
        out.append(TagSuggestion(
            image_id=img.id,
            tags=tuple(p.tag_name for p in chosen),
            tag_ids=tuple(p.tag_id for p in chosen),
            uncertainty=float(result.uncertainty or 0.0),
            predictions=result,
        ))
    out.sort(key=lambda s: s.uncertainty, reverse=(order == "uncertainty"))
    return out if take is None else out[:max(0, int(take))]
