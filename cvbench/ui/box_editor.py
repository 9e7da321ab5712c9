"""``BoxEditor``: draw, move, resize and tag boxes on a detection project's images.

    from cvbench.ui import BoxEditor
    BoxEditor(project)                      # every image, oldest first
    BoxEditor(project, show="untagged")     # the images without boxes

In the browser: drag on empty space draws a box with the current tag, drag inside a box
moves it, the handles at its corners and edges resize it; Delete removes the selected box.
Each tag's key (1-9, 0, then Shift+1 to Shift+0, shown on its button) chooses the current
tag (and retags the selected box); n / p or the arrow keys go to the next / previous image;
the mouse wheel zooms around the cursor, + / - zoom, f fits the image (the zoom reads screen
pixels per image pixel: 100% is one to one); drag with space held, with the middle button, or in pan mode moves the view.

Suggested boxes (``suggestions``, e.g. from the smart labeler) are drawn dashed; click one
and press Enter (or its button) to accept it, or accept or reject them all.

Boxes are saved after every edit (``project.set_regions``): nothing is lost when moving to
another image. Boxes are cvbench's one format, normalized ``left, top, width, height``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import traitlets as t

from .._types import StoredImage
from ..errors import TagError
from ..project import Project
from ._assets import css, esm
from ._images import preview_url
from ._messages import (
    AcceptAllMsg,
    AcceptSuggestionMsg,
    BoxDict,
    CreateTagMsg,
    RefreshMsg,
    RejectSuggestionMsg,
    SaveMsg,
    SetBoxesMsg,
    SuggestionDict,
    check_box,
    check_suggestion,
)
from ._queue import ImageQueue

__all__ = ["BoxEditor", "SuggestFn"]

#: The smart labeler's hook: suggested boxes for an image, as SuggestionDicts.
SuggestFn = Callable[[Project, StoredImage], list[SuggestionDict]]


class BoxEditor(ImageQueue):
    """Draw and edit tagged boxes on the images of a detection project."""

    _esm = esm("box_editor.js")
    _css = css("box_editor.css")
    _handlers = {
        "set_boxes": (SetBoxesMsg, "_on_set_boxes"),
        "save": (SaveMsg, "_on_save"),
        "accept_suggestion": (AcceptSuggestionMsg, "_on_accept"),
        "accept_all": (AcceptAllMsg, "_on_accept_all"),
        "reject_suggestion": (RejectSuggestionMsg, "_on_reject"),
        "create_tag": (CreateTagMsg, "_on_create_tag"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }
    MAX_SIDE = 8192

    show = t.Unicode(
        "all",
        help="Which images to go through: 'all', 'untagged' (no boxes), 'tag:<tag id>' or a "
        "key given to add_filter.",
    ).tag(sync=True)
    boxes = t.List(
        t.Dict(),
        help="The boxes of the image as stored: [{tag (id), left, top, width, height}], "
        "normalized to [0, 1]. The browser sends edits as 'set_boxes' messages.",
    ).tag(sync=True)
    suggestions = t.List(
        t.Dict(),
        help="Suggested boxes for the image, drawn dashed: [{tag (id), left, top, width, "
        "height, probability}]. Filled by the suggest hook or by assignment.",
    ).tag(sync=True)
    current_tag = t.Unicode(
        "", help="Id of the tag new boxes get ('' when the project has no tag)."
    ).tag(sync=True)
    acked_edit = t.Int(
        0, help="The last edit number from the browser that is saved (read-only)."
    ).tag(sync=True)
    notes = t.List(
        t.Unicode(), help="What saving changed (boxes clipped to the image or dropped)."
    ).tag(sync=True)
    max_side = t.Int(1600, help="Longest side of the image sent to the browser, in pixels.")

    def __init__(self, project, *, show: str = "all", start: str | None = None,
                 suggest: SuggestFn | None = None, max_side: int = 1600) -> None:
        if project.kind != "detection":
            raise TagError(
                f"BoxEditor draws boxes for detection projects; this one is {project.kind}: "
                "tag whole images with cvbench.ui.Tagger(project) or Gallery(project)"
            )
        if suggest is not None and not callable(suggest):
            raise TypeError("suggest must be callable as suggest(project, image) -> boxes")
        self._suggest = suggest
        super().__init__(project, show=show, max_side=max_side, start=start)

    # -- validators --------------------------------------------------------------------------
    @t.validate("acked_edit")
    def _valid_acked_edit(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(f"acked_edit={proposal['value']} must be 0 or more")
        return proposal["value"]

    @t.validate("notes")
    def _valid_notes(self, proposal: t.Bunch) -> list[str]:
        if len(proposal["value"]) > 1000:
            raise t.TraitError("notes holds more than 1000 lines")
        return proposal["value"]

    @t.validate("boxes")
    def _valid_boxes(self, proposal: t.Bunch) -> list[dict]:
        try:
            return [dict(check_box(b, what=f"boxes[{i}]")) for i, b in enumerate(proposal["value"])]
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    @t.validate("suggestions")
    def _valid_suggestions(self, proposal: t.Bunch) -> list[dict]:
        out = []
        for i, s in enumerate(proposal["value"]):
            try:
                check_suggestion(s, what=f"suggestions[{i}]")
            except ValueError as exc:
                raise t.TraitError(str(exc)) from None
            if not any(tag["id"] == s["tag"] for tag in self.tags):
                raise t.TraitError(
                    f"suggestions[{i}] has tag {s['tag']!r}, not a tag id of this project"
                )
            out.append(dict(s))
        return out

    @t.validate("current_tag")
    def _valid_current_tag(self, proposal: t.Bunch) -> str:
        value = proposal["value"]
        if value and not any(tag["id"] == value for tag in self.tags):
            raise t.TraitError(
                f"current_tag={value!r} is not a tag id of this project; the tags are "
                f"{[tag['name'] for tag in self.tags]}"
            )
        return value

    # -- the image shown ---------------------------------------------------------------------
    def _refreshing(self) -> None:
        if self.current_tag not in {tag["id"] for tag in self.tags}:
            self.current_tag = self.tags[0]["id"] if self.tags else ""

    def _show_nothing(self) -> None:
        with self.hold_sync():
            super()._show_nothing()
            self.boxes = []
            self.suggestions = []

    def _show_image(self, img: StoredImage) -> None:
        src = preview_url(self.project, img, self.max_side)
        suggestions = [dict(s) for s in self._suggest(self.project, img)] if self._suggest else []
        with self.hold_sync():
            self.image = self._image_dict(img)
            self.src = src
            self.boxes = _boxes_of(img)
            self.suggestions = suggestions
            self.notes = []

    # -- saving ------------------------------------------------------------------------------
    def save(self, boxes: list[BoxDict] | None = None, *, image_id: str | None = None,
             edit: int | None = None) -> list[str]:
        """Save ``boxes`` (default: the current ones) as the image's regions; return notes."""
        image_id = image_id or self.image_id
        if image_id is None:
            raise ValueError("no image is shown; there is nothing to save")
        saved: list[Any] = self.boxes if boxes is None else [check_box(b) for b in boxes]
        notes = self.project.set_regions(
            image_id,
            [{"tag": b["tag"], "left": b["left"], "top": b["top"], "width": b["width"],
              "height": b["height"]} for b in saved],
            create_tags=False,
        )
        with self.hold_sync():
            if image_id == self.image_id:
                self.boxes = _boxes_of(self.project.image(image_id))
                self.notes = notes
            if edit is not None:
                self.acked_edit = max(self.acked_edit, edit)
            self.refresh_tags()
        if notes:
            self.say("Saved. " + "; ".join(notes), "info")
        return notes

    # -- handlers ----------------------------------------------------------------------------
    def _on_set_boxes(self, msg: SetBoxesMsg, _buffers: list[bytes]) -> None:
        boxes = [check_box(b, what=f"boxes[{i}]") for i, b in enumerate(msg["boxes"])]
        self.save(boxes, image_id=msg["image_id"], edit=msg["edit"])

    def _on_save(self, _msg: SaveMsg, _buffers: list[bytes]) -> None:
        notes = self.save()
        if not notes:
            n = len(self.boxes)
            self.say(f"Saved {n} box{'es' if n != 1 else ''}", "success")

    def _on_accept(self, msg: AcceptSuggestionMsg, _buffers: list[bytes]) -> None:
        self.accept(msg["index"])

    def _on_accept_all(self, _msg: AcceptAllMsg, _buffers: list[bytes]) -> None:
        self.accept_all()

    def _on_reject(self, msg: RejectSuggestionMsg, _buffers: list[bytes]) -> None:
        self.reject(msg["index"])

    def _on_create_tag(self, msg: CreateTagMsg, _buffers: list[bytes]) -> None:
        tag = self.project.create_tag(msg["name"])
        self.refresh_tags()
        self.current_tag = tag.id
        self.say(f"Created the tag {tag.name!r}; new boxes get it", "success")

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh(start=self.image_id if self.image_id in self._all_ids(self.show) else None)

    # -- suggestions -------------------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self.suggestions):
            raise ValueError(
                f"suggestion {index} does not exist; there are {len(self.suggestions)}"
            )

    def accept(self, index: int) -> None:
        """Turn suggestion ``index`` into a box and save."""
        self._check_index(index)
        s = self.suggestions[index]
        box = {k: s[k] for k in ("tag", "left", "top", "width", "height")}
        rest = [x for i, x in enumerate(self.suggestions) if i != index]
        self.save([*self.boxes, box])  # type: ignore[list-item]
        self.suggestions = rest

    def accept_all(self) -> None:
        """Turn every suggestion into a box and save."""
        if not self.suggestions:
            raise ValueError("there are no suggestions to accept")
        new = [{k: s[k] for k in ("tag", "left", "top", "width", "height")}
               for s in self.suggestions]
        n = len(new)
        self.save([*self.boxes, *new])  # type: ignore[list-item]
        self.suggestions = []
        self.say(f"Accepted {n} suggestion{'s' if n != 1 else ''}", "success")

    def reject(self, index: int | None = None) -> None:
        """Drop suggestion ``index``, or all of them when it is None."""
        if index is None:
            self.suggestions = []
            return
        self._check_index(index)
        self.suggestions = [x for i, x in enumerate(self.suggestions) if i != index]


def _boxes_of(img: StoredImage) -> list[dict[str, Any]]:
    return [
        {"tag": r.tag_id, "left": r.left, "top": r.top, "width": r.width, "height": r.height}
        for r in img.regions
    ]
