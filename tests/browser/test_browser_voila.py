"""The widgets in a real Voila app, in a real Chromium: they render, and mouse and keyboard
change the project (Enter in the new-tag forms, the sliders' arrows); the gallery scrolls in
a bounded box. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from cvb_browser import (
    add_tag,
    assert_gallery_bounded,
    assert_rendered,
    keyed_tags,
    press_on_slider,
    trained_copy,
    wait_until,
    write_notebook,
)

import cvbench
from cvbench.samples import make_sample

pytestmark = pytest.mark.browser

ALL_IMAGES_LOADED = """(sel) => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""


def widget_notebook(folder: Path, name: str, project: Path, code: str) -> str:
    write_notebook(
        folder / name,
        "import cvbench\nfrom cvbench.ui import BoxEditor, Gallery, Tagger, Uploader\n"
        f"project = cvbench.open_project({str(project)!r})\n" + code,
    )
    return f"voila/render/{name}"


def test_gallery_pages_selects_tags_and_deletes(voila, open_page, notebooks, browser_home, artifacts):
    path = browser_home / "gallery-photos"
    project = make_sample("photos", path, small=True)
    total = project.count_images()
    untag = [i.id for i in project.images(take=4)]
    project.untag_images(untag)
    page, watch = open_page(voila.url(widget_notebook(notebooks, "gallery.ipynb", path, "Gallery(project)")))
    page.wait_for_selector(".cvb-gallery .cvb-cell img", timeout=90_000)
    page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-gallery .cvb-cell img")
    assert_rendered(page)
    cells = page.locator(".cvb-gallery .cvb-cell")
    assert cells.count() == 60
    assert "Page 1 of 2" in page.locator(".cvb-gallery .cvb-pager").inner_text()
    assert page.locator(".cvb-seg [data-show=untagged] .cvb-count").inner_text() == "4"
    page.screenshot(path=artifacts / "gallery.png")  # what a person sees first: 1280x900
    assert_gallery_bounded(page)  # 60 thumbnails: a box that scrolls, not 2,500 px of page

    # click, shift-click: a range of three; key 3 tags them with the third tag
    ids = [cells.nth(i).get_attribute("data-id") for i in range(3)]
    assert ids == untag[:3]
    cells.nth(0).click()
    cells.nth(2).click(modifiers=["Shift"])
    page.wait_for_selector(".cvb-actionbar.is-visible")
    assert "3 selected" in page.locator(".cvb-selcount").inner_text()
    page.screenshot(path=artifacts / "gallery-selection.png")
    third = keyed_tags(project)[2]  # the tag with key 3
    page.keyboard.press("3")
    wait_until(lambda: {i.id for i in cvbench.open_project(path).images(tag=third.name)} >= set(ids),
               what="the store to tag the three images")
    count = page.locator(f".cvb-tagbar [data-tag='{third.id}'] .cvb-count")
    wait_until(lambda: count.inner_text() == str(third.image_count + 3), what="the tag count")
    assert page.locator(".cvb-seg [data-show=untagged] .cvb-count").inner_text() == "1"

    # arrows + space select, ctrl-click adds, Delete asks, Enter confirms
    cells.nth(4).click()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    cells.nth(7).click(modifiers=["Control"])
    doomed = {cells.nth(i).get_attribute("data-id") for i in (4, 5, 7)}
    assert "3 selected" in page.locator(".cvb-selcount").inner_text()
    page.keyboard.press("Delete")
    page.wait_for_selector(".cvb-actionbar.is-confirm")
    page.keyboard.press("Enter")
    wait_until(lambda: cvbench.open_project(path).count_images() == total - 3, what="the deletion")
    remaining = {i.id for i in cvbench.open_project(path).images()}
    assert not doomed & remaining

    # paging
    page.locator("[data-action=next-page]").click()
    wait_until(lambda: cells.count() == total - 3 - 60, what="page 2")
    assert "Page 2 of 2" in page.locator(".cvb-gallery .cvb-pager").inner_text()

    # the new-tag form: Enter creates the tag (nothing is selected: nothing gets it)
    add_tag(page, ".cvb-gallery", "zz new")
    page.locator(".cvb-gallery .cvb-tagbar .cvb-tagbtn", has_text="zz new").wait_for()
    new = cvbench.open_project(path).get_tag("zz new")
    assert new.image_count == 0
    # and the deleted images did not come back into the selection (their late state)
    assert page.locator(".cvb-gallery .cvb-actionbar.is-visible").count() == 0
    watch.assert_clean()


