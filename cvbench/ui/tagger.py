"""``Tagger``: one image at a time, large, tagged from the keyboard.

    from cvbench.ui import Tagger
    Tagger(project)                   # the untagged images, oldest first
    Tagger(project, show="all")

Keys: each tag's key (1-9, 0, then Shift+1 to Shift+0, shown on its button; see
:func:`cvbench.ui._assets.tag_slots`) picks it (a multilabel project toggles it, a multiclass
project replaces the image's tag), U or Delete removes the image's tags, Enter accepts and
goes to the next image, the arrows move back and forth. Every change is saved at once. "+ Add tag" only
creates a tag; the image shown gets it from its key or its button.

The queue is taken when the widget opens (and on Refresh): images tagged meanwhile stay in
it, so going back shows them with their new tags.
"""

from __future__ import annotations

import traitlets as t

from .._types import StoredImage
from ..errors import TagError
from ._assets import css, esm
from ._images import preview_url
from ._messages import ClearTagsMsg, CreateTagMsg, RefreshMsg, ToggleTagMsg
from ._queue import ImageQueue

__all__ = ["Tagger"]


class Tagger(ImageQueue):
    """Tag images one at a time with the keyboard (classification projects)."""

    _esm = esm("tagger.js")
    _css = css("tagger.css")
    _handlers = {
        "toggle_tag": (ToggleTagMsg, "_on_toggle_tag"),
        "clear_tags": (ClearTagsMsg, "_on_clear_tags"),
        "create_tag": (CreateTagMsg, "_on_create_tag"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }
    POSITION_PAST_END = True
    IMAGE_KEYS = ("id", "name", "tags")

    show = t.Unicode(
        "untagged",
        help="Which images to go through: 'untagged', 'all', 'tag:<tag id>' or a key given "
        "to add_filter.",
    ).tag(sync=True)
    position = t.Int(
        0, help="Index of the image shown in the queue; equal to total when it is done."
    ).tag(sync=True)
    image = t.Dict(
        help="The image shown: {id, name, width, height, tags (tag ids), split}; {} when the "
        "queue is empty or done (read-only)."
    ).tag(sync=True)

    def __init__(self, project, *, show: str = "untagged", max_side: int = 800) -> None:
        if project.kind == "detection":
            raise TagError(
                "Tagger tags whole images (classification); this project is detection: draw "
                "boxes with cvbench.ui.BoxEditor(project)"
            )
        super().__init__(project, show=show, max_side=max_side)

    # -- the image shown ---------------------------------------------------------------------
    def _show_image(self, img: StoredImage) -> None:
        src = preview_url(self.project, img, self.max_side)
        with self.hold_sync():
            self.image = {**self._image_dict(img), "tags": list(img.tag_ids),
                          "split": img.split or ""}
            self.src = src

    def _reread_image(self) -> None:
        img = self.project.image(self.image["id"])
        with self.hold_sync():
            self.refresh_tags()
            self.image = {**self.image, "tags": list(img.tag_ids), "split": img.split or ""}

    # -- handlers ----------------------------------------------------------------------------
    def _require_image(self) -> str:
        if not self.image:
            raise ValueError("no image is shown; choose another filter or press Refresh")
        return self.image["id"]

    def _on_toggle_tag(self, msg: ToggleTagMsg, _buffers: list[bytes]) -> None:
        self.toggle(msg["tag"])

    def _on_clear_tags(self, _msg: ClearTagsMsg, _buffers: list[bytes]) -> None:
        image_id = self._require_image()
        self.project.untag_images([image_id])
        self._reread_image()

    def _on_create_tag(self, msg: CreateTagMsg, _buffers: list[bytes]) -> None:
        # only creates it: the image shown gets a tag from its key or its button, never as
        # a side effect (three new tags in a row would otherwise retag the image three times)
        tag = self.project.create_tag(msg["name"])
        self.refresh_tags()
        key = next(x["key"] for x in self.tags if x["id"] == tag.id).replace("\u21e7", "Shift+")
        hint = "" if not self.image else (
            f"; key {key} or its button tags the image" if key else "; its button tags the image")
        self.say(f"Created the tag {tag.name!r}{hint}", "success")

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()

    def toggle(self, tag: str) -> None:
        """Toggle ``tag`` (id or name) on the image shown; multiclass replaces its tag."""
        image_id = self._require_image()
        tag_obj = self.project.get_tag(tag)
        if tag_obj.id in self.image["tags"]:
            self.project.untag_images([image_id], [tag_obj.id])
        else:
            self.project.tag_images([image_id], [tag_obj.id], create_tags=False)
        self._reread_image()
