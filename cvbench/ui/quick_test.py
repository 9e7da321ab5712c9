"""``QuickTest``: try an iteration on one image from a file, a URL or the webcam.

    from cvbench.ui import QuickTest
    qt = QuickTest(project)              # the newest published iteration, else the newest
    qt.test("photo.jpg")                 # what the browser does on upload, URL or capture
    qt.visible_predictions               # those at or above the threshold

The image is predicted with ``iteration.predict`` (and, with ``store=True``, kept for the
Predictions tab as Custom Vision does); the browser shows it with its boxes (detection) and
a table of the predictions at or above the probability threshold, which it filters live as
the threshold slider moves.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import traitlets as t
from PIL import Image

from ..errors import CvbenchError
from ..predict import read_image
from ._app_messages import CaptureMsg, QuickFileMsg, QuickUrlMsg
from ._assets import app_css, esm
from ._base import Fraction, check_dict_list
from ._images import data_url
from ._messages import RefreshMsg
from ._mixins import IterationPicker
from ._results import prediction_rows
from ._saliency import Explainer, why_css

__all__ = ["QuickTest"]

#: Longest side of the picture sent back to the browser, in pixels.
PREVIEW_SIDE = 900


class QuickTest(Explainer, IterationPicker):
    """Predict one image (upload, URL or webcam) and show the predictions on it; "Why?"
    shows where the model looked (:mod:`cvbench.ui._saliency`)."""

    _esm = esm("quick_test.js")
    _css = app_css("quick_test.css") + why_css()
    _handlers = {
        "file": (QuickFileMsg, "_on_file"),
        "url": (QuickUrlMsg, "_on_url"),
        "capture": (CaptureMsg, "_on_capture"),
        "refresh": (RefreshMsg, "_on_refresh"),
        **Explainer.WHY_HANDLERS,
    }

    iteration = t.Unicode(
        "", help="Id of the iteration that predicts ('' when the project has none)."
    ).tag(sync=True)
    threshold = Fraction(0.5, help="Probability threshold: predictions below it are hidden.").tag(
        sync=True)
    store = t.Bool(
        True, help="Keep tested images and their predictions for the Predictions tab."
    ).tag(sync=True)
    busy = t.Bool(False, help="True while an image is being predicted (read-only).").tag(sync=True)
    image = t.Dict(
        help="The image tested: {name, width, height, src (JPEG data URL, at most "
        f"{PREVIEW_SIDE} px), iteration (name), iteration_id, stored (bool), key (SHA-256 of "
        "its bytes: the id of a 'why' request for it)}; {} before any (read-only)."
    ).tag(sync=True)
    predictions = t.List(
        t.Dict(),
        help="Every prediction of the image, most probable first: {tag (id), name, "
        "probability, box ({left, top, width, height} normalized, or null)} (read-only).",
    ).tag(sync=True)

    def __init__(self, project, *, iteration: Any = None, threshold: float = 0.5,
                 store: bool = True) -> None:
        #: the bytes last tested and the id of the iteration that predicted them
        self._tested: tuple[bytes, str] | None = None
        super().__init__(project)
        self.threshold = threshold
        self.store = store
        self.refresh(iteration=iteration)

    # -- validators --------------------------------------------------------------------------
    @t.validate("predictions")
    def _valid_predictions(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("tag", "name", "probability", "box"),
                               "predictions")

    # -- reading -----------------------------------------------------------------------------
    @property
    def visible_predictions(self) -> list[dict[str, Any]]:
        """The predictions at or above the threshold (what the browser shows)."""
        return [p for p in self.predictions if p["probability"] >= self.threshold]

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self, iteration: Any = None) -> None:
        """Read the iterations again; use ``iteration`` (id, name or published name), else
        keep the one chosen; when an iteration was trained meanwhile, the newest published one,
        else the newest."""
        self._pick_iteration(iteration)

    # -- testing -------------------------------------------------------------------------------
    def test(self, source: Any, *, name: str | None = None) -> Any:
        """Predict ``source`` (a path, an http(s) URL, bytes or a PIL image) with the chosen
        iteration and show it. Returns the :class:`~cvbench.predict.PredictionResult`."""
        if not self.iteration:
            where = "the Train tab" if self.host == "workbench" else "project.train()"
            raise ValueError(f"this project has no iteration yet; train one first ({where})")
        iteration = self.project.iteration(self.iteration)
        self.busy = True
        try:
            read = read_image(self.project, source)
            result = iteration.predict(read.data, store=self.store)
        finally:
            self.busy = False
        label = name or read.name or (source if isinstance(source, str) else "image")
        preview = read.image
        if max(preview.size) > PREVIEW_SIDE:
            preview = preview.copy()
            preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        preview.convert("RGB").save(buf, "JPEG", quality=88)
        self._tested = (read.data, iteration.id)
        with self.hold_sync():
            self.image = {
                "name": str(label),
                "width": read.width,
                "height": read.height,
                "src": data_url(buf.getvalue()),
                "iteration": iteration.name,
                "iteration_id": iteration.id,
                "stored": bool(self.store),
                "key": hashlib.sha256(read.data).hexdigest(),
            }
            self.predictions = prediction_rows(result)
        return result

    def _why_picture(self, source: str, id: str) -> tuple[str, Any, str]:
        if source != "tested":
            return super()._why_picture(source, id)
        if self._tested is None or hashlib.sha256(self._tested[0]).hexdigest() != id:
            raise ValueError("that image is no longer the one tested here; test it again")
        return id, self._tested[0], self._tested[1]

    # -- handlers ------------------------------------------------------------------------------
    def _one_buffer(self, buffers: list[bytes], what: str) -> bytes:
        if len(buffers) != 1:
            raise ValueError(f"the {what} came with {len(buffers)} buffers, not 1")
        return buffers[0]

    def _on_file(self, msg: QuickFileMsg, buffers: list[bytes]) -> None:
        self._test_reporting(self._one_buffer(buffers, f"file {msg['name']!r}"), msg["name"])

    def _on_url(self, msg: QuickUrlMsg, _buffers: list[bytes]) -> None:
        url = msg["url"].strip()
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL; paste an address such as "
                             "https://example.com/photo.jpg")
        self._test_reporting(url, url.rsplit("/", 1)[-1].split("?", 1)[0] or url)

    def _on_capture(self, _msg: CaptureMsg, buffers: list[bytes]) -> None:
        self._test_reporting(self._one_buffer(buffers, "webcam picture"), "webcam picture")

    def _test_reporting(self, source: Any, name: str) -> None:
        try:
            self.test(source, name=name)
        except CvbenchError as exc:  # an unreadable image, a download that failed, …
            self._tested = None
            with self.hold_sync():
                self.image = {}
                self.predictions = []
            raise CvbenchError(f"{name}: {exc}") from None

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()
