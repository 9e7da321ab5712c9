"""Two iterations side by side: per-tag precision, recall and AP of both and their
difference, the validation images one got right and the other wrong, and both PR curves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..evaluate import ClassificationEvaluation, DetectionEvaluation, PRCurve

__all__ = ["Comparison", "compare"]

_METRICS = ("precision", "recall", "ap")


@dataclass(frozen=True, eq=False)
class Comparison:
    """``this`` iteration against ``other`` on the validation images.

    ``per_tag``: one row per tag of either, ``tag, precision_this, precision_other,
    precision_diff, recall_…, ap_…`` (``_diff`` is this minus other; NaN where a tag is
    not in both). ``changes``: the validation images both were validated on whose
    outcome changed, ``image_id, change, how_wrong`` (``change`` is ``"fixed"``: other got
    it wrong, this right; or ``"broken"``; ``how_wrong`` of the wrong one, see
    ``mistakes()``). ``curves``: ``{"this": {tag: PRCurve}, "other": {…}}``.
    """

    this: str
    other: str
    kind: str
    threshold: float
    overlap: float | None
    per_tag: pd.DataFrame
    changes: pd.DataFrame
    curves: dict[str, dict[str, PRCurve]]
    shared_images: int
    totals: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def fixed(self) -> list[str]:
        return [str(i) for i in self.changes.loc[self.changes["change"] == "fixed", "image_id"]]

    @property
    def broken(self) -> list[str]:
        return [str(i) for i in self.changes.loc[self.changes["change"] == "broken", "image_id"]]

    def summary(self) -> str:
        t, o = self.totals["this"], self.totals["other"]
        return (f"{self.this} against {self.other} on {self.shared_images} shared validation "
                f"images at threshold {self.threshold:g}: precision {t['precision']:.3f} vs "
                f"{o['precision']:.3f}, recall {t['recall']:.3f} vs {o['recall']:.3f}, mAP "
                f"{t['map']:.3f} vs {o['map']:.3f}; {len(self.fixed)} fixed, "
                f"{len(self.broken)} broken")

    def plot(self, ax: Any = None, *, tags: list[str] | None = None) -> Any:
        """Both iterations' precision/recall curves overlaid, one colour per tag, this
        iteration solid and the other dashed; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 5))
        names = tags or sorted(set(self.curves["this"]) | set(self.curves["other"]))
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, tag in enumerate(names):
            colour = colours[k % len(colours)]
            for which, style, label in (("this", "-", self.this), ("other", "--", self.other)):
                curve = self.curves[which].get(tag)
                if curve is None or not curve.thresholds.size:
                    continue
                ax.step(curve.recall, curve.precision, where="post", linestyle=style,
                        color=colour, label=f"{tag} — {label} (AP {curve.ap:.2f})")
        ax.set_xlabel("Recall")
        ax.set_ylabel("Precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.set_title(f"{self.this} (solid) against {self.other} (dashed)")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
        return ax

    def to_dict(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not np.isfinite(v) else v

        return {"this": self.this, "other": self.other, "kind": self.kind,
                "threshold": self.threshold, "overlap": self.overlap,
                "shared_images": self.shared_images, "totals": self.totals,
                "per_tag": [{k: clean(v) for k, v in r.items()}
                            for r in self.per_tag.to_dict(orient="records")],
                "changes": self.changes.to_dict(orient="records"),
                "fixed": self.fixed, "broken": self.broken}


def _at(ev: Any, threshold: float, overlap: float | None) -> Any:
    return ev.at(threshold) if overlap is None else ev.at(threshold, overlap)


def _mistakes(ev: Any, threshold: float, overlap: float | None) -> pd.DataFrame:
    frame: pd.DataFrame = (ev.mistakes(threshold) if overlap is None
                           else ev.mistakes(threshold, overlap))
    return frame


def _curves(ev: Any, overlap: float | None) -> dict[str, PRCurve]:
    curves: dict[str, PRCurve] = ev.pr_curves() if overlap is None else ev.pr_curves(overlap)
    return curves


def compare(this: str, this_ev: ClassificationEvaluation | DetectionEvaluation, other: str,
            other_ev: ClassificationEvaluation | DetectionEvaluation, *, kind: str,
            threshold: float = 0.5, overlap: float | None = None) -> Comparison:
    """Compare two evaluations of one project kind (see :class:`Comparison`);
    ``overlap`` (IoU) is for detection."""
    if type(this_ev) is not type(other_ev):
        raise TypeError(f"cannot compare a {type(this_ev).__name__} with a "
                        f"{type(other_ev).__name__}")
    if isinstance(this_ev, DetectionEvaluation) and overlap is None:
        overlap = 0.5
    a, b = _at(this_ev, threshold, overlap), _at(other_ev, threshold, overlap)
    fa, fb = a.to_frame().set_index("tag"), b.to_frame().set_index("tag")
    tags = list(fa.index) + [t for t in fb.index if t not in fa.index]
    per_tag = pd.DataFrame({"tag": tags})
    for m in _METRICS:
        per_tag[f"{m}_this"] = [float(fa[m][t]) if t in fa.index else np.nan for t in tags]
        per_tag[f"{m}_other"] = [float(fb[m][t]) if t in fb.index else np.nan for t in tags]
        per_tag[f"{m}_diff"] = per_tag[f"{m}_this"] - per_tag[f"{m}_other"]
    shared = [i for i in this_ev.image_ids if i in set(other_ev.image_ids)]
    wrong_a = _mistakes(this_ev, threshold, overlap).set_index("image_id")["how_wrong"]
    wrong_b = _mistakes(other_ev, threshold, overlap).set_index("image_id")["how_wrong"]
    records = []
    for image_id in shared:
        in_a, in_b = image_id in wrong_a.index, image_id in wrong_b.index
        if in_a != in_b:
            records.append({"image_id": image_id, "change": "broken" if in_a else "fixed",
                            "how_wrong": float(wrong_a[image_id] if in_a else wrong_b[image_id])})
    changes = pd.DataFrame.from_records(records, columns=["image_id", "change", "how_wrong"])
    changes = changes.sort_values(["change", "how_wrong"], ascending=[False, False],
                                  kind="stable").reset_index(drop=True)
    totals = {name: {"precision": float(m.precision), "recall": float(m.recall),
                     "map": float(m.map)} for name, m in (("this", a), ("other", b))}
    return Comparison(this=this, other=other, kind=kind, threshold=float(threshold),
                      overlap=overlap, per_tag=per_tag, changes=changes,
                      curves={"this": _curves(this_ev, overlap),
                              "other": _curves(other_ev, overlap)},
                      shared_images=len(shared), totals=totals)
