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

* ``"openvino"``: OpenVINO IR (``model.xml`` and its weights ``model.bin``), converted from
  the ONNX export with ``openvino.convert_model`` and checked with OpenVINO Runtime like
  ONNX (:mod:`cvbench.export.openvino_ir`; ``pip install cvbench[openvino]``).
* ``"coreml"``: a Core ML ML Program (``model.mlpackage``, a folder) converted with
  coremltools from ``torch.export`` (classification; :mod:`cvbench.export.coreml`;
  ``pip install cvbench[coreml]``). Core ML runs only on Apple's systems, so **its parity
  with the app is unchecked**: check it on a Mac.

Targets that cannot be built here are in :data:`UNAVAILABLE`, with the reason, and are
refused with it: TFLite has no ONNX-to-TensorFlow converter that installs beside
cvbench's own packages (onnx2tf needs TensorFlow, which pins older NumPy, ONNX and
protobuf), so export ONNX or OpenVINO instead.

Every format gets a sidecar ``<file>.json``: labels and tag ids in output order, the
preprocessing (size, mean, std, resize method), the kind, the project and the iteration.
``dest`` is a file name (its suffix must be the format's) or a folder (``model.<suffix>``
is written in it). Files are written under temporary names and renamed when complete;
:attr:`ExportedModel.files` lists every file (or folder) an export wrote.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import classify as _classify
from . import coreml as _coreml
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
    "UNAVAILABLE",
    "UnavailableFormat",
    "ExportFormat",
    "format_named",
    "missing_requirement",
    "writer_for",
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


class UnavailableFormat(ExportError, ValueError):
    """A known export target that cannot be built here (:data:`UNAVAILABLE` says why)."""


@dataclass(frozen=True)
class ExportedModel:
    """Where an export went: ``path`` (the model), ``sidecar`` (its JSON), the parity
    check (None where it is not checked: fastai, which cvbench never loads; Core ML, which
    runs only on Apple's systems; ``unchecked`` says why) and ``files``: everything the
    export wrote (the model, the files beside it such as OpenVINO's weights, the sidecar)."""

    format: str
    path: Path
    sidecar: Path
    parity: ParityReport | None
    files: tuple[Path, ...] = ()
    unchecked: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "sidecar": str(self.sidecar),
                "parity": None if self.parity is None else self.parity.to_dict(),
                "files": [str(f) for f in self.files], "unchecked": self.unchecked}


@dataclass(frozen=True)
class ExportFormat:
    """An export target: its file suffix (a folder for ``.mlpackage``), what it is, the
    files written beside the model (``companions``: suffixes, e.g. OpenVINO's ``.bin``),
    the modules it needs and the extra that installs them, and why its parity is not
    checked ('' when it is)."""

    name: str
    suffix: str
    description: str
    companions: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    extra: str = ""
    unchecked: str = ""


_PICKLE = ("a fastai export is a pickle, and cvbench never loads pickles: load it only "
           "where you trust it")

#: Format name -> what it is.
FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat("onnx", ".onnx",
                         "ONNX (opset 18), checked with ONNX Runtime against the app"),
    "torchscript": ExportFormat("torchscript", ".pt",
                                "TorchScript (torch.jit.trace), checked against the app"),
    "fastai": ExportFormat("fastai", ".pkl",
                           "fastai Learner.export: a pickle, never load one from a stranger",
                           unchecked=_PICKLE),
    "openvino": ExportFormat("openvino", ".xml",
                             "OpenVINO IR (model.xml + model.bin), checked with OpenVINO "
                             "Runtime against the app",
                             companions=(".bin",), requires=("openvino",), extra="openvino"),
    "coreml": ExportFormat("coreml", ".mlpackage",
                           "Core ML ML Program for Apple devices; parity unchecked (Core ML "
                           "runs only on Apple's systems)",
                           requires=("coremltools",), extra="coreml",
                           unchecked=_coreml.UNCHECKED),
}