def test_tagger_keys_tag_and_enter_moves_on(voila, open_page, notebooks, browser_home, artifacts):
    path = browser_home / "tagger-photos"
    project = make_sample("photos", path, small=True)
    queue = [i.id for i in project.images(order="oldest")][10:15]
    project.untag_images(queue)
    tags = keyed_tags(project)  # tags[n - 1] has key n
    page, watch = open_page(voila.url(widget_notebook(notebooks, "tagger.ipynb", path, "Tagger(project)")))
    page.wait_for_selector(".cvb-tagger .cvb-tagger-img", timeout=90_000)
    page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-tagger .cvb-tagger-img")
    assert_rendered(page)
    assert "Image 1 of 5" in page.locator(".cvb-tagger .cvb-counter").inner_text()

    def tags_of(image_id):
        return set(cvbench.open_project(path).image(image_id).tags)

    page.locator(".cvb-tagger .cvb-stage").click()
    page.keyboard.press("2")
    wait_until(lambda: tags_of(queue[0]) == {tags[1].name}, what="key 2 to tag the image")
    page.wait_for_selector(f".cvb-tagrow.is-active[data-tag='{tags[1].id}']")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.cvb-tagger .cvb-counter').textContent.includes('Image 2 of 5')")
    page.keyboard.press("1")
    page.keyboard.press("7")
    wait_until(lambda: tags_of(queue[1]) == {tags[0].name, tags[6].name}, what="two tags (multilabel)")
    page.wait_for_selector(".cvb-tagrow.is-active >> nth=1")
    page.locator(".cvb-tagger").screenshot(path=artifacts / "tagger.png")
    page.keyboard.press("7")  # toggles off
    wait_until(lambda: tags_of(queue[1]) == {tags[0].name}, what="key 7 to remove its tag")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('.cvb-tagger .cvb-counter').textContent.includes('Image 1 of 5')")

    # the new-tag form (common.js): + Add tag, a name, Enter; three in a row on an untagged
    # image create three tags and leave the image as it was
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.cvb-tagger .cvb-counter').textContent.includes('Image 3 of 5')")
    for i, name in enumerate(["zebra", "zebu", "zorilla"]):
        add_tag(page, ".cvb-tagger", name)
        page.locator(".cvb-tagger .cvb-tagrow").nth(len(tags) + i).wait_for()
    assert {t.name for t in cvbench.open_project(path).tags} >= {"zebra", "zebu", "zorilla"}
    assert tags_of(queue[2]) == set() and tags_of(queue[0]) == {tags[1].name}
    assert page.locator(".cvb-tagger .cvb-tagrow.is-active").count() == 0
    page.locator(".cvb-tagger").screenshot(path=artifacts / "tagger-new-tags.png")
    page.locator(".cvb-tagger .cvb-addtag").click()  # Escape closes the form
    page.keyboard.press("Escape")
    page.wait_for_selector(".cvb-tagger .cvb-addtag")
    assert page.locator(".cvb-tagger .cvb-newtag").count() == 0
    watch.assert_clean()


