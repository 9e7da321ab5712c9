"""Workbench and ExportPanel, driven as their front ends drive them."""

from __future__ import annotations

import ipywidgets as widgets
import pytest
import traitlets
from _ui_trained import trained_copy, trained_detection

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
    Workbench,
)
from cvbench.ui.workbench import TABS


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "workbench")


def test_the_header_shows_the_project_and_the_tabs_build_when_first_shown(project):
    wb = Workbench(project)
    info = wb.header.info
    assert info["name"] == "digits" and info["kind"] == "multiclass"
    assert (info["images"], info["untagged"], info["tags"], info["iterations"]) == (80, 0, 10, 1)
    assert [tab["key"] for tab in wb.header.tabs] == list(TABS)
    assert wb.tab == "images" and set(wb._pages) == {"images"}
    assert isinstance(wb.widget("images"), Gallery)
    assert isinstance(wb.widget("uploader"), Uploader)
    kinds = {"tag": Tagger, "train": TrainPanel, "performance": Performance,
             "predictions": Predictions, "quick_test": QuickTest, "export": ExportPanel}
    for key, cls in kinds.items():
        wb.header.set_state({"tab": key})  # a click on the tab
        assert wb._stack.selected_index == list(TABS).index(key)
        assert isinstance(wb.widget(key), cls)
        assert wb._stack.children[list(TABS).index(key)] is wb.page(key)
    # their texts name the tabs ("the Performance tab"), not the widgets to open
    assert {wb.widget(key).host for key in [*TABS, "uploader"]} == {"workbench"}
    with pytest.raises(traitlets.TraitError, match="should be one of"):
        wb.header.tab = "nonsense"
    with pytest.raises(ValueError, match="not a tab"):
        wb.show("nonsense")
    assert isinstance(wb, widgets.VBox)


def test_a_tab_shown_again_reads_what_other_tabs_did(project, png):
    wb = Workbench(project, tab="performance")
    assert len(wb.widget("performance").iterations) == 1
    wb.show("train")
    wb.widget("train").train(wait=True)
    assert wb.widget("train").last_run["status"] == "done"
    assert wb.header.info["iterations"] == 2  # the header follows the training
    wb.show("performance")
    assert len(wb.widget("performance").iterations) == 2
    assert wb.widget("performance").iteration == project.iteration().id  # the new one
    wb.show("images")
    uploader = wb.widget("uploader")
    uploader.add_file("new.png", png(7, (64, 64)))
    uploader.handle_message({"type": "upload", "text": "", "tags": []})
    assert wb.header.info["images"] == 81 and wb.header.info["untagged"] == 1
    assert wb.widget("images").image_count == 81  # the gallery follows the upload
    wb.show("predictions")
    pred = wb.widget("predictions")
    pred.set_state({"view": "suggested"})
    assert pred.total == 1
    item = pred.items[0]
    pred.handle_message({"type": "confirm_suggestions", "items": [
        {"id": item["id"], "tags": item["suggested_tags"], "regions": []}]})
    assert wb.header.info["untagged"] == 0  # the header follows edits in any tab


def test_export_writes_the_model_and_shows_the_parity_check(project, tmp_path):
    panel = ExportPanel(project)
    assert [f["name"] for f in panel.formats][:3] == ["onnx", "torchscript", "fastai"]
    assert panel.iteration == project.iteration().id
    with pytest.raises(traitlets.TraitError, match="should be one of"):
        panel.format = "tflite"
    dest = tmp_path / "exported"
    panel.handle_message({"type": "export", "iteration": panel.iteration, "format": "onnx",
                          "folder": str(dest)})
    assert panel.folder == str(dest)  # the folder sent with the click, committed or not
    assert panel.wait(timeout=300)
    r = panel.result
    assert r["status"] == "done", r["text"]
    assert r["folder"] == str(dest.resolve()) and r["format"] == "onnx"
    assert any(f["name"].endswith(".onnx") for f in r["files"])
    assert r["report"]["parity"]["ok"] is True
    assert not panel.busy


def test_a_failed_export_is_a_readable_message(project, tmp_path):
    panel = ExportPanel(project)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    panel.export(format="onnx", folder=blocker / "inside", wait=True)
    assert panel.result["status"] == "failed"
    assert panel.result["text"].startswith("The export failed")
    assert "Traceback" not in panel.result["text"]


def test_a_detection_workbench_tags_with_the_box_editor(make_project):
    project = make_project("detection", n=2)
    wb = Workbench(project, tab="tag")
    assert isinstance(wb.widget("tag"), BoxEditor)
    assert wb.header.info["kind"] == "detection"
    wb.show("performance")
    assert wb.widget("performance").metrics == {}
    wb.widget("performance").open_image(project.images(order="oldest")[1].id)  # as a click
    assert wb.tab == "tag" and wb.widget("tag").image_id == project.images(order="oldest")[1].id


def test_the_smart_labeler_opens_the_box_editor_with_its_suggestions(tmp_path_factory):
    project = trained_detection(tmp_path_factory, "workbench-detection")
    from cvbench.samples import get_sample

    (added,) = project.add_images([get_sample("shapes").items(small=True, seed=9)[0].data])
    wb = Workbench(project, tab="predictions")
    pred = wb.widget("predictions")
    pred.set_state({"view": "suggested"})
    tag = project.tags[0].id
    box = {"tag": tag, "left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2, "probability": 0.4}
    pred.handle_message({"type": "edit_boxes", "image_id": added.image_id, "suggestions": [box]})
    editor = wb.widget("tag")
    assert wb.tab == "tag" and editor.image_id == added.image_id
    assert editor.suggestions == [box]
    editor.handle_message({"type": "accept_all"})
    assert [r.tag_id for r in project.image(added.image_id).regions] == [tag]
