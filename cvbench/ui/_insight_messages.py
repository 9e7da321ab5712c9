"""Shapes of the messages the Insight widget's front end sends (checked with
:func:`cvbench.ui._messages.check_message`). Points of the map are named by their index in
the map's arrays; tags by id."""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "CheckMsg",
    "CancelCheckMsg",
    "KeepDuplicateMsg",
    "AcceptTagMsg",
    "DismissMsg",
    "MakeMapMsg",
    "SelectPointsMsg",
    "HoverMsg",
    "TagSelectionMsg",
    "ShowSelectionMsg",
    "CompareMsg",
]


class CheckMsg(TypedDict):
    """Run the health check in the background."""

    type: Literal["check"]


class CancelCheckMsg(TypedDict):
    """Stop the running health check or map (the features computed so far stay cached)."""

    type: Literal["cancel"]


class KeepDuplicateMsg(TypedDict):
    """Keep ``keep`` of duplicate group ``group`` and delete the group's other images (the
    browser has asked the person to confirm)."""

    type: Literal["keep_duplicate"]
    group: int
    keep: str


class AcceptTagMsg(TypedDict):
    """Give a likely mislabelled image the tags the health check suggests for it."""

    type: Literal["accept_tag"]
    image_id: str


class DismissMsg(TypedDict):
    """Take a likely mislabelled image off the list (its tag is right)."""

    type: Literal["dismiss"]
    image_id: str


class MakeMapMsg(TypedDict):
    """Make the embedding map: ``method`` 'pca' or 'umap'; ``color_by`` 'tag' or
    'correct' (on the iteration picked)."""

    type: Literal["make_map"]
    method: str
    color_by: str


class SelectPointsMsg(TypedDict):
    """The points selected on the map (a click or a lasso), by index."""

    type: Literal["select"]
    indices: list[int]


class HoverMsg(TypedDict):
    """The point under the pointer (its thumbnail and name are sent back), -1 for none."""

    type: Literal["hover"]
    index: int


class TagSelectionMsg(TypedDict):
    """Tag the selected images with the tag whose id is ``tag``."""

    type: Literal["tag_selection"]
    tag: str


class ShowSelectionMsg(TypedDict):
    """Show the selected images in the gallery (or under the map)."""

    type: Literal["show_selection"]


class CompareMsg(TypedDict):
    """Compare iteration ``this`` with iteration ``other`` (ids)."""

    type: Literal["compare"]
    this: str
    other: str
