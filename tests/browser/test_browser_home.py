"""The projects home and the Settings tab in a real Chromium, against a real ``cvbench app``
(Voila on 127.0.0.1, stopped with Ctrl-C): a project created and deleted from the home, and
a tag renamed in the Settings tab, then seen in the gallery and in a dataset export, and the
project's limits changed there (refused by the browser, refused by Python, saved). The
screenshots docs/home.png and docs/settings.png are taken here; any console error or
request to another host fails the test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cvb_browser import assert_rendered, untagged_project, watch_page
from test_browser_app import cvbench_app  # the one launcher of `cvbench app` under test

import cvbench
from cvbench.samples import make_sample
from cvbench.store.images import Limits

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CVBENCH = str(Path(sys.executable).parent / "cvbench")


def open_app(browser, url: str):
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 860})
    watch = watch_page(page)
    page.goto(url, timeout=120_000)
    return page, watch


def clean(watch) -> None:
    watch.assert_clean()
    assert watch.external == [], f"the app asked other hosts for {watch.external}"


def test_create_and_delete_a_project_from_the_home(browser, tmp_path, artifacts):
    root = tmp_path / "projects"
    root.mkdir()
    make_sample("digits", root / "digits", small=True).close()
    untagged_project(root / "sunsets", n=4).close()
    cvbench.create_project(root / "parking", kind="detection", name="Parking lot",
                           description="cars and bikes").close()

    with cvbench_app(root, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-home .cvb-hm-card", timeout=120_000)
        cards = page.locator(".cvb-home .cvb-hm-card")
        assert cards.count() == 3
        digits = page.locator(".cvb-hm-card[data-folder=digits]")
        assert "80 images" in digits.inner_text() and "Not trained yet" in digits.inner_text()
        page.wait_for_function("""() => [...document.querySelectorAll('.cvb-hm-thumb')]
            .filter((i) => i.tagName === 'IMG').every((i) => i.complete && i.naturalWidth > 0)""")
        assert_rendered(page)
        page.locator(".cvb-home").screenshot(path=DOCS / "home.png")

        # create: the form, a detection project, and its Workbench opens
        page.locator("[data-action=new]").click()
        form = page.locator("[data-panel=create]")
        form.locator("input[name=name]").fill("Bird feeder")
        form.locator("textarea[name=description]").fill("who visits the feeder")
        form.locator("[data-kind=detection]").click()
        assert form.locator("[data-kind=multiclass]").count() == 0  # no classification type
        page.locator(".cvb-home").screenshot(path=artifacts / "home-create.png")
        form.locator("[data-action=create]").click()
        page.wait_for_selector(".cvb-wbhead .cvb-wb-name:has-text('Bird feeder')", timeout=60_000)
        with cvbench.open_project(root / "Bird-feeder") as p:
            assert (p.kind, p.description) == ("detection", "who visits the feeder")
        assert "Object detection" in page.locator(".cvb-wbhead").inner_text()
        page.screenshot(path=artifacts / "home-open.png")

        # back to the list, then delete it (with a confirmation)
        page.locator("[data-action=back]").click()
        card = page.locator(".cvb-hm-card[data-folder=Bird-feeder]")
        card.wait_for(timeout=30_000)
        assert page.locator(".cvb-home .cvb-hm-card").count() == 4
        card.locator("[data-action=delete]").click()
        assert "cannot be undone" in card.locator(".cvb-hm-confirm").inner_text()
        card.screenshot(path=artifacts / "home-delete.png")
        card.locator("[data-action=confirm-delete]").click()
        card.wait_for(state="detached", timeout=30_000)
        assert not (root / "Bird-feeder").exists()
        assert page.locator(".cvb-home .cvb-hm-card").count() == 3
        clean(watch)
        page.close()


def test_a_tag_renamed_in_settings_shows_in_the_gallery_and_the_export(browser, tmp_path,
                                                                       artifacts):
    path = tmp_path / "pets"
    project = untagged_project(path, n=6)
    ids = [im.id for im in project.images(order="oldest")]
    project.tag_images(ids[:4], ["cat"])
    project.tag_images(ids[4:], ["dog"])
    project.update_tag("dog", description="any dog, any breed")
    project.close()

    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        page.locator(".cvb-wb-tab[data-tab=settings]").click()
        page.wait_for_selector(".cvb-settings .cvb-st-tag", timeout=60_000)
        row = page.locator(".cvb-st-tag[data-name=cat]")
        assert "4" in row.inner_text()
        assert_rendered(page)
        page.set_viewport_size({"width": 1280, "height": 1500})  # the whole tab in one picture
        page.locator(".cvb-settings").screenshot(path=DOCS / "settings.png")
        page.set_viewport_size({"width": 1280, "height": 900})

        row.locator("[data-action=edit-tag]").click()
        form = page.locator(".cvb-st-tag-form")
        form.locator("input[name=name]").fill("kitten")
        page.locator(".cvb-st-tags").screenshot(path=artifacts / "settings-edit.png")
        form.locator("[data-action=save-tag]").click()
        page.wait_for_selector(".cvb-st-tag[data-name=kitten]", timeout=30_000)
        with cvbench.open_project(path) as p:
            assert p.tag_counts() == {"dog": 2, "kitten": 4}

        # the gallery shows the new name
        page.locator(".cvb-wb-tab[data-tab=images]").click()
        page.wait_for_selector(".cvb-gallery .cvb-tagbar:has-text('kitten')", timeout=30_000)
        assert "cat" not in page.locator(".cvb-gallery .cvb-tagbar").inner_text()
        clean(watch)
        page.close()

    with cvbench.open_project(path) as p:
        report = p.export_dataset(tmp_path / "export", format="imagefolder")
    assert report is not None
    assert sorted(d.name for d in (tmp_path / "export").iterdir() if d.is_dir()) == [
        "dog", "kitten"]
    assert len(list((tmp_path / "export" / "kitten").iterdir())) == 4


def test_limits_changed_in_settings_are_saved(browser, tmp_path, artifacts):
    path = tmp_path / "pets"
    project = untagged_project(path, n=4)
    project.tag_images([im.id for im in project.images()], ["cat"])
    project.create_tag("dog")
    project.close()

    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        page.locator(".cvb-wb-tab[data-tab=settings]").click()
        card = page.locator(".cvb-st-limits-card")
        card.locator("input[name=max_tags]").wait_for(timeout=60_000)
        row = card.locator(".cvb-st-limit-row[data-limit=max_image_bytes]")
        assert row.locator("input").input_value() == "6" and "Default 6 MB" in row.inner_text()
        assert "Default 500 tags" in card.inner_text()
        assert card.locator("[data-limit=max_regions_per_image]").count() == 0  # no boxes here
        notice = page.locator(".cvb-settings .cvb-notice")

        # the browser's own check: nothing is sent, the form says why
        card.locator("input[name=max_tags]").fill("0")
        card.locator("[data-action=save-limits]").click()
        card.locator(".cvb-st-error:has-text('Tags should be more than 0')").wait_for()
        # Python's check: below what the project holds
        card.locator("input[name=max_tags]").fill("1")
        card.locator("[data-action=save-limits]").click()
        page.wait_for_selector(".cvb-settings .cvb-notice:has-text('below the 2 tags')",
                               timeout=30_000)
        with cvbench.open_project(path) as p:
            assert p.limits == Limits()

        # a change saved: the project has it, and the form shows it as changed
        card.locator("input[name=max_tags]").fill("40")
        card.locator("input[name=max_image_bytes]").fill("2.5")
        card.screenshot(path=artifacts / "settings-limits-edit.png")
        card.locator("[data-action=save-limits]").click()
        page.wait_for_selector(".cvb-settings .cvb-notice:has-text('Saved the limits')",
                               timeout=30_000)
        assert "tags 40" in notice.inner_text() and "file size 2.5 MB" in notice.inner_text()
        with cvbench.open_project(path) as p:
            assert (p.limits.max_tags, p.limits.max_image_bytes) == (40, round(2.5 * 2**20))
        card.locator(".cvb-st-limit-row.is-changed[data-limit=max_tags]").wait_for()
        assert card.locator(".cvb-st-limit-row.is-changed").count() == 2
        assert_rendered(page)
        card.screenshot(path=artifacts / "settings-limits.png")

        # reset to defaults, then save
        card.locator("[data-action=reset-limits]").click()
        assert card.locator("input[name=max_tags]").input_value() == "500"
        card.locator("[data-action=save-limits]").click()
        card.locator(".cvb-st-limit-row.is-changed").first.wait_for(state="detached",
                                                                     timeout=30_000)
        with cvbench.open_project(path) as p:
            assert p.limits == Limits()

        # a byte limit that is no round number of MB keeps its bytes when another is saved
        with cvbench.open_project(path) as p:
            p.set_limits(max_image_bytes=6_000_000)
        page.wait_for_function(
            "() => document.querySelector('.cvb-st-limits-card input[name=max_image_bytes]')"
            ".value === '5.72'", timeout=30_000)
        card.locator("input[name=max_tags]").fill("41")
        card.locator("[data-action=save-limits]").click()
        page.wait_for_selector(".cvb-settings .cvb-notice:has-text('tags 41')", timeout=30_000)
        with cvbench.open_project(path) as p:
            assert (p.limits.max_tags, p.limits.max_image_bytes) == (41, 6_000_000)
        clean(watch)
        page.close()
