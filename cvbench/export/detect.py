"""Detection exports: ONNX with box decoding *and* NMS in the graph, TorchScript, and a
tiny ONNX Runtime predictor.

The ONNX graph takes one preprocessed image and returns the final detections, as Custom
Vision's exported detectors do::

    input             float32 (1, 3, S, S)   the image squashed to S x S, RGB, scaled to
                                             [0, 1], normalised with the domain's mean/std
    detected_boxes    float32 (1, K, 4)      normalized x1, y1, x2, y2 (K <= 200)
    detected_scores   float32 (1, K)         probabilities, decreasing
    detected_classes  int64   (1, K)         tag indices (the sidecar names them)

It is the traced dense detector (backbone, FPN, head, box decoding) followed by the same
post-processing as :func:`cvbench.train._detect_model.postprocess`, written with ONNX's own
operators (``TopK``, ``NonMaxSuppression``), so any ONNX runtime gives the in-app boxes.
Custom Vision's box format (left, top, width, height) is ``x1, y1, x2 - x1, y2 - y1``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..boxes import xyxy_to_ltwh
from . import openvino_ir
from .base import OPSET, ExportError, ExportSource, ParityReport, Writer

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

    from ..train.detect import DetectionModel

__all__ = [
    "export_onnx",
    "export_torchscript",
    "OnnxDetector",
    "OUTPUT_NAMES",
    "check_parity",
    "check_torchscript_parity",
    "parity_report",
    "write_onnx",
    "write_torchscript",
    "write_openvino",
    "WRITERS",
    "PARITY_TOLERANCE",
]

OUTPUT_NAMES = ("detected_boxes", "detected_scores", "detected_classes")

#: Exported boxes and probabilities must match the in-app ones this closely.
PARITY_TOLERANCE = 1e-3


def export_onnx(model: DetectionModel, path: str | os.PathLike, *, opset: int = OPSET) -> Path:
    """Write ``model`` as one ONNX file with decoding and NMS (see the module docstring)."""
    import onnx

    path = Path(path)
    dense = _dense_onnx(model, opset)
    graph = _append_postprocess(dense, model, opset)
    onnx.checker.check_model(graph)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(graph, str(tmp))
    os.replace(tmp, path)
    return path


def _dense_onnx(model: DetectionModel, opset: int) -> Any:
    """The traced dense detector as an in-memory ONNX model: input -> boxes, scores."""
    import io
    import warnings

    import onnx
    import torch

    module = model.export_module()
    x = torch.zeros(1, 3, model.size, model.size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (x,), buf,  # type: ignore[arg-type]  # a file object works too
            input_names=["input"], output_names=["boxes", "scores"],
            opset_version=opset, dynamo=False,
        )
    return onnx.load_from_string(buf.getvalue())


def _append_postprocess(dense: Any, model: DetectionModel, opset: int) -> Any:
    """Add ``postprocess`` (threshold, top-k, per-tag NMS, top 200) after the dense outputs."""
    import onnx
    from onnx import TensorProto, helper

    g = dense.graph
    n_classes = len(model.tag_ids)
    nodes = []

    def const(name: str, value: Any, dtype: Any = np.int64) -> str:
        arr = np.asarray(value, dtype=dtype)
        g.initializer.append(onnx.numpy_helper.from_array(arr, name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, **attrs))

    const("pp_minus1", [-1])
    const("pp_zero", [0])
    const("pp_axis1", [1])
    const("pp_thr", model.score_threshold, np.float32)
    const("pp_topk", [model.pre_nms_top_k])
    const("pp_nclass", n_classes)
    const("pp_two", 2.0, np.float32)
    const("pp_maxdet", [model.max_detections])
    const("pp_iou", [model.nms_iou], np.float32)
    const("pp_shape_b", [1, -1, 4])
    const("pp_shape_s", [1, 1, -1])
    const("pp_idx2", [2])
    # image 0 of the batch: boxes (A, 4), flat scores (A * C)
    node("Squeeze", ["boxes", "pp_zero"], ["pp_boxes"])
    node("Reshape", ["scores", "pp_minus1"], ["pp_flat"])
    node("Greater", ["pp_flat", "pp_thr"], ["pp_mask"])
    node("NonZero", ["pp_mask"], ["pp_nz"])
    node("Reshape", ["pp_nz", "pp_minus1"], ["pp_idx"])
    node("Gather", ["pp_flat", "pp_idx"], ["pp_cand"], axis=0)
    # best pre_nms_top_k candidates, sorted by decreasing score
    node("Shape", ["pp_cand"], ["pp_n"])
    node("Min", ["pp_n", "pp_topk"], ["pp_k"])
    node("TopK", ["pp_cand", "pp_k"], ["pp_vals", "pp_order"], axis=0, largest=1, sorted=1)
    node("Gather", ["pp_idx", "pp_order"], ["pp_sel"], axis=0)
    node("Div", ["pp_sel", "pp_nclass"], ["pp_anchor"])
    node("Mod", ["pp_sel", "pp_nclass"], ["pp_label"])
    node("Gather", ["pp_boxes", "pp_anchor"], ["pp_cboxes"], axis=0)
    # per-tag NMS as one NMS over boxes shifted by 2 * tag (as postprocess does)
    node("Cast", ["pp_label"], ["pp_labelf"], to=TensorProto.FLOAT)
    node("Mul", ["pp_labelf", "pp_two"], ["pp_off"])
    node("Unsqueeze", ["pp_off", "pp_axis1"], ["pp_off2"])
    node("Add", ["pp_cboxes", "pp_off2"], ["pp_shifted"])
    node("Reshape", ["pp_shifted", "pp_shape_b"], ["pp_nms_boxes"])
    node("Reshape", ["pp_vals", "pp_shape_s"], ["pp_nms_scores"])
    node("NonMaxSuppression", ["pp_nms_boxes", "pp_nms_scores", "pp_maxdet", "pp_iou"],
         ["pp_selected"], center_point_box=0)
    node("Gather", ["pp_selected", "pp_idx2"], ["pp_keep2"], axis=1)
    node("Reshape", ["pp_keep2", "pp_minus1"], ["pp_keep"])
    node("Gather", ["pp_cboxes", "pp_keep"], ["pp_out_boxes"], axis=0)
    node("Gather", ["pp_vals", "pp_keep"], ["pp_out_scores"], axis=0)
    node("Gather", ["pp_label", "pp_keep"], ["pp_out_labels"], axis=0)
    node("Unsqueeze", ["pp_out_boxes", "pp_zero"], [OUTPUT_NAMES[0]])
    node("Unsqueeze", ["pp_out_scores", "pp_zero"], [OUTPUT_NAMES[1]])
    node("Unsqueeze", ["pp_out_labels", "pp_zero"], [OUTPUT_NAMES[2]])

    g.node.extend(nodes)
    # one image in, final detections out
    g.input[0].type.tensor_type.shape.dim[0].ClearField("dim_param")
    g.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info(OUTPUT_NAMES[0], TensorProto.FLOAT, [1, "detections", 4]),
        helper.make_tensor_value_info(OUTPUT_NAMES[1], TensorProto.FLOAT, [1, "detections"]),
        helper.make_tensor_value_info(OUTPUT_NAMES[2], TensorProto.INT64, [1, "detections"]),
    ])
    dense.producer_name = "cvbench"
    return dense


def export_torchscript(model: DetectionModel, path: str | os.PathLike) -> Path:
    """TorchScript: ``module(input (1, 3, S, S)) -> (boxes (1, K, 4), scores (1, K),
    classes (1, K))``, the same outputs as the ONNX graph."""
    import warnings

    import torch

    from ..train.detect import postprocess_one

    path = Path(path)
    x = torch.zeros(1, 3, model.size, model.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = torch.jit.trace(model.export_module(), (x,), check_trace=False)
        post = torch.jit.script(postprocess_one)

    class Full(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = dense
            self.score_threshold = float(model.score_threshold)
            self.iou = float(model.nms_iou)
            self.top_k = int(model.pre_nms_top_k)
            self.max_det = int(model.max_detections)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            boxes, scores = self.dense(x)
            b, s, c = post(boxes[0], scores[0], self.score_threshold, self.iou, self.top_k,
                           self.max_det)
            return b.unsqueeze(0), s.unsqueeze(0), c.unsqueeze(0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(Full())
    tmp = path.with_name(f".{path.name}.tmp")
    scripted.save(str(tmp))
    os.replace(tmp, path)
    return path


class OnnxDetector:
    """Runs an exported detector with ONNX Runtime on PIL images (numpy only, no torch).

    ``predict(image)`` returns Custom Vision prediction dicts, like ``Iteration.predict``.
    """

    def __init__(self, path: str | os.PathLike, spec: dict[str, Any],
                 tags: Sequence[dict[str, Any]]) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.spec = spec["input"]
        self.tags = list(tags)

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """The input tensor of one image (the squash of ``cvbench.domains.preprocess``)."""
        from .onnx_runtime import preprocess

        return preprocess([image], self.spec)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw outputs for one preprocessed image: boxes (K, 4), scores (K,), classes (K,)."""
        boxes, scores, classes = self.session.run(list(OUTPUT_NAMES), {"input": x})
        return boxes[0], scores[0], classes[0]

    def predict(self, image: Image.Image) -> list[dict[str, Any]]:
        boxes, scores, classes = self.run(self.preprocess(image))
        ltwh = xyxy_to_ltwh(boxes.astype(float).reshape(-1, 4))
        out = []
        for (left, top, w, h), p, c in zip(ltwh, scores, classes, strict=True):
            tag = self.tags[int(c)]
            out.append({
                "tagId": tag["id"], "tagName": tag["name"], "probability": float(p),
                "boundingBox": {"left": float(left), "top": float(top), "width": float(w),
                                "height": float(h)},
            })
        return out


