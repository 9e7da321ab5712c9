"""What every export writer shares: the data it is given (:class:`ExportSource`), the
parity report, the sidecar, and the in-app side of the parity check."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import CvbenchError
from ..train.base import LoadedModel

__all__ = [
    "ExportSource",
    "ExportError",
    "ParityReport",
    "Writer",
    "OPSET",
    "PARITY_TOLERANCE",
    "PARITY_IMAGES",
    "sidecar_for",
    "parity_images",
    "synthetic_images",
    "in_app_predictions",
    "compare_predictions",
    "raise_if_bad",
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
    source: str  # "validation", "training", "synthetic" or "given": where the images came from

    @property
    def ok(self) -> bool:
        return self.same_top and self.max_abs_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "images": self.images,
                "max_abs_diff": self.max_abs_diff, "same_top": self.same_top,
                "tolerance": self.tolerance, "source": self.source, "ok": self.ok}


@dataclass(frozen=True)
class ExportSource:
    """Everything an export needs, as plain data: the loaded model (its ``config`` names
    the tags, the domain and the input side), what the sidecar says about the project and
    the iteration, and the images to check parity on (``parity_source`` says where they
    came from: ``"validation"``, ``"training"`` or ``"synthetic"``)."""

    model: LoadedModel
    kind: str
    domain: str
    project_id: str
    project_name: str
    iteration_id: str
    iteration_name: str
    created: str
    mode: str
    parity_images: tuple[Path | bytes, ...]
    parity_source: str

    @property
    def config(self) -> dict[str, Any]:
        return self.model.config


#: A writer: ``write(source, path, check)`` writes the model file at ``path`` (and checks
#: it against the in-app predictions when ``check``), returning the report or None.
Writer = Callable[[ExportSource, Path, bool], "ParityReport | None"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sidecar_for(source: ExportSource, format: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The sidecar JSON of an export."""
    config = source.config
    tags = [{"id": t["id"], "name": t["name"], "type": t.get("type", "Regular")}
            for t in config["tags"]]
    return {
        "cvbench_version": __version__,
        "sidecar_version": 1,
        "format": format,
        "opset": OPSET if format == "onnx" else None,
        "task": config.get("task", "classification"),
        "kind": source.kind,
        "project": {"id": source.project_id, "name": source.project_name},
        "iteration": {"id": source.iteration_id, "name": source.iteration_name,
                      "created": source.created, "mode": source.mode},
        "domain": source.domain,
        "labels": [t["name"] for t in tags],
        "tags": tags,
        "input": spec["input"],
        "output": spec["output"],
        "exported": _now(),
    }


def synthetic_images(n: int = PARITY_IMAGES) -> list[Path | bytes]:
    """``n`` small PNGs of seeded noise (the parity images of an iteration whose own images
    are gone)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out: list[Path | bytes] = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def parity_images(validation: Sequence[Path], training: Sequence[Path] = (),
                  n: int = PARITY_IMAGES) -> tuple[list[Path | bytes], str]:
    """Up to ``n`` images to compare an export on: the iteration's validation images (the
    files still there), else its training images, else synthetic ones (seeded noise)."""
    for which, found in (("validation", validation), ("training", training)):
        if found:
            return list(sorted(found)[:n]), which
    return synthetic_images(n), "synthetic"


def in_app_predictions(model: LoadedModel, images: Sequence[Path | bytes]
                       ) -> list[list[dict[str, Any]]]:
    """The in-app predictions of ``images`` (read as the app reads them)."""
    from ..store.images import load_rgb

    return model.predict_images([load_rgb(i) for i in images])


def compare_predictions(format: str, in_app: Sequence[Sequence[dict[str, Any]]],
                        exported: Sequence[Sequence[dict[str, Any]]], source: str
                        ) -> ParityReport:
    """In-app against exported prediction dicts (Custom Vision's shape)."""
    worst = 0.0
    same_top = True
    for mine, theirs in zip(in_app, exported, strict=True):
        a = {p["tagId"]: float(p["probability"]) for p in mine}
        b = {p["tagId"]: float(p["probability"]) for p in theirs}
        if a.keys() != b.keys():
            return ParityReport(format, len(in_app), float("inf"), False, PARITY_TOLERANCE,
                                source)
        worst = max(worst, max((abs(a[k] - b[k]) for k in a), default=0.0))
        if mine and theirs and mine[0]["tagId"] != theirs[0]["tagId"]:
            # a tie within the tolerance may order either way
            if abs(a[mine[0]["tagId"]] - a[theirs[0]["tagId"]]) > PARITY_TOLERANCE:
                same_top = False
    return ParityReport(format, len(in_app), float(worst), same_top, PARITY_TOLERANCE, source)


def raise_if_bad(report: ParityReport) -> ParityReport:
    if not report.ok:
        raise ExportError(
            f"the {report.format} export does not reproduce the in-app predictions on "
            f"{report.images} {report.source} images: largest probability difference "
            f"{report.max_abs_diff:.2e} (allowed {report.tolerance:.0e}), same top tag: "
            f"{report.same_top}. Nothing was written. Please report this with the iteration's "
            "domain and size."
        )
    return report
