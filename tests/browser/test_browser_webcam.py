"""The webcam and "Why?" in a real Voila app: Chromium's fake camera (a moving test
pattern) feeds the Uploader's burst, and Quick test shows the heatmap of its top
prediction. Screenshots: docs/webcam.png, docs/saliency.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from cvb_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_rendered,
    trained_copy,
    wait_until,
    watch_page,
    write_notebook,
)

import cvbench

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Chromium's fake camera, allowed without asking.
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture
def camera_page(pw_driver, tmp_path):
    """A page of a Chromium of its own, launched with the fake camera (from the session's
    Playwright driver: a second sync driver in the same thread is refused)."""
    context = pw_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "camera-profile"), executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, *FAKE_CAMERA], headless=True,
        viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    try:
        page = context.new_page()
        yield page, watch_page(page)
    finally:
        context.close()


def tab(page, key: str) -> None:
    page.locator(f".cvb-wbhead [data-tab={key}]").click()
    page.wait_for_selector(f".cvb-wbhead [data-tab={key}].is-active")


def test_a_webcam_burst_goes_into_a_tag_and_quick_test_says_why(voila, camera_page, notebooks,
                                                               browser_home, tmp_path):
    path = trained_copy(browser_home, browser_home / "webcam-photos", "photos")
    project = cvbench.open_project(path)
    tag = "animal"
    before = project.get_tag(tag).image_count
    total = project.count_images()
    sample = next(i for i in project.images() if tag in i.tags)
    picture = tmp_path / "animal.jpg"
    picture.write_bytes(sample.path.read_bytes())
    project.close()
    write_notebook(notebooks / "webcam.ipynb",
                   "import cvbench\nfrom cvbench.ui import Workbench\n"
                   f"Workbench(cvbench.open_project({str(path)!r}))")
    page, watch = camera_page
    page.goto(voila.url("voila/render/webcam.ipynb"))
    page.wait_for_selector(".cvb-uploader [data-action=webcam]", timeout=120_000)
    assert_rendered(page)

    # -- the burst: a live preview, a tag, 3 frames after the countdown --------------------
    page.locator(".cvb-uploader [data-action=webcam]").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('.cvb-uploader .cvb-up-video');"
        " return v && v.videoWidth > 0 && v.readyState >= 2; }", timeout=30_000)
    page.locator(".cvb-uploader .cvb-up-camtag").fill(tag)
    page.locator(".cvb-uploader .cvb-up-burst").fill("3")
    page.locator(".cvb-uploader .cvb-up-interval").fill("0.2")
    page.locator(".cvb-uploader [data-action=burst]").click()
    page.wait_for_selector(".cvb-uploader .cvb-up-countdown.is-visible")
    assert page.locator(".cvb-uploader .cvb-up-countdown").inner_text() in ("3", "2", "1")
    page.wait_for_selector(".cvb-uploader .cvb-results tbody tr", timeout=60_000)
    rows = page.locator(".cvb-uploader .cvb-results tbody tr")
    wait_until(lambda: rows.count() == 3, what="three result rows")
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["OK"] * 3
    project = cvbench.open_project(path)
    assert project.get_tag(tag).image_count == before + 3
    assert project.count_images() == total + 3
    project.close()
    page.locator(".cvb-uploader").screenshot(path=DOCS / "webcam.png")

    # -- the camera a person denied: the message says what to do -----------------------------
    page.evaluate("""() => { navigator.mediaDevices.getUserMedia = () =>
        Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }""")
    page.locator(".cvb-uploader [data-action=close-camera]").click()
    page.locator(".cvb-uploader [data-action=webcam]").click()
    notice = page.locator(".cvb-uploader .cvb-notice.is-error")
    notice.wait_for()
    assert "allow it in the address bar, or upload files" in notice.inner_text()

    # -- Quick test: "Why?" shows where the model looked --------------------------------------
    tab(page, "quick_test")
    page.wait_for_selector(".cvb-quicktest [data-action=browse]:not([disabled])")
    # its own camera, denied too: the same advice, with Quick test's other way in
    page.locator(".cvb-quicktest [data-action=webcam]").click()
    qt_notice = page.locator(".cvb-quicktest .cvb-notice.is-error")
    qt_notice.wait_for()
    assert "allow it in the address bar, or choose an image file" in qt_notice.inner_text()
    page.locator(".cvb-quicktest .cvb-fileinput").set_input_files(str(picture))
    page.wait_for_selector(".cvb-quicktest .cvb-qt-preds tbody tr", timeout=60_000)
    page.locator(".cvb-quicktest [data-action=why]").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.cvb-quicktest .cvb-qt-frame svg image');"
        " return i && i.getAttribute('href').startsWith('data:image/png'); }", timeout=60_000)
    caption = page.locator(".cvb-quicktest .cvb-why-caption").inner_text()
    top = page.locator(".cvb-quicktest .cvb-qt-preds tbody tr").first.get_attribute("data-tag")
    assert f"Where it looked for {top}" in caption
    # a row clicked (one below the threshold too): the heat of that tag
    below = page.locator(".cvb-quicktest .cvb-qt-table > button")
    if below.count():
        below.click()
    second = page.locator(".cvb-quicktest .cvb-qt-preds tbody tr").nth(1)
    name = second.get_attribute("data-tag")
    second.click()
    page.wait_for_function(
        "(name) => document.querySelector('.cvb-quicktest .cvb-why-caption')"
        ".textContent.includes(`Where it looked for ${name}`)", arg=name, timeout=60_000)
    page.locator(".cvb-quicktest .cvb-qt-preds tbody tr").first.click()
    page.wait_for_function(
        "(name) => document.querySelector('.cvb-quicktest .cvb-why-caption')"
        ".textContent.includes(`Where it looked for ${name}`)", arg=top, timeout=60_000)
    page.locator(".cvb-quicktest").screenshot(path=DOCS / "saliency.png")
    assert_rendered(page)
    watch.assert_clean()
