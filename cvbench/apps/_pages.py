"""The pages of the Voila apps: the Workbench (of a project, or of the projects of a folder
through the projects home, or of one picked in the page), and the quick-test page.

Both are plain ipywidgets boxes that call the :class:`~cvbench.Project` API. A mistake a
person can fix (a folder without a project, an image that is not an image, a project
without a published iteration) is shown in the page as one readable line; anything else is
shown as "unexpected error" with its message, and its traceback goes to the server's log
(Voila runs with ``show_tracebacks`` off, so a page never shows one).
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from .._types import KINDS
from ..app import ITERATION_ENV, PROJECT_ENV, ROOT_ENV, is_projects_folder
from ..errors import CvbenchError, ImageError
from ..fetch import REFUSED_MESSAGE, URLError, fetch_url
from ..project import Project, create_project, open_project
from ._serving import serving_iteration

__all__ = [
    "PROJECT_ENV",
    "ITERATION_ENV",
    "ROOT_ENV",
    "Message",
    "ProjectPicker",
    "WorkbenchPage",
    "QuickTestPage",
    "workbench_page",
    "quicktest_page",
    "draw_predictions",
]

_log = logging.getLogger("cvbench.apps")
_LEVELS = ("info", "success", "error", "working")
#: Errors that are the person's to fix: their message is the whole story.
_EXPECTED = (CvbenchError, ValueError, OSError)
#: Seconds a quick-test page waits for an image URL in all.
_URL_TIMEOUT = 15.0


class Message(w.HTML):
    """One line for the person: info, success, error or working (with a spinner)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("cvbench-message")
        self.level = ""

    def show(self, text: str, level: str = "info") -> None:
        if level not in _LEVELS:
            raise ValueError(f"level={level!r} should be one of {list(_LEVELS)}")
        for old in _LEVELS:
            self.remove_class(f"cvbench-message-{old}")
        self.add_class(f"cvbench-message-{level}")
        self.level = level
        colors = {"info": "#1f4e79", "success": "#1e6b30", "error": "#9b1c1c",
                  "working": "#5c4400"}
        icon = {"info": "ℹ", "success": "✔", "error": "⚠", "working": "⏳"}[level]
        self.value = (
            f'<div role="{"alert" if level == "error" else "status"}" '
            f'style="color:{colors[level]};padding:4px 0">{icon} {html.escape(text)}</div>'
        )

    def clear(self) -> None:
        self.value = ""
        self.level = ""

    @contextlib.contextmanager
    def reporting(self, working: str | None = None) -> Iterator[None]:
        """Show ``working`` while the block runs, and any error it raises as a message.

        Expected errors (cvbench's, ValueError, OSError) show their message; others show
        "unexpected error" and their traceback goes to the log. Nothing is re-raised: the
        page stays usable.
        """
        if working:
            self.show(working, "working")
        try:
            yield
        except _EXPECTED as exc:
            self.show(_one_line(exc), "error")
        except Exception as exc:  # a bug: readable in the page, full in the server log
            _log.exception("cvbench app: unexpected error")
            self.show(f"unexpected error ({type(exc).__name__}): {_one_line(exc)} — the "
                      "server's log has the details", "error")
        else:
            if working and self.level == "working":
                self.clear()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


# --------------------------------------------------------------------------- workbench


class ProjectPicker(w.VBox):
    """Open a project folder, or create a new project of a kind in a folder."""

    def __init__(self, on_project: Callable[[Project], Any], *, path: str = "") -> None:
        self._on_project = on_project
        self.path = w.Text(value=path, description="Folder", placeholder="/path/to/project",
                           layout=w.Layout(width="32em"))
        self.kind = w.Dropdown(options=list(KINDS), value="multiclass",
                               description="Kind", layout=w.Layout(width="16em"))
        self.open_button = w.Button(description="Open project", button_style="primary",
                                    icon="folder-open")
        self.create_button = w.Button(description="Create project", icon="plus")
        self.message = Message()
        self.open_button.on_click(lambda _: self.open_folder())
        self.create_button.on_click(lambda _: self.create_in_folder())
        super().__init__([
            w.HTML("<h3>Open a cvbench project</h3><p>Give the folder of a project, or an "
                   "empty folder and a kind to create one.</p>"),
            w.HBox([self.path, self.open_button]),
            w.HBox([self.kind, self.create_button]),
            self.message,
        ])
        self.add_class("cvbench-project-picker")

    def _folder(self) -> Path:
        text = self.path.value.strip()
        if not text:
            raise ValueError("give a folder first")
        return Path(text).expanduser()

    def open_folder(self) -> None:
        """Open the project in the folder given (the Open button)."""
        with self.message.reporting("opening the project …"):
            project = open_project(self._folder())
            self._on_project(project)

    def create_in_folder(self) -> None:
        """Create a project of the kind chosen in the folder given (the Create button)."""
        with self.message.reporting("creating the project …"):
            project = create_project(self._folder(), kind=self.kind.value)
            self._on_project(project)


