"""What a first real use of the workbench showed, in a real Voila app and a real Chromium:
the Tag tab's done screen, the tag keys and colours, Train off with its reason and the tags
to train, Refresh in Predictions, the notices, the page's width, the upload results, and the
image detail view. Screenshots: docs/detail.png, docs/tag-keys.png (and test-artifacts/)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cvb_browser import assert_rendered, trained_copy, untagged_project, wait_until, write_notebook

import cvbench

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
IMAGES_LOADED = """(sel) => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
OVERLAP = """([a, b]) => {
  const r = document.querySelector(a).getBoundingClientRect();
  const s = document.querySelector(b).getBoundingClientRect();
  return !(r.right <= s.left || s.right <= r.left || r.bottom <= s.top || s.bottom <= r.top);
}"""


def tab(page, key: str) -> None:
    page.locator(f".cvb-wbhead [data-tab={key}]").click()
    page.wait_for_selector(f".cvb-wbhead [data-tab={key}].is-active")


def test_the_taggers_done_screen_answers_clicks_and_enter(voila, open_page, notebooks,
                                                          browser_home, artifacts):
    path = browser_home / "fixes-tagger"
    project = untagged_project(path, n=2)
    project.create_tag("cat")
    project.close()
    write_notebook(notebooks / "fixes_tagger.ipynb",
                   f"import cvbench\nfrom cvbench.ui import Tagger\n"
                   f"Tagger(cvbench.open_project({str(path)!r}))")
    page, watch = open_page(voila.url("voila/render/fixes_tagger.ipynb"))
    page.wait_for_selector(".cvb-tagger .cvb-tagger-img", timeout=120_000)
    counter = page.locator(".cvb-tagger .cvb-counter")
    page.locator(".cvb-tagger .cvb-stage").click()
    page.keyboard.press("End")
    wait_until(lambda: "2 of 2 done" in counter.inner_text(), what="the done screen")
    back = page.locator(".cvb-tagger .cvb-empty button", has_text="Back to the last image")
    back.click()  # nothing covers it
    wait_until(lambda: counter.inner_text() == "Image 2 of 2", what="the last image")
    page.keyboard.press("End")
    show_all = page.locator(".cvb-tagger .cvb-empty button", has_text="Show all images")
    show_all.wait_for()
    show_all.focus()
    page.keyboard.press("Enter")  # the focused button's own Enter
    wait_until(lambda: page.locator(".cvb-tagger select").input_value() == "all",
               what="Enter on Show all images")
    wait_until(lambda: counter.inner_text() == "Image 1 of 2", what="the queue of all images")
    watch.assert_clean()


