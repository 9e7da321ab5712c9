"""The shared pieces: message shapes, assets, the base widget."""

from __future__ import annotations

import base64
import importlib.resources
import re

import pytest
import traitlets

from cvbench.ui import (
    BoxEditor,
    ExportPanel,
    Gallery,
    Performance,
    Predictions,
    QuickTest,
    Tagger,
    TrainPanel,
    Uploader,
    _assets,
)
from cvbench.ui._assets import TAG_PALETTE, css, esm, tag_colors
from cvbench.ui._messages import (
    SetBoxesMsg,
    TagImagesMsg,
    UntagImagesMsg,
    check_box,
    check_message,
)
from cvbench.ui.workbench import WorkbenchHeader

WIDGETS = (Gallery, Tagger, BoxEditor, Uploader)
ALL_WIDGETS = (*WIDGETS, TrainPanel, Performance, QuickTest, Predictions, ExportPanel,
               WorkbenchHeader)


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


def _data_url_text(url: str) -> str:
    head, code = url.split(",", 1)
    assert head == "data:text/javascript;base64"
    return base64.b64decode(code).decode("utf-8")


@pytest.mark.parametrize("widget", ALL_WIDGETS, ids=lambda w: w.__name__)
def test_every_widget_module_imports_the_helpers_by_name(widget):
    code = str(widget._esm)
    assert code.count("export default") == 1
    imports = re.findall(r'^import \{([^}]*)\} from "([^"]*)";$', code, re.M)
    assert imports  # the helpers, from sibling modules, named explicitly
    folder = importlib.resources.files("cvbench._widgets")
    siblings = {p.name: _assets._linked(p.name) for p in folder.iterdir()
                if p.name.endswith(".js") and p.name != "__init__.py"}
    linked = []
    for names, url in imports:
        text = _data_url_text(url)
        found = [name for name, linked_text in siblings.items() if linked_text == text]
        assert len(found) == 1, "an import is not a sibling module"
        linked.append(found[0])
        assert "export default" not in text  # a module of helpers, not a widget
        for name in (n.strip() for n in names.split(",")):
            assert re.search(rf"^export (function|const) {name}\b", text, re.M), name
    assert linked[0] == "common.js" and len(set(linked)) == len(linked)
    common = _data_url_text(imports[0][1])
    assert common == _assets.asset("common.js")  # the helpers, as one ES module
    assert not re.search(r"^\s*import\b", common, re.M)
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
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".js"))
    assert "common.js" in names and len(names) > 5
    for name in names:
        text = (folder / name).read_text(encoding="utf-8")
        for spec in re.findall(r"^import\b[^;]*?from\s*\"([^\"]*)\"", text, re.M):
            assert spec.startswith("./") and spec[2:] in names, (name, spec)  # a sibling
        assert "http://" not in text.replace('"http://www.w3.org/2000/svg"', ""), name
        assert "https://" not in text.replace("https://example.com", ""), name
    assert esm("gallery.js").startswith("// cvbench widgets/gallery.js")
    assert "cvb-gallery" in css("gallery.css")


def test_linking_accepts_only_imports_of_siblings_by_name(monkeypatch):
    texts = {
        "t_ok.js": 'import {\n  a, b\n} from "./t_dep.js";\nexport default { a };\n',
        "t_dep.js": "export function a() {}\nexport function b() {}\n",
        "t_url.js": 'import { a } from "https://example.com/x.js";\n',
        "t_star.js": 'import * as x from "./t_dep.js";\n',
        "t_dynamic.js": 'const m = await import("./t_dep.js");\n',
        "t_loop.js": 'import { a } from "./t_loop.js";\n',
    }
    monkeypatch.setattr(_assets, "asset", texts.__getitem__)
    (url,) = re.findall(r'from "([^"]*)";', esm("t_ok.js"))
    assert _data_url_text(url) == texts["t_dep.js"]
    for bad in ("t_url.js", "t_star.js", "t_dynamic.js"):
        with pytest.raises(ValueError, match="imports only"):
            esm(bad)
    with pytest.raises(ValueError, match="imports itself"):
        esm("t_loop.js")


def test_the_palette_is_data_every_widget_sends(make_project):
    g = Gallery(make_project(n=1, tags=("a", "b", "c")))
    assert g.palette == list(TAG_PALETTE) and len(set(TAG_PALETTE)) == 20
    assert "palette" in g.get_state()
    assert tag_colors(g.tags, g.palette) == {"a": TAG_PALETTE[0], "b": TAG_PALETTE[1],
                                             "c": TAG_PALETTE[2]}
    for bad in ([], ["red"], ["#12345"], ["#0078d4", "#0078d4 "]):
        with pytest.raises(traitlets.TraitError, match="#rrggbb"):
            g.palette = bad
    g.palette = ["#000000"]
    assert tag_colors(g.tags, g.palette) == {"a": "#000000", "b": "#000000", "c": "#000000"}


def test_add_filter_checks_its_arguments(make_project):
    g = Gallery(make_project(n=1))
    with pytest.raises(ValueError):
        g.add_filter("tag:x", "clash", lambda p, s: [])
    with pytest.raises(TypeError):
        g.add_filter("mine", "Mine", "not callable")
