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

Each tag has a *slot* (:func:`tag_slots`), its place in the order the tags were created in,
and the slot gives it its colour and its key (:data:`TAG_KEYS`: 1-9, 0, then Shift+1 to
Shift+0), so a tag keeps both when others are added. A tag named like a key that is still
free ("0" to "9", as in the digits sample) takes that key.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import itertools
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["TAG_PALETTE", "TAG_KEYS", "tag_slots", "tag_key", "tag_colors", "esm", "css", "app_css",
           "asset"]

#: The tag colours (#rrggbb): the tag in slot n gets the n-th colour, cycling. Twenty
#: colours that differ by a CIE L*a*b* distance of at least 29 from each other, each with a
#: contrast of at least 3:1 against white (white label text on them, and them on white).
TAG_PALETTE: tuple[str, ...] = (
    "#0078d4", "#d83b01", "#107c10", "#8764b8", "#e3008c", "#008575", "#986f0b", "#a4262c",
    "#0b0bd9", "#163e59", "#ad0abf", "#060673", "#590437", "#594128", "#bf5680", "#3094bf",
    "#485904", "#0b49d9", "#730673", "#bf7656",
)

#: The keys of the tags, by slot: 1-9, 0, then Shift+1 to Shift+0 ("⇧1"); a tag in a later
#: slot has no key.
TAG_KEYS: tuple[str, ...] = (
    *(str(n) for n in range(1, 10)), "0", *(f"\u21e7{n}" for n in (*range(1, 10), 0)),
)


def tag_slots(tags: Sequence[Any], created: Sequence[str]) -> dict[str, int]:
    """Tag id -> slot (0, 1, …) of ``tags`` (objects with ``id`` and ``name``), given the
    ids in the order the tags were created (``created``; a tag missing from it counts as
    the newest). In that order, a tag named like a key still free (``"1"``, ``"0"``) takes
    its slot, any other the first slot free: a tag created later never moves an earlier
    one."""
    by_id = {tag.id: tag for tag in tags}
    order = [i for i in dict.fromkeys(created) if i in by_id]
    order += [tag.id for tag in tags if tag.id not in set(order)]
    slots: dict[str, int] = {}
    taken: set[int] = set()
    for tag_id in order:
        name = str(by_id[tag_id].name).strip()
        wanted = TAG_KEYS.index(name) if name in TAG_KEYS[:10] else -1
        slot = wanted if wanted >= 0 and wanted not in taken else next(
            n for n in itertools.count() if n not in taken)
        slots[tag_id] = slot
        taken.add(slot)
    return slots


def tag_key(slot: int) -> str:
    """The key of a slot ("1"… "0", "⇧1"… "⇧0"), or "" when it has none."""
    return TAG_KEYS[slot] if 0 <= slot < len(TAG_KEYS) else ""

#: An import of sibling modules' names, the one kind of import a widget module may hold:
#: ``import { a, b } from "./name.js";`` at the start of a line (it may span lines).
_IMPORT = re.compile(r'^(import\s*\{[^}]*\}\s*from\s*)"\./([a-z_]+\.js)";?[ \t]*$', re.M)
#: What would import anything else: other import statements, re-exports, import().
_OTHER_IMPORT = re.compile(r'^\s*import\b|^\s*export\b[^\n]*\bfrom\b|\bimport\s*\(', re.M)
_COMMENT_LINE = re.compile(r"^\s*(//|/?\*).*$", re.M)


def tag_colors(tags: list[dict[str, Any]],
               palette: tuple[str, ...] | list[str] = TAG_PALETTE) -> dict[str, str]:
    """Tag name -> colour, as the browser colours a widget's ``tags`` list: by each tag's
    ``slot`` (its place in the list when it has none)."""
    return {tag["name"]: palette[int(tag.get("slot", i)) % len(palette)]
            for i, tag in enumerate(tags)}


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