def test_the_workbench_after_a_first_real_use(voila, open_page, notebooks, browser_home,
                                              artifacts, tmp_path):
    path = trained_copy(browser_home, browser_home / "fixes-digits", sample="digits")
    project = cvbench.open_project(path)
    nine = [img.id for img in project.images(tag="9")]
    project.untag_images(nine[2:], "9")  # '9' keeps 2 of the 5 images it needs
    project.close()
    good, empty = tmp_path / "good.png", tmp_path / "empty.png"
    from PIL import Image

    Image.new("RGB", (64, 48), (10, 200, 90)).save(good)
    empty.write_bytes(b"")
    write_notebook(notebooks / "fixes_workbench.ipynb",
                   "import cvbench\nfrom cvbench.ui import Workbench\n"
                   f"Workbench(cvbench.open_project({str(path)!r}))")
    page, watch = open_page(voila.url("voila/render/fixes_workbench.ipynb"))
    page.wait_for_selector(".cvb-gallery .cvb-cell img", timeout=120_000)
    page.wait_for_function(IMAGES_LOADED, arg=".cvb-gallery .cvb-cell img")
    assert_rendered(page)
    width = page.locator(".cvb-workbench").evaluate("(e) => e.getBoundingClientRect().width")

    # -- tag keys: key n tags "n", key 0 tags "0", each chip shows its key, ten colours --------
    bar = page.locator(".cvb-gallery .cvb-tagbar")
    keys = {b.locator(".cvb-tagbtn-name").inner_text(): b.locator(".cvb-tagkey").inner_text()
            for b in bar.locator(".cvb-tagbtn").all()}
    assert keys == {str(d): str(d) for d in range(10)}, keys
    colors = bar.locator(".cvb-tagbtn").evaluate_all(
        "(bs) => bs.map((b) => getComputedStyle(b).getPropertyValue('--tag').trim())")
    assert len(set(colors)) == 10, colors
    bar.screenshot(path=DOCS / "tag-keys.png")
    first = page.locator(".cvb-gallery .cvb-cell").first
    first.click()
    page.keyboard.press("0")
    wait_until(lambda: page.locator(".cvb-gallery .cvb-notice.is-visible").count()
               and "as '0'" in page.locator(".cvb-gallery .cvb-notice").inner_text(),
               what="key 0 to tag '0'")

    # -- the detail view from the gallery: large, its tags, split, predictions, arrows ----------
    page.locator(".cvb-gallery .cvb-cell").first.hover()
    page.locator(".cvb-gallery .cvb-cell .cvb-expand").first.click()
    dialog = page.locator(".cvb-gallery .cvb-detail-panel")
    dialog.locator(".cvb-detail-it").first.wait_for(timeout=30_000)
    assert dialog.locator(".cvb-detail-pos").inner_text().startswith("1 of ")
    for _ in range(60):  # to a validation image: it has the iteration's stored prediction
        if dialog.locator(".cvb-detail-it[data-role=validation] .cvb-detail-pred").count() \
                and dialog.locator(".cvb-detail-split").count():  # tagged: it has a split
            break
        before = dialog.locator(".cvb-detail-pos").inner_text()
        page.keyboard.press("ArrowRight")
        wait_until(lambda before=before: dialog.locator(".cvb-detail-pos").inner_text() != before
                   and not dialog.evaluate("(d) => d.classList.contains('is-loading')"),
                   what="the next image")
    assert dialog.locator(".cvb-detail-it[data-role=validation] .cvb-probbar").count() >= 1
    assert dialog.locator(".cvb-detail-split").inner_text() in ("train", "validation")
    assert dialog.locator(".cvb-detail-tags .cvb-chip").count() == 1
    box = dialog.locator(".cvb-detail-stage svg").bounding_box()
    assert box["width"] > 400 or box["height"] > 400  # large, not a thumbnail
    page.wait_for_timeout(300)
    dialog.screenshot(path=DOCS / "detail.png")
    page.keyboard.press("Escape")
    assert page.locator(".cvb-gallery .cvb-detail").is_hidden()

    # -- upload: words for the status, the notice covers nothing and goes ----------------------
    page.set_input_files(".cvb-uploader .cvb-fileinput", [str(good), str(empty)])
    staged = page.locator(".cvb-uploader .cvb-staged")
    wait_until(lambda: "2 files ready" in staged.inner_text(), what="two staged files")
    assert "0 bytes" in staged.inner_text() and "1 KB" not in staged.inner_text()
    page.locator(".cvb-uploader [data-action=upload]").click()
    page.wait_for_selector(".cvb-uploader .cvb-results tr[data-status=ErrorImageFormat]")
    bad = page.locator(".cvb-uploader tr[data-status=ErrorImageFormat] .cvb-badge")
    assert bad.inner_text() == "Not an image" and "ErrorImageFormat" in bad.get_attribute("title")
    notice = ".cvb-uploader .cvb-notice.is-visible"
    page.wait_for_selector(notice)
    assert not page.evaluate(OVERLAP, [notice, ".cvb-uploader .cvb-results .cvb-table"])
    shown = time.monotonic()
    page.wait_for_selector(notice, state="detached", timeout=15_000)
    assert time.monotonic() - shown < 12
    assert page.locator(".cvb-workbench").evaluate(
        "(e) => e.getBoundingClientRect().width") == pytest.approx(width, abs=0.5)
    page.set_input_files(".cvb-uploader .cvb-fileinput", str(good))  # a new batch
    wait_until(lambda: page.locator(".cvb-uploader .cvb-results").is_hidden(),
               what="the old results to go")

    # -- train: off while '9' is short, with the reason; leaving '9' out turns it on ----------
    tab(page, "train")
    train = page.locator(".cvb-train [data-action=train]")
    train.wait_for()
    assert page.locator(".cvb-workbench").evaluate(
        "(e) => e.getBoundingClientRect().width") == pytest.approx(width, abs=0.5)
    assert train.is_disabled()
    why = page.locator(".cvb-train .cvb-blockers")
    assert "Tag '9' has" in why.inner_text() and "at least 5" in why.inner_text()
    assert "train(tags" not in why.inner_text() and "Tags to train" in why.inner_text()
    page.locator(".cvb-train .cvb-tagcheck-row[data-tag] input").nth(9).uncheck()
    wait_until(lambda: not train.is_disabled(), what="Train to turn on")
    assert page.locator(".cvb-train .cvb-blockers").count() == 0
    page.locator(".cvb-train .cvb-train-settings").screenshot(path=artifacts / "fixes-train.png")

    # -- performance: the wrong images open in the detail view ---------------------------------
    tab(page, "performance")
    card = page.locator(".cvb-performance .cvb-wcard").first
    card.wait_for(timeout=60_000)
    card.hover()
    card.locator(".cvb-expand").click()
    perf_dialog = page.locator(".cvb-performance .cvb-detail-panel")
    perf_dialog.locator(".cvb-detail-it[data-role=validation]").wait_for(timeout=30_000)
    page.keyboard.press("Escape")
    assert page.locator(".cvb-performance .cvb-picker").count() == 0  # not the retag picker

    # -- predictions: Refresh leaves the grid as it was, not faded -----------------------------
    tab(page, "predictions")
    pred = page.locator(".cvb-predictions")
    pred.locator(".cvb-seg [data-view=suggested]").click()
    page.wait_for_selector(".cvb-predictions .cvb-pr-card", timeout=60_000)
    pred.locator("button", has_text="Refresh").click()
    wait_until(lambda: not pred.evaluate("(e) => e.classList.contains('is-loading')"),
               timeout=10, what="the grid to come back after Refresh")
    opacity = page.locator(".cvb-predictions .cvb-pr-grid").evaluate(
        "(e) => getComputedStyle(e).opacity")
    assert float(opacity) == 1.0
    page.locator(".cvb-predictions .cvb-pr-thumb").first.click()
    page.locator(".cvb-predictions .cvb-detail-panel .cvb-detail-it").first.wait_for(timeout=30_000)
    page.keyboard.press("Escape")
    watch.assert_clean()
