"""The widgets in a real JupyterLab: the notebook is opened and run through the UI (Run >
Run All Cells), the widgets render, and their keys reach them instead of
JupyterLab's own shortcuts (Enter in a form, a slider's arrows); a saved notebook opens
again without widget errors."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from cvb_browser import (
    LAB_ACTIVE_CELL,
    LAB_NOTEBOOK,
    add_tag,
    assert_gallery_bounded,
    assert_rendered,
    keyed_tags,
    lab_tree_url,
    press_on_slider,
    run_all_cells,
    trained_copy,
    untagged_project,
    wait_until,
    write_notebook,
)

import cvbench
from cvbench.samples import make_sample

pytestmark = pytest.mark.browser


def test_gallery_and_tagger_in_jupyterlab(lab, open_page, notebooks, browser_home, artifacts):
    path = browser_home / "lab-digits"
    project = make_sample("digits", path, small=True)
    newest = [i.id for i in project.images(take=2)]
    project.untag_images(newest)
    write_notebook(
        notebooks / "lab.ipynb",
        "import cvbench\nfrom cvbench.ui import Gallery, Tagger\n"
        f"project = cvbench.open_project({str(path)!r})\n"
        "gallery = Gallery(project, page_size=30)\ngallery",
        "Tagger(project)",
    )
    page, watch = open_page(lab_tree_url(lab, "lab.ipynb"))
    try:
        run_all_cells(page, lab, "lab.ipynb")
        page.wait_for_selector(".cvb-gallery .cvb-cell img", timeout=90_000)
        page.wait_for_selector(".cvb-tagger .cvb-tagger-img", timeout=90_000)
    except Exception:
        page.screenshot(path=artifacts / "lab-failure.png")
        raise
    wait_until(lambda: page.get_by_text("Loading widget...").count() == 0, what="the widgets to load")
    assert_rendered(page)

    # Gallery: a click and key 4 tag the image; JupyterLab's "4" (heading) must not fire
    cells = page.locator(".cvb-gallery .cvb-cell")
    assert cells.count() == 30
    cells.nth(0).click()
    page.keyboard.press("4")
    tag4 = keyed_tags(project)[3]  # the tag with key 4
    wait_until(lambda: cvbench.open_project(path).image(newest[0]).tags == (tag4.name,),
               what="key 4 to tag the image")
    page.locator(".cvb-gallery").evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=artifacts / "lab-gallery.png")
    assert_gallery_bounded(page)

    # Tagger: the untagged images as they were when it opened, oldest first
    tagger = page.locator(".cvb-tagger")
    tagger.scroll_into_view_if_needed()
    assert "Image 1 of 2" in tagger.locator(".cvb-counter").inner_text()
    tagger.locator(".cvb-stage").click()
    page.keyboard.press("2")
    wait_until(lambda: cvbench.open_project(path).image(newest[1]).tags == (keyed_tags(project)[1].name,),
               what="key 2 in the Tagger")
    tagger.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=artifacts / "lab-tagger.png")
    page.keyboard.press("Enter")  # the next one was tagged in the gallery meanwhile
    tagger.locator(f".cvb-tagrow.is-active[data-tag='{tag4.id}']").wait_for()
    page.keyboard.press("Enter")
    tagger.locator(".cvb-empty-title").wait_for()

    # no JupyterLab shortcut fired: both cells are still code cells, none was deleted
    assert page.locator(f"{LAB_NOTEBOOK} .jp-CodeCell").count() == 2
    assert page.locator(f"{LAB_NOTEBOOK} .jp-MarkdownCell").count() == 0
    page.screenshot(path=artifacts / "lab.png")
    watch.assert_clean()


def open_notebook(lab, open_page, notebooks, artifacts, name: str, cells: list[str],
                  ready: list[str], timeout: float = 120):
    """Write the notebook ``name``, open it in a fresh workspace, run it; wait for every
    selector of ``ready``."""
    write_notebook(notebooks / name, *cells)
    page, watch = open_page(lab_tree_url(lab, name))
    try:
        run_all_cells(page, lab, name, timeout=timeout)
        for selector in ready:
            page.wait_for_selector(selector, timeout=timeout * 1000)
        wait_until(lambda: page.get_by_text("Loading widget...").count() == 0,
                   what="the widgets to load")
    except Exception:
        page.screenshot(path=artifacts / f"lab-failure-{name}.png")
        raise
    assert_rendered(page)
    return page, watch


def test_enter_in_the_new_tag_forms_creates_the_tag_in_jupyterlab(
        lab, open_page, notebooks, browser_home, artifacts):
    # the first thing a class does in an empty project: name its tags
    photos = untagged_project(browser_home / "lab-first-tags")
    shapes = untagged_project(browser_home / "lab-first-boxes", kind="detection")
    page, watch = open_notebook(lab, open_page, notebooks, artifacts, "lab-tags.ipynb", [
        "import cvbench\nfrom cvbench.ui import BoxEditor, Gallery, Tagger\n"
        f"photos = cvbench.open_project({str(photos.path)!r})\nTagger(photos)",
        "Gallery(photos)",
        f"BoxEditor(cvbench.open_project({str(shapes.path)!r}))",
    ], ready=[".cvb-tagger .cvb-tagger-img", ".cvb-gallery .cvb-cell img", ".cvb-boxeditor .cvb-be-img"])

    def names(project):
        return [t.name for t in cvbench.open_project(project.path).tags]

    # Tagger: three tags in a row; the image on show stays untagged
    shown = photos.images(order="oldest")[0].id
    for i, name in enumerate(["cat", "dog", "fox"]):
        add_tag(page, ".cvb-tagger", name)
        page.locator(".cvb-tagger .cvb-tagrow").nth(i).wait_for()
    assert names(photos) == ["cat", "dog", "fox"]
    assert cvbench.open_project(photos.path).image(shown).tags == ()
    tagger = page.locator(".cvb-tagger")
    assert tagger.locator(".cvb-tagrow.is-active").count() == 0
    assert "No tag yet" in tagger.locator(".cvb-current").inner_text()
    tagger.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=artifacts / "lab-tagger-new-tags.png")

    # Gallery and BoxEditor: the same form
    add_tag(page, ".cvb-gallery", "owl")
    page.locator(".cvb-gallery .cvb-tagbar .cvb-tagbtn", has_text="owl").wait_for()
    assert "owl" in names(photos)
    add_tag(page, ".cvb-boxeditor", "circle")
    wait_until(lambda: names(shapes) == ["circle"], what="the box editor's new tag")

    # and no JupyterLab shortcut fired: three code cells, none run, moved or turned markdown
    assert page.locator(f"{LAB_NOTEBOOK} .jp-CodeCell").count() == 3
    assert page.locator(f"{LAB_NOTEBOOK} .jp-MarkdownCell").count() == 0
    assert page.evaluate(LAB_ACTIVE_CELL) == 2  # the box editor's, used last
    watch.assert_clean()


def test_sliders_take_their_arrow_keys_in_jupyterlab(lab, open_page, notebooks, browser_home,
                                                     artifacts):
    path = trained_copy(browser_home, browser_home / "lab-sliders")
    project = cvbench.open_project(path)
    project.untag_images([i.id for i in project.images(take=4)])  # for the smart labeler
    page, watch = open_notebook(lab, open_page, notebooks, artifacts, "lab-sliders.ipynb", [
        "import cvbench\nfrom cvbench.ui import Performance, Predictions, QuickTest\n"
        f"project = cvbench.open_project({str(path)!r})\nPerformance(project)",
        "QuickTest(project)",
        "Predictions(project)",
    ], ready=[".cvb-performance .cvb-range-threshold", ".cvb-quicktest .cvb-slider input",
              ".cvb-predictions .cvb-pr-threshold"], timeout=180)
    sliders = {
        0: (page.locator(".cvb-performance .cvb-range-threshold"), 0.01),
        1: (page.locator(".cvb-quicktest .cvb-slider input[type=range]"), 0.01),
        2: (page.locator(".cvb-predictions .cvb-pr-threshold"), 0.05),
    }
    for cell, (slider, step) in sliders.items():
        slider.scroll_into_view_if_needed()
        values = [float(v) for v in press_on_slider(
            page, slider, ["ArrowRight", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowLeft"])]
        moves = [round((b - a) / step) for a, b in zip(values[:-1], values[1:], strict=True)]
        assert moves == [1, 1, -1, -1, -1], f"slider of cell {cell}: {values}"
        # the notebook kept its active cell (the arrows used to walk the cells)
        assert page.evaluate(LAB_ACTIVE_CELL) == cell
        assert slider.evaluate("(e) => e === document.activeElement")
    # what the sliders say follows them: 50% - 1 step
    assert page.locator(".cvb-performance .cvb-slider-value").first.inner_text() == "49%"
    assert page.locator(".cvb-predictions .cvb-slider-value").inner_text() == "45%"
    page.locator(".cvb-performance").evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=artifacts / "lab-sliders.png")
    watch.assert_clean()


def test_a_saved_notebook_opens_again_without_widget_errors(lab, open_page, notebooks,
                                                           browser_home, artifacts):
    photos = untagged_project(browser_home / "lab-saved")
    name = "lab-saved.ipynb"
    page, watch = open_notebook(lab, open_page, notebooks, artifacts, name, [
        "import cvbench\nfrom cvbench.ui import Gallery, Tagger\n"
        f"photos = cvbench.open_project({str(photos.path)!r})\nTagger(photos)",
        "Gallery(photos)",
    ], ready=[".cvb-tagger .cvb-tagger-img", ".cvb-gallery .cvb-cell img"])

    def saved():
        return json.loads((notebooks / name).read_text())

    def save():
        before = (notebooks / name).stat().st_mtime_ns
        page.locator(f"{LAB_NOTEBOOK} .jp-InputPrompt").first.click()  # command mode
        page.keyboard.press("Control+s")
        wait_until(lambda: (notebooks / name).stat().st_mtime_ns != before, what="the save")

    # saved as JupyterLab saves it by default, and with "Save Widget State Automatically"
    save()
    outputs = [o for c in saved()["cells"] for o in c["outputs"]]
    assert [list(o["data"]) for o in outputs] == [["text/plain"], ["text/plain"]]
    assert "".join(outputs[0]["data"]["text/plain"]).startswith(f"Tagger(project={photos.name!r})")
    toggle = "Save Widget State Automatically"
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=toggle).click()
    try:
        save()
        assert "widgets" not in saved()["metadata"]  # cvbench's models are never saved
    finally:
        page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
        page.locator(".lm-Menu-itemLabel", has_text=toggle).click()
    assert [list(o["data"]) for c in saved()["cells"] for o in c["outputs"]] == [["text/plain"]] * 2
    watch.assert_clean()
    page.close()

    # its kernel stopped, the notebook opens again: the widgets' text, and no error
    with urllib.request.urlopen(lab.url("api/sessions"), timeout=5) as resp:  # noqa: S310
        sessions = [s for s in json.load(resp) if s["path"].endswith(name)]
    for session in sessions:
        request = urllib.request.Request(lab.url(f"api/sessions/{session['id']}"), method="DELETE")
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    page, watch = open_page(lab_tree_url(lab, name))
    outputs = page.locator(f"{LAB_NOTEBOOK} .jp-OutputArea-output")
    wait_until(lambda: outputs.count() == 2, timeout=60, what="the saved outputs")
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator"
                 "[data-status=idle]").wait_for(timeout=60_000)
    time.sleep(3)  # JupyterLab looks for a missing widget model for 2 s before it says so
    assert "run this cell again to show it" in outputs.first.inner_text()
    assert page.get_by_text("Error displaying widget").count() == 0
    page.screenshot(path=artifacts / "lab-reopened.png")
    watch.assert_clean()
