"""Seeing why (part of the :class:`~cvbench.Project` facade): the dataset's health, the
embedding map, and the one-call actions that act on a health report.

The computations are engine code (:mod:`cvbench.insight`); here the project's images,
tags, splits and feature cache are handed to it. Saliency and iteration comparison are
methods of :class:`cvbench.Iteration`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from . import insight as _insight
from ._project_models import IterationKey, ModelsMixin
from ._types import StoredImage
from .errors import ProjectError, TagError
from .insight.health import check_settings
from .iteration import Iteration, get_iteration
from .train import ProgressEvent

__all__ = ["InsightMixin"]


class _Read(NamedTuple):
    """What a run over the feature cache starts from."""

    progress: Any
    stored: list[StoredImage]
    seen: list[_insight.HealthImage]
    vectors: _insight.ImageVectors
    side: int


class InsightMixin(ModelsMixin):
    """The insight methods of :class:`~cvbench.Project`."""

    # -- what the engine reads -------------------------------------------------------------
    def _insight_images(self) -> tuple[list[StoredImage], list[_insight.HealthImage]]:
        """Every image, oldest first, and the same as health sees them (tags by name; a
        detection image's tags are those of its boxes)."""
        stored = self.images(order="oldest")
        seen: list[_insight.HealthImage] = []
        for img in stored:
            tags = img.tags if self.kind != "detection" else tuple(
                sorted({r.tag_name for r in img.regions}))
            seen.append(_insight.HealthImage(id=img.id, tags=tuple(tags), split=img.split,
                                             width=img.width, height=img.height))
        return stored, seen

    def _insight_vectors(self, stored: Sequence[StoredImage], iteration: Iteration | None,
                         progress: Any) -> tuple[_insight.ImageVectors, int]:
        """The images' vectors through the iteration's backbone and input side (else the
        project's domain at its own side), and that side."""
        from .domains import get_domain

        domain = self.domain if iteration is None else iteration.domain
        size = None
        if iteration is not None and iteration.kind != "detection":
            size = int(iteration.config()["size"])
        vectors = _insight.image_vectors(self.store, [(i.sha256, i.path) for i in stored],
                                         domain, size, progress)
        return vectors, size or get_domain(domain).image_size

    @contextlib.contextmanager
    def _insight_run(self, what: str, iteration: Iteration | None,
                     on_progress: Callable[[ProgressEvent], Any] | None,
                     cancel: threading.Event | None, progress_bar: bool) -> Iterator[_Read]:
        """A run of ``what`` over every image's vectors: progress with a stage for the
        features (computed where missing) and one for the engine; cancelling raises
        :class:`~cvbench.errors.CancelledError` naming ``what``."""
        progress = _insight.progress_of(on_progress, cancel, progress_bar, what)
        with _insight.cancelled_as(f"the {what}"):
            progress.plan({"features": 10.0, "evaluate": 1.0})
            stored, seen = self._insight_images()
            vectors, side = self._insight_vectors(stored, iteration, progress)
            yield _Read(progress, stored, seen, vectors, side)

    # -- health ------------------------------------------------------------------------
    def health(
        self,
        iteration: IterationKey = None,
        *,
        duplicate_threshold: float = _insight.DUPLICATE_THRESHOLD,
        outlier_score: float = _insight.OUTLIER_SCORE,
        min_side: int | None = None,
        dark: float = _insight.DARK,
        on_progress: Callable[[ProgressEvent], Any] | None = None,
        cancel: threading.Event | None = None,
        progress_bar: bool = False,
    ) -> _insight.HealthReport:
        """The dataset's health (a :class:`cvbench.insight.HealthReport`): near-duplicates
        across tags and splits (leaks), likely mislabelled images with a suggested tag,
        outliers, class balance, images far too small or too dark; see
        :mod:`cvbench.insight.health` for how each is found.

        It works on the frozen backbone's features in the feature cache (those of
        ``iteration``'s domain and input side when given, else the project's domain):
        no image is read when they are cached, and missing ones are computed once (and
        kept). ``on_progress``, ``cancel`` and ``progress_bar`` work as in :meth:`train`;
        cancelling raises :class:`~cvbench.errors.CancelledError`, the features computed
        so far staying cached. Act on the report with :meth:`keep_duplicate` and
        :meth:`accept_suggested_tag`.
        """
        check_settings(duplicate_threshold=duplicate_threshold, outlier_score=outlier_score,
                       min_side=min_side, dark=dark)  # before any feature is computed
        it = None if iteration is None else get_iteration(self, iteration)
        with self._insight_run("health check", it, on_progress, cancel, progress_bar) as run:
            run.progress.stage("evaluate", "looking for duplicates, mislabels and outliers")
            vectors = run.vectors
            report = _insight.analyse(
                run.seen, vectors.pooled, vectors.pixels, vectors.brightness, kind=self.kind,
                tag_names=[t.name for t in self.tags], input_side=run.side,
                duplicate_threshold=duplicate_threshold, outlier_score=outlier_score,
                min_side=min_side, dark=dark, check=lambda f: run.progress.update(f))
            run.progress.done("health checked")
        return dataclasses.replace(report, features=vectors.stats.to_dict())

    def keep_duplicate(self, group: _insight.DuplicateGroup | Sequence[str],
                       keep: str | None = None) -> int:
        """Keep one image of a group of near-duplicates and delete the others (a
        :class:`cvbench.insight.DuplicateGroup` of a health report, or image ids). ``keep``
        defaults to the group's suggestion (required with plain ids). Returns how many
        images were deleted."""
        if isinstance(group, _insight.DuplicateGroup):
            ids, keep = list(group.image_ids), keep or group.keep
        elif isinstance(group, str) or not all(isinstance(i, str) for i in group):
            raise TypeError("group should be a DuplicateGroup of a health report or a list "
                            "of image ids")
        else:
            ids = list(group)
        if keep is None:
            raise ValueError("keep= names the image to keep; give one of the group's ids")
        if keep not in ids:
            raise ValueError(f"keep={keep!r} is not in the group; it should be one of {ids}")
        missing = self.store.images.missing(ids)
        if keep in missing:
            raise ProjectError(f"image {keep!r}, the one to keep, is no longer in the project")
        return self.delete_images([i for i in ids if i != keep and i not in missing])

    def accept_suggested_tag(self, image: _insight.Mislabel | str,
                             tags: Sequence[str] | str | None = None) -> StoredImage:
        """Give an image the tags a health report suggests for it (a
        :class:`cvbench.insight.Mislabel`, e.g. ``report.mislabel(image_id)``), or
        ``tags`` for an image id: in a multiclass project the tag replaces the image's, in
        a multilabel one the image gets exactly these tags. Returns the image."""
        if isinstance(image, _insight.Mislabel):
            image_id = image.image_id
            wanted = list(image.suggested) if tags is None else (
                [tags] if isinstance(tags, str) else list(tags))
        else:
            if tags is None:
                raise ValueError("tags= names the tag to give; or pass a Mislabel of a health "
                                 "report (report.mislabel(image_id))")
            image_id, wanted = image, [tags] if isinstance(tags, str) else list(tags)
        if self.kind == "detection":
            raise TagError("detection images are tagged through their boxes: use "
                           "project.set_regions(image_id, [...])")
        if not wanted:
            raise TagError(f"no tag is suggested for image {image_id!r}; tag it yourself with "
                           "project.tag_images")
        current = self.image(image_id).tags
        self.tag_images(image_id, wanted, create_tags=False)
        stale = [t for t in current if t not in wanted]
        if stale and self.kind == "multilabel":
            self.untag_images(image_id, stale)
        return self.image(image_id)

    # -- the embedding map --------------------------------------------------------------
    def embedding_map(
        self,
        method: str = "pca",
        color_by: str = "tag",
        iteration: IterationKey = None,
        *,
        threshold: float = 0.5,
        on_progress: Callable[[ProgressEvent], Any] | None = None,
        cancel: threading.Event | None = None,
    ) -> _insight.EmbeddingMap:
        """Every image as a point in 2-D (a :class:`cvbench.insight.EmbeddingMap`): PCA
        (``method="pca"``) or UMAP (``"umap"``, where ``umap-learn`` is installed) of the
        frozen backbone's features, from the feature cache as :meth:`health` reads them.
        ``color_by="tag"`` colours by tag; ``"correct"`` by whether ``iteration`` got each
        of its validation images right at ``threshold`` (it needs an iteration)."""
        if method not in _insight.METHODS:
            raise ValueError(f"method={method!r} should be one of {list(_insight.METHODS)}")
        if color_by not in _insight.COLOR_BY:
            raise ValueError(f"color_by={color_by!r} should be one of {list(_insight.COLOR_BY)}")
        if color_by == "correct" and iteration is None:
            raise ValueError("color_by='correct' needs an iteration: "
                             "embedding_map(color_by='correct', iteration=…)")
        it = None if iteration is None else get_iteration(self, iteration)
        with self._insight_run("embedding map", it, on_progress, cancel, False) as run:
            seen = run.seen
            run.progress.stage("evaluate", f"{method.upper()} of {len(seen)} images")
            xy = _insight.embed(run.vectors.pooled, method)
            run.progress.done("map made")
        correct: dict[str, bool] = {}
        if it is not None:
            wrong = set(it.performance(threshold).mistakes()["image_id"])
            correct = {i: i not in wrong for i, s in it.split().items() if s == "validation"}
        import pandas as pd

        frame = pd.DataFrame({
            "image_id": [i.id for i in seen],
            "x": xy[:, 0] if len(seen) else [],
            "y": xy[:, 1] if len(seen) else [],
            "tag": [i.tags[0] if i.tags else "" for i in seen],
            "tags": [i.tags for i in seen],
            "split": [i.split for i in seen],
            "correct": pd.Series([correct.get(i.id) for i in seen], dtype=object),
        })
        return _insight.EmbeddingMap(method=method, color_by=color_by, frame=frame,
                                     iteration_id=None if it is None else it.id)
