"""OpenVINO IR exports: ``model.xml`` and its weights ``model.bin``, converted from the
ONNX export with ``openvino.convert_model`` and checked with OpenVINO Runtime against the
in-app predictions, as the ONNX export is checked with ONNX Runtime.

Classification: input ``input`` ``(N, 3, S, S)`` (dynamic batch), output ``probabilities``
``(N, T)``. Detection: the ONNX graph with decoding and NMS in it, one image in,
``detected_boxes``, ``detected_scores``, ``detected_classes`` out (see
:mod:`cvbench.export.detect`). The weights stay float32 (no FP16 compression), so the
numbers are the app's. Run it with ::

    core = openvino.Core()
    compiled = core.compile_model("model.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

(CPUs with bfloat16 units otherwise compute in bfloat16 and the probabilities move by
about 1e-2); the sidecar says how to preprocess (as for ONNX).

Needs the ``openvino`` package: ``pip install cvbench[openvino]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    ExportError,
    ExportSource,
    ParityReport,
    compare_predictions,
    in_app_predictions,
    raise_if_bad,
)

__all__ = ["write_from_onnx", "detection_runner", "convert", "compile_ir",
           "check_classification_parity"]

_INSTALL = "pip install cvbench[openvino]"


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise ExportError(f"the openvino export needs the openvino package ({exc}); "
                          f"install it with {_INSTALL}") from None
    return openvino


def convert(onnx_path: str | Path, path: str | Path) -> Path:
    """Convert the ONNX file ``onnx_path`` to OpenVINO IR at ``path`` (``.xml``; the weights
    go to the ``.bin`` beside it)."""
    ov = _openvino()
    path = Path(path)
    try:
        model = ov.convert_model(str(onnx_path))
        ov.save_model(model, str(path), compress_to_fp16=False)
    except Exception as exc:  # OpenVINO's own errors; keep the cause attached
        raise ExportError(f"openvino.convert_model failed: {exc}") from exc
    return path


def compile_ir(path: str | Path) -> Any:
    """The IR at ``path`` compiled for the CPU with OpenVINO Runtime, in float32."""
    ov = _openvino()
    return ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _classification_outputs(compiled: Any, source: ExportSource,
                            images: Sequence[Path | bytes]) -> list[list[dict[str, Any]]]:
    from .onnx_runtime import preprocess, read_image

    spec = source.model.export_spec()
    tags = source.config["tags"]
    x = preprocess([read_image(i) for i in images], spec["input"])
    probs = np.asarray(compiled(x)[compiled.output(0)])
    return [sorted(({"tagId": t["id"], "tagName": t["name"], "probability": float(p)}
                    for t, p in zip(tags, row, strict=True)),
                   key=lambda d: -d["probability"])
            for row in probs]


def check_classification_parity(source: ExportSource, path: str | Path) -> ParityReport:
    """OpenVINO Runtime against the in-app predictions on the source's parity images."""
    images = source.parity_images
    in_app = in_app_predictions(source.model, images)
    exported = _classification_outputs(compile_ir(path), source, images)
    return compare_predictions("openvino", in_app, exported, source.parity_source)


def write_from_onnx(source: ExportSource, path: Path, check: bool,
                    write_onnx: Any) -> ParityReport | None:
    """A classifier: ``write_onnx(source, onnx_path)`` (the kind's ONNX writer, unchecked:
    the IR is what is checked) into a temporary folder, converted to ``path``, checked."""
    _openvino()  # the clear error before minutes of work
    with tempfile.TemporaryDirectory(prefix="cvbench-openvino-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        write_onnx(source, onnx_path)
        convert(onnx_path, path)
    if not check:
        return None
    return raise_if_bad(check_classification_parity(source, path))


def detection_runner(path: str | Path, output_names: Sequence[str]) -> Any:
    """``run(x) -> (boxes, scores, classes)`` of one preprocessed image, with the detector's
    IR at ``path`` (the outputs named ``output_names``)."""
    compiled = compile_ir(path)

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = compiled(x)
        b, s, c = (np.asarray(out[compiled.output(name)]) for name in output_names)
        return b[0], s[0], c[0]

    return run
