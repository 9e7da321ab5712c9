"""The browser side of the widgets: ES modules, styles, and the tag palette.

Every widget's ES module is a plain file in ``widgets/`` (shipped as ``cvbench._widgets``)
that imports what it uses from its siblings by name, e.g. ::

    import { h, cvbMount, cvbNotice } from "./common.js";

There is no bundler and no server for the files, so :func:`esm` links them: each
``from "./<name>.js"`` becomes ``from "data:text/javascript;base64,…"``, the linked text of
that sibling (its own imports linked the same way). Every widget's module stays one string
that anywidget loads, the same in JupyterLab and Voila, with nothing fetched from a server.
A ``data:`` URL is the module's identity in the page, so the widgets of a page share one
instance of ``common.js``; it holds no state (colours come from each widget's ``palette``
and ``tags`` traits).

Styles are plain CSS, put together as the product's look (``common.css``), then
``app.css`` for the app widgets, then the widget's own.

The tag palette is defined here, once: :data:`TAG_PALETTE` is every widget's ``palette``
trait, so the browser colours tags with it, and figures drawn in Python (Performance's
precision/recall curves) use :func:`tag_colors` to give each tag the same colour.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import re
from typing import Any

__all__ = ["TAG_PALETTE", "tag_colors", "esm", "css", "app_css", "asset"]

#: The tag colours (#rrggbb): the n-th tag of a project gets the n-th colour, cycling.
TAG_PALETTE: tuple[str, ...] = (
    "#0078d4", "#d83b01", "#107c10", "#8764b8", "#e3008c", "#008575",
    "#986f0b", "#4f6bed", "#a4262c", "#038387", "#c239b3", "#ca5010",
)

#: An import of sibling modules' names, the one kind of import a widget module may hold:
#: ``import { a, b } from "./name.js";`` at the start of a line (it may span lines).
_IMPORT = re.compile(r'^(import\s*\{[^}]*\}\s*from\s*)"\./([a-z_]+\.js)";?[ \t]*$', re.M)
#: What would import anything else: other import statements, re-exports, import().
_OTHER_IMPORT = re.compile(r'^\s*import\b|^\s*export\b[^\n]*\bfrom\b|\bimport\s*\(', re.M)
_COMMENT_LINE = re.compile(r"^\s*(//|/?\*).*$", re.M)


def tag_colors(tags: list[dict[str, Any]],
               palette: tuple[str, ...] | list[str] = TAG_PALETTE) -> dict[str, str]:
    """Tag name -> colour, as the browser colours a widget's ``tags`` list."""
    return {tag["name"]: palette[i % len(palette)] for i, tag in enumerate(tags)}


def asset(name: str) -> str:
    """The text of ``widgets/<name>``."""
    return (importlib.resources.files("cvbench._widgets") / name).read_text(encoding="utf-8")


@functools.cache
def _linked(name: str, linking: tuple[str, ...] = ()) -> str:
    """The text of ``widgets/<name>`` with its imports pointing to data: URLs."""
    if name in linking:
        raise ValueError(f"widgets/{name} imports itself through {' -> '.join(linking)}")
    text = asset(name)
    other = _OTHER_IMPORT.search(_COMMENT_LINE.sub("", _IMPORT.sub("", text)))
    if other is not None:
        raise ValueError(
            f"widgets/{name} has {other.group(0).strip()!r}: a widget module imports only "
            'names of its siblings, as import { a, b } from "./<name>.js";'
        )

    def link(match: re.Match[str]) -> str:
        return f'{match.group(1)}"{_module_url(match.group(2), (*linking, name))}";'

    return _IMPORT.sub(link, text)


def _module_url(name: str, linking: tuple[str, ...] = ()) -> str:
    code = base64.b64encode(_linked(name, linking).encode("utf-8")).decode("ascii")
    return f"data:text/javascript;base64,{code}"


def esm(name: str) -> str:
    """The ES module of a widget (``widgets/<name>``), its sibling imports linked."""
    return f"// cvbench widgets/{name} (imports linked by cvbench/ui/_assets.py)\n{_linked(name)}"


def css(name: str | None = None) -> str:
    """The CSS of a widget: ``common.css`` followed by ``name`` (both in widgets/)."""
    text = asset("common.css")
    return text if name is None else f"{text}\n/* widgets/{name} */\n{asset(name)}"


def app_css(name: str) -> str:
    """The CSS of an app widget: ``common.css``, ``app.css``, then ``name``."""
    return f"{css('app.css')}\n/* widgets/{name} */\n{asset(name)}"
