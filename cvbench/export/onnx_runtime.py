"""Run an exported cvbench ONNX model with ONNX Runtime, Pillow and NumPy only.

This file depends on nothing from cvbench (nor torch) but cvbench's pixel module,
``_pixels.py`` (NumPy and Pillow only), which it loads from next to itself: copy the two
files (:func:`runtime_files`) next to ``model.onnx`` and its sidecar ``model.onnx.json``
and ship the four. ::

    from onnx_runtime import predict
    predict("model.onnx", "cat.jpg")
    # [{"probability": 0.97, "tagId": "…", "tagName": "cat"}, …]   most probable first

or ``python onnx_runtime.py model.onnx cat.jpg`` (prints JSON).

The sidecar says how to feed the model; :func:`preprocess` follows it: the image as
displayed (EXIF orientation applied, first frame, transparency composited on white,
16-bit scaled), converted to RGB, *squashed* to ``size x size`` with bilinear
resampling, scaled to [0, 1], normalised with ``mean`` and ``std``, laid out ``NCHW``.
The pixel module does it, for the app as for this runtime, so the probabilities match the
app's.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["OnnxModel", "load", "predict", "preprocess", "read_image", "runtime_files",
           "sidecar_path"]

_SESSIONS: dict[tuple[str, float], OnnxModel] = {}
_HERE = Path(__file__).resolve().parent


def _pixel_module_path() -> Path:
    """Where ``_pixels.py`` is: next to this file in a shipped folder; in cvbench/ when this
    file is run as a plain file from a cvbench tree (cvbench/export/onnx_runtime.py)."""
    candidates = [_HERE / "_pixels.py"]
    if (_HERE / "__init__.py").is_file() and _HERE.name == "export":
        candidates.append(_HERE.parent / "_pixels.py")
    for path in candidates:
        if path.is_file():
            return path
    raise ImportError(
        f"{candidates[0]} is missing: the runtime reads images with cvbench's pixel module; "
        "ship _pixels.py next to onnx_runtime.py (onnx_runtime.runtime_files() names both)"
    )


def _load_pixels() -> ModuleType:
    if __package__:  # cvbench.export.onnx_runtime: the app's own pixel module
        from .. import _pixels

        return _pixels
    path = _pixel_module_path()
    spec = importlib.util.spec_from_file_location("cvbench_runtime_pixels", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_pixels = _load_pixels()


def runtime_files() -> list[Path]:
    """The files to ship next to ``model.onnx``: this runtime and the pixel module it loads."""
    return [Path(__file__).resolve(), Path(_pixels.__file__ or "").resolve()]


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """The sidecar JSON of a model: ``model.onnx`` -> ``model.onnx.json``."""
    return Path(f"{os.fspath(model_path)}.json")


def read_image(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    """An image (path, bytes or PIL image) as displayed, in 8-bit RGB."""
    if isinstance(source, Image.Image):
        return _pixels.displayed(source)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        img.seek(0)
        img.load()
        return _pixels.displayed(img)


def preprocess(images: Sequence[Image.Image], spec: dict[str, Any]) -> np.ndarray:
    """A float32 batch ``(N, 3, size, size)`` as the sidecar's ``input`` describes."""
    if spec.get("resize") != "squash" or spec.get("resample", "bilinear") != "bilinear":
        raise ValueError(f"unsupported resize {spec.get('resize')!r}/{spec.get('resample')!r}")
    return _pixels.model_input(images, int(spec["size"]), spec["mean"], spec["std"],
                               scale=float(spec.get("scale", 1.0 / 255.0)))


class OnnxModel:
    """An ONNX Runtime session and its sidecar."""

    def __init__(self, model_path: str | os.PathLike) -> None:
        import onnxruntime as ort

        self.path = Path(model_path)
        try:
            self.sidecar = json.loads(sidecar_path(self.path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{sidecar_path(self.path)} is missing: a cvbench model needs its sidecar JSON "
                "(labels and preprocessing) next to it"
            ) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.sidecar["input"]["name"]
        self.tags = self.sidecar["tags"]

    def probabilities(self, images: Sequence[Any]) -> np.ndarray:
        """``(N, T)`` probabilities of images (paths, bytes or PIL images)."""
        x = preprocess([read_image(i) for i in images], self.sidecar["input"])
        (out,) = self.session.run([self.sidecar["output"]["name"]], {self.input_name: x})
        return np.asarray(out)

    def predict(self, images: Sequence[Any]) -> list[list[dict[str, Any]]]:
        """Per image, Custom Vision prediction dicts, most probable first."""
        if self.sidecar.get("task") == "detection":
            return [self.detect(image) for image in images]
        if self.sidecar.get("task", "classification") != "classification":
            raise ValueError(f"this runtime predicts classification models, not "
                             f"{self.sidecar.get('task')!r}")
        result = []
        for row in self.probabilities(images):
            order = np.argsort(-row, kind="stable")
            result.append([{"probability": float(row[j]), "tagId": self.tags[j]["id"],
                            "tagName": self.tags[j]["name"]} for j in order])
        return result

    def detect(self, image: Any) -> list[dict[str, Any]]:
        """Detection models (one image per run; NMS is in the graph): Custom Vision
        prediction dicts with a normalized ``boundingBox``, most probable first."""
        x = preprocess([read_image(image)], self.sidecar["input"])
        names = self.sidecar["output"]["names"]  # boxes (x1, y1, x2, y2), scores, classes
        boxes, scores, classes = (o[0] for o in self.session.run(names, {self.input_name: x}))
        return [{"probability": float(p), "tagId": self.tags[int(c)]["id"],
                 "tagName": self.tags[int(c)]["name"],
                 "boundingBox": {"left": float(b[0]), "top": float(b[1]),
                                 "width": float(b[2] - b[0]), "height": float(b[3] - b[1])}}
                for b, p, c in zip(boxes, scores, classes, strict=True)]


def load(model_path: str | os.PathLike) -> OnnxModel:
    """The model at ``model_path`` (sessions are reused while the file is unchanged)."""
    path = Path(model_path).resolve()
    key = (str(path), path.stat().st_mtime)
    if key not in _SESSIONS:
        _SESSIONS.clear()
        _SESSIONS[key] = OnnxModel(path)
    return _SESSIONS[key]


def predict(model_path: str | os.PathLike, image: Any) -> list[dict[str, Any]]:
    """Predictions for one image (path, bytes or PIL image), most probable first:
    ``[{"probability", "tagId", "tagName"}, …]`` (Custom Vision's shape)."""
    return load(model_path).predict([image])[0]


if __name__ == "__main__":  # pragma: no cover - command line use
    if len(sys.argv) < 3:
        print("usage: python onnx_runtime.py MODEL.onnx IMAGE [IMAGE …]", file=sys.stderr)
        raise SystemExit(2)
    for arg in sys.argv[2:]:
        print(json.dumps({"image": arg, "predictions": predict(sys.argv[1], arg)}))
