"""What the app widgets share about iterations: the picker's options, the summary numbers of
one iteration, plain JSON numbers, and matplotlib figures as PNG data URLs.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never with
pyplot: no figure is left open, none pops up under a notebook cell, and drawing from a
background thread is safe (one figure, one thread).
"""

from __future__ import annotations

import functools
import io
import math
import re
import threading
from typing import Any

from ..project import Project
from ._base import _asset
from ._images import data_url

__all__ = [
    "num",
    "tag_palette",
    "tag_colors",
    "iteration_options",
    "default_iteration_id",
    "choose_iteration",
    "iteration_row",
    "new_figure",
    "figure_url",
]

_FIGURE_LOCK = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def num(x: Any) -> float | None:
    """A plain float for JSON, None for NaN, infinity or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _label(it: Any) -> str:
    pub = it.published_name
    return f"{it.name} \u00b7 {it.mode}" + (f" \u00b7 published as {pub!r}" if pub else "")


@functools.cache
def tag_palette() -> tuple[str, ...]:
    """The tag colours of the widgets, read from ``CVB_PALETTE`` in widgets/common.js (the
    one place they are written): the n-th tag of the project gets the n-th colour."""
    text = _asset("common.js")
    found = re.search(r"CVB_PALETTE\s*=\s*\[(.*?)\]", text, re.S)
    colors = tuple(re.findall(r"#[0-9a-fA-F]{6}", found.group(1))) if found else ()
    if not colors:
        raise RuntimeError("widgets/common.js defines no CVB_PALETTE of #rrggbb colours")
    return colors


def tag_colors(tags: list[dict[str, Any]]) -> dict[str, str]:
    """Tag name -> colour, as the browser colours the widget's ``tags`` list."""
    palette = tag_palette()
    return {tag["name"]: palette[i % len(palette)] for i, tag in enumerate(tags)}


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
    }


def new_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def figure_url(fig: Any) -> str:
    """The figure as a PNG data URL, at the figure's own size (no tight bounding box, so
    positions read from its axes hold on the picture)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    return data_url(buf.getvalue(), "image/png")


def figure_lock() -> threading.Lock:
    """Hold this while drawing a figure."""
    return _FIGURE_LOCK
