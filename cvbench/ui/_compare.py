"""Two iterations side by side, as the Insight and Performance widgets show them: one
``comparison`` trait, shaped here, drawn in the browser by ``widgets/compare.js`` (which
both widgets' modules import) with the styles of ``widgets/compare.css``.

The trait holds ``Iteration.compare`` as plain data::

    {"this", "other", "this_id", "other_id", "threshold", "overlap", "shared_images",
     "totals": {"this": {precision, recall, map}, "other": {…}},
     "per_tag": [{tag, precision_this, precision_other, precision_diff, recall_…, ap_…}],
     "plot" (PNG data URL: both PR curves, this solid, other dashed),
     "fixed", "broken" (thumbnails {id, name, src, tags, split, width, height}),
     "n_fixed", "n_broken", "error" ('' or why the two do not compare)}

NaN is ``None``; ``_diff`` is this minus other. The figure does not depend on the
probability threshold, so it is drawn once per pair of iterations (and overlap).

    class Insight(Comparer, IterationPicker): ...
    self.comparison = self._compared(this, other, threshold=0.6)
"""

from __future__ import annotations

from typing import Any

import traitlets as t

from ..errors import CvbenchError
from ..insight import Comparison
from ..iteration import Iteration
from ..project import Project
from ._assets import asset, tag_colors
from ._base import ProjectWidget
from ._insight_data import thumbs
from ._iterations import num
from ._report import figure_lock, figure_url, new_figure

__all__ = ["Comparer", "MAX_CHANGES", "comparison_view", "draw_comparison", "compare_css"]

#: How many fixed and how many broken images are shown.
MAX_CHANGES = 24
#: How many figures a widget keeps (one per pair of iterations and overlap).
_PLOTS_KEPT = 8
#: The figure's width (inches, at 100 dpi) and its legend's entries a row.
_WIDTH_IN = 4.8
_LEGEND_COLUMNS = 4


def compare_css() -> str:
    """The styles of the comparison, for the widgets that show it."""
    return f"\n/* widgets/compare.css */\n{asset('compare.css')}"


def draw_comparison(c: Comparison, tags: list[dict[str, Any]] | None = None,
                    palette: tuple[str, ...] | list[str] | None = None) -> str:
    """Both iterations' precision/recall curves as a PNG data URL: this iteration solid,
    the other dashed, a colour per tag (with ``tags``, a widget's tag list, and
    ``palette``: the colour the browser gives each tag), the legend below."""
    from matplotlib.lines import Line2D

    by_tag = tag_colors(tags, tuple(palette)) if tags and palette else {}
    with figure_lock():
        fig = new_figure(_WIDTH_IN, 4.0)
        ax = fig.add_subplot()
        c.plot(ax=ax)
        colours: dict[str, str] = {}
        for line in ax.get_lines():  # Comparison.plot labels "<tag> — <iteration> (AP …)"
            tag = str(line.get_label()).rsplit(" \u2014 ", 1)[0]
            if tag in by_tag:
                line.set_color(by_tag[tag])
            colours.setdefault(tag, line.get_color())
        handles = [Line2D([], [], color=colour, linewidth=2.4, label=tag)
                   for tag, colour in colours.items()]
        rows = -(-len(handles) // _LEGEND_COLUMNS) + 1  # and the title
        legend_in = 0.22 * rows + 0.1
        height = 3.4 + legend_in
        fig.set_size_inches(_WIDTH_IN, height)
        fig.subplots_adjust(left=0.13, right=0.97, top=1 - 0.12 / height,
                            bottom=(0.5 + legend_in) / height)
        legend = ax.legend(handles=handles, loc="upper center", fontsize=8, frameon=False,
                           bbox_to_anchor=(0.5, -0.5 / (height - legend_in - 0.62)),
                           ncol=max(1, min(_LEGEND_COLUMNS, len(handles))),
                           handlelength=2.6, columnspacing=1.2,
                           title=f"{c.this} solid, {c.other} dashed", title_fontsize=8)
        legend.get_title().set_color("#605e5c")
        ax.set_title("")
        ax.grid(True, color="#edebe9", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return figure_url(fig)


def comparison_view(project: Project, c: Comparison, *, plot: str | None = None
                    ) -> dict[str, Any]:
    """The ``comparison`` trait of :class:`~cvbench.insight.Comparison` ``c`` (see the
    module); ``plot``: its figure when drawn before (:func:`draw_comparison`)."""
    rows = [{k: (num(v) if k != "tag" else str(v)) for k, v in r.items()}
            for r in c.per_tag.to_dict(orient="records")]
    fixed, broken = c.fixed, c.broken
    found = thumbs(project, fixed[:MAX_CHANGES] + broken[:MAX_CHANGES])
    return {"this": c.this, "other": c.other, "threshold": c.threshold, "overlap": c.overlap,
            "shared_images": c.shared_images,
            "totals": {k: {m: num(v) for m, v in t.items()} for k, t in c.totals.items()},
            "per_tag": rows, "plot": draw_comparison(c) if plot is None else plot,
            "fixed": [found[i] for i in fixed[:MAX_CHANGES] if i in found],
            "broken": [found[i] for i in broken[:MAX_CHANGES] if i in found],
            "n_fixed": len(fixed), "n_broken": len(broken), "error": ""}


class Comparer(ProjectWidget):
    """A widget that shows two iterations side by side (``comparison``)."""

    comparison = t.Dict(
        help="The comparison shown (see cvbench.ui._compare): {this, other, this_id, "
        "other_id, threshold, overlap, shared_images, totals, per_tag, plot (PNG data URL), "
        "fixed, broken (thumbnails), n_fixed, n_broken, error ('' or why the iterations do "
        "not compare)}; {} when none is shown (read-only)."
    ).tag(sync=True)

    def __init__(self, project: Any, **kwargs: Any) -> None:
        #: (this id, other id, overlap) -> the figure of that comparison
        self._compare_plots: dict[tuple[str, str, float | None], str] = {}
        super().__init__(project, **kwargs)

    def _compared(self, this: Iteration, other: Iteration, *, threshold: float = 0.5,
                  overlap: float | None = None) -> dict[str, Any]:
        """What ``comparison`` shows of ``this`` against ``other`` at ``threshold`` (and
        ``overlap``, detection); when they do not compare, ``{this, other, this_id,
        other_id, error}`` with the reason."""
        ids = {"this_id": this.id, "other_id": other.id}
        try:
            c = this.compare(other, threshold, overlap)
        except CvbenchError as exc:
            return {"this": this.name, "other": other.name, **ids, "error": str(exc)}
        key = (this.id, other.id, c.overlap)
        plot = self._compare_plots.get(key)
        if plot is None:
            plot = draw_comparison(c, self.tags, self.palette)
            while len(self._compare_plots) >= _PLOTS_KEPT:
                self._compare_plots.pop(next(iter(self._compare_plots)))
            self._compare_plots[key] = plot
        return {**comparison_view(self.project, c, plot=plot), **ids}
