"""Export an iteration: ONNX, TorchScript, fastai; and the parity check.

    exported = iteration.export("onnx", "out/")      # out/model.onnx + out/model.onnx.json
    exported.parity                                  # ParityReport: checked on 20 images

Formats (``FORMATS``, an explicit registry):

* ``"onnx"``: opset 18, one file (no external data), dynamic batch axis. Input ``input``:
  the preprocessed float tensor ``(N, 3, H, W)``; output ``probabilities`` ``(N, T)``.
  Before the file is put in place, :func:`check_onnx_parity` runs it with ONNX Runtime
  through :mod:`cvbench.export.onnx_runtime` (the torch-free runtime a user ships) on up
  to 20 of the iteration's validation images: every probability must match the in-app
  one within ``1e-4`` and the top tag must be the same, else :class:`ExportError` and
  nothing is written.
* ``"torchscript"``: ``torch.jit.trace`` of the same module (``.pt``), checked the same way
  on the same images.
* ``"fastai"``: fastai's ``Learner.export`` (``.pkl``). **It is a pickle**: loading one runs
  code, so never load one from a stranger; cvbench itself never loads it (it keeps its
  weights in safetensors). ``load_learner(path).predict(image)`` works where cvbench is
  installed (the Learner's image reader lives in cvbench).

A kind whose model needs more than this (detection: boxes and their post-processing) gives
its task ``export_onnx(iteration, path, check)`` / ``export_torchscript(...)`` /
``export_fastai(iteration, path)`` methods, which the writers call instead.

Every format gets a sidecar ``<file>.json``: labels and tag ids in output order, the
preprocessing (size, mean, std, resize method), the kind, the project and the iteration.
``dest`` is a file name (its suffix must be the format's) or a folder (``model.<suffix>``
is written in it). Files are written under temporary names and renamed when complete.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CvbenchError

if TYPE_CHECKING:  # pragma: no cover
    from ..iteration import Iteration

__all__ = [
    "FORMATS",
    "ExportFormat",
    "ExportedModel",
    "ExportError",
    "ParityReport",
    "export_iteration",
    "check_onnx_parity",
    "parity_images",
    "OPSET",
    "PARITY_TOLERANCE",
    "PARITY_IMAGES",
]

OPSET = 18
PARITY_TOLERANCE = 1e-4
PARITY_IMAGES = 20


class ExportError(CvbenchError):
    """An export could not be made, or it does not give the in-app predictions."""


@dataclass(frozen=True)
class ParityReport:
    """How an exported model compared with the in-app model on ``images`` images."""

    format: str
    images: int
    max_abs_diff: float
    same_top: bool
    tolerance: float
    source: str  # "validation", "training" or "synthetic": where the images came from

    @property
    def ok(self) -> bool:
        return self.same_top and self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "images": self.images,
                "max_abs_diff": self.max_abs_diff, "same_top": self.same_top,
                "tolerance": self.tolerance, "source": self.source, "ok": self.ok}


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
    #: writes the model file at ``path`` and returns a ParityReport or None
    write: Callable[[Iteration, Path, bool], ParityReport | None]
    description: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sidecar_for(iteration: Iteration, format: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The sidecar JSON of an export."""
    from .. import __version__

    config = iteration.config()
    tags = [{"id": t["id"], "name": t["name"], "type": t.get("type", "Regular")}
            for t in config["tags"]]
    project = iteration.project
    return {
        "cvbench_version": __version__,
        "sidecar_version": 1,
        "format": format,
        "opset": OPSET if format == "onnx" else None,
        "task": config.get("task", "classification"),
        "kind": iteration.kind,
        "project": {"id": project.id, "name": project.name},
        "iteration": {"id": iteration.id, "name": iteration.name,
                      "created": iteration.created, "mode": iteration.mode},
        "domain": iteration.domain,
        "labels": [t["name"] for t in tags],
        "tags": tags,
        "input": spec["input"],
        "output": spec["output"],
        "exported": _now(),
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


def export_iteration(iteration: Iteration, format: str, dest: str | os.PathLike, *,
                     check: bool = True) -> ExportedModel:
    """Export ``iteration`` in ``format`` to ``dest``; see the module docstring."""
    try:
        fmt = FORMATS[format]
    except (KeyError, TypeError):
        raise ValueError(
            f"format={format!r} is not an export format; it should be one of {list(FORMATS)}"
        ) from None
    if not iteration.exists:
        raise ExportError(
            f"iteration {iteration.name!r} ({iteration.id}) was deleted; it cannot be "
            "exported. Export one of project.iterations"
        )
    final = _target(fmt, dest)
    tmp = final.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{final.name}")
    tmp_sidecar = Path(f"{tmp}.json")
    final_sidecar = Path(f"{final}.json")
    try:
        model = iteration.model()
        sidecar = sidecar_for(iteration, fmt.name, model.export_spec())
        tmp_sidecar.write_text(json.dumps(sidecar, indent=1))
        parity = fmt.write(iteration, tmp, check)
        os.replace(tmp_sidecar, final_sidecar)
        os.replace(tmp, final)
    finally:
        for p in (tmp, tmp_sidecar):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
    return ExportedModel(fmt.name, final, final_sidecar, parity)


# --------------------------------------------------------------------------- parity


def parity_images(iteration: Iteration, n: int = PARITY_IMAGES
                  ) -> tuple[list[Path | bytes], str]:
    """Up to ``n`` images to compare an export on: the iteration's validation images still
    in the project, else its training images, else synthetic ones (seeded noise)."""
    project = iteration.project
    split = iteration.split()
    for which in ("validation", "train"):
        ids = sorted(i for i, s in split.items() if s == which)
        found = [img.path for img in project.images(ids=ids[: 4 * n]) if img.path.exists()]
        if found:
            return sorted(found)[:n], "validation" if which == "validation" else "training"
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out: list[Path | bytes] = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out, "synthetic"


def _compare(format: str, in_app: Sequence[Sequence[Any]],
             exported: Sequence[Sequence[dict[str, Any]]], source: str) -> ParityReport:
    """In-app ``Prediction`` lists against exported prediction dicts."""
    worst = 0.0
    same_top = True
    for mine, theirs in zip(in_app, exported, strict=True):
        a = {p.tag_id: p.probability for p in mine}
        b = {p["tagId"]: float(p["probability"]) for p in theirs}
        if a.keys() != b.keys():
            return ParityReport(format, len(in_app), float("inf"), False, PARITY_TOLERANCE,
                                source)
        worst = max(worst, max((abs(a[k] - b[k]) for k in a), default=0.0))
        if mine and theirs and mine[0].tag_id != theirs[0]["tagId"]:
            # a tie within the tolerance may order either way
            if abs(a[mine[0].tag_id] - a[theirs[0]["tagId"]]) > PARITY_TOLERANCE:
                same_top = False
    return ParityReport(format, len(in_app), float(worst), same_top, PARITY_TOLERANCE, source)


def _raise_if_bad(report: ParityReport, path: Path) -> ParityReport:
    if not report.ok:
        raise ExportError(
            f"the {report.format} export does not reproduce the in-app predictions on "
            f"{report.images} {report.source} images: largest probability difference "
            f"{report.max_abs_diff:.2e} (allowed {report.tolerance:.0e}), same top tag: "
            f"{report.same_top}. Nothing was written. Please report this with the iteration's "
            "domain and size."
        )
    return report


def check_onnx_parity(iteration: Iteration, model_path: str | os.PathLike,
                      images: Sequence[Any] | None = None) -> ParityReport:
    """Compare ONNX Runtime (through :func:`cvbench.export.onnx_runtime.predict`) with the
    in-app predictions of ``iteration`` on ``images`` (default :func:`parity_images`).
    Returns the report; :attr:`ParityReport.ok` says whether it holds."""
    from . import onnx_runtime

    source = "given"
    if images is None:
        images, source = parity_images(iteration)
    in_app = iteration.predict(list(images))
    exported = [onnx_runtime.predict(model_path, img) for img in images]
    return _compare("onnx", in_app, exported, source)


# --------------------------------------------------------------------------- writers


def _write_onnx(iteration: Iteration, path: Path, check: bool) -> ParityReport | None:
    import torch

    writer = getattr(iteration.task, "export_onnx", None)
    if writer is not None:  # a kind with its own graph (detection: decoding and NMS inside)
        return writer(iteration, path, check)
    model = iteration.model()
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
        raise ExportError(f"torch.onnx.export failed for {iteration.name!r}: {exc}") from exc
    if not check:
        return None
    return _raise_if_bad(check_onnx_parity(iteration, path), path)


def _write_torchscript(iteration: Iteration, path: Path, check: bool) -> ParityReport | None:
    import warnings

    import torch

    from ..domains import preprocess
    from ..store.images import load_rgb

    writer = getattr(iteration.task, "export_torchscript", None)
    if writer is not None:  # a kind with its own outputs (detection: boxes after NMS)
        return writer(iteration, path, check)
    model = iteration.model()
    module = model.export_module()
    spec = model.export_spec()
    side = int(spec["input"]["size"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.zeros(2, 3, side, side), check_trace=False)
        traced.save(str(path))
    if not check:
        return None
    images, source = parity_images(iteration)
    in_app = iteration.predict(list(images))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    x = preprocess(iteration.domain, [load_rgb(i) for i in images], side)
    with torch.inference_mode():
        probs = loaded(x).numpy()
    tags = iteration.config()["tags"]
    exported = [
        sorted(({"tagId": t["id"], "tagName": t["name"], "probability": float(p)}
                for t, p in zip(tags, row, strict=True)),
               key=lambda d: -d["probability"])
        for row in probs
    ]
    return _raise_if_bad(_compare("torchscript", in_app, exported, source), path)


def _write_fastai(iteration: Iteration, path: Path, check: bool) -> None:
    task = iteration.task
    writer = getattr(task, "export_fastai", None)
    if writer is None:
        raise ExportError(f"the fastai export is not available for {iteration.kind} projects")
    writer(iteration, path)
    return None


#: Format name -> how to write it.
FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat("onnx", ".onnx", _write_onnx,
                         "ONNX (opset 18), checked with ONNX Runtime against the app"),
    "torchscript": ExportFormat("torchscript", ".pt", _write_torchscript,
                                "TorchScript (torch.jit.trace), checked against the app"),
    "fastai": ExportFormat("fastai", ".pkl", _write_fastai,
                           "fastai Learner.export: a pickle, never load one from a stranger"),
}
