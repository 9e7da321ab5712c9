"""``Gallery``: the project's images as one paged grid of thumbnails, to filter, select and tag.

    from cvbench.ui import Gallery
    Gallery(project)                      # all images, newest first, 60 a page
    Gallery(project, show="untagged")

Only the page shown is read from the project (``project.images(skip=, take=)``), so a
project of 100,000 images opens as fast as one of 60. In the browser: click selects,
shift-click selects a range, ctrl/cmd-click adds or removes one; arrows move the focus,
space selects it, each tag's key (1-9, 0, then Shift+1 to Shift+0, shown on its button)
tags the selection with it, U removes its tags, Delete deletes it (after a confirmation), ctrl/cmd-A selects the page, Escape clears. A double
click, Enter, or the ⤢ button of a thumbnail shows the image large (its tags, split and the
predictions of each iteration; see :mod:`cvbench.ui._detail`), the arrows going through
the page.
"""

from __future__ import annotations

import traitlets as t

from ._assets import css, esm
from ._base import FilteredWidget, ImageFilter, check_dict_list
from ._detail import ImageDetail, detail_css
from ._images import thumbnail_url
from ._messages import (
    CreateTagMsg,
    DeleteImagesMsg,
    RefreshMsg,
    SelectMatchingMsg,
    TagImagesMsg,
    UntagImagesMsg,
)
from ._mixins import Paged

__all__ = ["Gallery"]

_SPLITS = ("", "train", "validation")
MAX_PAGE_SIZE = 500


