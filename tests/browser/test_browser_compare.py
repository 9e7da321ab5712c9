"""Two iterations side by side in the Performance tab of the Workbench, in a real Voila app,
in a real Chromium: pick the other iteration in "Compare with…", see the per-tag table of
both with their differences, the PR curves of both and the images one broke, open one of
them large, move the threshold (the comparison follows it) and hide it again. The
screenshot docs/compare.png is taken here; any console error fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from cvb_browser import assert_rendered, wait_until, write_notebook

from cvbench.samples import make_sample

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: True once the images that ``sel`` picks are all there and loaded.
IMAGES_LOADED = ("(sel) => [...document.querySelectorAll(sel)]"
                 ".every((i) => i.complete && i.naturalWidth > 0) && !!document.querySelector(sel)")


def _pct(x: float) -> str:
    """A fraction as the page writes it (cvbPct)."""
    return f"{100 * x:.1f}%"


def _performance_tab(voila, open_page, notebooks, path: Path, name: str):
    """The Workbench of the project at ``path`` opened on its Performance tab, in a fresh
    page, once the "Compare with…" picker is there: ``page, watch, picker``."""
    write_notebook(
        notebooks / f"{name}.ipynb",
        "import cvbench\nfrom cvbench.ui import Workbench\n"
        f"Workbench(cvbench.open_project({str(path)!r}), tab='performance')",
    )
    page, watch = open_page(voila.url(f"voila/render/{name}.ipynb"))
    picker = page.locator(".cvb-performance .cvb-perf-cmppick")
    picker.wait_for(timeout=120_000)
    return page, watch, picker


def test_the_performance_tab_compares_two_iterations(voila, open_page, notebooks,
                                                     browser_home, artifacts):
    path = browser_home / "compare-digits"
    project = make_sample("digits", path, small=True)
    first = project.train("quick", progress_bar=False)
    # a weak head: it gets wrong some images the first one got right
    second = project.train("quick", progress_bar=False, settings={"C": 0.001, "calibrate": False})
    want, want_low = second.compare(first, 0.5), second.compare(first, 0.3)
    n_tags = len(want.per_tag)
    changed = want.fixed + want.broken
    assert changed, "the two iterations should differ on some validation image"
    project.close()
    page, watch, picker = _performance_tab(voila, open_page, notebooks, path, "compare")
    perf = page.locator(".cvb-performance")
    page.wait_for_function(IMAGES_LOADED, arg=".cvb-performance .cvb-perf-primg", timeout=60_000)
    assert_rendered(page)
    # the newest is shown; the picker offers the other one, the comparison is hidden
    assert picker.is_enabled()
    options = picker.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert options == ["", first.id]
    assert not perf.locator(".cvb-perf-compare").is_visible()

    # -- pick the other iteration: both side by side ----------------------------------------
    picker.select_option(first.id)
    card = perf.locator(".cvb-perf-compare")
    rows = card.locator(".cvb-cmp-table tbody tr")
    rows.first.wait_for(timeout=60_000)
    assert rows.count() == n_tags
    assert "Compared with Iteration 1" in card.locator(".cvb-card-title").inner_text()
    first_row = want.per_tag.iloc[0]
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0].strip() == str(first_row["tag"])
    assert cells[1:3] == [_pct(first_row["precision_this"]), _pct(first_row["precision_other"])]
    assert card.locator(".cvb-cmp-diff.is-better, .cvb-cmp-diff.is-worse").count() > 0
    recall = card.locator("[data-total=recall] b")
    assert recall.inner_text() == _pct(want.totals["this"]["recall"])
    page.wait_for_function(IMAGES_LOADED, arg=".cvb-perf-compare .cvb-cmp-plot")
    thumbs = card.locator(".cvb-cmp-fixed [data-image], .cvb-cmp-broken [data-image]")
    assert thumbs.count() == min(len(want.fixed), 24) + min(len(want.broken), 24)
    assert thumbs.first.get_attribute("data-image") in changed
    page.wait_for_function(IMAGES_LOADED, arg=".cvb-perf-compare .cvb-cmp-thumb img")

    # the picture for the docs: the header with both pickers, the numbers, the comparison
    # (Voila scrolls the page in a box of its own: a window tall enough to hold them)
    page.set_viewport_size({"width": 1280, "height": 2400})
    perf.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    top, bottom = perf.bounding_box(), card.bounding_box()
    page.screenshot(path=DOCS / "compare.png", clip={
        "x": top["x"], "y": top["y"], "width": top["width"],
        "height": bottom["y"] + bottom["height"] - top["y"] + 14})
    perf.screenshot(path=artifacts / "compare-performance.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    # -- a broken (or fixed) image opens large, with every iteration's predictions ----------
    thumb = thumbs.first
    name = thumb.locator(".cvb-cmp-name").inner_text()
    thumb.click()
    detail = perf.locator(".cvb-detail:not([hidden])")
    detail.wait_for(timeout=30_000)
    wait_until(lambda: detail.locator(".cvb-detail-title").inner_text() == name, timeout=30,
               what="the detail view of the image")
    assert detail.locator(".cvb-detail-it-head").count() == 2
    page.keyboard.press("Escape")
    detail.wait_for(state="hidden", timeout=10_000)

    # -- the comparison follows the threshold ----------------------------------------------------
    perf.locator(".cvb-range-threshold").fill("0.3")
    page.wait_for_function(
        "() => document.querySelector('.cvb-perf-compare .cvb-cmp-intro')"
        ".textContent.includes('threshold 30%')", timeout=30_000)
    wait_until(lambda: recall.inner_text() == _pct(want_low.totals["this"]["recall"]),
               timeout=10, what="the recall at threshold 0.3")

    # -- clearing the picker hides it -------------------------------------------------------------
    card.locator("[data-action=compare-close]").click()
    wait_until(lambda: not card.is_visible(), timeout=10, what="the comparison to go")
    assert picker.input_value() == ""
    assert_rendered(page)
    watch.assert_clean()


def test_with_one_iteration_the_picker_says_why_it_is_off(voila, open_page, notebooks,
                                                          browser_home, artifacts):
    path = browser_home / "compare-one"
    project = make_sample("digits", path, small=True)
    project.train("quick", progress_bar=False)
    project.close()
    page, watch, picker = _performance_tab(voila, open_page, notebooks, path, "compare-one")
    assert picker.is_disabled()
    why = page.locator(".cvb-performance .cvb-perf-cmpwhy").inner_text()
    assert why == "Train another iteration in the Train tab to compare it with this one"
    assert picker.get_attribute("title") == why
    page.locator(".cvb-performance .cvb-header").screenshot(path=artifacts / "compare-one.png")
    assert_rendered(page)
    watch.assert_clean()
