"""``Tagger``: one image at a time, large, tagged from the keyboard.

    from cvbench.ui import Tagger
    Tagger(project)                   # the untagged images, oldest first
    Tagger(project, show="all")

Keys: 1-9 pick the n-th tag (a multilabel project toggles it, a multiclass project
replaces the image's tag), 0 removes the image's tags, Enter accepts and goes to the next
image, the arrows move back and forth. Every change is saved at once.

The queue is taken when the widget opens (and on Refresh): images tagged meanwhile stay in
it, so going back shows them with their new tags.
"""

from __future__ import annotations

import traitlets as t

from ..errors import TagError
from ._base import FilteredWidget, check_data_url, css, esm
from ._images import preview_url
from ._messages import ClearTagsMsg, CreateTagMsg, RefreshMsg, ToggleTagMsg

__all__ = ["Tagger"]


class Tagger(FilteredWidget):
    """Tag images one at a time with the keyboard (classification projects)."""

    _esm = esm("tagger.js")
    _css = css("tagger.css")
    _handlers = {
        "toggle_tag": (ToggleTagMsg, "_on_toggle_tag"),
        "clear_tags": (ClearTagsMsg, "_on_clear_tags"),
        "create_tag": (CreateTagMsg, "_on_create_tag"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }

    show = t.Unicode(
        "untagged",
        help="Which images to go through: 'untagged', 'all', 'tag:<tag id>' or a key given "
        "to add_filter.",
    ).tag(sync=True)
    position = t.Int(
        0, help="Index of the image shown in the queue; equal to total when it is done."
    ).tag(sync=True)
    total = t.Int(0, help="Images in the queue (read-only).").tag(sync=True)
    image = t.Dict(
        help="The image shown: {id, name, width, height, tags (tag ids), split}; {} when the "
        "queue is empty or done (read-only)."
    ).tag(sync=True)
    src = t.Unicode(
        "", help="The image shown as a JPEG data URL, at most max_side pixels (read-only)."
    ).tag(sync=True)
    max_side = t.Int(800, help="Longest side of the image sent to the browser, in pixels.")

    def __init__(self, project, *, show: str = "untagged", max_side: int = 800) -> None:
        if project.kind == "detection":
            raise TagError(
                "Tagger tags whole images (classification); this project is detection: draw "
                "boxes with cvbench.ui.BoxEditor(project)"
            )
        super().__init__(project)
        self._queue: list[str] = []
        self._loading = True
        self.max_side = max_side
        self.show = show
        self._loading = False
        self.refresh()

    # -- validators --------------------------------------------------------------------------
    @t.validate("src")
    def _valid_src(self, proposal: t.Bunch) -> str:
        return check_data_url(proposal["value"], "src")

    @t.validate("position")
    def _valid_position(self, proposal: t.Bunch) -> int:
        value = proposal["value"]
        if not 0 <= value <= self.total:
            raise t.TraitError(f"position={value} should lie in [0, {self.total}] (total)")
        return value

    @t.validate("total")
    def _valid_total(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(f"total={proposal['value']} must be 0 or more")
        return proposal["value"]

    @t.validate("image")
    def _valid_image(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        missing = [k for k in ("id", "name", "tags") if value and k not in value]
        if missing:
            raise t.TraitError(f"image lacks {missing}")
        return value

    @t.validate("max_side")
    def _valid_max_side(self, proposal: t.Bunch) -> int:
        if not 64 <= proposal["value"] <= 4096:
            raise t.TraitError(f"max_side={proposal['value']} should be in [64, 4096]")
        return proposal["value"]

    # -- reacting to the browser -------------------------------------------------------------
    @t.observe("show")
    def _show_changed(self, _change: t.Bunch) -> None:
        if not self._loading:
            self.refresh()

    @t.observe("position")
    def _position_changed(self, _change: t.Bunch) -> None:
        if not self._loading:
            self._load()

    # -- the queue ---------------------------------------------------------------------------
    @property
    def image_id(self) -> str | None:
        """The id of the image shown, or None when the queue is empty or done."""
        return self.image.get("id") if self.image else None

    def refresh(self) -> None:
        """Take the queue again from the project and show its first image."""
        self._queue = self._all_ids(self.show, order="oldest")
        self._loading = True
        try:
            with self.hold_sync():
                self.refresh_tags()
                self.position = 0
                self.total = len(self._queue)
        finally:
            self._loading = False
        self._load()

    def go(self, position: int) -> None:
        """Show the image at ``position`` in the queue (``total`` shows the end)."""
        self.position = max(0, min(int(position), self.total))

    def next(self) -> None:
        self.go(self.position + 1)

    def previous(self) -> None:
        self.go(self.position - 1)

    def _load(self) -> None:
        while self.position < self.total:
            image_id = self._queue[self.position]
            found = self.project.images(ids=[image_id])
            if found:
                img = found[0]
                src = preview_url(self.project, img, self.max_side)
                with self.hold_sync():
                    self.image = {
                        "id": img.id,
                        "name": img.original_name or img.id[:8],
                        "width": img.width,
                        "height": img.height,
                        "tags": list(img.tag_ids),
                        "split": img.split or "",
                    }
                    self.src = src
                return
            # deleted since the queue was taken
            del self._queue[self.position]
            self.total = len(self._queue)
        with self.hold_sync():
            self.image = {}
            self.src = ""

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
        tag = self.project.create_tag(msg["name"])
        if self.image:
            self.toggle(tag.id)
        else:
            self.refresh_tags()
        self.say(f"Created the tag {tag.name!r}", "success")

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
