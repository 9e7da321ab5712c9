"""Core ML exports of classifiers: an ML Program (``model.mlpackage``, a folder), converted
with coremltools from ``torch.export`` of the same module as the ONNX export.

Input ``input`` float32 ``(1, 3, S, S)``: one preprocessed image, as the sidecar describes
(squashed to S x S, RGB, scaled to [0, 1], normalised with the domain's mean and std);
output ``probabilities`` ``(1, T)``, tags in the sidecar's order (also in the model's
metadata, ``labels``). iOS 15 / macOS 12 or newer.

**Its parity with the app is unchecked**: Core ML runs only on Apple's systems, and
coremltools cannot run a model on Linux or Windows. On a Mac, check it with
``coremltools.models.MLModel("model.mlpackage").predict({"input": x})`` against
``iteration.predict``. Needs ``pip install cvbench[coreml]``.

Detectors are not exported to Core ML: their box decoding and non-maximum suppression have
no Core ML conversion here (use ONNX or OpenVINO).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from .base import ExportError, ExportSource, ParityReport

__all__ = ["write_coreml", "UNCHECKED"]

#: Why the Core ML export's parity is not checked.
UNCHECKED = ("Core ML runs only on Apple's systems, so this export's parity with the app is "
             "unchecked here: check it on a Mac with coremltools "
             "(MLModel('model.mlpackage').predict) before you ship it")


def _coremltools() -> Any:
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import coremltools
    except ImportError as exc:
        raise ExportError(f"the coreml export needs the coremltools package ({exc}); "
                          "install it with pip install cvbench[coreml]") from None
    return coremltools


def write_coreml(source: ExportSource, path: Path, check: bool) -> ParityReport | None:
    """The classifier as an ML Program at ``path`` (a ``.mlpackage`` folder). Nothing can
    be checked here (see the module docstring): the result is None whatever ``check``."""
    import torch

    ct = _coremltools()
    model = source.model
    spec = model.export_spec()
    side = int(spec["input"]["size"])
    module = model.export_module().eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, (torch.zeros(1, 3, side, side),))
            program = program.run_decompositions({})
            ml = ct.convert(program, convert_to="mlprogram",
                            minimum_deployment_target=ct.target.iOS15)
            described = ml.get_spec()
            ct.utils.rename_feature(described, described.description.input[0].name,
                                    spec["input"]["name"])
            ct.utils.rename_feature(described, described.description.output[0].name,
                                    spec["output"]["name"])
            ml = ct.models.MLModel(described, weights_dir=ml.weights_dir,
                                   skip_model_load=True)
    except ExportError:
        raise
    except Exception as exc:  # the converter's own errors are long; keep the cause attached
        raise ExportError(f"coremltools could not convert {source.iteration_name!r}: "
                          f"{exc}") from exc
    ml.short_description = (f"cvbench {source.kind} classifier {source.project_name!r}, "
                            f"{source.iteration_name}")
    ml.user_defined_metadata["labels"] = json.dumps([t["name"] for t in source.config["tags"]])
    ml.user_defined_metadata["cvbench_iteration"] = source.iteration_id
    ml.save(str(path))
    return None
