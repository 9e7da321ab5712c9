"""Training, iterations and predictions of a project (part of the :class:`~cvbench.Project`
facade): the methods that compose the store with the engine's tasks
(:mod:`cvbench.train`) and predictions (:mod:`cvbench.predict`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from ._project_images import ImagesMixin
from ._types import AddResult, Tag
from .boxes import RegionInput
from .errors import ProjectError
from .iteration import Iteration, get_iteration, list_iterations
from .iteration import train as _train
from .predict import (
    ImageInput,
    PredictionResult,
    StoredPrediction,
    TagSuggestion,
    results_of,
    suggestion_of,
)
from .train import ProgressEvent

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
        and nothing written; ``progress_bar`` shows a tqdm bar. Refuses with
        :class:`~cvbench.errors.TrainingError` when the project cannot be trained
        (fewer than 2 tags, a tag with fewer than 5 images, an empty validation split).
        """
        chosen = None if tags is None else self._resolve_tags(tags, create=False)
        return _train(self, mode, budget_minutes, chosen, domain, size=size,
                      settings=settings, on_progress=on_progress, cancel=cancel,
                      progress_bar=progress_bar)

    @property
    def iterations(self) -> list[Iteration]:
        """The trained iterations (:class:`cvbench.Iteration`), newest first."""
        return list_iterations(self)

    def iteration(self, id_or_name: IterationKey = None) -> Iteration:
        """An iteration by id, name (``"Iteration 3"``) or published name; the newest one
        when ``id_or_name`` is None."""
        return get_iteration(self, id_or_name)

    def _default_iteration(self, iteration: IterationKey) -> Iteration:
        if iteration is not None:
            return get_iteration(self, iteration)
        return get_iteration(self, self.store.iterations.newest_published())

    # -- predictions ----------------------------------------------------------------------
    @overload
    def predict(self, images: ImageInput, iteration: IterationKey = None, *,  # type: ignore[overload-overlap]
                store: bool = False) -> PredictionResult: ...  # (a str is a Sequence too)

    @overload
    def predict(self, images: Sequence[ImageInput], iteration: IterationKey = None, *,
                store: bool = False) -> list[PredictionResult]: ...

    def predict(self, images: ImageInput | Sequence[ImageInput],
                iteration: IterationKey = None, *, store: bool = False
                ) -> PredictionResult | list[PredictionResult]:
        """Predict with ``iteration`` (default: the newest published one, else the newest);
        see :meth:`cvbench.Iteration.predict`."""
        return self._default_iteration(iteration).predict(images, store=store)  # type: ignore[call-overload, no-any-return]

    def stored_predictions(self, order: str = "uncertainty", skip: int = 0,
                           take: int | None = None, *, iteration: IterationKey = None,
                           ids: Sequence[str] | None = None) -> list[StoredPrediction]:
        """Images predicted with ``store=True`` (:class:`cvbench.StoredPrediction`), most
        uncertain first (or ``order="newest"``), paged by ``skip``/``take``; only those of
        ``iteration``, or with these ``ids``, when given."""
        it_id = None if iteration is None else self.iteration(iteration).id
        rows = self.store.predictions.page(order=order, skip=skip, take=take, iteration=it_id,
                                           ids=ids)
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
