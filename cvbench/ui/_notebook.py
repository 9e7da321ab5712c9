"""What a saved notebook keeps of its widgets: their text, never a model that is gone.

A widget lives in its kernel. A notebook saved while one shows holds only a reference to its
model; opened again with a new kernel, JupyterLab finds no such model and shows "Error
displaying widget: model not found" (and logs it) for every widget. With JupyterLab's
"Save Widget State Automatically" on, it saves the models' whole state instead; a cvbench
widget's state is its ES module and every picture it shows (hundreds of kB), and what it
would show from it is a copy that cannot reach Python.

:func:`clear_widget_state` is a Jupyter server pre-save hook that saves neither:

- cvbench's models are dropped from the notebook's ``widgets`` metadata (other libraries'
  saved state is kept, with the outputs that show it), and the metadata goes when it is
  left empty;
- an output that shows a widget whose state is not saved keeps its text only: the widget's
  ``repr`` and how to get it back (run the cell again).

It changes the file only, not the notebook open in the page: the widgets stay live until the
page is closed (a notebook opened again while its kernel still runs shows the text too: run
the cell again). JupyterLab takes it as an option::

    jupyter lab --ContentsManager.pre_save_hook=cvbench.ui.clear_widget_state
"""

from __future__ import annotations

from typing import Any

__all__ = ["clear_widget_state", "strip_widgets", "VIEW_MIME", "STATE_MIME", "RUN_AGAIN"]

#: The output type that shows a widget: ``{"model_id": …, "version_major": …}``.
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
#: The notebook metadata ``widgets`` key that holds saved widget state: ``{"state": {…}}``.
STATE_MIME = "application/vnd.jupyter.widget-state+json"
#: How every cvbench ES module starts (cvbench/ui/_assets.py ``esm``).
_CVBENCH_ESM = "// cvbench widgets/"
#: How a saved state points to another model.
_REF = "IPY_MODEL_"
#: The line added to the text of a widget output that is not saved.
RUN_AGAIN = "(a widget: run this cell again to show it)"


def clear_widget_state(model: dict[str, Any], **_kwargs: Any) -> None:
    """A Jupyter ``ContentsManager.pre_save_hook``: ``model`` is the contents model being
    saved; a notebook's ``content`` is cleared with :func:`strip_widgets`, in place. The
    server passes ``path`` and ``contents_manager`` too; they are not needed."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip_widgets(model["content"])


def strip_widgets(nb: dict[str, Any]) -> dict[str, Any]:
    """Clear a notebook (nbformat 4, as a dict) of the widgets it could not show again.

    Drops cvbench's models from ``metadata.widgets`` (with the models that hold one and the
    layout and style models only they hold), and the key when no state is left; turns every
    widget output whose model is not saved into its text. Returns ``nb``, changed in place;
    a notebook with no widgets is left as it is.
    """
    metadata = nb.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    saved: dict[str, Any] = {}
    widgets = metadata.get("widgets")
    if isinstance(widgets, dict):
        store = widgets.get(STATE_MIME)
        state = store.get("state") if isinstance(store, dict) else None
        if isinstance(state, dict):
            for model_id in _cvbench_models(state, _shown(nb)):
                del state[model_id]
            saved = state
        if not saved:
            widgets.pop(STATE_MIME, None)
            if not widgets:
                del metadata["widgets"]
    for data in _widget_outputs(nb):
        if data[VIEW_MIME].get("model_id") not in saved:
            del data[VIEW_MIME]
            data["text/plain"] = _text(data.get("text/plain"))
    return nb


def _cvbench_models(state: dict[str, Any], shown: set[str]) -> set[str]:
    """The ids of cvbench's models in a saved ``state``, with what holds them (a box, the
    Workbench) and what only they hold (their layout and style models)."""
    gone = {m for m, s in state.items() if _is_cvbench(s)}
    while holders := {m for m, s in state.items() if m not in gone and _references(s) & gone}:
        gone |= holders
    held = (set().union(*(_references(state[m]) for m in gone)) - gone) & state.keys()
    still = shown.union(*(_references(s) for m, s in state.items() if m not in gone | held))
    return gone | (held - still)


def _shown(nb: dict[str, Any]) -> set[str]:
    """The model ids the outputs of a notebook show."""
    return {data[VIEW_MIME].get("model_id") for data in _widget_outputs(nb)}


def _widget_outputs(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``data`` of every output that shows a widget."""
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and isinstance(data.get(VIEW_MIME), dict):
                found.append(data)
    return found


def _is_cvbench(model_state: Any) -> bool:
    state = model_state.get("state") if isinstance(model_state, dict) else None
    esm = state.get("_esm") if isinstance(state, dict) else None
    return isinstance(esm, str) and esm.startswith(_CVBENCH_ESM)


def _references(value: Any) -> set[str]:
    """The model ids a saved state points to ("IPY_MODEL_<id>", as a box's children)."""
    if isinstance(value, str):
        return {value[len(_REF):]} if value.startswith(_REF) else set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


def _text(text: Any) -> str:
    """A widget's text output with :data:`RUN_AGAIN` under it (nbformat may keep a text
    as a list of lines)."""
    if isinstance(text, list):
        text = "".join(str(line) for line in text)
    text = str(text or "").rstrip()
    if text.endswith(RUN_AGAIN):
        return text
    return f"{text}\n{RUN_AGAIN}" if text else RUN_AGAIN
