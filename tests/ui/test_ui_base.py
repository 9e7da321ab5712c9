"""The shared pieces: message shapes, assets, the base widget."""

from __future__ import annotations

import importlib.resources
import re

import pytest

from cvbench.ui import BoxEditor, Gallery, Tagger, Uploader
from cvbench.ui._base import css, esm
from cvbench.ui._messages import (
    SetBoxesMsg,
    TagImagesMsg,
    UntagImagesMsg,
    check_box,
    check_message,
)

WIDGETS = (Gallery, Tagger, BoxEditor, Uploader)


def test_check_message_accepts_the_shape_and_names_what_is_wrong():
    msg = {"type": "tag", "ids": ["a", "b"], "tag": "t"}
    assert check_message(msg, TagImagesMsg) is msg
    assert check_message({"type": "untag", "ids": [], "tag": None}, UntagImagesMsg)
    with pytest.raises(ValueError, match="'ids'"):
        check_message({"type": "tag", "ids": [1], "tag": "t"}, TagImagesMsg)
    with pytest.raises(ValueError, match="missing"):
        check_message({"type": "tag", "ids": []}, TagImagesMsg)
    with pytest.raises(ValueError, match="unknown field"):
        check_message({"type": "tag", "ids": [], "tag": "t", "extra": 1}, TagImagesMsg)
    with pytest.raises(ValueError, match="'type'"):
        check_message({"type": "untag", "ids": [], "tag": "t"}, TagImagesMsg)
    with pytest.raises(ValueError, match="expected"):
        check_message(["tag"], TagImagesMsg)
    box = {"tag": "t", "left": 0, "top": 0.5, "width": 1, "height": 0.5}
    assert check_message({"type": "set_boxes", "image_id": "i", "boxes": [box], "edit": 3}, SetBoxesMsg)
    with pytest.raises(ValueError, match="'edit'"):
        check_message({"type": "set_boxes", "image_id": "i", "boxes": [box], "edit": True}, SetBoxesMsg)
    with pytest.raises(ValueError, match="'boxes'"):
        check_message({"type": "set_boxes", "image_id": "i", "boxes": [{**box, "left": "0"}], "edit": 1},
                      SetBoxesMsg)


def test_check_box():
    assert check_box({"tag": "t", "left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2})
    with pytest.raises(ValueError, match="> 0"):
        check_box({"tag": "t", "left": 0.1, "top": 0.1, "width": 0, "height": 0.2})
    with pytest.raises(ValueError, match="'left'"):
        check_box({"tag": "t", "left": float("inf"), "top": 0.1, "width": 0.1, "height": 0.2})


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: w.__name__)
def test_every_widget_ships_the_common_module_first(widget):
    code = str(widget._esm)
    assert code.index("function cvbRoot") < code.index("export default")
    assert code.count("export default") == 1
    style = str(widget._css)
    assert "--cvb-blue" in style


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda w: w.__name__)
def test_every_synced_trait_has_help(widget):
    synced = {name: trait for name, trait in widget.class_traits(sync=True).items()
              if not name.startswith("_") and name not in {
                  "comm", "keys", "log", "layout", "tabbable", "tooltip"}}
    missing = [name for name, trait in synced.items() if not trait.help]
    assert not missing


def test_widget_modules_load_nothing_from_the_network():
    folder = importlib.resources.files("cvbench._widgets")
    for name in ("common.js", "gallery.js", "tagger.js", "box_editor.js", "uploader.js"):
        text = (folder / name).read_text(encoding="utf-8")
        assert not re.search(r"^\s*import\s", text, re.M), name
        assert "http://" not in text and "https://" not in text.replace("https://example.com", ""), name
    assert esm("gallery.js").startswith("// cvbench widgets/common.js")
    assert "cvb-gallery" in css("gallery.css")


def test_add_filter_checks_its_arguments(make_project):
    g = Gallery(make_project(n=1))
    with pytest.raises(ValueError):
        g.add_filter("tag:x", "clash", lambda p, s: [])
    with pytest.raises(TypeError):
        g.add_filter("mine", "Mine", "not callable")
