"""Export a trained model: ONNX, TorchScript, fastai; and the parity check.

    exported = iteration.export("onnx", "out/")      # out/model.onnx + out/model.onnx.json
    exported.parity                                  # ParityReport: checked on 20 images

The engine side: :func:`export_model` takes an :class:`ExportSource` (the loaded model,
what the sidecar says, the parity images; ``Iteration.export`` builds it) and writes the
format with the writer that :data:`WRITERS` registers for the model's kind.

Formats (``FORMATS``, an explicit registry):

* ``"onnx"``: opset 18, one file (no external data), dynamic batch axis. Input ``input``:
  the preprocessed float tensor ``(N, 3, H, W)``; output ``probabilities`` ``(N, T)``.
  Before the file is put in place, :func:`check_onnx_parity` runs it with ONNX Runtime
  through :mod:`cvbench.export.onnx_runtime` (the torch-free runtime a user ships) on up
  to 20 of the iteration's validation images: every probability must match the in-app
  one within ``1e-4`` and the top tag must be the same, else :class:`ExportError` and
  nothing is written (:func:`check_onnx_parity` runs the same check on given images).
* ``"torchscript"``: ``torch.jit.trace`` of the same module (``.pt``), checked the same way
  on the same images.
* ``"fastai"``: fastai's ``Learner.export`` (``.pkl``). **It is a pickle**: loading one runs
  code, so never load one from a stranger; cvbench itself never loads it (it keeps its
  weights in safetensors). ``load_learner(path).predict(image)`` works where cvbench is
  installed (the Learner's image reader lives in cvbench).

The writers of each kind are registered in :data:`WRITERS` (project kind -> format ->
writer): classification in :mod:`cvbench.export.classify`, detection (boxes, with decoding
and NMS in the graph) in :mod:`cvbench.export.detect`.

Every format gets a sidecar ``<file>.json``: labels and tag ids in output order, the
preprocessing (size, mean, std, resize method), the kind, the project and the iteration.
``dest`` is a file name (its suffix must be the format's) or a folder (``model.<suffix>``
is written in it). Files are written under temporary names and renamed when complete.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import classify as _classify
from . import detect as _detect
from .base import (
    OPSET,
    PARITY_IMAGES,
    PARITY_TOLERANCE,
    ExportError,
    ExportSource,
    ParityReport,
    Writer,
    parity_images,
    sidecar_for,
)
from .classify import check_onnx_parity

__all__ = [
    "FORMATS",
    "WRITERS",
    "ExportFormat",
    "ExportedModel",
    "ExportError",
    "ExportSource",
    "ParityReport",
    "export_model",
    "check_onnx_parity",
    "parity_images",
    "sidecar_for",
    "OPSET",
    "PARITY_TOLERANCE",
    "PARITY_IMAGES",
]


@dataclass(frozen=True)
class ExportedModel:
    """Where an export went: ``path`` (the model), ``sidecar`` (its JSON), and the parity
    check (None for fastai, which cvbench never loads)."""

    format: str
    path: Path
    sidecar: Path
    parity: ParityReport | None

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "sidecar": str(self.sidecar),
                "parity": None if self.parity is None else self.parity.to_dict()}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str
    description: str


#: Format name -> what it is.
FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat("onnx", ".onnx",
                         "ONNX (opset 18), checked with ONNX Runtime against the app"),
    "torchscript": ExportFormat("torchscript", ".pt",
                                "TorchScript (torch.jit.trace), checked against the app"),
    "fastai": ExportFormat("fastai", ".pkl",
                           "fastai Learner.export: a pickle, never load one from a stranger"),
}

#: Project kind -> format -> writer (``write(source, path, check)``).
WRITERS: dict[str, dict[str, Writer]] = {
    "multiclass": _classify.WRITERS,
    "multilabel": _classify.WRITERS,
    "detection": _detect.WRITERS,
}


def _target(format: ExportFormat, dest: str | os.PathLike) -> Path:
    dest = Path(dest)
    if dest.suffix:
        if dest.suffix != format.suffix:
            raise ValueError(
                f"{dest} does not end with {format.suffix!r}, the suffix of {format.name} "
                f"files; name it model{format.suffix} or give a folder"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    return dest / f"model{format.suffix}"


def format_named(format: str) -> ExportFormat:
    """The export format called ``format``; a ValueError names the valid ones."""
    try:
        return FORMATS[format]
    except (KeyError, TypeError):
        raise ValueError(
            f"format={format!r} is not an export format; it should be one of {list(FORMATS)}"
        ) from None


def export_model(source: ExportSource, format: str, dest: str | os.PathLike, *,
                 check: bool = True) -> ExportedModel:
    """Export ``source`` in ``format`` to ``dest``; see the module docstring."""
    fmt = format_named(format)
    writer = WRITERS.get(source.kind, {}).get(fmt.name)
    if writer is None:
        raise ExportError(f"the {fmt.name} export is not available for {source.kind} projects")
    final = _target(fmt, dest)
    tmp = final.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{final.name}")
    tmp_sidecar = Path(f"{tmp}.json")
    final_sidecar = Path(f"{final}.json")
    try:
        sidecar = sidecar_for(source, fmt.name, source.model.export_spec())
        tmp_sidecar.write_text(json.dumps(sidecar, indent=1))
        parity = writer(source, tmp, check)
        os.replace(tmp_sidecar, final_sidecar)
        os.replace(tmp, final)
    finally:
        for p in (tmp, tmp_sidecar):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    return ExportedModel(fmt.name, final, final_sidecar, parity)
