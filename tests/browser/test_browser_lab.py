"""The widgets in a real JupyterLab: the notebook is opened and run through the UI (Run >
Run All Cells), the widgets render, and their keys reach them instead of
JupyterLab's own shortcuts."""

from __future__ import annotations

import pytest
from cvb_browser import (
    LAB_NOTEBOOK,
    assert_rendered,
    lab_tree_url,
    run_all_cells,
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
    tag4 = project.tags[3]
    wait_until(lambda: cvbench.open_project(path).image(newest[0]).tags == (tag4.name,),
               what="key 4 to tag the image")
    page.locator(".cvb-gallery").evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.screenshot(path=artifacts / "lab-gallery.png")

    # Tagger: the untagged images as they were when it opened, oldest first
    tagger = page.locator(".cvb-tagger")
    tagger.scroll_into_view_if_needed()
    assert "Image 1 of 2" in tagger.locator(".cvb-counter").inner_text()
    tagger.locator(".cvb-stage").click()
    page.keyboard.press("2")
    wait_until(lambda: cvbench.open_project(path).image(newest[1]).tags == (project.tags[1].name,),
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
