"""Shapes of the messages the widgets' front ends send, and their runtime check.

Every custom message from a browser is a dict with a ``"type"`` key naming its shape. Each
shape is a :class:`~typing.TypedDict` (all keys required); :func:`check_message` checks a
received dict against its shape and raises :class:`ValueError` naming the bad field, so a
handler only ever sees well-formed messages. Boxes are cvbench's one format: normalized
``left, top, width, height`` (see :mod:`cvbench.boxes`).
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal, TypedDict, TypeVar, Union

__all__ = [
    "BoxDict",
    "SuggestionDict",
    "check_message",
    "check_box",
    "check_suggestion",
    # gallery
    "TagImagesMsg",
    "UntagImagesMsg",
    "DeleteImagesMsg",
    "CreateTagMsg",
    "SelectMatchingMsg",
    "RefreshMsg",
    # tagger
    "ToggleTagMsg",
    "ClearTagsMsg",
    # box editor
    "SetBoxesMsg",
    "SaveMsg",
    "AcceptSuggestionMsg",
    "AcceptAllMsg",
    "RejectSuggestionMsg",
    # the image detail view
    "DetailMsg",
    # uploader
    "FileMsg",
    "UploadMsg",
    "ClearFilesMsg",
]


class BoxDict(TypedDict):
    """A box with its tag: ``tag`` is a tag id; the rest normalized to [0, 1]."""

    tag: str
    left: float
    top: float
    width: float
    height: float


class SuggestionDict(TypedDict):
    """A suggested box (smart labeler): a :class:`BoxDict` and its probability in [0, 1]."""

    tag: str
    left: float
    top: float
    width: float
    height: float
    probability: float


# -- gallery --------------------------------------------------------------------------------
class TagImagesMsg(TypedDict):
    """Tag images (``ids``) with the tag whose id is ``tag``."""

    type: Literal["tag"]
    ids: list[str]
    tag: str


class UntagImagesMsg(TypedDict):
    """Remove the tag ``tag`` (a tag id) from images, or all their tags when it is None."""

    type: Literal["untag"]
    ids: list[str]
    tag: str | None


class DeleteImagesMsg(TypedDict):
    """Delete images (the browser has asked the person to confirm)."""

    type: Literal["delete"]
    ids: list[str]


class CreateTagMsg(TypedDict):
    """Create a tag named ``name``; apply it to ``ids`` (may be empty)."""

    type: Literal["create_tag"]
    name: str
    ids: list[str]


class SelectMatchingMsg(TypedDict):
    """Select every image the current filter shows, on every page."""

    type: Literal["select_matching"]


class RefreshMsg(TypedDict):
    """Read the project again (another widget or notebook cell may have changed it)."""

    type: Literal["refresh"]


# -- tagger ---------------------------------------------------------------------------------
class ToggleTagMsg(TypedDict):
    """Tagger: toggle tag ``tag`` (id) on the current image; multiclass replaces."""

    type: Literal["toggle_tag"]
    tag: str


class ClearTagsMsg(TypedDict):
    """Tagger: remove every tag of the current image."""

    type: Literal["clear_tags"]


# -- box editor -----------------------------------------------------------------------------
class SetBoxesMsg(TypedDict):
    """BoxEditor: the boxes of the current image after an edit; ``edit`` counts edits."""

    type: Literal["set_boxes"]
    image_id: str
    boxes: list[BoxDict]
    edit: int


class SaveMsg(TypedDict):
    """BoxEditor: save the current boxes now (they are also saved after every edit)."""

    type: Literal["save"]


class AcceptSuggestionMsg(TypedDict):
    """BoxEditor: turn suggestion number ``index`` into a box."""

    type: Literal["accept_suggestion"]
    index: int


class AcceptAllMsg(TypedDict):
    """BoxEditor: turn every suggestion into a box."""

    type: Literal["accept_all"]


class RejectSuggestionMsg(TypedDict):
    """BoxEditor: drop suggestion ``index``, or every suggestion when it is None."""

    type: Literal["reject_suggestion"]
    index: int | None


# -- the image detail view --------------------------------------------------------------------
class DetailMsg(TypedDict):
    """Show one image large: ``source`` is "image" (``id``: an image id) or "prediction"
    (``id``: a stored prediction id)."""

    type: Literal["detail"]
    source: Literal["image", "prediction"]
    id: str


# -- uploader -------------------------------------------------------------------------------
class FileMsg(TypedDict):
    """Uploader: one chosen file; its bytes come as the message's first buffer."""

    type: Literal["file"]
    name: str
    size: int


class UploadMsg(TypedDict):
    """Uploader: add the files sent so far and the paths/URLs in ``text`` with ``tags``."""

    type: Literal["upload"]
    text: str
    tags: list[str]


class ClearFilesMsg(TypedDict):
    """Uploader: forget the files sent but not uploaded."""

    type: Literal["clear_files"]


Shape = TypeVar("Shape")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_type_name(item)}"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and typing.is_typeddict(tp):
        return f"an object with keys {sorted(tp.__annotations__)}"
    return getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if tp is type(None):
        return value is None
    if isinstance(tp, type) and typing.is_typeddict(tp):
        try:
            _check_fields(value, tp)
        except ValueError:
            return False
        return True
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
    if tp is str:
        return isinstance(value, str)
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    if tp is Any:
        return True
    raise TypeError(f"message shapes cannot use the type {tp!r}")


def _check_fields(value: Any, shape: type) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"expected {_type_name(shape)}, got {type(value).__name__}")
    hints = typing.get_type_hints(shape)
    missing = [k for k in hints if k not in value]
    if missing:
        raise ValueError(f"missing field(s) {missing}; {shape.__name__} has {sorted(hints)}")
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; {shape.__name__} has {sorted(hints)}")
    for key, tp in hints.items():
        if not _matches(value[key], tp):
            raise ValueError(
                f"field {key!r}={value[key]!r:.80} should be {_type_name(tp)}"
            )


def check_message(msg: Any, shape: type[Shape]) -> Shape:
    """Check ``msg`` against the TypedDict ``shape``; return it, or raise ValueError."""
    try:
        _check_fields(msg, shape)
    except ValueError as exc:
        raise ValueError(f"bad {shape.__name__} message: {exc}") from None
    return typing.cast(Shape, msg)


def check_box(value: Any, *, what: str = "box") -> BoxDict:
    """Check one :class:`BoxDict`: finite numbers, positive size (clipping happens on save)."""
    try:
        _check_fields(value, BoxDict)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if value["width"] <= 0 or value["height"] <= 0:
        raise ValueError(
            f"{what} has width={value['width']}, height={value['height']}; both must be > 0 "
            "(normalized left, top, width, height)"
        )
    return typing.cast(BoxDict, value)


def check_suggestion(value: Any, *, what: str = "suggestion") -> SuggestionDict:
    """Check one :class:`SuggestionDict`, with ``0 <= probability <= 1``."""
    try:
        _check_fields(value, SuggestionDict)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if value["width"] <= 0 or value["height"] <= 0:
        raise ValueError(f"{what} has zero or negative size; width and height must be > 0")
    if not 0.0 <= value["probability"] <= 1.0:
        raise ValueError(f"{what} has probability={value['probability']}; it must be in [0, 1]")
    return typing.cast(SuggestionDict, value)
