"""How fast the Gallery is on a 5,000-image project, in a real Voila app and a real Chromium.

    .venv/bin/python benchmarks/bench_ui.py [--images 5000] [--runs 3] [--clicks 10]

Measures, and prints:

* Python side: building ``Gallery(project)`` (counts + the first page of 60 thumbnails) and
  turning a page, in this process.
* Voila, first page painted: from navigation start (``performance.now()`` = 0) to the moment
  all 60 thumbnails of the first page are decoded (checked on every animation frame). A
  Voila page that shows only an ``ipywidgets.Label`` is measured the same way as the
  baseline: the difference is what the Gallery costs on top of starting a kernel.
* Next page painted: from the click on "Next" to all thumbnails of page 2 decoded.
* Tag click: from the click on a tag button (a capturing listener records
  ``performance.now()``) to the tag bar showing the new count, in the page; and from just
  before the click to the new tag row being visible in the project's SQLite (polled every
  2 ms from this process).

The project is built fast: one tiny image per tag, with one pixel changed per copy, so that
every image has its own bytes. Voila and Chromium start as in tests/browser (see
tests/browser/cvb_browser.py): 127.0.0.1, free ports, stopped at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from cvb_browser import (  # noqa: E402
    launch_chromium,
    start_voila,
    stop_server,
    watch_page,
    write_notebook,
)

import cvbench  # noqa: E402
from cvbench.ui import Gallery  # noqa: E402

TAGS = ("bolt", "gear", "nut", "spring", "washer")
COLORS = ((0, 120, 212), (216, 59, 1), (16, 124, 16), (135, 100, 184), (0, 133, 117))

ALL_DECODED_SINCE = """([selector, n, since]) => {
  const imgs = [...document.querySelectorAll(selector)];
  if (imgs.length < n || !imgs.every((i) => i.complete && i.naturalWidth > 0)) return false;
  return performance.now() - since;
}"""


def build_project(path: Path, n: int) -> cvbench.Project:
    project = cvbench.create_project(path, kind="multiclass")
    per_tag = n // len(TAGS)
    for tag, color in zip(TAGS, COLORS, strict=True):
        base = Image.new("RGB", (48, 48), color)
        sources = []
        for i in range(per_tag):
            img = base.copy()
            img.putpixel((i % 48, (i // 48) % 48), (255, 255, (i // 2304) % 256))
            buf = io.BytesIO()
            img.save(buf, "PNG")
            sources.append(buf.getvalue())
        results = project.add_images(sources, tags=[tag],
                                     names=[f"{tag}_{i:04d}.png" for i in range(per_tag)])
        bad = [r for r in results if r.status != "OK"]
        if bad:
            raise RuntimeError(f"building the project failed: {bad[:3]}")
        print(f"  {tag}: {per_tag} images", flush=True)
    return project


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def summary(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return f"median {statistics.median(values):.0f} ms, min {values[0]:.0f}, p90 {p90:.0f} (n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3, help="page loads to time")
    parser.add_argument("--clicks", type=int, default=10, help="tag clicks to time")
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cvbench-bench-ui-"))
    try:
        return run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, Chromium /usr/bin/chromium (headless)")
    t = time.perf_counter()
    print(f"building a {args.images}-image project in {work} …", flush=True)
    project = build_project(work / "project", args.images)
    print(f"  built in {time.perf_counter() - t:.1f} s")

    # -- Python side ------------------------------------------------------------------------
    build = []
    for _ in range(5):
        t = time.perf_counter()
        g = Gallery(project)
        build.append(time.perf_counter() - t)
    turn = []
    for page in (1, 2, 3, 4, 5):
        t = time.perf_counter()
        g.page = page
        turn.append(time.perf_counter() - t)
    payload = sum(len(src) for src in g.thumbnails.values())
    print(f"Gallery(project) in Python: {summary([b * 1000 for b in build])}")
    print(f"turning a page in Python:   {summary([x * 1000 for x in turn])}; "
          f"page payload {payload / 1024:.0f} KiB of data URLs")

    # -- Voila + Chromium --------------------------------------------------------------------
    notebooks = work / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "gallery.ipynb",
                   "import cvbench\nfrom cvbench.ui import Gallery\n"
                   f"Gallery(cvbench.open_project({str(work / 'project')!r}))")
    write_notebook(notebooks / "baseline.ipynb",
                   "import ipywidgets\nipywidgets.Label('ready', _dom_classes=['bench-ready'])")
    server = start_voila(notebooks, work / "voila-home")
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            context = launch_chromium(pw, work / "chromium-profile")
            try:
                baseline, first = [], []
                for _ in range(args.runs):
                    page = context.new_page()
                    watch_page(page)
                    page.goto(server.url("voila/render/baseline.ipynb"))
                    baseline.append(page.wait_for_function(
                        "() => document.querySelector('.bench-ready') ? performance.now() : false",
                        polling="raf", timeout=120_000).json_value())
                    page.close()
                    page = context.new_page()
                    watch = watch_page(page)
                    page.goto(server.url("voila/render/gallery.ipynb"))
                    first.append(page.wait_for_function(
                        ALL_DECODED_SINCE, arg=[".cvb-gallery .cvb-cell img", 60, 0],
                        polling="raf", timeout=120_000).json_value())
                    watch.assert_clean()
                    if len(first) < args.runs:
                        page.close()
                print(f"Voila, Label shown (baseline):      {summary(baseline)}")
                print(f"Voila, Gallery first page painted:  {summary(first)}")

                # next page
                turns = []
                for _ in range(3):
                    since = page.evaluate("() => performance.now()")
                    page.locator("[data-action=next-page]").click()
                    page.wait_for_function(
                        "(p) => document.querySelector('.cvb-pageinfo').textContent.startsWith(`Page ${p}`)",
                        arg=len(turns) + 2, polling="raf")
                    turns.append(page.wait_for_function(
                        ALL_DECODED_SINCE, arg=[".cvb-gallery .cvb-cell img", 60, since],
                        polling="raf").json_value())
                print(f"next page painted (click → thumbnails decoded): {summary(turns)}")
                page.locator("[data-action=prev-page]").click()
                page.locator("[data-action=prev-page]").click()
                page.locator("[data-action=prev-page]").click()
                page.wait_for_function(
                    "() => document.querySelector('.cvb-pageinfo').textContent.startsWith('Page 1 ')")

                # tag clicks: tag the newest images (tagged 'washer') as 'bolt'
                page.evaluate("""() => {
                  document.addEventListener('click', (e) => {
                    if (e.target.closest('[data-tag-action]')) window.__cvbClick = performance.now();
                  }, true);
                }""")
                reader = cvbench.open_project(work / "project")
                bolt = reader.get_tag("bolt")
                start = reader.count_images(tag="bolt")
                shown, stored = [], []
                cells = page.locator(".cvb-gallery .cvb-cell")
                for i in range(args.clicks):
                    cells.nth(i).click()
                    button = page.locator(f".cvb-actionbar [data-tag-action='{bolt.id}']")
                    button.wait_for()
                    expected = start + i + 1
                    t0 = time.perf_counter()
                    button.click()
                    while reader.count_images(tag="bolt") != expected:
                        if time.perf_counter() - t0 > 30:
                            raise RuntimeError("the tag never reached the store")
                        time.sleep(0.002)
                    stored.append((time.perf_counter() - t0) * 1000)
                    shown.append(page.wait_for_function(
                        """([id, text]) => {
                          const el = document.querySelector(`.cvb-tagbar [data-tag='${id}'] .cvb-count`);
                          return el && el.textContent === text ? performance.now() - window.__cvbClick : false;
                        }""",
                        arg=[bolt.id, f"{expected:,}"], polling="raf", timeout=30_000).json_value())
                print(f"tag click → row in the store:  {summary(stored)}")
                print(f"tag click → new count shown:   {summary(shown)}")
                watch.assert_clean()
            finally:
                context.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
