"""Classification exports: ONNX and TorchScript of the probabilities, checked against the
in-app predictions, and fastai's ``Learner.export``.

The exported module takes the preprocessed float tensor ``(N, 3, H, W)`` and returns
``probabilities`` ``(N, T)`` (softmax or sigmoid), tags in the sidecar's order.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import coreml, openvino_ir
from .base import (
    OPSET,
    ExportError,
    ExportSource,
    ParityReport,
    Writer,
    compare_predictions,
    in_app_predictions,
    raise_if_bad,
)

__all__ = ["write_onnx", "write_torchscript", "write_fastai", "write_openvino",
           "check_onnx_parity", "WRITERS"]


def check_onnx_parity(model: Any, model_path: str | Path, images: Sequence[Path | bytes], *,
                      source: str = "given") -> ParityReport:
    """Compare ONNX Runtime (through :func:`cvbench.export.onnx_runtime.predict`) with the
    in-app predictions of ``model`` (a loaded model: ``iteration.model()``) on ``images``.
    Returns the report; :attr:`ParityReport.ok` says whether it holds."""
    from . import onnx_runtime

    in_app = in_app_predictions(model, images)
    exported = [onnx_runtime.predict(model_path, img) for img in images]
    return compare_predictions("onnx", in_app, exported, source)


def write_onnx(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """ONNX, opset :data:`~cvbench.export.base.OPSET`, one file, dynamic batch axis."""
    import torch

    model = source.model
    module = model.export_module()
    spec = model.export_spec()
    side = int(spec["input"]["size"])
    example = torch.zeros(2, 3, side, side)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        torch.onnx.export(
            module, (example,), str(path),
            input_names=[spec["input"]["name"]], output_names=[spec["output"]["name"]],
            opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            dynamic_shapes=({0: batch},),
        )
    except Exception as exc:  # the exporter's own errors are long; keep the cause attached
        raise ExportError(
            f"torch.onnx.export failed for {source.iteration_name!r}: {exc}") from exc
    if not check:
        return None
    return raise_if_bad(check_onnx_parity(model, path, source.parity_images,
                                          source=source.parity_source))


def write_torchscript(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """``torch.jit.trace`` of the same module as ONNX (``.pt``), checked the same way."""
    import torch

    from ..domains import preprocess
    from ..store.images import load_rgb

    model = source.model
    module = model.export_module()
    spec = model.export_spec()
    side = int(spec["input"]["size"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.zeros(2, 3, side, side), check_trace=False)
        traced.save(str(path))
    if not check:
        return None
    images = source.parity_images
    in_app = in_app_predictions(model, images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    x = preprocess(source.domain, [load_rgb(i) for i in images], side)
    with torch.inference_mode():
        probs = loaded(x).numpy()
    tags = source.config["tags"]
    exported = [
        sorted(({"tagId": t["id"], "tagName": t["name"], "probability": float(p)}
                for t, p in zip(tags, row, strict=True)),
               key=lambda d: -d["probability"])
        for row in probs
    ]
    return raise_if_bad(compare_predictions("torchscript", in_app, exported,
                                            source.parity_source))


def write_fastai(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """The iteration as a fastai ``Learner.export`` pickle at ``path``: the same network, a
    DataBlock that reads and squashes images as the app does (vocab: the tag names in
    output order), and the loss whose activation gives the probabilities. (A pickle:
    cvbench never loads one, so there is nothing to check.)"""
    import torch
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from PIL import Image

    from ..train.classify import ClassificationModel, Labels, build_datablock

    model = source.model
    if not isinstance(model, ClassificationModel):  # pragma: no cover - registry guards it
        raise ExportError(f"the fastai export is not available for {source.kind} projects")
    c = model.config
    names = [t["name"] for t in c["tags"]]
    multilabel = c["kind"] == "multilabel"
    net = copy.deepcopy(model.net)
    for p in net.parameters():
        p.requires_grad_(True)
    with tempfile.TemporaryDirectory(prefix="cvbench-export-") as tmp:
        sample = Path(tmp) / "sample.png"
        Image.new("RGB", (model.size, model.size), (255, 255, 255)).save(sample)
        label: Any = [0.0] * len(names) if multilabel else names[0]
        dblock = build_datablock(
            c["kind"], len(names), model.size, model.domain.mean, model.domain.std,
            Labels({str(sample): label}), valid_idx=[1], augment=False, vocab=names)
        dls = dblock.dataloaders([str(sample), str(sample)], bs=1, num_workers=0,
                                 device=torch.device("cpu"))
        loss = BCEWithLogitsLossFlat(thresh=0.5) if multilabel else CrossEntropyLossFlat()
        learn = Learner(dls, net, loss_func=loss, path=path.parent)
        learn.export(path.name)
    return None


def write_openvino(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """OpenVINO IR converted from the ONNX export, checked with OpenVINO Runtime
    (:mod:`cvbench.export.openvino_ir`)."""
    return openvino_ir.write_from_onnx(source, path, check,
                                       lambda s, onnx_path: write_onnx(s, onnx_path, False))


#: Format -> writer, for classification iterations.
WRITERS: dict[str, Writer] = {"onnx": write_onnx, "torchscript": write_torchscript,
                              "fastai": write_fastai, "openvino": write_openvino,
                              "coreml": coreml.write_coreml}
