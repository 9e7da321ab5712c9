"""Training, iterations and predictions of a project (part of the :class:`~cvbench.Project`
facade): the methods that compose the store with the engine's tasks
(:mod:`cvbench.train`) and predictions (:mod:`cvbench.predict`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from . import _training
from ._project_images import ImagesMixin
from ._types import AddResult, StoredImage, Tag
from .boxes import Box, RegionInput
from .errors import ProjectError, TagError
from .iteration import Iteration, get_iteration, list_iterations
from .predict import (
    ImageInput,
    PredictionResult,
    StoredPrediction,
    TagSuggestion,
    merge_proposals,
    results_of,
    suggestion_of,
)
from .predict import region_proposals as _objectness
from .train import ProgressEvent

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image
__all__ = ["ModelsMixin"]

IterationKey = str | Iteration | None


class ModelsMixin(ImagesMixin):
    """The training and prediction methods of :class:`~cvbench.Project`."""

    # -- training and iterations -----------------------------------------------------------
    def train(
        self,
        mode: str = "quick",
        budget_minutes: float | None = None,
        tags: Sequence[str | Tag] | str | Tag | None = None,
        domain: str | None = None,
        *,
        size: int | None = None,
        settings: Mapping[str, Any] | None = None,
        on_progress: Callable[[ProgressEvent], Any] | None = None,
        cancel: threading.Event | None = None,
        progress_bar: bool = True,
    ) -> Iteration:
        """Train a new iteration and return it (a :class:`cvbench.Iteration`).

        ``mode="quick"`` (Custom Vision's Regular): the domain's backbone stays frozen, its
        features are cached per image, and a linear head is fitted in seconds.
        ``mode="advanced"``: the quick model, then fastai fine-tuning of the backbone
        within ``budget_minutes`` (default 10), kept only if it beats the quick model on
        the validation images. ``tags`` restricts training to some tags; ``domain``
        overrides the project's; ``size`` is the input side in pixels (default: the
        domain's); ``settings`` tunes the recipe (see ``cvbench.train.classify``).

        ``on_progress(event)`` receives dicts ``{"stage", "fraction", "loss",
        "eta_seconds", "elapsed_seconds", "message"}``; ``cancel`` (a
        ``threading.Event``) stops the run with :class:`~cvbench.errors.CancelledError`
        and nothing kept; ``progress_bar`` shows a tqdm bar. Refuses with
        :class:`~cvbench.errors.TrainingError` when the project cannot be trained
        (fewer than 2 tags, a tag with fewer than 5 images, an empty validation split),
        before anything is written. Once accepted, the run is an iteration of the project
        (status ``"Training"``, seen by every face: :meth:`all_iterations`) that ends
        ``"Completed"`` — or ``"Failed"`` with the error, which is raised here too. See
        :meth:`start_training` to train in the background.
        """
        chosen = None if tags is None else self._resolve_tags(tags, create=False)
        return _training.train(self, mode, budget_minutes, chosen, domain, size=size,
                               settings=settings, on_progress=on_progress, cancel=cancel,
                               progress_bar=progress_bar)

    def augmentation_preview(self, n_images: int = 4, views: int = 6, seed: int = 0, *,
                             colors: Mapping[str, str] | None = None
                             ) -> list[tuple[StoredImage, list[Image.Image]]]:
        """What advanced training's augmentation makes of the training images: ``views``
        random views of each of ``n_images`` tagged images (drawn with ``seed``), made by
        the functions training calls (:func:`cvbench.train.preview_augmentations`).
        Detection views are the detector's input squares with the boxes that survive each
        crop drawn, coloured by ``colors`` (tag id -> #rrggbb) when given. Returns
        ``(image, views)`` pairs; raises ValueError when no image is tagged yet."""
        import numpy as np

        from . import domains as _domains
        from .train import get_task, preview_augmentations

        for name, value in (("n_images", n_images), ("views", views)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
                raise ValueError(f"{name}={value!r} should be a whole number from 1 to 64")
        total = self.count_images(tagged=True)
        if not total:
            what = "draw boxes on some" if self.kind == "detection" else "tag some"
            raise ValueError(f"the project has no tagged image to augment yet; {what} first")
        rng = np.random.default_rng(seed)
        picked = sorted(int(k) for k in rng.choice(total, size=min(n_images, total),
                                                     replace=False))
        images = [img for k in picked
                  for img in self.images(tagged=True, order="oldest", skip=k, take=1)]
        if self.kind != "detection":
            made = preview_augmentations([img.path for img in images], views, seed)
            return list(zip(images, made, strict=True))
        tags = [t.id for t in self.tags]
        index = {tag_id: k for k, tag_id in enumerate(tags)}
        palette = ([colors.get(t, "#0078d4") for t in tags] if colors else None)
        boxes = [np.array([[r.left, r.top, r.left + r.width, r.top + r.height]
                           for r in img.regions], dtype=np.float32).reshape(-1, 4)
                 for img in images]
        labels = [np.array([index[r.tag_id] for r in img.regions], dtype=np.int64)
                  for img in images]
        side = get_task(self.kind).default_size.get(
            self.kind, _domains.get_domain(self.domain).image_size)
        made = preview_augmentations([img.path for img in images], views, seed, boxes=boxes,
                                     labels=labels, size=side,
                                     **({"colors": palette} if palette else {}))
        return list(zip(images, made, strict=True))

    def start_training(
        self,
        mode: str = "quick",
        budget_minutes: float | None = None,
        tags: Sequence[str | Tag] | str | Tag | None = None,
        domain: str | None = None,
        *,
        size: int | None = None,
        settings: Mapping[str, Any] | None = None,
        on_progress: Callable[[ProgressEvent], Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> Iteration:
        """Start training in the background and return the new iteration at once, with
        status ``"Training"``; it turns ``"Completed"`` (or ``"Failed"``, with
        ``iteration.error``) under the same id, and every face and process sees it
        (``project.all_iterations()``). ``iteration.wait()`` waits for the end;
        ``iteration.cancel()`` stops it (nothing kept). The arguments are those of
        :meth:`train`; a project that cannot train is refused here, before anything is
        written (:class:`~cvbench.errors.TrainingError`). If this process dies, the run
        shows as Failed."""
        chosen = None if tags is None else self._resolve_tags(tags, create=False)
        return _training.start_training(self, mode, budget_minutes, chosen, domain,
                                        size=size, settings=settings,
                                        on_progress=on_progress, cancel=cancel)

    def check_training(self, mode: str = "quick",
                       tags: Sequence[str | Tag] | str | Tag | None = None,
                       domain: str | None = None, *, size: int | None = None,
                       settings: Mapping[str, Any] | None = None) -> list[str]:
        """The reasons :meth:`train` with these arguments would refuse the project now
        (too few tags, too few images per tag, an empty split, a bad argument), without
        training; empty when it would start."""
        try:
            chosen = None if tags is None else self._resolve_tags(tags, create=False)
        except TagError as exc:
            return [str(exc)]
        return _training.check_training(self, mode, chosen, domain, size=size,
                                        settings=settings)

    def training_changed_since(self, iteration: IterationKey, *, mode: str | None = None,
                               tags: Sequence[str | Tag] | str | Tag | None = None) -> bool:
        """Whether training now would learn something else than ``iteration`` did: other
        images, splits or labels, renamed or retyped tags, another domain — or, when given,
        another ``mode`` or tag selection (default: the iteration's). ``iteration`` None:
        the newest trained one. False means a new run would learn the same (Custom Vision
        then answers ``BadRequestTrainingNotNeeded``)."""
        it = get_iteration(self, iteration)
        chosen = None if tags is None else self._resolve_tags(tags, create=False)
        return _training.training_changed_since(self, it, mode=mode, tags=chosen)

    @property
    def iterations(self) -> list[Iteration]:
        """The trained (Completed) iterations (:class:`cvbench.Iteration`), newest first."""
        return list_iterations(self)

    def all_iterations(self) -> list[Iteration]:
        """Every iteration, newest first: the trained ones, the runs in progress (status
        ``"Training"``) and those that failed (``"Failed"``, with their ``error``)."""
        return list_iterations(self, status=None)

    def iteration(self, id_or_name: IterationKey = None) -> Iteration:
        """An iteration (of any status) by id, name (``"Iteration 3"``) or published
        name; the newest trained one when ``id_or_name`` is None."""
        return get_iteration(self, id_or_name)

    def _default_iteration(self, iteration: IterationKey) -> Iteration:
        if iteration is not None:
            return get_iteration(self, iteration)
        return get_iteration(self, self.store.iterations.newest_published())

    # -- predictions ----------------------------------------------------------------------
    @overload
    def predict(self, images: ImageInput, iteration: IterationKey = None, *,  # type: ignore[overload-overlap]
                store: bool = False, application: str | None = None
                ) -> PredictionResult: ...  # (a str is a Sequence too)

    @overload
    def predict(self, images: Sequence[ImageInput], iteration: IterationKey = None, *,
                store: bool = False, application: str | None = None
                ) -> list[PredictionResult]: ...

    def predict(self, images: ImageInput | Sequence[ImageInput],
                iteration: IterationKey = None, *, store: bool = False,
                application: str | None = None) -> PredictionResult | list[PredictionResult]:
        """Predict with ``iteration`` (default: the newest published one, else the newest);
        see :meth:`cvbench.Iteration.predict`."""
        return self._default_iteration(iteration).predict(  # type: ignore[call-overload, no-any-return]
            images, store=store, application=application)

    def stored_predictions(self, order: str = "uncertainty", skip: int = 0,
                           take: int | None = None, *, iteration: IterationKey = None,
                           ids: Sequence[str] | None = None,
                           application: str | None = None) -> list[StoredPrediction]:
        """Images predicted with ``store=True`` (:class:`cvbench.StoredPrediction`), most
        uncertain first (or ``order="newest"``), paged by ``skip``/``take``; only those of
        ``iteration``, with these ``ids``, or kept for ``application``, when given."""
        it_id = None if iteration is None else self.iteration(iteration).id
        rows = self.store.predictions.page(order=order, skip=skip, take=take, iteration=it_id,
                                           ids=ids, application=application)
        return [StoredPrediction.from_row(r, self.id) for r in rows]

    def delete_stored_predictions(self, ids: Sequence[str] | str) -> int:
        """Delete stored predictions and their image files. Returns how many."""
        return self.store.predictions.delete([ids] if isinstance(ids, str) else list(ids))

    def add_stored_prediction(self, prediction_id: str,
                              tags: Sequence[str | Tag] | str | Tag | None = None,
                              regions: Sequence[RegionInput] | None = None,
                              *, delete: bool = True) -> AddResult:
        """Add a stored prediction's image to the training images with ``tags`` (or
        ``regions`` for detection); the stored prediction is deleted unless ``delete=False``."""
        found = self.store.predictions.page(ids=[prediction_id])
        if not found:
            raise ProjectError(f"no stored prediction {prediction_id!r} in this project")
        sp = found[0]
        try:
            data = sp.path.read_bytes()
        except FileNotFoundError:
            raise ProjectError(
                f"the image of stored prediction {prediction_id!r} is missing ({sp.path})"
            ) from None
        (result,) = self.add_images(
            [data], tags=tags, regions=None if regions is None else [regions],
            names=[sp.original_name or f"prediction-{prediction_id}"])
        if result.ok and delete:
            self.delete_stored_predictions([prediction_id])
        return result

    # -- proposals ------------------------------------------------------------------------
    def region_proposals(self, image_id: str, *, limit: int = 20) -> list[tuple[float, Box]]:
        """Class-agnostic object proposals ``(confidence, box)`` for an image, most
        confident first: the boxes of the newest trained detector (any tag) when the
        project has one, with the proposals of a model-free objectness measure
        (:func:`cvbench.predict.region_proposals`: colour segments that stand out from
        their surroundings) — so there are proposals before any detector is trained, for
        every project kind."""
        img = self.image(image_id)
        found = [_objectness(self.load_image(img, max_side=320), limit=limit)]
        if self.kind == "detection":
            trained = self.store.iterations.all("Completed")
            if trained:
                it = get_iteration(self, trained[0].id)
                found.insert(0, [(p.probability, p.bounding_box) for p in it.predict(img.path)
                                 if p.bounding_box is not None])
        return merge_proposals(*found, limit=limit)

    def suggest_tags(self, iteration: IterationKey = None, take: int | None = None, *,
                     threshold: float = 0.5, order: str = "uncertainty") -> list[TagSuggestion]:
        """Smart labeler: suggested tags (:class:`cvbench.TagSuggestion`) for the untagged
        images, most uncertain first (``order="confidence"``: most confident first); confirm
        them with ``project.tag_images``. Quick iterations predict from the feature cache
        (vectors computed once per image)."""
        it = self._default_iteration(iteration)
        if order not in ("uncertainty", "confidence"):
            raise ValueError(f"order={order!r} should be 'uncertainty' or 'confidence'")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold={threshold!r} must lie between 0 and 1")
        images = self.images(untagged=True)
        if not images:
            return []
        task = it.task
        outputs = task.predict_stored(self.store, it.model(),
                                      [(i.sha256, i.path) for i in images])
        results = results_of(outputs, uncertainty=task.uncertainty, project=self.id,
                             iteration=it.id)
        # multilabel: every tag at or above the threshold; detection: every box at or above it
        several = it.kind in ("multilabel", "detection")
        out = [suggestion_of(img.id, result, several=several, threshold=threshold)
               for img, result in zip(images, results, strict=True)]
        out.sort(key=lambda s: s.uncertainty, reverse=(order == "uncertainty"))
        return out if take is None else out[:max(0, int(take))]
