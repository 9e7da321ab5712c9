"""What the Insight widget shows, as plain data: a health report's tiles, duplicate groups and
likely mislabels with their thumbnails; an embedding map as compact arrays (coordinates as a
float32 buffer, a tag index and an outcome code per point). (A comparison of two iterations
is shaped in :mod:`cvbench.ui._compare`, which the Performance widget shares.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..insight import EmbeddingMap, HealthReport
from ..project import Project
from ._images import thumbnail_url

__all__ = [
    "MAX_GROUPS",
    "MAX_MISLABELS",
    "OUTCOMES",
    "UNTAGGED",
    "health_view",
    "map_arrays",
    "thumbs",
]

#: How many duplicate groups and likely mislabels the page shows.
MAX_GROUPS = 30
MAX_MISLABELS = 40
#: The outcome code of each point of a map coloured by correctness.
OUTCOMES = {"wrong": 0, "right": 1, "not validated": 2}
#: The tag index of an untagged point.
UNTAGGED = 0xFFFF


def thumbs(project: Project, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Image id -> ``{id, name, src, tags, split, width, height}`` of the ids that still
    exist (one query)."""
    if not ids:
        return {}
    out = {}
    for img in project.images(ids=list(dict.fromkeys(ids))):
        out[img.id] = {"id": img.id, "name": img.original_name or img.id[:8],
                       "src": thumbnail_url(project, img), "tags": list(img.tags),
                       "split": img.split or "", "width": img.width, "height": img.height}
    return out


def health_view(project: Project, report: HealthReport, *,
                dismissed: Sequence[str] = ()) -> dict[str, Any]:
    """The ``health`` trait of the widget: ``{n_images, summary, notes, tiles, balance,
    groups, n_groups, mislabels, n_mislabels}``. Images deleted since the check leave their
    groups (a group of one is no group); a mislabel whose image was deleted, retagged since
    or ``dismissed`` leaves the list."""
    groups = report.groups()
    mis = report.mislabels
    problems = report.problems
    wanted = [i for g in groups[:MAX_GROUPS] for i in g.image_ids]
    wanted += [str(i) for i in mis["image_id"]]
    found = thumbs(project, wanted)
    group_rows: list[dict[str, Any]] = []
    for g in groups[:MAX_GROUPS]:
        alive = [i for i in g.image_ids if i in found]
        if len(alive) < 2:
            continue
        group_rows.append({
            "group": g.group, "keep": g.keep if g.keep in alive else alive[0],
            "across_tags": g.across_tags, "across_splits": g.across_splits,
            "similarity": float(g.similarity), "images": [found[i] for i in alive]})
    skip = set(dismissed)
    mis_rows: list[dict[str, Any]] = []
    for r in mis.to_dict(orient="records"):
        image_id = str(r["image_id"])
        img = found.get(image_id)
        if img is None or image_id in skip or tuple(img["tags"]) != tuple(r["tags"]):
            continue
        if len(mis_rows) < MAX_MISLABELS:
            mis_rows.append({**img, "image_id": image_id, "rank": int(r["rank"]),
                             "tags": list(r["tags"]), "suggested": list(r["suggested"]),
                             "given_probability": float(r["given_probability"]),
                             "suggested_probability": float(r["suggested_probability"])})
    counts = problems["problem"].value_counts().to_dict() if len(problems) else {}
    tiles = {
        "duplicates": len(groups),
        "to_delete": sum(len(g.image_ids) - 1 for g in groups),
        "conflicts": sum(g.across_tags for g in groups),
        "leaks": len(report.leaks),
        "mislabels": len(mis),
        "outliers": len(report.outliers),
        "too_small": int(counts.get("too small", 0)),
        "too_dark": int(counts.get("too dark", 0)),
    }
    balance = [{"tag": str(b["tag"]), "images": int(b["images"]), "train": int(b["train"]),
                "validation": int(b["validation"]), "share": float(b["share"]),
                "ratio": float(b["ratio_to_largest"])}
               for b in report.balance.to_dict(orient="records")]
    return {"n_images": report.n_images, "summary": report.summary(),
            "notes": list(report.notes), "tiles": tiles, "balance": balance,
            "groups": group_rows, "n_groups": len(groups), "mislabels": mis_rows,
            "n_mislabels": len(mis)}


def map_arrays(emap: EmbeddingMap) -> tuple[bytes, bytes, bytes, list[str], list[str]]:
    """The map as the browser draws it: ``xy`` (float32 x, y pairs, little-endian),
    ``tag`` (uint16 index into the names, 65535 for untagged), ``outcome`` (uint8, see
    :data:`OUTCOMES`), the tag names in order of first appearance, and the image ids."""
    frame = emap.frame
    xy = np.ascontiguousarray(frame[["x", "y"]].to_numpy(dtype="<f4")).reshape(-1)
    names: list[str] = []
    index: dict[str, int] = {}
    codes = np.empty(len(frame), dtype="<u2")
    for k, tag in enumerate(frame["tag"].tolist()):
        if not tag:
            codes[k] = UNTAGGED
            continue
        if tag not in index:
            index[tag] = len(names)
            names.append(str(tag))
        codes[k] = index[tag]
    if len(names) >= UNTAGGED:
        raise ValueError(f"a map can colour at most {UNTAGGED - 1} tags; it has {len(names)}")
    outcome = np.array([OUTCOMES["not validated"] if c is None else OUTCOMES["right" if c else
                                                                             "wrong"]
                        for c in frame["correct"].tolist()], dtype=np.uint8)
    return (xy.tobytes(), codes.tobytes(), outcome.tobytes(), names,
            [str(i) for i in frame["image_id"]])
