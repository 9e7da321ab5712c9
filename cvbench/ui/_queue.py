"""``ImageQueue``: what the Tagger and the BoxEditor share, one image at a time.

The queue (the ids of the images ``show`` picks, oldest first) is taken when the widget
opens and on :meth:`ImageQueue.refresh`; ``position`` is the image shown. Images tagged
meanwhile stay in the queue; images deleted meanwhile are skipped when they come up.
Subclasses say what they show of an image (:meth:`ImageQueue._show_image`) and what they
show when there is none (:meth:`ImageQueue._show_nothing`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import traitlets as t

from .._types import StoredImage
from ..project import Project
from ._base import FilteredWidget, check_data_url

__all__ = ["ImageQueue"]


class ImageQueue(FilteredWidget):
    """A filtered widget that goes through its images one at a time."""

    #: Whether ``position`` may be ``total``: the end of the queue, shown as "done".
    POSITION_PAST_END: ClassVar[bool] = False
    #: The largest ``max_side``.
    MAX_SIDE: ClassVar[int] = 4096
    #: The keys every (non-empty) ``image`` has.
    IMAGE_KEYS: ClassVar[tuple[str, ...]] = ("id", "name", "width", "height")

    position = t.Int(0, help="Index of the image shown in the queue.").tag(sync=True)
    total = t.Int(0, help="Images in the queue (read-only).").tag(sync=True)
    image = t.Dict(
        help="The image shown: {id, name, width, height} (pixels as displayed); {} if none "
        "(read-only)."
    ).tag(sync=True)
    src = t.Unicode(
        "", help="The image shown as a JPEG data URL, at most max_side pixels (read-only)."
    ).tag(sync=True)
    max_side = t.Int(800, help="Longest side of the image sent to the browser, in pixels.")

    def __init__(self, project: Project, *, show: str, max_side: int,
                 start: str | None = None) -> None:
        self._queue: list[str] = []
        super().__init__(project)
        self._loading = True
        self.max_side = max_side
        self.show = show
        self._loading = False
        self.refresh(start=start)

    # -- validators --------------------------------------------------------------------------
    @t.validate("src")
    def _valid_src(self, proposal: t.Bunch) -> str:
        return check_data_url(proposal["value"], "src")

    @t.validate("position")
    def _valid_position(self, proposal: t.Bunch) -> int:
        value = proposal["value"]
        last = self._last_position()
        if not 0 <= value <= last:
            end = " (total)" if self.POSITION_PAST_END else ""
            raise t.TraitError(f"position={value} should lie in [0, {last}]{end}")
        return value

    @t.validate("total")
    def _valid_total(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(f"total={proposal['value']} must be 0 or more")
        return proposal["value"]

    @t.validate("image")
    def _valid_image(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        missing = [k for k in self.IMAGE_KEYS if value and k not in value]
        if missing:
            raise t.TraitError(f"image lacks {missing}")
        return value

    @t.validate("max_side")
    def _valid_max_side(self, proposal: t.Bunch) -> int:
        if not 64 <= proposal["value"] <= self.MAX_SIDE:
            raise t.TraitError(f"max_side={proposal['value']} should be in [64, {self.MAX_SIDE}]")
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
        """The id of the image shown, or None when there is none (empty queue, or done)."""
        return self.image.get("id") if self.image else None

    def refresh(self, start: str | None = None) -> None:
        """Take the queue again from the project; show ``start`` (an image id) or the first."""
        self._queue = self._all_ids(self.show, order="oldest")
        position = 0
        if start is not None:
            if start not in self._queue:
                raise KeyError(f"image {start!r} is not among the images shown (show={self.show!r})")
            position = self._queue.index(start)
        self._loading = True
        try:
            with self.hold_sync():
                self.refresh_tags()
                self._refreshing()
                self.total = len(self._queue)
                self.position = position
        finally:
            self._loading = False
        self._load()

    def _follow_change(self) -> None:
        # the image shown and the tags again; the queue and the position stay as they are
        self.refresh_tags()
        if self.position < self.total:
            self._load()

    def go(self, position: int) -> None:
        """Show the image at ``position`` in the queue (clamped to the queue)."""
        self.position = max(0, min(int(position), self._last_position()))

    def next(self) -> None:
        self.go(self.position + 1)

    def previous(self) -> None:
        self.go(self.position - 1)

    def _last_position(self) -> int:
        return self.total if self.POSITION_PAST_END else max(0, self.total - 1)

    def _load(self) -> None:
        while self.position < self.total:
            found = self.project.images(ids=[self._queue[self.position]])
            if found:
                self._show_image(found[0])
                return
            del self._queue[self.position]  # deleted since the queue was taken
            self._loading = True
            try:
                self.total = len(self._queue)
                self.position = min(self.position, self._last_position())
            finally:
                self._loading = False
        self._show_nothing()

    # -- what subclasses show ----------------------------------------------------------------
    def _refreshing(self) -> None:
        """Called while the queue is taken again, in the same update of the browser."""

    def _image_dict(self, img: StoredImage) -> dict[str, Any]:
        """What ``image`` says of every image: ``{id, name, width, height}``."""
        return {
            "id": img.id,
            "name": img.original_name or img.id[:8],
            "width": img.width,
            "height": img.height,
        }

    def _show_image(self, img: StoredImage) -> None:
        raise NotImplementedError

    def _show_nothing(self) -> None:
        with self.hold_sync():
            self.image = {}
            self.src = ""
