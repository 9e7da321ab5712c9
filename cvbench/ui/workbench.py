"""``Workbench``: every cvbench widget in one app, the page ``cvbench app`` shows in Voila.

    from cvbench.ui import Workbench
    Workbench(project)                       # opens on the Images tab
    Workbench(project, tab="performance")

A header with the project's name, kind, domain and counts, and tabs: Images (upload and
gallery), Tag (tagger, or box editor for detection), Train, Performance, Insight (dataset
health, the embedding map, iteration comparison), Predictions, Quick test, Export and
Settings (the project's and its tags'). A tab's widget is built the first time it is shown and read again
from the project each time it is shown again, so every tab reflects what the others did.

``ExportPanel`` (the Export tab) lives in :mod:`cvbench.ui.export_panel`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets as t

from ..project import Project
from ._assets import app_css, esm
from ._base import ProjectWidget, check_dict_list
from ._messages import RefreshMsg
from .export_panel import ExportPanel

__all__ = ["Workbench", "WorkbenchHeader", "ExportPanel", "TABS"]

#: The workbench's tabs: key -> label, in order.
TABS: dict[str, str] = {
    "images": "Images",
    "tag": "Tag",
    "train": "Train",
    "performance": "Performance",
    "insight": "Insight",
    "predictions": "Predictions",
    "quick_test": "Quick test",
    "export": "Export",
    "settings": "Settings",
}


class WorkbenchHeader(ProjectWidget):
    """The workbench's header: the project's name, kind and counts, and the tabs."""

    _esm = esm("workbench.js")
    _css = app_css("workbench.css")
    _handlers = {"refresh": (RefreshMsg, "_on_refresh")}

    tab = t.Unicode("images", help=f"The tab shown: one of {list(TABS)}.").tag(sync=True)
    tabs = t.List(t.Dict(), help="The tabs: {key, label} (read-only).").tag(sync=True)
    info = t.Dict(
        help="The project: {name, kind, domain, path, images, untagged, tags, iterations, "
        "published} (read-only)."
    ).tag(sync=True)

    def __init__(self, project: Project, *, tab: str = "images") -> None:
        super().__init__(project)
        self.tabs = [{"key": k, "label": v} for k, v in TABS.items()]
        self.tab = tab
        self.refresh()

    @t.validate("tab")
    def _valid_tab(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in TABS:
            raise t.TraitError(f"tab={proposal['value']!r} should be one of {list(TABS)}")
        return proposal["value"]

    @t.validate("tabs")
    def _valid_tabs(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("key", "label"), "tabs")

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the project's counts again."""
        p = self.project
        iterations = p.iterations
        published = [it.published_name for it in iterations if it.published_name]
        with self.hold_sync():
            self.refresh_tags()
            self.info = {
                "name": p.name,
                "kind": p.kind,
                "domain": p.domain,
                "path": str(p.path),
                "images": p.count_images(),
                "untagged": p.count_images(untagged=True),
                "tags": len(self.tags),
                "iterations": len(iterations),
                "published": published,
            }

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()


