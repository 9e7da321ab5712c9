"""``Predictions``: learn from what the model saw. Two views, as in Custom Vision:

* **Stored predictions** — images predicted with ``store=True`` (the quick test, the
  prediction API), most uncertain first (``project.stored_predictions``). Confirm or correct
  the suggested tags (boxes for detection) and add the image to the training images in one
  click (``project.add_stored_prediction``), or delete it.
* **Smart labeler** — the project's untagged images with the tags (boxes) an iteration
  suggests (``project.suggest_tags``), most uncertain first; confirm or correct, and they are
  tagged (``project.tag_images`` / ``project.set_regions``).

    from cvbench.ui import Predictions
    Predictions(project)                       # stored predictions
    Predictions(project, view="suggested")     # smart labeler

Clicking a card's picture shows it large (:mod:`cvbench.ui._detail`): a stored prediction
with its predictions, an untagged image with every iteration's.

The suggested tags follow the smart labeler's rule: multiclass, the most probable tag;
multilabel, the tags at or above ``threshold``; detection, the boxes at or above it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import traitlets as t

from ._app_messages import (
    AddPredictionsMsg,
    ConfirmSuggestionsMsg,
    DeletePredictionsMsg,
    EditBoxesMsg,
    LabelItem,
)
from ._assets import app_css, esm
from ._base import Fraction, check_dict_list
from ._detail import ImageDetail, detail_css
from ._images import data_url, thumbnail_url
from ._messages import RefreshMsg, check_box, check_suggestion
from ._mixins import IterationPicker, Paged
from ._results import prediction_rows, suggested_labels
from ._saliency import Explainer, why_css

__all__ = ["Predictions", "VIEWS"]

#: The two views: stored predictions, and suggestions for the untagged images.
VIEWS = ("stored", "suggested")
MAX_PAGE_SIZE = 200


class Predictions(Explainer, ImageDetail, IterationPicker, Paged):
    """Stored predictions and the smart labeler: confirm, correct, add to training."""

    _esm = esm("predictions.js")
    _css = app_css("predictions.css") + detail_css() + why_css()
    _handlers = {
        "add_predictions": (AddPredictionsMsg, "_on_add"),
        "delete_predictions": (DeletePredictionsMsg, "_on_delete"),
        "confirm_suggestions": (ConfirmSuggestionsMsg, "_on_confirm"),
        "edit_boxes": (EditBoxesMsg, "_on_edit_boxes"),
        "refresh": (RefreshMsg, "_on_refresh"),
        **ImageDetail.DETAIL_HANDLERS,
        **Explainer.WHY_HANDLERS,
    }

    MAX_PAGE_SIZE = MAX_PAGE_SIZE

    view = t.Unicode("stored", help=f"Which images: one of {list(VIEWS)}.").tag(sync=True)
    iteration = t.Unicode(
        "", help="Id of the iteration that suggests tags for the untagged images."
    ).tag(sync=True)
    threshold = Fraction(
        0.5, help="Probability at or above which a tag (multilabel) or a box is suggested."
    ).tag(sync=True)
    page_size = t.Int(24, help=f"Images per page, 1 to {MAX_PAGE_SIZE}.").tag(sync=True)
    total = t.Int(0, help="Images in the view (read-only).").tag(sync=True)
    counts = t.Dict(
        help="Images in each view: {stored, suggested} (read-only)."
    ).tag(sync=True)
    items = t.List(
        t.Dict(),
        help="The page's images: {id (stored prediction or image id), name, src, width, "
        "height, uncertainty, predictions ([{tag, name, probability, box}], most probable "
        "first), suggested_tags (tag ids), suggested_regions ([{tag, left, top, width, "
        "height, probability}])} (read-only).",
    ).tag(sync=True)

    def __init__(self, project, *, view: str = "stored", iteration: Any = None,
                 threshold: float = 0.5, page_size: int = 24) -> None:
        super().__init__(project)
        self._suggestions: list[Any] | None = None  # smart labeler results, computed once
        self._callbacks: list[Callable[[str, list[dict[str, Any]]], Any]] = []
        self._loading = True
        self.view = view
        self.threshold = threshold
        self.page_size = page_size
        self._loading = False
        self.refresh(iteration=iteration)

    # -- validators --------------------------------------------------------------------------
    @t.validate("view")
    def _valid_view(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in VIEWS:
            raise t.TraitError(f"view={proposal['value']!r} should be one of {list(VIEWS)}")
        return proposal["value"]

    @t.validate("items")
    def _valid_items(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "src", "predictions", "suggested_tags",
                                                   "suggested_regions"), "items")

    # -- reacting to the browser -------------------------------------------------------------
    @t.observe("view", "threshold")
    def _view_changed(self, change: t.Bunch) -> None:
        if self._loading:
            return
        if change["name"] == "view":
            self._loading = True
            self.page = 0
            self._loading = False
        self.reload()

    @t.observe("iteration")
    def _iteration_changed(self, _change: t.Bunch) -> None:
        if self._loading:
            return
        self._suggestions = None
        self.reload()

    # -- reading -----------------------------------------------------------------------------
    def refresh(self, iteration: Any = None) -> None:
        """Read the iterations, the stored predictions and the untagged images again (the
        smart labeler's suggestions are computed again when shown; a newly trained
        iteration suggests them unless another is published)."""
        self._suggestions = None
        self._loading = True
        try:
            self._pick_iteration(iteration)
        finally:
            self._loading = False
        self.reload()

    def suggestions(self) -> list[Any]:
        """The smart labeler's suggestions for the untagged images (computed once per
        iteration; :meth:`refresh` computes them again)."""
        if self._suggestions is None:
            if not self.iteration:
                self._suggestions = []
            else:
                self._suggestions = list(self.project.suggest_tags(
                    self.iteration, threshold=self.threshold, order="uncertainty"))
        return self._suggestions

    def reload(self) -> None:
        """Read the current page again."""
        n_stored = len(self.project.stored_predictions())
        n_untagged = self.project.count_images(untagged=True)
        if self.view == "stored":
            total = n_stored
        else:
            total = len(self.suggestions()) if self.iteration else 0
        page = self._fit_page(total)
        skip = page * self.page_size
        if self.view == "stored":
            items = [self._stored_item(sp) for sp in self.project.stored_predictions(
                order="uncertainty", skip=skip, take=self.page_size)]
        else:
            chunk = self.suggestions()[skip:skip + self.page_size]
            found = {img.id: img for img in self.project.images(ids=[s.image_id for s in chunk])}
            items = [self._suggested_item(s, found[s.image_id]) for s in chunk
                     if s.image_id in found]
        self._loading = True
        try:
            with self.hold_sync():
                self.refresh_tags()
                self.counts = {"stored": n_stored, "suggested": n_untagged}
                self.total = total
                self.page = page
                self.items = items
                self._loaded()
        finally:
            self._loading = False

    def _suggested(self, result: Any) -> tuple[list[str], list[dict[str, Any]]]:
        """(tag ids, boxes) suggested by a prediction result, by the smart labeler's rule."""
        return suggested_labels(result, kind=self.kind, threshold=self.threshold,
                                known={tag["id"] for tag in self.tags})

    def _stored_item(self, sp: Any) -> dict[str, Any]:
        try:
            src = data_url(sp.thumbnail_path.read_bytes())
        except FileNotFoundError:
            src = ""
        tags, regions = self._suggested(sp.predictions)
        return {
            "id": sp.id,
            "name": sp.original_name,  # may be "": the browser shows the time
            "src": src,
            "width": sp.width,
            "height": sp.height,
            "uncertainty": float(sp.uncertainty),
            "created": sp.created,
            "predictions": prediction_rows(sp.predictions)[:50],
            "suggested_tags": tags,
            "suggested_regions": regions,
        }

    def _suggested_item(self, suggestion: Any, img: Any) -> dict[str, Any]:
        tags, regions = self._suggested(suggestion.predictions)
        return {
            "id": img.id,
            "name": img.original_name or img.id[:8],
            "src": thumbnail_url(self.project, img),
            "width": img.width,
            "height": img.height,
            "uncertainty": float(suggestion.uncertainty),
            "created": img.created,
            "predictions": prediction_rows(suggestion.predictions)[:50],
            "suggested_tags": tags,
            "suggested_regions": regions,
        }

    # -- actions -------------------------------------------------------------------------------
    def _labels(self, item: LabelItem) -> tuple[list[str], list[dict[str, Any]]]:
        if self.kind == "detection":
            boxes = [dict(check_box(b, what=f"box {i} of {item['id']}"))
                     for i, b in enumerate(item["regions"])]
            return [], boxes
        if self.kind == "multiclass" and len(item["tags"]) > 1:
            raise ValueError(f"a multiclass image has one tag; {item['id']} got {item['tags']}")
        return [self.project.get_tag(tag).id for tag in item["tags"]], []

    def add(self, items: list[LabelItem]) -> int:
        """Add stored predictions (``items``: {id, tags, regions}) to the training images
        with their confirmed tags or boxes. Returns how many were added."""
        if not items:
            raise ValueError("nothing to add: choose the tags of at least one image")
        checked = [(item["id"], *self._labels(item)) for item in items]
        added, problems = 0, []
        for pid, tags, regions in checked:
            if self.kind == "detection":
                result = self.project.add_stored_prediction(pid, regions=regions)
            else:
                if not tags:
                    problems.append("an image without a tag was skipped")
                    continue
                result = self.project.add_stored_prediction(pid, tags=tags)
            if result.ok:
                added += 1
            else:
                problems.append(f"{result.source}: {result.message or result.status}")
        self.reload()
        text = f"Added {added} image{'s' if added != 1 else ''} to the training images"
        if problems:
            text += " (" + "; ".join(problems[:3]) + ")"
        self.say(text, "success" if added else "error")
        return added

    def delete(self, ids: list[str]) -> int:
        """Delete stored predictions (their images are not training images)."""
        if not ids:
            raise ValueError("nothing to delete: choose stored predictions first")
        n = self.project.delete_stored_predictions(ids)
        self.reload()
        self.say(f"Deleted {n} stored prediction{'s' if n != 1 else ''}", "success")
        return n

    def confirm(self, items: list[LabelItem]) -> int:
        """Smart labeler: tag untagged images (``items``: {id (image id), tags, regions})
        with their confirmed tags or boxes. Returns how many were tagged."""
        if not items:
            raise ValueError("nothing to confirm: choose the tags of at least one image")
        checked = [(item["id"], *self._labels(item)) for item in items]
        done: set[str] = set()
        skipped = 0
        for image_id, tags, regions in checked:
            if self.kind == "detection":
                self.project.set_regions(image_id, regions, create_tags=False)
            elif tags:
                self.project.tag_images([image_id], tags, create_tags=False)
            else:
                skipped += 1
                continue
            done.add(image_id)
        if self._suggestions is not None:
            self._suggestions = [s for s in self._suggestions if s.image_id not in done]
        self.reload()
        text = f"Tagged {len(done)} image{'s' if len(done) != 1 else ''}"
        if skipped:
            text += f"; {skipped} without a tag left as they were"
        self.say(text + ". Train again to learn from them.", "success" if done else "error")
        return len(done)

    def on_edit_boxes(self, callback: Callable[[str, list[dict[str, Any]]], Any]) -> None:
        """Call ``callback(image_id, suggestions)`` when "Edit boxes" is clicked on a
        smart labeler card (detection): the workbench opens its box editor there."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(image_id, "
                            "suggestions)")
        self._callbacks.append(callback)

    def edit_boxes(self, image_id: str, suggestions: list[dict[str, Any]]) -> None:
        """Hand an untagged image and its suggested boxes to :meth:`on_edit_boxes`."""
        boxes = [dict(check_suggestion(s, what=f"suggestion {i}"))
                 for i, s in enumerate(suggestions)]
        if not self._callbacks:
            raise ValueError(
                "nothing opens images here; draw its boxes with "
                f"cvbench.ui.BoxEditor(project, start={image_id!r})"
            )
        for callback in list(self._callbacks):
            callback(image_id, boxes)

    # -- handlers ------------------------------------------------------------------------------
    def _on_edit_boxes(self, msg: EditBoxesMsg, _buffers: list[bytes]) -> None:
        self.edit_boxes(msg["image_id"], [dict(s) for s in msg["suggestions"]])

    def _on_add(self, msg: AddPredictionsMsg, _buffers: list[bytes]) -> None:
        self.add(msg["items"])

    def _on_delete(self, msg: DeletePredictionsMsg, _buffers: list[bytes]) -> None:
        self.delete(msg["ids"])

    def _on_confirm(self, msg: ConfirmSuggestionsMsg, _buffers: list[bytes]) -> None:
        self.confirm(msg["items"])

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()
