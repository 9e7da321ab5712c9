"""The image detail view: one image large, with its tags or boxes, its split, and what each
iteration predicted for it; shared by the Gallery, Predictions and Performance.

The browser side is one module, ``widgets/image_detail.js``, which the widgets that show it
import; this mixin answers its requests. The browser sends ``{"type": "detail", "source":
"image" | "prediction", "id": …}`` (a project image, or a stored prediction of the
Predictions tab) and the mixin sets the ``detail`` trait::

    {"source", "id", "name", "width", "height", "src", "created", "split", "tags",
     "regions", "iterations": [{"id", "name", "mode", "published_name", "role",
     "predictions"}]}

``role`` says what the iteration knows of the image: ``"validation"`` (its stored
predictions, made when it was trained, are in ``predictions``, most probable first),
``"train"`` (it learnt from the image: no prediction is stored), ``"absent"`` (the image came
later), or ``"stored"`` (a stored prediction's own iteration). Iterations never change, so
what they stored is read once per widget.

    class Gallery(ImageDetail, Paged, FilteredWidget): ...
    _handlers = {..., **ImageDetail.DETAIL_HANDLERS}
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import traitlets as t

from ..errors import CvbenchError
from ..predict import Prediction
from ._assets import asset
from ._base import ProjectWidget
from ._images import data_url, preview_url
from ._messages import DetailMsg
from ._results import prediction_rows

__all__ = ["ImageDetail", "DETAIL_SOURCES", "detail_css"]

#: What the detail view shows: a project image, or a stored prediction.
DETAIL_SOURCES = ("image", "prediction")


def detail_css() -> str:
    """The styles of the detail view, for the widgets that show it."""
    return f"\n/* widgets/image_detail.css */\n{asset('image_detail.css')}"


class ImageDetail(ProjectWidget):
    """A widget that shows one of its images large on request (``detail``)."""

    DETAIL_HANDLERS: ClassVar[dict[str, tuple[type, str]]] = {
        "detail": (DetailMsg, "_on_detail"),
    }
    #: Longest side of the picture sent, in pixels.
    DETAIL_SIDE: ClassVar[int] = 1024
    #: The predictions of an iteration sent per image, most probable first.
    DETAIL_PREDICTIONS: ClassVar[int] = 20

    detail = t.Dict(
        help="The image the detail view shows (see cvbench.ui._detail): {source, id, name, "
        "width, height, src, created, split, tags, regions, iterations}; {} before any "
        "(read-only).",
    ).tag(sync=True)

    def __init__(self, project: Any, **kwargs: Any) -> None:
        #: iteration id -> (image id -> split), and -> (image id -> stored predictions)
        self._learnt: dict[str, dict[str, str]] = {}
        self._stored: dict[str, dict[str, list[dict[str, Any]]]] = {}
        super().__init__(project, **kwargs)

    @t.validate("detail")
    def _valid_detail(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        missing = [k for k in ("source", "id", "src", "iterations") if value and k not in value]
        if missing:
            raise t.TraitError(f"detail lacks {missing}")
        return value

    def _on_detail(self, msg: DetailMsg, _buffers: list[bytes]) -> None:
        self.show_detail(msg["id"], source=msg["source"])

    def show_detail(self, id: str, *, source: str = "image") -> dict[str, Any]:
        """Show image ``id`` (or stored prediction ``id``, ``source="prediction"``) in the
        detail view; returns what ``detail`` now holds."""
        if source not in DETAIL_SOURCES:
            raise ValueError(f"source={source!r} should be one of {list(DETAIL_SOURCES)}")
        detail = self._image_detail(id) if source == "image" else self._prediction_detail(id)
        self.detail = detail
        return detail

    # -- a project image -------------------------------------------------------------------------
    def _image_detail(self, image_id: str) -> dict[str, Any]:
        found = self.project.images(ids=[image_id])
        if not found:
            raise ValueError(f"the image {image_id!r} is no longer in the project; press Refresh")
        img = found[0]
        return {
            "source": "image",
            "id": img.id,
            "name": img.original_name or img.id[:8],
            "width": img.width,
            "height": img.height,
            "src": preview_url(self.project, img, self.DETAIL_SIDE),
            "created": img.created,
            "split": img.split or "",
            "tags": list(img.tag_ids),
            "regions": [{"tag": r.tag_id, "left": r.left, "top": r.top, "width": r.width,
                         "height": r.height} for r in img.regions],
            "iterations": [self._iteration_entry(it, img.id) for it in self.project.iterations],
        }

    def _iteration_entry(self, it: Any, image_id: str) -> dict[str, Any]:
        if it.id not in self._learnt:  # once per iteration: an iteration never changes
            self._learnt[it.id] = it.split()
            self._stored[it.id] = {r["image_id"]: r["predictions"]
                                   for r in it.validation_predictions()}
        role = self._learnt[it.id].get(image_id, "absent")
        stored = self._stored[it.id].get(image_id)
        rows = _rows(stored)[:self.DETAIL_PREDICTIONS] if stored is not None else []
        return {"id": it.id, "name": it.name, "mode": it.mode,
                "published_name": it.published_name or "",
                "role": role if role in ("train", "validation") else "absent",
                "predictions": rows}

    # -- a stored prediction ---------------------------------------------------------------------
    def _prediction_detail(self, prediction_id: str) -> dict[str, Any]:
        found = self.project.stored_predictions(ids=[prediction_id])
        if not found:
            raise ValueError(f"the stored prediction {prediction_id!r} is gone; press Refresh")
        sp = found[0]
        try:
            picture = self.project.read_image(sp.path).image
        except (CvbenchError, OSError) as exc:
            raise ValueError(f"the image of stored prediction {prediction_id!r} cannot be "
                             f"read: {exc}") from None
        picture.thumbnail((self.DETAIL_SIDE, self.DETAIL_SIDE))
        entry: dict[str, Any] = {"id": sp.iteration_id, "name": "", "mode": "",
                                 "published_name": "", "role": "stored",
                                 "predictions": prediction_rows(sp.predictions)[
                                     :self.DETAIL_PREDICTIONS]}
        try:
            it = self.project.iteration(sp.iteration_id)
            entry.update(name=it.name, mode=it.mode, published_name=it.published_name or "")
        except CvbenchError:  # its iteration was deleted since
            entry["name"] = "a deleted iteration"
        out = io.BytesIO()
        picture.convert("RGB").save(out, "JPEG", quality=85)
        return {
            "source": "prediction",
            "id": sp.id,
            "name": sp.original_name or "",
            "width": sp.width,
            "height": sp.height,
            "src": data_url(out.getvalue()),
            "created": sp.created,
            "split": "",
            "tags": [],
            "regions": [],
            "iterations": [entry],
        }


def _rows(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored predictions (Custom Vision's JSON) as the browser gets them, most probable
    first."""
    preds = sorted((Prediction.from_dict(p) for p in stored), key=lambda p: -p.probability)
    return prediction_rows(preds)
