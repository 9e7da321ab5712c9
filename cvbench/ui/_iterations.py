"""What the app widgets share about iterations, as plain data: the picker's options, the
iteration a picker shows, the summary numbers of one iteration, and plain JSON numbers.
(The picker itself, traits and all, is :class:`cvbench.ui._mixins.IterationPicker`.)
"""

from __future__ import annotations

import math
from typing import Any

from ..project import Project

__all__ = [
    "num",
    "iteration_options",
    "default_iteration_id",
    "choose_iteration",
    "iteration_row",
]


def num(x: Any) -> float | None:
    """A plain float for JSON, None for NaN, infinity or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _label(it: Any) -> str:
    pub = it.published_name
    return f"{it.name} \u00b7 {it.mode}" + (f" \u00b7 published as {pub!r}" if pub else "")


def iteration_options(project: Project) -> list[dict[str, Any]]:
    """The project's iterations for a picker, newest first: ``{id, name, label, mode,
    domain, published_name, created}``."""
    return [
        {
            "id": it.id,
            "name": it.name,
            "label": _label(it),
            "mode": it.mode,
            "domain": it.domain,
            "published_name": it.published_name or "",
            "created": it.created,
        }
        for it in project.iterations
    ]


def default_iteration_id(options: list[dict[str, Any]]) -> str:
    """The newest published iteration, else the newest one, else ''."""
    for o in options:
        if o["published_name"]:
            return o["id"]
    return options[0]["id"] if options else ""


def choose_iteration(options: list[dict[str, Any]], current: str, known: set[str],
                     *, newest: bool = False) -> str:
    """The iteration a picker shows after reading ``options`` again: ``current`` while it
    exists and no iteration appeared since (``known``: the ids seen before); else the
    newest one (``newest=True``) or :func:`default_iteration_id`."""
    ids = [o["id"] for o in options]
    appeared = bool(known) and any(i not in known for i in ids)
    if current in ids and not appeared:
        return current
    if newest and options:
        return options[0]["id"]
    return default_iteration_id(options)


def iteration_row(it: Any, performance: Any | None) -> dict[str, Any]:
    """One row of the iteration list: what it is, and its numbers at threshold 0.5."""
    settings = it.settings
    return {
        "id": it.id,
        "name": it.name,
        "mode": it.mode,
        "domain": it.domain,
        "created": it.created,
        "trained_seconds": round(it.trained_seconds, 1),
        "budget_minutes": settings.get("budget_minutes"),
        "published_name": it.published_name or "",
        "tags": len(it.tags),
        "precision": None if performance is None else num(performance.precision),
        "recall": None if performance is None else num(performance.recall),
        "map": None if performance is None else num(performance.average_precision),
        "how": how_trained(settings.get("notes") or {}),
    }


def how_trained(notes: dict[str, Any]) -> list[str]:
    """What training chose and why, in a sentence each, from an iteration's notes: the
    quick head picked by validation, the fine-tuned model kept or not, the calibration."""
    out = []
    head = notes.get("head") or {}
    if head.get("why"):
        out.append(f"Model chosen by validation among {len(head.get('candidates', []))} "
                   f"candidates: {head['why']}.")
    if notes.get("chosen") in ("fine-tune", "advanced"):
        out.append("Fine-tuning beat the quick model on validation and was kept.")
    elif isinstance(notes.get("fine_tune"), dict) and notes["fine_tune"].get("kept"):
        out.append(f"Kept the quick model: {notes['fine_tune']['kept'].split(': ', 1)[-1]}.")
    elif notes.get("chosen") == "quick" and (notes.get("fit") or {}).get("validation"):
        out.append("Kept the quick model: the fine-tuned one did not beat it on validation.")
    cal = notes.get("calibration") or {}
    if cal.get("applied"):
        before, after = cal.get("ece_before"), cal.get("ece_after_cross_fitted")
        gap = ("" if before is None or after is None
               else f" (calibration error {100 * before:.1f} % \u2192 {100 * after:.1f} %)")
        out.append(f"Probabilities calibrated: {cal['why']}{gap}.")
    elif cal.get("why"):
        out.append(f"Probabilities as trained: calibration {cal['why']}.")
    return out