def test_box_editor_draws_resizes_moves_zooms_and_accepts(voila, open_page, notebooks, browser_home, artifacts):
    path = browser_home / "boxes-shapes"
    project = make_sample("shapes", path, small=True)
    first = project.images(order="oldest")[0]
    project.set_regions(first.id, [])
    circle, square = project.get_tag("circle"), project.get_tag("square")
    code = (
        "def suggest(project, image):\n"
        f"    return [{{'tag': {circle.id!r}, 'left': 0.04, 'top': 0.06, 'width': 0.18, 'height': 0.22,"
        " 'probability': 0.87}]\n"
        "BoxEditor(project, suggest=suggest)"
    )
    page, watch = open_page(voila.url(widget_notebook(notebooks, "boxes.ipynb", path, code)))
    page.wait_for_selector(".cvb-boxeditor .cvb-be-img", timeout=90_000)
    page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-boxeditor .cvb-be-img")
    assert_rendered(page)
    img = page.locator(".cvb-boxeditor .cvb-be-img")
    saved = page.locator(".cvb-savestate.is-saved")

    def regions():
        return [(r.tag_name, r.left, r.top, r.width, r.height)
                for r in cvbench.open_project(path).image(first.id).regions]

    def drag(x0, y0, x1, y1):
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
        page.mouse.move(x1, y1, steps=4)
        page.mouse.up()

    # draw: the expected box comes from the image element's bounding box
    bb = img.bounding_box()
    x0, y0 = bb["x"] + 0.31 * bb["width"], bb["y"] + 0.42 * bb["height"]
    x1, y1 = bb["x"] + 0.67 * bb["width"], bb["y"] + 0.81 * bb["height"]
    drag(x0, y0, x1, y1)
    expected = [(x0 - bb["x"]) / bb["width"], (y0 - bb["y"]) / bb["height"],
                (x1 - x0) / bb["width"], (y1 - y0) / bb["height"]]
    wait_until(lambda: len(regions()) == 1, what="the drawn box in the store")
    ((tag, *got),) = regions()
    assert tag == "circle" and got == pytest.approx(expected, abs=0.004)
    saved.wait_for()

    # resize with the bottom-right handle, then move by dragging inside
    handle = page.locator(".cvb-box.is-selected .cvb-handle.is-se").bounding_box()
    hx, hy = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    drag(hx, hy, hx + 40, hy - 30)
    expected[2] += 40 / bb["width"]
    expected[3] -= 30 / bb["height"]
    wait_until(lambda: regions() and regions()[0][3] == pytest.approx(expected[2], abs=0.004),
               what="the resized box")
    assert regions()[0][4] == pytest.approx(expected[3], abs=0.004)
    page.locator(".cvb-boxeditor").screenshot(path=artifacts / "box-editor-selected.png")
    cx, cy = bb["x"] + (expected[0] + expected[2] / 2) * bb["width"], bb["y"] + (expected[1] + expected[3] / 2) * bb["height"]
    drag(cx, cy, cx - 50, cy - 20)
    expected[0] -= 50 / bb["width"]
    expected[1] -= 20 / bb["height"]
    wait_until(lambda: regions()[0][1] == pytest.approx(expected[0], abs=0.004), what="the moved box")
    assert regions()[0][1:] == pytest.approx(expected, abs=0.004)

    # 1-9 retag the selected box; with nothing selected they choose the tag of new boxes
    page.keyboard.press("3")
    wait_until(lambda: regions()[0][0] == "triangle", what="key 3 to retag the selected box")
    page.keyboard.press("1")
    wait_until(lambda: regions()[0][0] == "circle", what="key 1 to retag it back")
    page.keyboard.press("Escape")
    page.keyboard.press("2")

    # zoom with the wheel around the cursor, draw again
    # the zoom reads screen pixels per image pixel (a 320 px image fitted at 600 px: 188%)
    fitted = page.locator(".cvb-zoom").inner_text()
    shown = img.evaluate("(i) => Math.round(100 * i.getBoundingClientRect().width / i.naturalWidth)")
    assert fitted == f"{shown}%"
    page.mouse.move(bb["x"] + 0.8 * bb["width"], bb["y"] + 0.2 * bb["height"])
    page.mouse.wheel(0, -400)
    page.wait_for_function("(z) => document.querySelector('.cvb-zoom').textContent !== z", arg=fitted)
    zb = img.bounding_box()
    assert zb["width"] > bb["width"] * 1.5
    vp = page.locator(".cvb-viewport").bounding_box()
    x0, y0 = vp["x"] + vp["width"] * 0.55, vp["y"] + vp["height"] * 0.25
    x1, y1 = x0 + 90, y0 + 70
    drag(x0, y0, x1, y1)
    second = [(x0 - zb["x"]) / zb["width"], (y0 - zb["y"]) / zb["height"], 90 / zb["width"], 70 / zb["height"]]
    wait_until(lambda: len(regions()) == 2, what="the second box")
    assert regions()[1][0] == square.name and regions()[1][1:] == pytest.approx(second, abs=0.003)
    assert regions()[0][0] == circle.name

    # pan: drag with Space held moves the view, draws nothing
    before = img.bounding_box()
    page.keyboard.down("Space")
    drag(vp["x"] + 300, vp["y"] + 300, vp["x"] + 180, vp["y"] + 240)
    page.keyboard.up("Space")
    after = img.bounding_box()
    assert (after["x"] - before["x"], after["y"] - before["y"]) == pytest.approx((-120, -60), abs=2)
    assert len(regions()) == 2
    page.keyboard.press("f")  # fit again

    # the suggestion: click it, Enter accepts it
    sugg = page.locator(".cvb-box.is-suggestion").bounding_box()
    page.mouse.click(sugg["x"] + 4, sugg["y"] + sugg["height"] / 2)
    page.locator(".cvb-box.is-suggestion.is-selected").wait_for()
    page.locator(".cvb-boxeditor").screenshot(path=artifacts / "box-editor.png")
    page.keyboard.press("Enter")
    wait_until(lambda: len(regions()) == 3, what="the accepted suggestion")
    assert regions()[2][1:] == pytest.approx([0.04, 0.06, 0.18, 0.22], abs=1e-6)

    # next image and back: what was drawn is still there
    second_name = project.images(order="oldest")[1].original_name
    shown = "(name) => document.querySelector('.cvb-boxeditor .cvb-imgname').textContent.startsWith(name)"
    page.keyboard.press("n")
    page.wait_for_function(shown, arg=second_name)
    page.keyboard.press("p")
    page.wait_for_function(shown, arg=first.original_name)
    page.wait_for_function("() => document.querySelectorAll('.cvb-layer .cvb-box:not(.is-suggestion)').length === 3")
    # select a box from the list and delete it with the key
    page.locator(".cvb-side .cvb-row").nth(0).click()
    page.keyboard.press("Delete")
    wait_until(lambda: len(regions()) == 2, what="the deletion")

    # the new-tag form: Enter creates the tag, and new boxes get it
    add_tag(page, ".cvb-boxeditor", "hexagon")
    wait_until(lambda: "hexagon" in [t.name for t in cvbench.open_project(path).tags],
               what="the new tag")
    assert len(regions()) == 2
    watch.assert_clean()