#: Targets that cannot be built here, and why (asking for one raises ExportError with it).
UNAVAILABLE: dict[str, str] = {
    "tflite": (
        "the TFLite export is not available: converting to TFLite needs an ONNX-to-"
        "TensorFlow converter (onnx2tf), and the TensorFlow it needs pins older NumPy, ONNX "
        "and protobuf than cvbench's, so it cannot be installed beside cvbench. Export "
        "'onnx' (ONNX Runtime runs on phones and the web too) or 'openvino' instead."
    ),
}

#: Project kind -> format -> writer (``write(source, path, check)``).
WRITERS: dict[str, dict[str, Writer]] = {
    "multiclass": _classify.WRITERS,
    "multilabel": _classify.WRITERS,
    "detection": _detect.WRITERS,
}

#: Why a format has no writer for a kind (the error names it).
_NO_WRITER: dict[tuple[str, str], str] = {
    ("detection", "fastai"): "fastai's Learner has no counterpart of cvbench's detector",
    ("detection", "coreml"): "the detector's box decoding and non-maximum suppression have "
                             "no Core ML conversion here",
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
    """The export format called ``format``; a ValueError names the valid ones, an
    :class:`ExportError` says why a known target cannot be built here."""
    if isinstance(format, str) and format in UNAVAILABLE:
        raise UnavailableFormat(f"{UNAVAILABLE[format]} (format should be one of "
                                f"{list(FORMATS)})")
    try:
        return FORMATS[format]
    except (KeyError, TypeError):
        raise ValueError(
            f"format={format!r} is not an export format; it should be one of {list(FORMATS)}"
        ) from None


def missing_requirement(format: str) -> str:
    """'' when the packages of ``format`` are installed, else what to install."""
    fmt = format_named(format)
    missing = [m for m in fmt.requires if importlib.util.find_spec(m) is None]
    if not missing:
        return ""
    return (f"the {fmt.name} export needs the {', '.join(missing)} package; install it with "
            f"pip install cvbench[{fmt.extra}]")


def writer_for(kind: str, format: str) -> Writer:
    """The writer of ``format`` for projects of ``kind``; an ExportError says why none."""
    fmt = format_named(format)
    writer = WRITERS.get(kind, {}).get(fmt.name)
    if writer is None:
        why = _NO_WRITER.get((kind, fmt.name), "it has no writer for them")
        offered = [n for n in FORMATS if n in WRITERS.get(kind, {})]
        raise ExportError(f"the {fmt.name} export is not available for {kind} projects: "
                          f"{why}; the formats for them are {offered}")
    return writer


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _put_in_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; a folder (``.mlpackage``) replaces the old one."""
    if tmp.is_dir() and final.exists():
        old = final.with_name(f".old-{uuid.uuid4().hex[:8]}-{final.name}")
        os.replace(final, old)
        os.replace(tmp, final)
        _remove(old)
    else:
        os.replace(tmp, final)


def export_model(source: ExportSource, format: str, dest: str | os.PathLike, *,
                 check: bool = True) -> ExportedModel:
    """Export ``source`` in ``format`` to ``dest``; see the module docstring."""
    fmt = format_named(format)
    writer = writer_for(source.kind, fmt.name)
    missing = missing_requirement(fmt.name)
    if missing:
        raise ExportError(missing)
    final = _target(fmt, dest)
    tmp = final.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{final.name}")
    tmp_sidecar = Path(f"{tmp}.json")
    final_sidecar = Path(f"{final}.json")
    pairs = [(tmp.with_suffix(c), final.with_suffix(c)) for c in fmt.companions]
    try:
        sidecar = sidecar_for(source, fmt.name, source.model.export_spec())
        tmp_sidecar.write_text(json.dumps(sidecar, indent=1))
        parity = writer(source, tmp, check)
        for written, target in pairs:
            if not written.exists():
                raise ExportError(f"the {fmt.name} writer did not write {target.name}")
        for written, target in pairs:
            os.replace(written, target)
        os.replace(tmp_sidecar, final_sidecar)
        _put_in_place(tmp, final)
    finally:
        for p in (tmp, tmp_sidecar, *(w for w, _ in pairs)):
            _remove(p)
    files = (final, *(t for _, t in pairs), final_sidecar)
    return ExportedModel(fmt.name, final, final_sidecar, parity, files,
                         "" if parity is not None else fmt.unchecked)
