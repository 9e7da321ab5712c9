"""What every cvbench anywidget shares: the project, its tags, a notice line, messages.

A cvbench widget is traitlets plus an ES module (``widgets/<name>.js``) that imports the
helpers it uses (DOM helpers, tag colours, the notice line, the new-tag form) from
``widgets/common.js``; :mod:`cvbench.ui._assets` links the two and puts the styles
together. Every widget has the ``palette`` trait: the tag colours, defined once in Python
(:data:`~cvbench.ui._assets.TAG_PALETTE`) and sent to the browser as data.

Widgets call :class:`~cvbench.project.Project` methods only. Messages from the browser are
dicts whose ``"type"`` picks a :class:`~typing.TypedDict` shape from the widget's
``_handlers`` (an explicit dict); :meth:`ProjectWidget.handle_message` checks the shape and
calls the handler. Mistakes a person can fix (unknown tag, refused image, …) become the
widget's ``notice``; anything else is a bug and is raised.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import anywidget
import traitlets as t

from .._types import StoredImage
from ..errors import CvbenchError
from ..project import Project
from ._assets import TAG_PALETTE, tag_key, tag_slots
from ._messages import check_message
from ._watch import watch

__all__ = [
    "ProjectWidget",
    "FilteredWidget",
    "ImageFilter",
    "Fraction",
    "check_dict_list",
    "check_data_url",
    "BUILTIN_SHOWS",
    "HOSTS",
]

#: A custom image filter (e.g. "wrong in iteration 3"): given the project and the split
#: ('train', 'validation' or None for both) it returns the ids of the images to show, in order.
ImageFilter = Callable[[Project, "str | None"], Sequence[str]]

#: The filters every widget knows; ``"tag:<tag id>"`` picks the images of one tag.
BUILTIN_SHOWS = ("all", "untagged")
_TAG_PREFIX = "tag:"
_LEVELS = ("info", "success", "error")
#: Where a widget is shown: in a notebook (or its Voila app), or in the Workbench's tabs.
HOSTS = ("notebook", "workbench")
_notice_ids = itertools.count(1)
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def check_dict_list(value: Any, keys: Sequence[str], what: str) -> list[dict]:
    if not isinstance(value, list):
        raise t.TraitError(f"{what} must be a list of dicts, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise t.TraitError(f"{what}[{i}] must be a dict, got {type(item).__name__}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise t.TraitError(f"{what}[{i}] lacks {missing}; each needs {list(keys)}")
    return value


def check_data_url(value: Any, what: str) -> str:
    """'' or an image data URL, for the traits that carry pictures."""
    if not isinstance(value, str) or (value and not value.startswith("data:image/")):
        raise t.TraitError(f"{what} should be '' or an image data URL (data:image/…)")
    return value


class Fraction(t.Float):
    """A float trait in [0, 1]: a probability or an overlap threshold (NaN is refused)."""

    info_text = "a number between 0 and 1"

    def validate(self, obj: Any, value: Any) -> float:
        value = super().validate(obj, value)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise t.TraitError(f"{self.name}={value!r} should be between 0 and 1")
        return float(value)


class ProjectWidget(anywidget.AnyWidget):
    """Base of cvbench's anywidgets: a :class:`Project`, its tags, and a notice line."""

    #: message type -> (TypedDict shape, name of the handler method); set by subclasses
    _handlers: ClassVar[dict[str, tuple[type, str]]] = {}

    kind = t.Unicode(
        "", help="The project's kind: 'multiclass', 'multilabel' or 'detection' (read-only)."
    ).tag(sync=True)
    tags = t.List(
        t.Dict(),
        help="The project's tags, by name: {id, name, type ('Regular'|'Negative'), count, "
        "slot, key}. ``slot`` gives the tag its colour and its key (``key``: '1'-'9', '0', "
        "'\u21e71'-'\u21e70' for Shift+1-Shift+0, '' for none); see cvbench.ui._assets.tag_slots.",
    ).tag(sync=True)
    notice = t.Dict(
        help="The last message for the person: {level: 'info'|'success'|'error', text, id}; "
        "{} for none. ``id`` grows so that the same text shows again."
    ).tag(sync=True)
    palette = t.List(
        t.Unicode(), list(TAG_PALETTE),
        help="The tag colours (#rrggbb): the tag in slot n of ``tags`` gets the n-th "
        "colour, cycling, in every widget and figure (read-only).",
    ).tag(sync=True)
    host = t.Unicode(
        "notebook",
        help=f"Where the widget is shown, one of {list(HOSTS)}: its texts name the other parts "
        "of cvbench as widgets to open (Performance(project)) or as the Workbench's tabs (the "
        "Performance tab). The Workbench sets it on the widgets it shows.",
    ).tag(sync=True)

    def __init__(self, project: Project, **kwargs: Any) -> None:
        if not isinstance(project, Project):
            raise TypeError(
                f"project={project!r} is not a cvbench Project; open one with "
                "cvbench.open_project(path) or cvbench.create_project(path, kind=...)"
            )
        self._project = project
        # the browser's messages and changes made elsewhere (cvbench.ui._watch) take turns
        self._busy = threading.RLock()
        super().__init__(kind=project.kind, **kwargs)
        self.on_msg(self._on_custom_msg)
        self.refresh_tags()
        watch(self)

    def on_project_changed(self) -> None:
        """Show a change of the project made elsewhere (a Python cell, another widget,
        another process): called by the project's watcher within about a second. The
        base reads the tags and their counts again; widgets that show more refresh it."""
        with self._busy:
            self._follow_change()

    def _follow_change(self) -> None:
        self.refresh_tags()

    @property
    def project(self) -> Project:
        """The project this widget shows and edits."""
        return self._project

    def __repr__(self) -> str:
        # also the text a notebook keeps of the widget when it is saved (cvbench.ui._notebook)
        return f"{type(self).__name__}(project={self._project.name!r})"

    # -- validators ------------------------------------------------------------------------
    @t.validate("kind")
    def _valid_kind(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in ("multiclass", "multilabel", "detection"):
            raise t.TraitError(f"kind={proposal['value']!r} is not a project kind")
        return proposal["value"]

    @t.validate("tags")
    def _valid_tags(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("id", "name", "type", "count"), "tags")

    @t.validate("notice")
    def _valid_notice(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        if value and (
            value.get("level") not in _LEVELS or not isinstance(value.get("text"), str)
        ):
            raise t.TraitError(
                f"notice={value!r} should be {{}} or {{'level': one of {list(_LEVELS)}, "
                "'text': str, 'id': int}"
            )
        return value

    @t.validate("host")
    def _valid_host(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in HOSTS:
            raise t.TraitError(f"host={proposal['value']!r} should be one of {list(HOSTS)}")
        return proposal["value"]

    @t.validate("palette")
    def _valid_palette(self, proposal: t.Bunch) -> list[str]:
        value = proposal["value"]
        if not value or not all(isinstance(c, str) and _COLOR.fullmatch(c) for c in value):
            raise t.TraitError(f"palette={value!r} should be a non-empty list of #rrggbb colours")
        return value

    # -- tags and notices --------------------------------------------------------------------
    def refresh_tags(self) -> None:
        """Read the tags and their counts from the project again."""
        tags = self.project.tags
        slots = tag_slots(tags, self.project.tag_ids_by_creation())
        self.tags = [
            {"id": tag.id, "name": tag.name, "type": tag.type, "count": tag.image_count,
             "slot": slots[tag.id], "key": tag_key(slots[tag.id])}
            for tag in tags
        ]

    def tag_name(self, tag_id: str) -> str:
        for tag in self.tags:
            if tag["id"] == tag_id:
                return tag["name"]
        return self.project.get_tag(tag_id).name

    def say(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the widget's notice line (``level``: info, success or error)."""
        self.notice = {"level": level, "text": text, "id": next(_notice_ids)}

    # -- messages --------------------------------------------------------------------------
    def handle_message(self, msg: Any, buffers: Sequence[bytes | memoryview] = ()) -> None:
        """Handle one message as the browser sends it (a dict with a ``"type"``).

        Mistakes a person can fix become an error notice; the project is left unchanged by
        a refused message.
        """
        with self._busy:
            self._handle(msg, buffers)

    def _handle(self, msg: Any, buffers: Sequence[bytes | memoryview]) -> None:
        try:
            kind = msg.get("type") if isinstance(msg, dict) else None
            entry = self._handlers.get(kind) if isinstance(kind, str) else None
            if entry is None:
                raise ValueError(
                    f"message type {kind!r} is unknown to {type(self).__name__}; it handles "
                    f"{sorted(self._handlers)}"
                )
            shape, method = entry
            getattr(self, method)(check_message(msg, shape), [bytes(b) for b in buffers])
        except (CvbenchError, ValueError, KeyError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            self.say(str(text), "error")

    def _on_custom_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        self.handle_message(content, buffers or ())


class FilteredWidget(ProjectWidget):
    """A widget that goes through a filtered set of the project's images (``show``).

    The Gallery, the Tagger and the BoxEditor share the filters: ``"all"``, ``"untagged"``,
    ``"tag:<tag id>"``, and filters computed in Python, added with :meth:`add_filter` (the
    hook for "wrong in iteration N").
    """

    show = t.Unicode(
        "all",
        help="Which images: 'all', 'untagged', 'tag:<tag id>', or a key given to add_filter.",
    ).tag(sync=True)
    filter_options = t.List(
        t.Dict(), help="Filters added with add_filter: {key, label} (read-only)."
    ).tag(sync=True)

    def __init__(self, project: Project, **kwargs: Any) -> None:
        self._filters: dict[str, tuple[str, ImageFilter]] = {}
        super().__init__(project, **kwargs)

    @t.validate("show")
    def _valid_show(self, proposal: t.Bunch) -> str:
        return self._check_show(proposal["value"])

    @t.validate("filter_options")
    def _valid_filter_options(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("key", "label"), "filter_options")

    def add_filter(self, key: str, label: str, fn: ImageFilter) -> None:
        """Offer a filter computed in Python, e.g. "wrong in iteration 3".

        ``fn(project, split)`` returns the ids of the images to show, in order (``split`` is
        'train', 'validation' or None). Setting ``show = key`` then shows them.
        """
        if not isinstance(key, str) or not key or key in BUILTIN_SHOWS or key.startswith(
            _TAG_PREFIX
        ):
            raise ValueError(
                f"filter key {key!r} must be a non-empty string other than {list(BUILTIN_SHOWS)}"
                f" and not starting with {_TAG_PREFIX!r}"
            )
        if not callable(fn):
            raise TypeError(f"fn={fn!r} must be callable as fn(project, split) -> image ids")
        self._filters[key] = (str(label), fn)
        self.filter_options = [
            {"key": k, "label": text} for k, (text, _) in self._filters.items()
        ]

    def _check_show(self, value: Any) -> str:
        if not isinstance(value, str):
            raise t.TraitError(f"show={value!r} must be a string")
        if value in BUILTIN_SHOWS or value in self._filters:
            return value
        if value.startswith(_TAG_PREFIX):
            tag_id = value[len(_TAG_PREFIX):]
            if any(tag["id"] == tag_id for tag in self.tags):
                return value
            raise t.TraitError(f"show={value!r} names no tag of this project")
        raise t.TraitError(
            f"show={value!r} is not a filter; use one of {list(BUILTIN_SHOWS)}, "
            f"'tag:<tag id>' or a key given to add_filter ({sorted(self._filters)})"
        )

    def _query(self, show: str, split: str) -> dict[str, Any]:
        query: dict[str, Any] = {"split": split or None}
        if show == "untagged":
            query["untagged"] = True
        elif show.startswith(_TAG_PREFIX):
            query["tag"] = show[len(_TAG_PREFIX):]
        return query

    def _custom_ids(self, show: str, split: str) -> list[str] | None:
        if show not in self._filters:
            return None
        _, fn = self._filters[show]
        return [str(i) for i in fn(self.project, split or None)]

    def _count(self, show: str, split: str = "") -> int:
        ids = self._custom_ids(show, split)
        if ids is not None:
            return len(ids)
        return self.project.count_images(**self._query(show, split))

    def _page(self, show: str, split: str, skip: int, take: int,
              order: str = "newest") -> list[StoredImage]:
        ids = self._custom_ids(show, split)
        if ids is None:
            return self.project.images(**self._query(show, split), skip=skip, take=take,
                                       order=order)
        page = ids[skip:skip + take]
        found = {img.id: img for img in self.project.images(ids=page)} if page else {}
        return [found[i] for i in page if i in found]

    def _all_ids(self, show: str, split: str = "", order: str = "newest") -> list[str]:
        ids = self._custom_ids(show, split)
        if ids is not None:
            return ids
        return [img.id for img in self.project.images(**self._query(show, split), order=order)]