class Gallery(ImageDetail, Paged, FilteredWidget):
    """A paged grid of the project's images with filters, selection and bulk tagging."""

    _esm = esm("gallery.js")
    _css = css("gallery.css") + detail_css()
    _handlers = {
        "tag": (TagImagesMsg, "_on_tag"),
        "untag": (UntagImagesMsg, "_on_untag"),
        "delete": (DeleteImagesMsg, "_on_delete"),
        "create_tag": (CreateTagMsg, "_on_create_tag"),
        "select_matching": (SelectMatchingMsg, "_on_select_matching"),
        "refresh": (RefreshMsg, "_on_refresh"),
        **ImageDetail.DETAIL_HANDLERS,
    }
    MAX_PAGE_SIZE = MAX_PAGE_SIZE

    split = t.Unicode(
        "", help="Restrict to a split: '' (both), 'train' or 'validation'."
    ).tag(sync=True)
    page_size = t.Int(60, help=f"Images per page, 1 to {MAX_PAGE_SIZE}.").tag(sync=True)
    total = t.Int(0, help="How many images the filter matches (read-only).").tag(sync=True)
    items = t.List(
        t.Dict(),
        help="The images of the page, in order: {id, name, width, height, tags (tag ids), "
        "split ('' if none), regions ([tag id, left, top, width, height], normalized)} "
        "(read-only).",
    ).tag(sync=True)
    thumbnails = t.Dict(
        help="Thumbnails of the page's images: {image id: JPEG data URL} (read-only). Apart "
        "from items, so that tagging re-sends the tags, not the pictures.",
    ).tag(sync=True)
    selected = t.List(
        t.Unicode(), help="Ids of the selected images (they may lie on several pages)."
    ).tag(sync=True)
    image_count = t.Int(0, help="Images in the project (read-only).").tag(sync=True)
    untagged_count = t.Int(0, help="Images without a tag (read-only).").tag(sync=True)

    def __init__(self, project, *, show: str = "all", split: str = "", page_size: int = 60,
                 filters: dict[str, tuple[str, ImageFilter]] | None = None) -> None:
        #: the images this widget deleted: a selection the browser sent before it knew is
        #: cleared of them (its state changes may reach Python after its delete message)
        self._deleted: set[str] = set()
        super().__init__(project)
        self._loading = True
        for key, (label, fn) in (filters or {}).items():
            self.add_filter(key, label, fn)
        with self.hold_sync():
            self.show = show
            self.split = split
            self.page_size = page_size
        self._loading = False
        self.reload()

    # -- validators --------------------------------------------------------------------------
    @t.validate("split")
    def _valid_split(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in _SPLITS:
            raise t.TraitError(f"split={proposal['value']!r} should be one of {list(_SPLITS)}")
        return proposal["value"]

    @t.validate("image_count", "untagged_count")
    def _valid_count(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(
                f"{proposal['trait'].name}={proposal['value']} must be 0 or more"
            )
        return proposal["value"]

    @t.validate("items")
    def _valid_items(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "name", "tags"), "items")

    @t.validate("thumbnails")
    def _valid_thumbnails(self, proposal: t.Bunch) -> dict:
        for key, url in proposal["value"].items():
            if not isinstance(key, str) or not isinstance(url, str) or not url.startswith(
                "data:image/"
            ):
                raise t.TraitError(f"thumbnails[{key!r}] should be an image data URL")
        return proposal["value"]

    @t.validate("selected")
    def _valid_selected(self, proposal: t.Bunch) -> list[str]:
        value = proposal["value"]
        if not all(isinstance(v, str) and v for v in value):
            raise t.TraitError("selected must be a list of image ids")
        # a double click may send an id twice
        return self._live(list(dict.fromkeys(value)))

    # -- reacting to the browser -------------------------------------------------------------
    @t.observe("show", "split")
    def _filter_changed(self, change: t.Bunch) -> None:
        if self._loading:
            return
        self._loading = True
        try:
            self.page = 0
            self.selected = []
        finally:
            self._loading = False
        self.reload()

    # -- reading -----------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the tags, the counts and the current page from the project again."""
        total = self._count(self.show, self.split)
        page = self._fit_page(total)
        images = self._page(self.show, self.split, page * self.page_size, self.page_size)
        detection = self.project.kind == "detection"
        items = [
            {
                "id": img.id,
                "name": img.original_name or img.id[:8],
                "width": img.width,
                "height": img.height,
                "tags": list(img.tag_ids),
                "split": img.split or "",
                "regions": [
                    [r.tag_id, r.left, r.top, r.width, r.height] for r in img.regions
                ] if detection else [],
            }
            for img in images
        ]
        thumbnails = {img.id: thumbnail_url(self.project, img) for img in images}
        self._loading = True
        try:
            with self.hold_sync():
                self.refresh_tags()
                self.image_count = self.project.count_images()
                self.untagged_count = self.project.count_images(untagged=True)
                self.total = total
                self.page = page
                self.thumbnails = thumbnails  # unchanged (not re-sent) after tagging
                self.items = items
                self._loaded()
        finally:
            self._loading = False

    # -- handlers: each calls the project, then reads the page again -------------------------
    def _live(self, ids: list[str]) -> list[str]:
        """``ids`` from the browser less the images deleted here (a selection it sent before
        it heard of their deletion)."""
        return [i for i in ids if i not in self._deleted]

    def _on_tag(self, msg: TagImagesMsg, _buffers: list[bytes]) -> None:
        self.tag(self._live(msg["ids"]), msg["tag"])

    def _on_untag(self, msg: UntagImagesMsg, _buffers: list[bytes]) -> None:
        self.untag(self._live(msg["ids"]), msg["tag"])

    def _on_delete(self, msg: DeleteImagesMsg, _buffers: list[bytes]) -> None:
        self.delete(self._live(msg["ids"]))

    def _on_create_tag(self, msg: CreateTagMsg, _buffers: list[bytes]) -> None:
        tag = self.project.create_tag(msg["name"])
        if ids := self._live(msg["ids"]):
            self.tag(ids, tag.id)
        else:
            self.reload()
            self.say(f"Created the tag {tag.name!r}", "success")

    def _on_select_matching(self, _msg: SelectMatchingMsg, _buffers: list[bytes]) -> None:
        self.selected = self._all_ids(self.show, self.split)

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.reload()

    # -- the same actions from Python ----------------------------------------------------------
    def tag(self, ids: list[str], tag: str) -> None:
        """Tag images with ``tag`` (id or name); in a multiclass project it replaces."""
        if not ids:
            raise ValueError("no image is selected; select images first, then choose a tag")
        self.project.tag_images(ids, tag, create_tags=False)
        name = self.project.get_tag(tag).name
        self.selected = []
        self.reload()
        self.say(f"Tagged {_images(len(ids))} as {name!r}", "success")

    def untag(self, ids: list[str], tag: str | None = None) -> None:
        """Remove ``tag`` (id or name) from images, or all their tags (and boxes) if None."""
        if not ids:
            raise ValueError("no image is selected; select images first")
        self.project.untag_images(ids, tag)
        what = "all tags" if tag is None else repr(self.project.get_tag(tag).name)
        self.selected = []
        self.reload()
        self.say(f"Removed {what} from {_images(len(ids))}", "success")

    def delete(self, ids: list[str]) -> None:
        """Delete images from the project (their files, tags and boxes)."""
        if not ids:
            raise ValueError("no image is selected; select images first")
        n = self.project.delete_images(ids)
        self._deleted.update(ids)
        self.selected = [i for i in self.selected if i not in self._deleted]
        self.reload()
        self.say(f"Deleted {_images(n)}", "success")


def _images(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n:,} images"