def test_uploader_sends_files_with_tags_and_shows_the_results(voila, open_page, notebooks, browser_home, artifacts):
    from PIL import Image

    path = browser_home / "upload-project"
    cvbench.create_project(path, kind="multiclass").create_tag("cat")
    files = browser_home / "upload-files"
    files.mkdir()
    for i, color in enumerate(["#0078d4", "#d83b01"]):
        Image.new("RGB", (64, 48), color).save(files / f"photo{i}.png")
    (files / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    page, watch = open_page(voila.url(widget_notebook(notebooks, "upload.ipynb", path, "Uploader(project)")))
    page.wait_for_selector(".cvb-uploader .cvb-drop", timeout=90_000)
    assert_rendered(page)
    page.set_input_files(".cvb-uploader input[type=file]", [str(p) for p in sorted(files.iterdir())])
    page.wait_for_function("() => document.querySelector('.cvb-staged').textContent.includes('3 files ready')")
    tag_input = page.locator(".cvb-taginput input")
    tag_input.fill("cat")
    tag_input.press("Enter")
    page.locator(".cvb-taginput .cvb-chip").wait_for()
    page.locator("[data-action=upload]").click()
    page.wait_for_selector(".cvb-table tbody tr >> nth=2", timeout=30_000)
    rows = {r.locator("td").nth(0).inner_text(): r.get_attribute("data-status")
            for r in page.locator(".cvb-table tbody tr").all()}
    assert rows == {"broken.jpg": "ErrorImageFormat", "photo0.png": "OK", "photo1.png": "OK"}
    assert cvbench.open_project(path).count_images(tag="cat") == 2
    page.locator(".cvb-uploader").screenshot(path=artifacts / "uploader.png")
    watch.assert_clean()


def test_sliders_move_with_their_arrow_keys(voila, open_page, notebooks, browser_home, artifacts):
    path = trained_copy(browser_home, browser_home / "voila-sliders")
    project = cvbench.open_project(path)
    project.untag_images([i.id for i in project.images(take=4)])  # for the smart labeler
    code = ("from IPython.display import display\n"
            "from cvbench.ui import Performance, Predictions, QuickTest\n"
            "display(Performance(project))\ndisplay(QuickTest(project))\nPredictions(project)")
    page, watch = open_page(voila.url(widget_notebook(notebooks, "sliders.ipynb", path, code)))
    page.wait_for_selector(".cvb-predictions .cvb-pr-threshold", timeout=120_000)
    page.wait_for_selector(".cvb-performance .cvb-range-threshold")
    assert_rendered(page)
    for selector, step, label in [
        (".cvb-performance .cvb-range-threshold", 0.01, ".cvb-performance .cvb-slider-value"),
        (".cvb-quicktest .cvb-slider input[type=range]", 0.01, ".cvb-quicktest .cvb-slider-value"),
        (".cvb-predictions .cvb-pr-threshold", 0.05, ".cvb-predictions .cvb-slider-value"),
    ]:
        slider = page.locator(selector)
        values = [float(v) for v in press_on_slider(
            page, slider, ["ArrowRight", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowLeft"])]
        moves = [round((b - a) / step) for a, b in zip(values[:-1], values[1:], strict=True)]
        assert moves == [1, 1, -1, -1, -1], f"{selector}: {values}"
        assert slider.evaluate("(e) => e === document.activeElement")
        assert page.locator(label).first.inner_text() == f"{round(100 * values[-1])}%"
    # Performance's numbers followed its slider (Python computed them for 49%)
    page.wait_for_function("() => document.querySelector('.cvb-performance .cvb-card-title')"
                           " && document.querySelector('.cvb-performance').textContent.includes('49%')")
    page.locator(".cvb-performance").screenshot(path=artifacts / "performance-slider.png")
    watch.assert_clean()
