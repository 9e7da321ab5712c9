"""The Insight tab of the Workbench in a real Voila app, in a real Chromium: check the data of
a small project with a duplicate added, keep one image of the duplicates (the project has
one image less), accept a suggested tag (the image is retagged), lasso points on the map
(mouse down, moves, up over the canvas) and compare two iterations. The screenshot
docs/insight.png is taken here; any console error fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from cvb_browser import assert_rendered, wait_until, write_notebook
from PIL import Image

import cvbench
from cvbench.samples import make_sample

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _count(path: Path) -> int:
    with cvbench.open_project(path) as p:
        return p.count_images()


def _tags(path: Path, image_id: str) -> tuple[str, ...]:
    with cvbench.open_project(path) as p:
        return p.image(image_id).tags


def test_insight_checks_keeps_accepts_lassos_and_compares(voila, open_page, notebooks,
                                                           browser_home, artifacts):
    path = browser_home / "insight-digits"
    project = make_sample("digits", path, small=True)
    project.train("quick", progress_bar=False)
    project.train("quick", progress_bar=False, settings={"C": 0.001, "calibrate": False})
    original = project.images(order="oldest")[0]
    big = Image.open(original.path).convert("RGB").resize((96, 96), Image.Resampling.BICUBIC)
    (copy,) = project.add_images([big], tags=original.tags[0], names=["copy.png"])
    project.close()
    write_notebook(
        notebooks / "insight.ipynb",
        "import cvbench\nfrom cvbench.ui import Workbench\n"
        f"Workbench(cvbench.open_project({str(path)!r}))",
    )
    page, watch = open_page(voila.url("voila/render/insight.ipynb"))
    page.wait_for_selector(".cvb-wbhead [data-tab=insight]", timeout=120_000)
    page.locator(".cvb-wbhead [data-tab=insight]").click()
    page.wait_for_selector(".cvb-wbhead [data-tab=insight].is-active")
    ins = page.locator(".cvb-insight")
    ins.locator("[data-action=check]").wait_for(timeout=60_000)
    assert_rendered(page)

    # -- health: check, keep one of the duplicates, accept a suggested tag -----------------
    ins.locator("[data-action=check]").click()
    ins.locator("[data-tile=duplicates]").wait_for(timeout=120_000)
    group = ins.locator(".cvb-ins-group", has=page.locator(f"[data-image='{copy.image_id}']"))
    group.wait_for()
    assert group.locator(f"[data-image='{original.id}']").count() == 1
    page.wait_for_function("""() => [...document.querySelectorAll('.cvb-insight img')]
        .every((i) => i.complete && i.naturalWidth > 0)""")
    ins.screenshot(path=artifacts / "insight-health.png")
    before = _count(path)
    group.locator(f"[data-image='{original.id}'] [data-action=keep]").click()
    assert "Delete the other image?" in group.inner_text()
    group.locator("[data-action=confirm-keep]").click()
    wait_until(lambda: _count(path) == before - 1, timeout=30, what="the duplicate to go")
    with cvbench.open_project(path) as p:
        assert copy.image_id not in {i.id for i in p.images()}
    group.wait_for(state="detached", timeout=30_000)

    row = ins.locator(".cvb-ins-mis").first
    row.wait_for()
    image_id = row.get_attribute("data-image")
    suggested = row.locator(".cvb-ins-mis-tags .cvb-chip").last.inner_text().strip()
    assert _tags(path, image_id) != (suggested,)
    row.locator("[data-action=accept]").click()
    wait_until(lambda: _tags(path, image_id) == (suggested,), timeout=30,
               what="the suggested tag to be given")
    ins.locator(f".cvb-ins-mis[data-image='{image_id}']").wait_for(state="detached")

    # -- the map: make it, lasso a corner of it ------------------------------------------------
    ins.locator("[data-action=map]").click()
    page.wait_for_function(
        "() => Number(document.querySelector('.cvb-insight').dataset.points) > 0", timeout=120_000)
    assert int(ins.get_attribute("data-points")) == before - 1
    overlay = ins.locator(".cvb-ins-overlay")
    overlay.evaluate("(e) => e.scrollIntoView({block: 'center'})")
    box = overlay.bounding_box()
    # a lasso around the whole drawing area: every point lies inside it
    corners = [(0.03, 0.03), (0.97, 0.03), (0.97, 0.97), (0.03, 0.97), (0.03, 0.05)]
    page.mouse.move(box["x"] + corners[0][0] * box["width"], box["y"] + corners[0][1] * box["height"])
    page.mouse.down()
    for fx, fy in corners[1:]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=8)
    page.mouse.up()
    count = ins.locator(".cvb-ins-selcount")
    wait_until(lambda: int(count.get_attribute("data-count") or 0) > 0, timeout=10,
               what="a selection")
    assert int(count.get_attribute("data-count")) == before - 1
    # hovering a point shows its thumbnail and name
    tip = ins.locator(".cvb-ins-tip.is-visible")
    for k in range(60):
        fx, fy = 0.2 + 0.6 * ((k * 7) % 60) / 60, 0.2 + 0.6 * ((k * 13) % 60) / 60
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(120)
        if tip.count():
            break
    tip.locator("img").wait_for(timeout=10_000)
    assert tip.locator(".cvb-ins-tipname").inner_text().endswith(".png")
    ins.locator("[data-action=clear-selection]").click()
    wait_until(lambda: count.get_attribute("data-count") == "0", timeout=10, what="no selection")
    ins.locator(".cvb-ins-map").screenshot(path=artifacts / "insight-map.png")

    # -- compare the two iterations ------------------------------------------------------------
    ins.locator("[data-action=compare]").click()
    ins.locator(".cvb-cmp-table tbody tr").first.wait_for(timeout=60_000)
    assert ins.locator(".cvb-cmp-table tbody tr").count() == 10
    page.wait_for_function("() => { const i = document.querySelector('.cvb-cmp-plot');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert ins.locator(".cvb-cmp-diff.is-better, .cvb-cmp-diff.is-worse").count() > 0
    ins.locator(".cvb-ins-compare").screenshot(path=artifacts / "insight-compare.png")
    # the whole tab at once: Voila scrolls the page in a box of its own, so a tall window
    page.set_viewport_size({"width": 1280, "height": 3200})
    ins.evaluate("(e) => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    box = overlay.bounding_box()  # a lasso around the lower left of the map, for the picture
    page.mouse.move(box["x"] + 0.05 * box["width"], box["y"] + 0.4 * box["height"])
    page.mouse.down()
    for fx, fy in [(0.45, 0.6), (0.5, 0.97), (0.05, 0.97), (0.05, 0.42)]:
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=6)
    page.mouse.up()
    page.wait_for_timeout(300)
    ins.screenshot(path=DOCS / "insight.png")
    assert_rendered(page)
    watch.assert_clean()
