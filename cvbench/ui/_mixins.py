"""Pieces of widgets that several widgets share, each a :class:`ProjectWidget` to combine
with others through inheritance (Python's method resolution order puts them together):

* :class:`IterationPicker`: the ``iterations`` list and the ``iteration`` picked from it
  (Performance, QuickTest, Predictions, ExportPanel).
* :class:`Paged`: one page of a longer list, ``page`` / ``page_size`` / ``total``
  (Gallery, Predictions).

    class Predictions(IterationPicker, Paged): ...
    class Gallery(Paged, FilteredWidget): ...
"""

from __future__ import annotations

from typing import Any, ClassVar

import traitlets as t

from ._base import ProjectWidget, check_dict_list
from ._iterations import choose_iteration, iteration_options

__all__ = ["IterationPicker", "Paged"]


class IterationPicker(ProjectWidget):
    """A widget that shows one iteration of the project, picked from ``iterations``."""

    iterations = t.List(
        t.Dict(), help="The iterations to pick from, newest first: {id, name, label, mode, "
        "domain, published_name, created} (read-only)."
    ).tag(sync=True)
    iteration = t.Unicode(
        "", help="Id of the iteration picked ('' when the project has none)."
    ).tag(sync=True)

    @t.validate("iteration")
    def _valid_iteration(self, proposal: t.Bunch) -> str:
        value = proposal["value"]
        if value and value not in [o["id"] for o in self.iterations]:
            raise t.TraitError(
                f"iteration={value!r} is not an iteration id of this project; it has "
                f"{[o['name'] for o in self.iterations]}"
            )
        return value

    @t.validate("iterations")
    def _valid_iterations(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "name", "label"), "iterations")

    def _pick_iteration(self, iteration: Any = None, *, newest: bool = False,
                        tags: bool = True) -> None:
        """Read the iterations again and pick ``iteration`` (id, name or published name),
        else keep the one picked; when an iteration was trained meanwhile, pick the newest
        one (``newest=True``), else the newest published one, else the newest. ``tags``:
        read the project's tags too, in the same update of the browser."""
        options = iteration_options(self.project)
        if iteration is not None:
            chosen = self.project.iteration(iteration).id
        else:  # a new iteration (trained meanwhile) is shown at once
            chosen = choose_iteration(options, self.iteration,
                                      {o["id"] for o in self.iterations}, newest=newest)
        with self.hold_sync():
            if tags:
                self.refresh_tags()
            self.iterations = options
            self.iteration = chosen


class Paged(ProjectWidget):
    """A widget that shows one page of a longer list of images and reads it with
    :meth:`reload` whenever ``page`` or ``page_size`` change."""

    #: The largest ``page_size``.
    MAX_PAGE_SIZE: ClassVar[int] = 500
    #: True while the widget sets its own traits (their observers then stay quiet).
    _loading = False

    page = t.Int(0, help="The page shown, counted from 0.").tag(sync=True)
    page_size = t.Int(60, help="Images per page, 1 to MAX_PAGE_SIZE.").tag(sync=True)
    total = t.Int(0, help="How many images there are on all the pages (read-only).").tag(
        sync=True)
    loaded = t.Int(
        0, help="Counts the reads of the page (read-only): it changes with every read, so the "
        "browser knows a read it asked for (Refresh, another page) is done even when nothing "
        "on the page changed."
    ).tag(sync=True)

    @t.validate("page", "total")
    def _valid_page_count(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(f"{proposal['trait'].name}={proposal['value']} must be 0 or more")
        return proposal["value"]

    @t.validate("page_size")
    def _valid_page_size(self, proposal: t.Bunch) -> int:
        if not 1 <= proposal["value"] <= self.MAX_PAGE_SIZE:
            raise t.TraitError(
                f"page_size={proposal['value']} should be between 1 and {self.MAX_PAGE_SIZE}"
            )
        return proposal["value"]

    @t.observe("page", "page_size")
    def _page_changed(self, _change: t.Bunch) -> None:
        if not self._loading:
            self.reload()

    @property
    def pages(self) -> int:
        """How many pages the list fills (at least 1)."""
        return max(1, -(-self.total // self.page_size))

    def _fit_page(self, total: int) -> int:
        """The page to show of a list of ``total`` images: the current one, or the last."""
        return min(self.page, max(0, -(-total // self.page_size) - 1))

    def _follow_change(self) -> None:
        self.refresh_tags()
        self.reload()

    def reload(self) -> None:
        """Read the current page again (subclasses say how, and end with :meth:`_loaded`
        in the same update of the browser)."""
        raise NotImplementedError

    def _loaded(self) -> None:
        self.loaded += 1