class WorkbenchPage(w.VBox):
    """The workbench app: the project of ``CVBENCH_PROJECT`` in :class:`cvbench.ui.Workbench`;
    or the projects home (:class:`cvbench.ui.ProjectsHome`) of the folder of projects of
    ``CVBENCH_ROOT`` (or given as ``project``), which opens their Workbenches; or, with
    neither, a picker of a project folder."""

    def __init__(self, project: Project | str | os.PathLike | None = None, *,
                 root: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.add_class("cvbench-workbench-page")
        self.message = Message()
        self.project: Project | None = None
        self.workbench: Any = None
        self.home: Any = None
        self.picker = ProjectPicker(self.show_project)
        if project is None and root is None:
            project = os.environ.get(PROJECT_ENV) or None
            root = None if project else (os.environ.get(ROOT_ENV) or None)
        if (root is None and project is not None and not isinstance(project, Project)
                and is_projects_folder(project)):
            root, project = project, None
        if root is not None:
            self._show_home(root)
            return
        if project is None:
            self.children = [self.picker]
            return
        self.children = [self.message]
        with self.message.reporting("opening the project …"):
            self.show_project(project if isinstance(project, Project) else
                              open_project(project))
        if self.project is None:  # it could not be opened: offer the picker
            self.picker.path.value = str(project if not isinstance(project, Project)
                                         else project.path)
            self.children = [self.message, self.picker]

    def show_project(self, project: Project) -> None:
        from ..ui import Workbench

        self.workbench = Workbench(project)
        self.project = project
        self.children = [self.workbench]

    def _show_home(self, root: str | os.PathLike) -> None:
        from ..ui import ProjectsHome

        self.children = [self.message]
        with self.message.reporting("reading the projects …"):
            home = ProjectsHome(root)
            home.on_open(self._opened_from_home)
            home.observe(self._home_back, "opened")
            self.home = home
            self.children = [home.app]
        if self.home is None:  # not a folder of projects: offer the picker
            self.picker.path.value = str(root)
            self.children = [self.message, self.picker]

    def _opened_from_home(self, project: Project) -> None:
        self.project, self.workbench = project, self.home.workbench

    def _home_back(self, change: Any) -> None:
        if not change["new"]:
            self.project = self.workbench = None


def workbench_page(project: Project | str | os.PathLike | None = None, *,
                   root: str | os.PathLike | None = None) -> WorkbenchPage:
    """The workbench app's page (see :class:`WorkbenchPage`): a project, or the projects
    home of the folder of projects ``root``."""
    return WorkbenchPage(project, root=root)


# --------------------------------------------------------------------------- quick test

#: Box colours of the quick-test page (matplotlib's tab10), one per tag in turn.
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def draw_predictions(image: Any, predictions: Sequence[Any], *, threshold: float = 0.5,
                     tags: Sequence[str] = (), max_side: int = 800) -> bytes:
    """The image (a PIL image) as PNG bytes with the boxes of ``predictions`` at or above
    ``threshold`` drawn on it, labelled with tag and probability. Predictions without a
    box (classification) leave the image as it is."""
    from PIL import ImageDraw, ImageFont

    img = image.convert("RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    width, height = img.size
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    line = max(2, round(max(width, height) / 250))
    order = list(tags)
    for p in predictions:
        box = p.bounding_box
        if box is None or p.probability < threshold:
            continue
        if p.tag_name not in order:
            order.append(p.tag_name)
        color = _COLORS[order.index(p.tag_name) % len(_COLORS)]
        left, top, bw, bh = box.to_pixels(width, height)
        draw.rectangle([left, top, left + bw, top + bh], outline=color, width=line)
        label = f"{p.tag_name} {p.probability:.0%}"
        tw, th = draw.textbbox((0, 0), label, font=font)[2:]
        y = top - th - 4 if top - th - 4 >= 0 else top
        draw.rectangle([left, y, left + tw + 6, y + th + 4], fill=color)
        draw.text((left + 3, y + 2), label, fill="white", font=font)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


class QuickTestPage(w.VBox):
    """A page for one iteration: upload an image or give a URL, see its predictions.

    For a notebook or a dashboard of one's own; ``cvbench app --app quicktest`` serves the
    page to share from one process instead (:mod:`cvbench.apps.quicktest_server`), since
    a Voila page costs a kernel per visit. Like that page, this one reads no server file
    and fetches no private address (see :meth:`test`).

    The iteration is ``iteration`` (id, name or published name), else ``CVBENCH_ITERATION``,
    else the newest published one, else the newest. Images are not stored unless
    ``store=True`` (then they appear in the project's stored predictions). An image passes
    the same checks as an upload to the project (its limits: bytes, pixels).
    """

    def __init__(self, project: Project | str | os.PathLike | None = None,
                 iteration: str | None = None, *, store: bool = False) -> None:
        super().__init__()
        self.add_class("cvbench-quicktest-page")
        self.store = store
        self.project: Project | None = None
        self.iteration: Any = None
        self.result: Any = None
        self._image: Any = None
        self.message = Message()
        self.title = w.HTML()
        self.upload = w.FileUpload(accept="image/*", multiple=False,
                                   description="Upload an image",
                                   layout=w.Layout(width="auto"))
        self.url = w.Text(placeholder="https://… an image URL", layout=w.Layout(width="32em"))
        self.url_button = w.Button(description="Test URL", icon="search")
        self.threshold = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01,
                                       description="Threshold", readout_format=".2f",
                                       continuous_update=True)
        self.picture = w.Image(format="png", layout=w.Layout(max_width="800px",
                                                             display="none"))
        self.table = w.HTML()
        self.upload.observe(self._on_upload, "value")
        self.url_button.on_click(lambda _: self.test(self.url.value.strip()))
        self.url.on_submit(lambda _: self.test(self.url.value.strip()))
        self.threshold.observe(lambda _: self._render(), "value")
        self.children = [self.title, self.message]
        with self.message.reporting("loading the model …"):
            self._open(project, iteration)
        if self.iteration is not None:
            self.children = [
                self.title,
                w.HBox([self.upload, self.url, self.url_button]),
                self.threshold,
                self.message,
                self.picture,
                self.table,
            ]

    def _open(self, project: Project | str | os.PathLike | None, iteration: str | None
              ) -> None:
        if project is None:
            project = os.environ.get(PROJECT_ENV) or None
        if project is None:
            raise ValueError(f"no project: start this page with 'cvbench app PROJECT_DIR --app "
                             f"quicktest' (or set {PROJECT_ENV})")
        self.project = project if isinstance(project, Project) else open_project(project)
        iteration = iteration or os.environ.get(ITERATION_ENV) or None
        it = serving_iteration(self.project, iteration)
        it.model()  # load it now: the first test is then quick
        self.iteration = it
        published = f" (published as “{html.escape(it.published_name)}”)" \
            if it.published_name else ""
        what = "objects" if it.kind == "detection" else "tags"
        self.title.value = (
            f"<h2>{html.escape(self.project.name)}: quick test</h2><p>{html.escape(it.name)}"
            f"{published} finds {what}: {html.escape(', '.join(it.tag_names))}. Upload an "
            "image or give its URL.</p>"
        )

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        self.test(bytes(f["content"]), name=f["name"])

    def test(self, source: bytes | str, *, name: str = "") -> None:
        """Predict ``source`` (image bytes, or the http(s) URL of an image on the public
        internet) and show the result.

        This page may be shared, so it reads no file of the server's and fetches no private
        address: a string must be an http(s) URL that resolves to a public address, and
        every refusal of one gets the same message (:data:`cvbench.fetch.REFUSED_MESSAGE`).
        """
        project = self.project
        if self.iteration is None or project is None:
            return
        if isinstance(source, str) and not source:
            self.message.show("give an image URL first", "error")
            return
        label = name or ("the image at that address" if isinstance(source, str) else
                         "the image")
        with self.message.reporting(f"predicting {label} …"):
            if isinstance(source, str):
                try:
                    source = fetch_url(source, max_bytes=project.limits.max_image_bytes,
                                       timeout=_URL_TIMEOUT, allow_private=False)
                except URLError as exc:
                    _log.info("quick test: URL refused (%s): %s", exc.reason, exc.message)
                    raise ImageError(exc.status, REFUSED_MESSAGE) from None
            read = project.read_image(bytes(source))
            self.result = self.iteration.predict(read.data, store=self.store)
            self._image = read.image
            self._render()
            top = self.result.top
            self.message.show(
                f"{label}: " + (f"{top.tag_name} {top.probability:.1%}" if top else
                                "nothing found"), "success")
        if self.message.level == "error":  # no stale picture under an error
            self.result = self._image = None
            self.picture.layout.display = "none"
            self.table.value = ""

    def _render(self) -> None:
        if self.result is None:
            return
        thr = self.threshold.value
        self.picture.value = draw_predictions(self._image, self.result, threshold=thr,
                                              tags=self.iteration.tag_names)
        # small images are shown at 320 px at least, large ones at 800 px at most
        self.picture.layout.width = f"{max(320, min(800, self._image.width))}px"
        self.picture.layout.display = ""
        rows = "".join(
            f"<tr style='{'' if p.probability >= thr else 'color:#999'}'>"
            f"<td>{html.escape(p.tag_name)}</td><td>{p.probability:.1%}</td>"
            + (f"<td>{p.bounding_box.left:.2f}, {p.bounding_box.top:.2f}, "
               f"{p.bounding_box.width:.2f}, {p.bounding_box.height:.2f}</td>"
               if p.bounding_box is not None else "")
            + "</tr>"
            for p in self.result[:20]
        )
        box_head = "<th>box (left, top, width, height)</th>" \
            if self.iteration.kind == "detection" else ""
        self.table.value = (
            "<table class='cvbench-predictions'><tr><th>tag</th><th>probability</th>"
            f"{box_head}</tr>{rows}</table>"
        )


def quicktest_page(project: Project | str | os.PathLike | None = None,
                   iteration: str | None = None, *, store: bool = False) -> QuickTestPage:
    """The quick-test app's page (see :class:`QuickTestPage`)."""
    return QuickTestPage(project, iteration, store=store)
