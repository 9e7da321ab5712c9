"""``Insight``: why a model does what it does — the dataset's health, the embedding map, and
two iterations side by side.

    from cvbench.ui import Insight
    insight = Insight(project)
    insight                                     # in a notebook or a Voila app
    insight.check(wait=True)                    # the same as "Check the data"
    insight.keep(group, image_id)               # "Keep this one": the others are deleted
    insight.make_map("pca", "tag", wait=True)   # the embedding map
    insight.compare("Iteration 2", "Iteration 1")

**Health** runs ``project.health`` in a background thread (progress bar, Cancel), then
shows tiles (near-duplicates, leaks across train and validation, likely mislabels,
outliers, too small or too dark images, class balance), the groups of near-duplicates with
"Keep this one" per image (``project.keep_duplicate``) and the likely mislabels with their
suggested tag, to accept (``project.accept_suggested_tag``) or dismiss.

**Map** draws ``project.embedding_map`` in a canvas: the points travel as compact arrays
(``map_xy``: float32 x, y pairs; ``map_tag``: a uint16 tag index per point; ``map_outcome``:
a uint8 code per point, see :data:`~cvbench.ui._insight_data.OUTCOMES`), coloured by tag
or by whether the picked iteration got each validation image right. Hovering a point shows
its thumbnail and name, a click selects it, a drag draws a lasso around many; the selection
can be tagged in bulk or shown (in the Workbench: in the Images tab's gallery; elsewhere:
under the map).

**Compare** shows ``Iteration.compare``: per-tag precision, recall and AP of two
iterations and their difference, both PR curves, and the images one fixed and broke.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import traitlets as t

from ..errors import CancelledError, CvbenchError
from ..insight import METHODS, EmbeddingMap, HealthReport
from ._assets import app_css, esm
from ._base import check_dict_list
from ._compare import Comparer, compare_css
from ._insight_data import UNTAGGED, health_view, map_arrays, thumbs
from ._insight_messages import (
    AcceptTagMsg,
    CancelCheckMsg,
    CheckMsg,
    CompareMsg,
    DismissMsg,
    HoverMsg,
    KeepDuplicateMsg,
    MakeMapMsg,
    SelectPointsMsg,
    ShowSelectionMsg,
    TagSelectionMsg,
)
from ._iterations import num
from ._messages import RefreshMsg
from ._mixins import IterationPicker

__all__ = ["Insight", "STATES", "JOBS", "show_in_gallery", "MAX_SHOWN"]

#: What the widget is doing.
STATES = ("idle", "running", "cancelling")
#: The background jobs: the health check and the embedding map.
JOBS = ("health", "map")
#: How many thumbnails of a selection are shown under the map.
MAX_SHOWN = 60
#: The gallery filter that shows a selection of the map (Workbench).
GALLERY_FILTER = "map-selection"
_IDLE: dict[str, Any] = {"job": "", "stage": "", "fraction": 0.0, "message": ""}


class Insight(Comparer, IterationPicker):
    """The dataset's health, the embedding map and iteration comparison of a project."""

    _esm = esm("insight.js")
    _css = app_css("insight.css") + compare_css()
    _handlers = {
        "check": (CheckMsg, "_on_check"),
        "cancel": (CancelCheckMsg, "_on_cancel"),
        "keep_duplicate": (KeepDuplicateMsg, "_on_keep"),
        "accept_tag": (AcceptTagMsg, "_on_accept"),
        "dismiss": (DismissMsg, "_on_dismiss"),
        "make_map": (MakeMapMsg, "_on_make_map"),
        "select": (SelectPointsMsg, "_on_select"),
        "hover": (HoverMsg, "_on_hover"),
        "tag_selection": (TagSelectionMsg, "_on_tag_selection"),
        "show_selection": (ShowSelectionMsg, "_on_show_selection"),
        "compare": (CompareMsg, "_on_compare"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }

    state = t.Unicode("idle", help=f"What the widget does: one of {list(STATES)} (read-only).").tag(
        sync=True)
    progress = t.Dict(
        dict(_IDLE), help="The running job: {job ('health'|'map'|''), stage, fraction (0-1), "
        "message} (read-only).").tag(sync=True)
    health = t.Dict(
        help="The last health check, as shown: {n_images, summary, notes, tiles {duplicates, "
        "to_delete, conflicts, leaks, mislabels, outliers, too_small, too_dark}, balance "
        "[{tag, images, train, validation, share, ratio}], groups [{group, keep, across_tags, "
        "across_splits, similarity, images [{id, name, src, tags, split, width, height}]}], "
        "n_groups, mislabels [{image_id, name, src, tags, suggested, given_probability, "
        "suggested_probability, rank}], n_mislabels}; {} before a check (read-only)."
    ).tag(sync=True)
    map_info = t.Dict(
        help="The map drawn: {n, method, color_by, names (tag names, indexed by map_tag), "
        "iteration (id or ''), iteration_name}; {} before a map (read-only)."
    ).tag(sync=True)
    map_xy = t.Bytes(b"", help="The points: float32 x, y pairs in [0, 1], little-endian "
                     "(read-only).").tag(sync=True)
    map_tag = t.Bytes(b"", help="Per point, a uint16 index into map_info.names (65535: "
                      "untagged) (read-only).").tag(sync=True)
    map_outcome = t.Bytes(b"", help="Per point, a uint8: 0 wrong, 1 right, 2 not validated by "
                          "the map's iteration (read-only).").tag(sync=True)
    selection = t.List(t.Int(), help="Indices of the points selected on the map.").tag(sync=True)
    shown = t.List(
        t.Dict(), help="Thumbnails of the selection shown under the map: {id, name, src, "
        "tags, split, width, height}, at most MAX_SHOWN (read-only).").tag(sync=True)
    hover = t.Dict(help="The point under the pointer: {index, id, name, src, tags}; {} for "
                   "none (read-only).").tag(sync=True)
    def __init__(self, project: Any, *, iteration: Any = None) -> None:
        super().__init__(project)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._report: HealthReport | None = None
        self._dismissed: list[str] = []
        self._ids: list[str] = []
        self._show_callbacks: list[Callable[[list[str]], Any]] = []
        #: the unexpected exception of the last failed job (for debugging), else None
        self.error: BaseException | None = None
        self._pick_iteration(iteration)

    # -- validators --------------------------------------------------------------------------
    @t.validate("state")
    def _valid_state(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in STATES:
            raise t.TraitError(f"state={proposal['value']!r} should be one of {list(STATES)}")
        return proposal["value"]

    @t.validate("progress")
    def _valid_progress(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        missing = [k for k in _IDLE if k not in value]
        if missing:
            raise t.TraitError(f"progress lacks {missing}; it needs {list(_IDLE)}")
        if not 0.0 <= value["fraction"] <= 1.0:
            raise t.TraitError(f"progress fraction={value['fraction']!r} should be in [0, 1]")
        return value

    @t.validate("selection")
    def _valid_selection(self, proposal: t.Bunch) -> list[int]:
        value = sorted(set(proposal["value"]))
        bad = [i for i in value if not 0 <= i < len(self._ids)]
        if bad:
            raise t.TraitError(f"selection has {bad[:5]}: the map has {len(self._ids)} points "
                               f"(indices 0 to {len(self._ids) - 1})")
        return value

    @t.validate("shown")
    def _valid_shown(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "src"), "shown")

    # -- reading -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a health check or a map is being made."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def report(self) -> HealthReport | None:
        """The last health report (None before a check)."""
        return self._report

    @property
    def selected_ids(self) -> list[str]:
        """The ids of the images selected on the map."""
        return [self._ids[i] for i in self.selection]

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the tags and iterations again, and drop from the health view what was
        deleted or retagged meanwhile."""
        self._pick_iteration()
        if self._report is not None:
            self.health = health_view(self.project, self._report, dismissed=self._dismissed)

    # -- health --------------------------------------------------------------------------------
    def check(self, *, wait: bool = False) -> threading.Thread:
        """Run the health check in a background thread; ``wait=True`` returns when it ended."""
        return self._start("health", self._run_health, wait=wait)

    def _run_health(self) -> None:
        report = self.project.health(on_progress=self._on_progress, cancel=self._cancel)
        self._report = report
        self._dismissed = []
        self.health = health_view(self.project, report)
        self.say(f"Checked {report.n_images} images.", "success")

    def keep(self, group: int, image_id: str) -> int:
        """Keep ``image_id`` of duplicate group ``group`` (a number of the last check) and
        delete the group's other images; returns how many were deleted."""
        if self._report is None:
            raise ValueError("there is no health report yet; press Check the data (check())")
        ids = list(self._report.group(group).image_ids)
        if image_id not in ids:
            raise ValueError(f"image {image_id!r} is not in duplicate group {group}; it has "
                             f"{ids}")
        deleted = self.project.keep_duplicate(ids, keep=image_id)
        self.refresh()
        self.say(f"Kept one image; deleted {deleted} duplicate{'' if deleted == 1 else 's'}.",
                 "success")
        return deleted

    def accept(self, image_id: str) -> None:
        """Give a likely mislabelled image the tag the health check suggests."""
        mislabel = self._mislabel(image_id)
        image = self.project.accept_suggested_tag(mislabel)
        self.refresh()
        self.say(f"Tagged {image.original_name or image.id[:8]} {', '.join(image.tags)}.",
                 "success")

    def dismiss(self, image_id: str) -> None:
        """Take a likely mislabelled image off the list: its tag is right."""
        self._mislabel(image_id)
        self._dismissed.append(image_id)
        self.refresh()

    def _mislabel(self, image_id: str) -> Any:
        if self._report is None:
            raise ValueError("there is no health report yet; press Check the data (check())")
        shown = [m["image_id"] for m in self.health.get("mislabels", [])]
        if image_id not in shown:
            raise ValueError(f"image {image_id!r} is not among the likely mislabelled images "
                             "shown; check the data again to see the current ones")
        return self._report.mislabel(image_id)

    # -- the map -------------------------------------------------------------------------------
    def make_map(self, method: str = "pca", color_by: str = "tag", *,
                 wait: bool = False) -> threading.Thread:
        """Make the embedding map in a background thread (``color_by="correct"`` colours by
        the picked iteration's outcome on its validation images)."""
        if method not in METHODS:
            raise ValueError(f"method={method!r} should be one of {list(METHODS)}")
        if color_by not in ("tag", "correct"):
            raise ValueError(f"color_by={color_by!r} should be 'tag' or 'correct'")
        if color_by == "correct" and not self.iteration:
            raise ValueError("colouring by correct and wrong needs an iteration: train one "
                             "first, or colour by tag")
        iteration = self.iteration if color_by == "correct" else None

        def run() -> None:
            emap = self.project.embedding_map(method, color_by, iteration,
                                              on_progress=self._on_progress,
                                              cancel=self._cancel)
            self.show_map(emap)

        return self._start("map", run, wait=wait)

    def show_map(self, emap: EmbeddingMap) -> None:
        """Draw an :class:`~cvbench.insight.EmbeddingMap` (made here or in Python)."""
        if not isinstance(emap, EmbeddingMap):
            raise TypeError(f"emap should be an EmbeddingMap (project.embedding_map()), not "
                            f"{type(emap).__name__}")
        xy, tags, outcome, names, ids = map_arrays(emap)
        name = ""
        if emap.iteration_id:
            name = next((o["name"] for o in self.iterations if o["id"] == emap.iteration_id), "")
        with self.hold_sync():
            self._ids = ids
            self.selection = []
            self.shown = []
            self.hover = {}
            self.map_xy, self.map_tag, self.map_outcome = xy, tags, outcome
            self.map_info = {"n": len(ids), "method": emap.method, "color_by": emap.color_by,
                             "names": names, "iteration": emap.iteration_id or "",
                             "iteration_name": name}

    def select(self, indices: list[int]) -> None:
        """Select points of the map by index."""
        try:
            self.selection = list(indices)
        except t.TraitError as exc:
            raise ValueError(str(exc)) from None
        if self.shown:
            self._show_here()

    def tag_selection(self, tag: str) -> None:
        """Tag the selected images with ``tag`` (id or name)."""
        ids = self.selected_ids
        if not ids:
            raise ValueError("no point is selected: click one, or drag a lasso around some")
        known = self.project.get_tag(tag)
        self.project.tag_images(ids, [known.id], create_tags=False)
        self._recolour(known.name)
        self.refresh_tags()
        self.say(f"Tagged {len(ids)} image{'' if len(ids) == 1 else 's'} {known.name}.",
                 "success")

    def _recolour(self, name: str) -> None:
        """The selected points now carry tag ``name`` (multiclass: it replaced their tag;
        otherwise it is theirs when they had none): their colour follows."""
        names = list(self.map_info.get("names", []))
        codes = np.frombuffer(self.map_tag, dtype="<u2").copy()
        rows = np.array(self.selection, dtype=np.int64)
        if self.kind != "multiclass":
            rows = rows[codes[rows] == UNTAGGED]
        if not rows.size:
            return
        if name not in names:
            names.append(name)
        codes[rows] = names.index(name)
        with self.hold_sync():
            self.map_tag = codes.tobytes()
            self.map_info = {**self.map_info, "names": names}

    def on_show_images(self, callback: Callable[[list[str]], Any]) -> None:
        """Call ``callback(image_ids)`` to show a selection (the Workbench shows it in its
        gallery); without one, the selection's thumbnails are shown under the map."""
        if not callable(callback):
            raise TypeError(f"callback={callback!r} must be callable as callback(image_ids)")
        self._show_callbacks.append(callback)

    def show_selection(self) -> None:
        """Show the selected images: in the gallery when a callback is registered, else
        under the map."""
        ids = self.selected_ids
        if not ids:
            raise ValueError("no point is selected: click one, or drag a lasso around some")
        if self._show_callbacks:
            for callback in list(self._show_callbacks):
                callback(ids)
            return
        self._show_here()

    def _show_here(self) -> None:
        ids = self.selected_ids[:MAX_SHOWN]
        found = thumbs(self.project, ids)
        self.shown = [found[i] for i in ids if i in found]

    def _hover(self, index: int) -> None:
        if index < 0:
            self.hover = {}
            return
        if not 0 <= index < len(self._ids):
            raise ValueError(f"point {index} is not on the map ({len(self._ids)} points)")
        image_id = self._ids[index]
        found = thumbs(self.project, [image_id]).get(image_id)
        self.hover = {"index": index, "id": image_id, "name": found["name"] if found else
                      image_id, "src": found["src"] if found else "",
                      "tags": found["tags"] if found else [], "deleted": found is None}

    # -- compare -------------------------------------------------------------------------------
    def compare(self, this: str, other: str) -> None:
        """Compare two iterations (ids or names): ``this`` against ``other``; iterations
        that do not compare raise ValueError (and ``comparison`` says why)."""
        view = self._compared(self.project.iteration(this), self.project.iteration(other))
        self.comparison = view
        if view["error"]:
            raise ValueError(view["error"])

    # -- the background jobs ---------------------------------------------------------------------
    def _start(self, job: str, target: Callable[[], None], *, wait: bool) -> threading.Thread:
        if self.running or self.state != "idle":
            raise ValueError("a health check or map is being made; wait for it or cancel it")
        self._cancel = threading.Event()
        self.error = None
        with self.hold_sync():
            self.progress = {**_IDLE, "job": job, "stage": "prepare", "message": "starting"}
            self.state = "running"
        self._thread = threading.Thread(target=self._run, args=(job, target),
                                        name=f"cvbench-insight-{job}", daemon=True)
        self._thread.start()
        if wait:
            self.wait()
        return self._thread

    def _run(self, job: str, target: Callable[[], None]) -> None:
        what = "The health check" if job == "health" else "The map"
        try:
            target()
        except CancelledError:
            self.say(f"{what} was cancelled; the features computed so far are kept.", "info")
        except (CvbenchError, ValueError, ImportError) as exc:
            self.say(f"{what} could not run: {exc}", "error")
        except Exception as exc:  # a bug: say so, and keep it for debugging
            self.error = exc
            self.say(f"{what} failed ({type(exc).__name__}): {exc}", "error")
        finally:
            with self.hold_sync():
                self.progress = dict(_IDLE)
                self.state = "idle"

    def cancel(self) -> None:
        """Stop the running check or map at its next safe point."""
        if not self.running:
            raise ValueError("no health check or map is running")
        self._cancel.set()
        self.state = "cancelling"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job to end; True when it has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _on_progress(self, event: Mapping[str, Any]) -> None:
        if self.state == "cancelling":
            return
        self.progress = {"job": self.progress.get("job", ""),
                         "stage": str(event.get("stage", "")),
                         "fraction": min(1.0, max(0.0, num(event.get("fraction")) or 0.0)),
                         "message": str(event.get("message", ""))}

    # -- handlers ------------------------------------------------------------------------------
    def _on_check(self, _msg: CheckMsg, _buffers: list[bytes]) -> None:
        self.check()

    def _on_cancel(self, _msg: CancelCheckMsg, _buffers: list[bytes]) -> None:
        self.cancel()

    def _on_keep(self, msg: KeepDuplicateMsg, _buffers: list[bytes]) -> None:
        self.keep(msg["group"], msg["keep"])

    def _on_accept(self, msg: AcceptTagMsg, _buffers: list[bytes]) -> None:
        self.accept(msg["image_id"])

    def _on_dismiss(self, msg: DismissMsg, _buffers: list[bytes]) -> None:
        self.dismiss(msg["image_id"])

    def _on_make_map(self, msg: MakeMapMsg, _buffers: list[bytes]) -> None:
        self.make_map(msg["method"], msg["color_by"])

    def _on_select(self, msg: SelectPointsMsg, _buffers: list[bytes]) -> None:
        self.select(msg["indices"])

    def _on_hover(self, msg: HoverMsg, _buffers: list[bytes]) -> None:
        self._hover(msg["index"])

    def _on_tag_selection(self, msg: TagSelectionMsg, _buffers: list[bytes]) -> None:
        self.tag_selection(msg["tag"])

    def _on_show_selection(self, _msg: ShowSelectionMsg, _buffers: list[bytes]) -> None:
        self.show_selection()

    def _on_compare(self, msg: CompareMsg, _buffers: list[bytes]) -> None:
        self.compare(msg["this"], msg["other"])

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()


def show_in_gallery(workbench: Any, ids: list[str]) -> None:
    """Show ``ids`` in the Images tab of ``workbench`` (a gallery filter of those ids)."""
    gallery = workbench.widget("images")
    chosen = list(ids)
    gallery.add_filter(GALLERY_FILTER, f"Selected on the map ({len(chosen)})",
                       lambda _project, _split: chosen)
    if gallery.show == GALLERY_FILTER:
        gallery.reload()
    else:
        gallery.show = GALLERY_FILTER
    workbench.show("images")
