"""What a saved notebook keeps of the widgets (cvbench.ui.clear_widget_state). That the
notebooks in git have no outputs and no widget state is tests/test_notebooks.py's check."""

from __future__ import annotations

import copy
import json

import ipywidgets
import pytest

from cvbench.ui import Tagger, Workbench, clear_widget_state
from cvbench.ui._notebook import RUN_AGAIN, STATE_MIME, VIEW_MIME, strip_widgets


def shown(widget) -> dict:
    """The output a notebook holds for a widget shown in it."""
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    return {"output_type": "display_data", "data": copy.deepcopy(data), "metadata": {}}


def notebook(*outputs: dict, state: dict | None = None) -> dict:
    nb = {
        "cells": [{"cell_type": "code", "execution_count": 1, "id": "c0", "metadata": {},
                   "outputs": list(outputs), "source": "Tagger(project)"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    if state is not None:
        nb["metadata"]["widgets"] = {STATE_MIME: {"state": state, "version_major": 2,
                                                  "version_minor": 0}}
    return nb


def saved_state(*widgets) -> dict:
    """The metadata state JupyterLab saves for widgets ("Save Widget State Automatically")."""
    return {w.model_id: {"model_name": w._model_name, "model_module": w._model_module,
                         "model_module_version": w._model_module_version,
                         "state": json.loads(json.dumps(w.get_state(), default=str))}
            for w in widgets}


def test_a_widget_whose_state_is_not_saved_keeps_its_text(make_project):
    tagger = Tagger(make_project(n=1))
    text = {"output_type": "stream", "name": "stdout", "text": ["hello\n"]}
    nb = notebook(text, shown(tagger))
    assert strip_widgets(nb) is nb
    out = nb["cells"][0]["outputs"]
    assert out[0] == text  # other outputs are left alone
    assert out[1]["data"] == {"text/plain": f"Tagger(project={tagger.project.name!r})\n{RUN_AGAIN}"}
    assert "widgets" not in nb["metadata"]
    again = copy.deepcopy(nb)
    assert strip_widgets(again) == nb  # saving again changes nothing


def test_cvbench_state_is_dropped_and_other_libraries_state_kept(make_project):
    project = make_project(n=1)
    tagger, workbench = Tagger(project), Workbench(project)
    slider = ipywidgets.IntSlider(3)
    shared = ipywidgets.Layout()
    tagger.layout = slider.layout = shared  # held by a cvbench widget and another
    state = saved_state(tagger, workbench, workbench.header, workbench.header.layout,
                        workbench.layout, slider, shared)
    nb = notebook(shown(tagger), shown(workbench), shown(slider), state=state)
    strip_widgets(nb)
    kept = nb["metadata"]["widgets"][STATE_MIME]["state"]
    # the Workbench's VBox holds cvbench widgets: it goes with them, and so do the layouts
    # only they hold; the layout the slider holds too stays
    assert set(kept) == {slider.model_id, shared.model_id}
    first, second, third = (o["data"] for o in nb["cells"][0]["outputs"])
    assert VIEW_MIME not in first and VIEW_MIME not in second
    assert second["text/plain"].startswith("Workbench(project=")
    assert third[VIEW_MIME]["model_id"] == slider.model_id  # shown from its saved state


def test_the_metadata_goes_when_only_cvbench_state_was_saved(make_project):
    tagger = Tagger(make_project(n=1))
    nb = notebook(shown(tagger), state=saved_state(tagger))
    strip_widgets(nb)
    assert "widgets" not in nb["metadata"]
    assert VIEW_MIME not in nb["cells"][0]["outputs"][0]["data"]


@pytest.mark.parametrize("text", [None, "", ["Tagger(", "project='p')"]])
def test_a_missing_or_split_text_is_made_whole(text):
    data = {VIEW_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0}}
    if text is not None:
        data["text/plain"] = text
    nb = notebook({"output_type": "execute_result", "execution_count": 1, "data": data,
                   "metadata": {}})
    strip_widgets(nb)
    expected = RUN_AGAIN if not text else f"Tagger(project='p')\n{RUN_AGAIN}"
    assert nb["cells"][0]["outputs"][0]["data"] == {"text/plain": expected}


def test_the_hook_changes_what_the_server_saves(make_project, tmp_path):
    from jupyter_server.services.contents.filemanager import FileContentsManager

    tagger = Tagger(make_project(n=1))
    manager = FileContentsManager(root_dir=str(tmp_path),
                                  pre_save_hook="cvbench.ui.clear_widget_state")
    nb = notebook(shown(tagger), state=saved_state(tagger))
    manager.save({"type": "notebook", "format": "json", "content": nb}, "saved.ipynb")
    manager.save({"type": "file", "format": "text", "content": "untouched"}, "notes.txt")
    on_disk = json.loads((tmp_path / "saved.ipynb").read_text())
    assert "widgets" not in on_disk["metadata"]
    data = on_disk["cells"][0]["outputs"][0]["data"]
    assert list(data) == ["text/plain"]  # nbformat writes a text as lines
    assert "".join(data["text/plain"]) == f"Tagger(project={tagger.project.name!r})\n{RUN_AGAIN}"
    assert (tmp_path / "notes.txt").read_text() == "untouched"
    clear_widget_state({"type": "directory", "content": None})  # not a notebook: nothing to do