def check_parity(model: DetectionModel, onnx_path: str | os.PathLike,
                 images: Sequence[Image.Image], *, atol: float = PARITY_TOLERANCE
                 ) -> dict[str, Any]:
    """Compare ONNX Runtime with the in-app detections on ``images``: as many boxes, each
    with the same tag, its probability and corners within ``atol``. Returns a report
    with ``ok``, the largest differences and the problems found."""
    runner = OnnxDetector(onnx_path, model.export_spec(), model.config["tags"])
    return _compare(model, images, runner.run, atol)


def check_torchscript_parity(model: DetectionModel, path: str | os.PathLike,
                             images: Sequence[Image.Image], *,
                             atol: float = PARITY_TOLERANCE) -> dict[str, Any]:
    """As :func:`check_parity`, for a TorchScript export."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.inference_mode():
            b, s, c = loaded(torch.from_numpy(x))
        return b[0].numpy(), s[0].numpy(), c[0].numpy()

    return _compare(model, images, run, atol)


def _compare(model: DetectionModel, images: Sequence[Image.Image], run: Any, atol: float
             ) -> dict[str, Any]:
    from .. import domains as _domains

    worst_box = worst_prob = 0.0
    problems: list[str] = []
    for k, img in enumerate(images):
        x = _domains.preprocess(model.domain, [img], model.size)
        (b_t, s_t, c_t), = model.detections(x)
        b_o, s_o, c_o = run(x.numpy())
        if len(b_t) != len(b_o):
            problems.append(f"image {k}: {len(b_t)} boxes in-app, {len(b_o)} exported")
            continue
        # pair each in-app box with an exported box of the same tag and probability
        # (boxes whose probabilities tie may come in either order)
        free = np.ones(len(b_o), dtype=bool)
        for i in range(len(b_t)):
            box_d = np.abs(b_o - b_t[i]).max(axis=1)
            prob_d = np.abs(s_o - s_t[i])
            ok = free & (c_o == c_t[i]) & (prob_d <= atol)
            if not ok.any():
                problems.append(f"image {k}: in-app box {i} (tag {int(c_t[i])}, "
                                f"p={float(s_t[i]):.4f}) has no exported counterpart")
                break
            j = int(np.flatnonzero(ok)[np.argmin(box_d[ok])])
            free[j] = False
            worst_box = max(worst_box, float(box_d[j]))
            worst_prob = max(worst_prob, float(prob_d[j]))
    ok = not problems and worst_box <= atol and worst_prob <= atol
    return {"ok": ok, "max_box_difference": worst_box, "max_probability_difference": worst_prob,
            "images": len(images), "problems": problems}


def parity_report(source: ExportSource, format: str, path: str | os.PathLike, *,
                  run: Any = None) -> ParityReport:
    """The :class:`~cvbench.export.ParityReport` of a detection export on the source's
    parity images; raises :class:`~cvbench.export.ExportError` when the export does not
    give the in-app boxes. ``run`` (one preprocessed image -> boxes, scores, classes) runs
    an export of another runtime (OpenVINO); without it ``format`` picks ONNX Runtime or
    TorchScript."""
    from ..store.images import load_rgb

    model = _detection_model(source)
    images = [load_rgb(s) for s in source.parity_images]
    if run is not None:
        found = _compare(model, images, run, PARITY_TOLERANCE)
    else:
        check = check_parity if format == "onnx" else check_torchscript_parity
        found = check(model, path, images)
    report = ParityReport(
        format, len(images),
        max(found["max_box_difference"], found["max_probability_difference"]),
        not found["problems"], PARITY_TOLERANCE, source.parity_source,
    )
    if not found["ok"]:
        raise ExportError(
            f"the {format} export does not reproduce the in-app detections on {len(images)} "
            f"{source.parity_source} images: largest box difference "
            f"{found['max_box_difference']:.2e}, probability difference "
            f"{found['max_probability_difference']:.2e} (allowed {PARITY_TOLERANCE:.0e}); "
            f"{'; '.join(found['problems'][:3])}. Nothing was written. Please report this "
            "with the iteration's domain and size."
        )
    return report


def _detection_model(source: ExportSource) -> DetectionModel:
    from ..train.detect import DetectionModel

    if not isinstance(source.model, DetectionModel):  # pragma: no cover - registry guards it
        raise ExportError(f"{source.iteration_name!r} is not a detection iteration")
    return source.model


def write_onnx(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """ONNX with decoding and NMS in the graph, checked with ONNX Runtime against the
    in-app boxes: same boxes and tags, within :data:`PARITY_TOLERANCE`."""
    export_onnx(_detection_model(source), path)
    return parity_report(source, "onnx", path) if check else None


def write_torchscript(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """TorchScript: the traced network and the scripted post-processing, checked the same
    way as ONNX."""
    export_torchscript(_detection_model(source), path)
    return parity_report(source, "torchscript", path) if check else None


def write_openvino(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """OpenVINO IR converted from the ONNX graph (decoding and NMS in it), checked like the
    ONNX export: the same boxes and tags within :data:`PARITY_TOLERANCE`."""
    import tempfile

    model = _detection_model(source)
    with tempfile.TemporaryDirectory(prefix="cvbench-openvino-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(model, onnx_path)
        openvino_ir.convert(onnx_path, path)
    if not check:
        return None
    return parity_report(source, "openvino", path,
                         run=openvino_ir.detection_runner(path, OUTPUT_NAMES))


#: Format -> writer, for detection iterations (no fastai export: its Learner has no
#: detection counterpart; no Core ML: see cvbench.export.coreml).
WRITERS: dict[str, Writer] = {"onnx": write_onnx, "torchscript": write_torchscript,
                              "openvino": write_openvino}
