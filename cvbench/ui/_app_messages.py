"""Shapes of the messages sent by the front ends of the app widgets (train panel,
performance, quick test, predictions, export), checked with
:func:`cvbench.ui._messages.check_message` like every cvbench widget message.

Tags are tag ids; boxes are cvbench's one format, normalized ``left, top, width, height``.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from ._messages import BoxDict, SuggestionDict

__all__ = [
    "TrainMsg",
    "CancelTrainingMsg",
    "PublishMsg",
    "UnpublishMsg",
    "DeleteIterationMsg",
    "RetagMsg",
    "OpenImageMsg",
    "QuickFileMsg",
    "QuickUrlMsg",
    "CaptureMsg",
    "LabelItem",
    "AddPredictionsMsg",
    "DeletePredictionsMsg",
    "ConfirmSuggestionsMsg",
    "EditBoxesMsg",
    "ExportMsg",
]


# -- train panel ------------------------------------------------------------------------------
class TrainMsg(TypedDict):
    """Start training with these choices (they are also the panel's traits)."""

    type: Literal["train"]
    mode: str
    budget_minutes: float
    domain: str


class CancelTrainingMsg(TypedDict):
    """Stop the running training; nothing half-made is kept."""

    type: Literal["cancel"]


class PublishMsg(TypedDict):
    """Publish iteration ``id`` under ``name``."""

    type: Literal["publish"]
    id: str
    name: str


class UnpublishMsg(TypedDict):
    type: Literal["unpublish"]
    id: str


class DeleteIterationMsg(TypedDict):
    """Delete iteration ``id`` (the browser has asked the person to confirm)."""

    type: Literal["delete_iteration"]
    id: str


# -- performance ------------------------------------------------------------------------------
class RetagMsg(TypedDict):
    """Give the image ``image_id`` exactly the tags ``tags`` (ids; multiclass: one)."""

    type: Literal["retag"]
    image_id: str
    tags: list[str]


class OpenImageMsg(TypedDict):
    """Open an image in the box editor (detection)."""

    type: Literal["open_image"]
    image_id: str


# -- quick test -------------------------------------------------------------------------------
class QuickFileMsg(TypedDict):
    """Quick test of one file; its bytes come as the message's first buffer."""

    type: Literal["file"]
    name: str
    size: int


class QuickUrlMsg(TypedDict):
    """Quick test of the image at an http(s) URL."""

    type: Literal["url"]
    url: str


class CaptureMsg(TypedDict):
    """Quick test of a webcam picture (JPEG bytes in the first buffer)."""

    type: Literal["capture"]


# -- predictions and smart labeler ------------------------------------------------------------
class LabelItem(TypedDict):
    """What a person confirmed for one image: ``id`` (a stored prediction id, or an image
    id for the smart labeler), its tags (ids, classification) or boxes (detection)."""

    id: str
    tags: list[str]
    regions: list[BoxDict]


class AddPredictionsMsg(TypedDict):
    """Add stored predictions to the training images with the confirmed tags or boxes."""

    type: Literal["add_predictions"]
    items: list[LabelItem]


class DeletePredictionsMsg(TypedDict):
    type: Literal["delete_predictions"]
    ids: list[str]


class ConfirmSuggestionsMsg(TypedDict):
    """Tag untagged images (smart labeler) with the confirmed tags or boxes."""

    type: Literal["confirm_suggestions"]
    items: list[LabelItem]


class EditBoxesMsg(TypedDict):
    """Smart labeler (detection): open an untagged image in the box editor with the boxes
    kept so far as suggestions."""

    type: Literal["edit_boxes"]
    image_id: str
    suggestions: list[SuggestionDict]


# -- export -----------------------------------------------------------------------------------
class ExportMsg(TypedDict):
    """Export iteration ``iteration`` (id) as ``format`` into the folder ``folder``."""

    type: Literal["export"]
    iteration: str
    format: str
    folder: str
