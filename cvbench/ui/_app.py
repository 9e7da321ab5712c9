"""The assets of the app widgets (train panel, performance, quick test, predictions, export,
workbench): ``common.js`` + ``app.js`` + the widget's module, and ``common.css`` + ``app.css``
+ the widget's style. ``app.*`` hold what those widgets share beyond the common look: cards,
tables, metric tiles, number formatting.
"""

from __future__ import annotations

from ._base import _asset, css, esm

__all__ = ["app_esm", "app_css"]


def app_esm(name: str) -> str:
    """``common.js``, ``app.js``, then ``name`` (all in widgets/)."""
    common_and_app = esm("app.js")
    return f"{common_and_app}\n// cvbench widgets/{name}\n{_asset(name)}"


def app_css(name: str) -> str:
    """``common.css``, ``app.css``, then ``name`` (all in widgets/)."""
    return f"{css('app.css')}\n/* widgets/{name} */\n{_asset(name)}"