class Workbench(widgets.VBox):
    """cvbench in one app: images, tagging, training, performance, predictions, quick test
    and export of one project, in tabs under a header."""

    def __init__(self, project: Project, *, tab: str = "images") -> None:
        if not isinstance(project, Project):
            raise TypeError(
                f"project={project!r} is not a cvbench Project; open one with "
                "cvbench.open_project(path)"
            )
        self.project = project
        self.header = WorkbenchHeader(project, tab=tab)
        self._pages: dict[str, widgets.Widget] = {}
        self._widgets: dict[str, Any] = {}
        self._builders: dict[str, Callable[[], widgets.Widget]] = {
            "images": self._build_images,
            "tag": self._build_tag,
            "train": self._build_train,
            "performance": self._build_performance,
            "insight": self._build_insight,
            "predictions": self._build_predictions,
            "quick_test": self._build_quick_test,
            "export": self._build_export,
            "settings": self._build_settings,
        }
        self._stack = widgets.Stack([_placeholder() for _ in TABS], selected_index=0)
        self._stack.add_class("cvb-wb-stack")
        super().__init__([self.header, self._stack])
        self.add_class("cvb-workbench")
        self.header.observe(self._tab_changed, "tab")
        self.show(tab)

    def __repr__(self) -> str:
        return f"Workbench(project={self.project.name!r}, tab={self.tab!r})"

    # -- tabs ----------------------------------------------------------------------------------
    @property
    def tab(self) -> str:
        """The tab shown (one of ``TABS``)."""
        return self.header.tab

    def widget(self, key: str) -> Any:
        """The main widget of tab ``key`` (built if needed): e.g. ``wb.widget("train")`` is
        the :class:`TrainPanel`; ``"images"`` gives the Gallery (``widget("uploader")`` the
        Uploader)."""
        if key == "uploader":
            self.page("images")
            return self._widgets["uploader"]
        self.page(key)
        return self._widgets[key]

    def page(self, key: str) -> widgets.Widget:
        """The page of tab ``key``, built the first time it is asked for."""
        if key not in TABS:
            raise ValueError(f"tab {key!r} is not a tab of the workbench; tabs: {list(TABS)}")
        if key not in self._pages:
            before = set(self._widgets)
            page = self._builders[key]()
            page.add_class("cvb-wb-page")
            for name in set(self._widgets) - before:  # the header's counts follow every edit
                self._widgets[name].host = "workbench"  # their texts name the tabs
                self._widgets[name].observe(self._project_changed, ["notice", "tags"])
            self._pages[key] = page
            children = list(self._stack.children)
            children[list(TABS).index(key)] = page
            self._stack.children = children
        return self._pages[key]

    def show(self, key: str) -> None:
        """Show tab ``key``, reading its widgets from the project again."""
        if key not in TABS:
            raise ValueError(f"tab {key!r} is not a tab of the workbench; tabs: {list(TABS)}")
        fresh = key not in self._pages
        self.page(key)
        if not fresh:
            self._reload(key)
        self.header.tab = key
        self._stack.selected_index = list(TABS).index(key)

    def _project_changed(self, _change: t.Bunch) -> None:
        self.header.refresh()

    def _tab_changed(self, change: t.Bunch) -> None:
        if self._stack.selected_index != list(TABS).index(change["new"]):
            self.show(change["new"])

    def _reload(self, key: str) -> None:
        w = self._widgets[key]
        if key == "images":
            w.reload()
            self._widgets["uploader"].refresh_tags()
        elif key == "tag":  # as the editor's own Refresh button does
            w.handle_message({"type": "refresh"})
        else:
            w.refresh()
        self.header.refresh()

    # -- pages ---------------------------------------------------------------------------------
    def _build_images(self) -> widgets.Widget:
        from .gallery import Gallery
        from .uploader import Uploader

        uploader = Uploader(self.project)
        gallery = Gallery(self.project)

        def uploaded(_change: t.Bunch) -> None:
            gallery.reload()
            self.header.refresh()

        uploader.observe(uploaded, "results")
        self._widgets["uploader"] = uploader
        self._widgets["images"] = gallery
        return widgets.VBox([uploader, gallery])

    def _build_tag(self) -> widgets.Widget:
        if self.project.kind == "detection":
            from .box_editor import BoxEditor

            editor: Any = BoxEditor(self.project)
        else:
            from .tagger import Tagger

            editor = Tagger(self.project)
        self._widgets["tag"] = editor
        return widgets.VBox([editor])

    def _build_train(self) -> widgets.Widget:
        from .train_panel import TrainPanel

        panel = TrainPanel(self.project)
        panel.on_trained(lambda _it: self.header.refresh())
        self._widgets["train"] = panel
        return widgets.VBox([panel])

    def _build_performance(self) -> widgets.Widget:
        from .performance import Performance

        perf = Performance(self.project)
        if self.project.kind == "detection":
            perf.on_open_image(self._open_in_editor)
        self._widgets["performance"] = perf
        return widgets.VBox([perf])

    def _open_in_editor(self, image_id: str, suggestions: list[dict] | None = None) -> None:
        """Show the image ``image_id`` in the box editor (detection), with ``suggestions``
        (suggested boxes, drawn dashed, to accept or reject)."""
        self.page("tag")
        editor = self._widgets["tag"]
        editor.show = "all"
        editor.refresh(start=image_id)
        self._stack.selected_index = list(TABS).index("tag")  # first: no reload on the tab
        self.header.tab = "tag"
        if suggestions:
            editor.suggestions = suggestions

    def _build_insight(self) -> widgets.Widget:
        from .insight import Insight, show_in_gallery

        insight = Insight(self.project)
        insight.on_show_images(lambda ids: show_in_gallery(self, ids))
        self._widgets["insight"] = insight
        return widgets.VBox([insight])

    def _build_predictions(self) -> widgets.Widget:
        from .predictions import Predictions

        pred = Predictions(self.project)
        if self.project.kind == "detection":
            pred.on_edit_boxes(self._open_in_editor)
        self._widgets["predictions"] = pred
        return widgets.VBox([pred])

    def _build_quick_test(self) -> widgets.Widget:
        from .quick_test import QuickTest

        qt = QuickTest(self.project)
        self._widgets["quick_test"] = qt
        return widgets.VBox([qt])

    def _build_export(self) -> widgets.Widget:
        panel = ExportPanel(self.project)
        self._widgets["export"] = panel
        return widgets.VBox([panel])

    def _build_settings(self) -> widgets.Widget:
        from .settings import ProjectSettings

        settings = ProjectSettings(self.project)
        self._widgets["settings"] = settings
        return widgets.VBox([settings])


def _placeholder() -> widgets.Widget:
    return widgets.HTML("")
