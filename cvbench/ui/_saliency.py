""""Why?": the saliency heatmap of a prediction, shown in Quick test, Performance and
Predictions; the browser side is one module, ``widgets/saliency.js``, that they import.

The browser asks with a message::

    {"type": "why", "source": "image" | "prediction" | "tested", "id": …,
     "tag": tag id or "" (the most probable), "iteration": iteration id or ""}

``source`` names the picture: a project image (``id``: its image id), a stored prediction
(its id; "" iteration: the one that made it) or the image Quick test tested last (``id``:
the SHA-256 of its bytes, ``image["key"]``). The widget answers with a message of its own
(:meth:`Explainer.explain` makes it)::

    {"type": "why", <the request's source, id, tag, iteration>, "src": PNG data URL of the
     overlay (at most WHY_SIDE px), "tag_id", "tag_name", "probability", "box", "method",
     "iteration_name", "error": "" or what went wrong}

The heat is :meth:`cvbench.Iteration.saliency` on the image's own bytes, drawn with
:meth:`cvbench.insight.Saliency.overlay`: the same image gives the same heatmap in a
notebook and in the app. Answers are kept in a small LRU cache per widget, keyed by
iteration, image content and tag, so asking again (another card, a second view) computes
nothing. An error (an iteration whose network has no convolutional layer, an image that is
gone) comes back in ``error`` and as the widget's notice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import threading
from collections import OrderedDict
from typing import Any, ClassVar, Literal, TypedDict

import numpy as np
from PIL import Image

from ..errors import CvbenchError
from ._assets import asset
from ._base import ProjectWidget
from ._images import data_url

__all__ = ["Explainer", "WhyMsg", "OverlayCache", "WHY_SOURCES", "why_css"]

#: What a "why" request may explain: a project image, a stored prediction, the image tested.
WHY_SOURCES = ("image", "prediction", "tested")


def why_css() -> str:
    """The styles of the "Why?" toggle, for the widgets that show it."""
    return f"\n/* widgets/saliency.css */\n{asset('saliency.css')}"


class WhyMsg(TypedDict):
    """Explain a prediction: the heat of ``tag`` (a tag id; "": the most probable) on the
    picture ``source``/``id``, by ``iteration`` (an id; "": the widget's, or the stored
    prediction's own)."""

    type: Literal["why"]
    source: str
    id: str
    tag: str
    iteration: str


class OverlayCache:
    """A small thread-safe LRU cache: key -> answer (the least recently used goes first)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size={size} should be at least 1")
        self.size = size
        self._items: OrderedDict[tuple[str, ...], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        #: how many answers were computed (a miss) and how many came from the cache (a hit)
        self.misses = 0
        self.hits = 0

    def get(self, key: tuple[str, ...]) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return found

    def put(self, key: tuple[str, ...], value: dict[str, Any]) -> None:
        with self._lock:
            self.misses += 1
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _small_overlay(saliency: Any, side: int) -> bytes:
    """The overlay of ``saliency`` fitting ``side`` px, as PNG bytes (the heat and the image
    are downscaled first: the picture sent is small, the heat the same)."""
    w, h = saliency.size
    if max(w, h) > side:
        scale = side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        heat = Image.fromarray(np.ascontiguousarray(saliency.heat, dtype=np.float32), mode="F")
        heat = heat.resize(size, Image.Resampling.BILINEAR)
        small = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
        image = saliency.image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        saliency = dataclasses.replace(saliency, heat=small, image=image)
    out = io.BytesIO()
    saliency.overlay().save(out, "PNG", optimize=True)
    return out.getvalue()


class Explainer(ProjectWidget):
    """A widget that answers "why" requests with the saliency overlay of a prediction."""

    WHY_HANDLERS: ClassVar[dict[str, tuple[type, str]]] = {"why": (WhyMsg, "_on_why")}
    #: Longest side of the overlay sent, in pixels.
    WHY_SIDE: ClassVar[int] = 640
    #: How many overlays a widget keeps.
    WHY_CACHE: ClassVar[int] = 48

    def __init__(self, project: Any, **kwargs: Any) -> None:
        self._why_cache = OverlayCache(self.WHY_CACHE)
        super().__init__(project, **kwargs)

    @property
    def why_cache(self) -> OverlayCache:
        """The overlays computed so far (see :class:`OverlayCache`)."""
        return self._why_cache

    def _on_why(self, msg: WhyMsg, _buffers: list[bytes]) -> None:
        answer = self.explain(msg["source"], msg["id"], tag=msg["tag"],
                              iteration=msg["iteration"])
        self.send({"type": "why", **answer})
        if answer["error"]:
            self.say(answer["error"], "error")

    def explain(self, source: str, id: str, *, tag: str = "", iteration: str = ""
                ) -> dict[str, Any]:
        """The answer to a "why" request (see the module docstring); an error a person can
        act on comes back in ``answer["error"]``, never raised."""
        request = {"source": source, "id": id, "tag": tag, "iteration": iteration}
        try:
            if source not in WHY_SOURCES:
                raise ValueError(f"source={source!r} should be one of {list(WHY_SOURCES)}")
            content, picture, own = self._why_picture(source, id)
            it_id = iteration or own or str(getattr(self, "iteration", "") or "")
            if not it_id:
                raise ValueError("there is no iteration to explain; train one first")
            key = (it_id, content, tag)
            found = self._why_cache.get(key)
            if found is not None:
                return {**found, **request}
            it = self.project.iteration(it_id)
            s = it.saliency(picture, tag or None)
            answer = {
                "src": data_url(_small_overlay(s, self.WHY_SIDE), "image/png"),
                "tag_id": s.tag_id, "tag_name": s.tag, "probability": float(s.probability),
                "box": s.to_dict()["box"], "method": s.method, "iteration_name": it.name,
                "error": "",
            }
            self._why_cache.put(key, answer)
            return {**answer, **request}
        except (CvbenchError, ValueError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return {**request, "src": "", "tag_id": "", "tag_name": "", "probability": None,
                    "box": None, "method": "", "iteration_name": "",
                    "error": f"No heatmap: {text}"}

    def _why_picture(self, source: str, id: str) -> tuple[str, Any, str]:
        """``(content key, image to explain, its own iteration id or "")`` of a request;
        Quick test adds the image it tested (``source="tested"``)."""
        if source == "image":
            found = self.project.images(ids=[id])
            if not found:
                raise ValueError(f"the image {id!r} is no longer in the project; press Refresh")
            return found[0].sha256, found[0].path, ""
        if source == "prediction":
            stored = self.project.stored_predictions(ids=[id])
            if not stored:
                raise ValueError(f"the stored prediction {id!r} is gone; press Refresh")
            try:
                data = stored[0].path.read_bytes()
            except OSError as exc:
                raise ValueError(f"the image of stored prediction {id!r} cannot be read: "
                                 f"{exc}") from None
            return hashlib.sha256(data).hexdigest(), data, stored[0].iteration_id
        raise ValueError(f"{type(self).__name__} shows no tested image; ask for an 'image' or "
                         "a 'prediction'")
