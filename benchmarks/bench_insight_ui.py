"""How fast the Insight widget draws an embedding map of 10,000 points, in a real Voila app and
a real Chromium.

    .venv/bin/python benchmarks/bench_insight_ui.py [--points 10000] [--runs 3]

The project is built fast (tiny images, one pixel changed per copy, as benchmarks/bench_ui.py
builds it) and its map is made of clustered coordinates given to ``Insight.show_map`` (the
features behind a real map are :mod:`benchmarks.bench_insight`'s to time): what is measured
here is the widget, the arrays' trip to the browser and the canvas. Measures, and prints:

* Python side: ``show_map`` (the compact arrays: float32 coordinates, a uint16 tag index per
  point) and the bytes sent.
* Voila, map painted: from navigation start to the end of the first paint of every point
  (``data-painted-at``); the same page with an Insight widget and no map is the baseline.
* The paint itself (``data-paint-ms``): drawing every point on the canvas.
* A lasso around every point: from the mouse button's release to the count shown.
* Hover: from the pointer reaching a point to its thumbnail shown (a round trip to Python).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ui import build_project, summary  # noqa: E402
from cvb_browser import launch_chromium, start_voila, stop_server, watch_page, write_notebook  # noqa: E402

import cvbench  # noqa: E402
from cvbench.insight import EmbeddingMap  # noqa: E402
from cvbench.ui import Insight  # noqa: E402

PAINTED = """() => { const r = document.querySelector('.cvb-insight');
  return r && r.dataset.paintedAt ? Number(r.dataset.paintedAt) : false; }"""


def clustered_map(project: cvbench.Project, seed: int = 0) -> EmbeddingMap:
    """A map of every image: one cluster per tag, as a map of distinct tags looks."""
    images = project.images(order="oldest")
    tags = sorted({i.tags[0] for i in images})
    rng = np.random.default_rng(seed)
    centres = {t: rng.uniform(0.2, 0.8, 2) for t in tags}
    xy = np.array([centres[i.tags[0]] + rng.normal(0, 0.07, 2) for i in images]).clip(0, 1)
    frame = pd.DataFrame({"image_id": [i.id for i in images], "x": xy[:, 0], "y": xy[:, 1],
                          "tag": [i.tags[0] for i in images], "tags": [i.tags for i in images],
                          "split": [i.split for i in images],
                          "correct": pd.Series([None] * len(images), dtype=object)})
    return EmbeddingMap(method="pca", color_by="tag", frame=frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="page loads to time")
    parser.add_argument("--keep", action="store_true", help="keep the project folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cvbench-bench-insight-ui-"))
    try:
        return run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, Chromium /usr/bin/chromium (headless)")
    t = time.perf_counter()
    print(f"building a {args.points}-image project in {work} …", flush=True)
    project = build_project(work / "project", args.points)
    print(f"  built in {time.perf_counter() - t:.1f} s")
    emap = clustered_map(project)
    widget = Insight(project)
    shows = []
    for _ in range(5):
        t = time.perf_counter()
        widget.show_map(emap)
        shows.append((time.perf_counter() - t) * 1000)
    sent = len(widget.map_xy) + len(widget.map_tag) + len(widget.map_outcome)
    print(f"show_map in Python: {summary(shows)}; {sent / 1024:.0f} KiB of arrays for "
          f"{widget.map_info['n']} points")

    notebooks = work / "notebooks"
    notebooks.mkdir()
    setup = ("import sys, cvbench\n"
             f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
             f"sys.path.insert(0, {str(ROOT / 'tests' / 'browser')!r})\n"
             "from bench_insight_ui import clustered_map\nfrom cvbench.ui import Insight\n"
             f"project = cvbench.open_project({str(work / 'project')!r})\n"
             "w = Insight(project)\n")
    write_notebook(notebooks / "map.ipynb", setup + "w.show_map(clustered_map(project))\nw")
    write_notebook(notebooks / "baseline.ipynb", setup + "w")
    server = start_voila(notebooks, work / "voila-home")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            context = launch_chromium(pw, work / "chromium-profile")
            try:
                baseline, painted, paint = [], [], []
                for _ in range(args.runs):
                    page = context.new_page()
                    watch_page(page)
                    page.goto(server.url("voila/render/baseline.ipynb"))
                    baseline.append(page.wait_for_function(
                        "() => document.querySelector('.cvb-insight [data-action=map]') ? "
                        "performance.now() : false", polling="raf", timeout=180_000).json_value())
                    page.close()
                    page = context.new_page()
                    watch = watch_page(page)
                    page.goto(server.url("voila/render/map.ipynb"))
                    painted.append(page.wait_for_function(PAINTED, polling="raf",
                                                          timeout=180_000).json_value())
                    root = page.locator(".cvb-insight")
                    assert int(root.get_attribute("data-points")) == args.points
                    paint.append(float(root.get_attribute("data-paint-ms")))
                    watch.assert_clean()
                    if len(painted) < args.runs:
                        page.close()
                print(f"Voila, Insight without a map shown (baseline): {summary(baseline)}")
                print(f"Voila, map of {args.points} points painted:      {summary(painted)}")
                print(f"the paint itself (every point on the canvas):  {summary(paint)}")

                overlay = page.locator(".cvb-insight .cvb-ins-overlay")
                overlay.evaluate("(e) => e.scrollIntoView({block: 'center'})")
                box = overlay.bounding_box()
                lassos = []
                for _ in range(3):
                    clear = page.locator(".cvb-insight [data-action=clear-selection]")
                    if clear.count():
                        clear.click()
                    corners = [(0.01, 0.01), (0.99, 0.01), (0.99, 0.99), (0.01, 0.99)]
                    page.mouse.move(box["x"] + 2, box["y"] + 2)
                    page.mouse.down()
                    for fx, fy in corners[1:]:
                        page.mouse.move(box["x"] + fx * box["width"],
                                        box["y"] + fy * box["height"], steps=6)
                    since = page.evaluate("() => performance.now()")
                    page.mouse.up()
                    lassos.append(page.wait_for_function(
                        "(since) => { const c = document.querySelector('.cvb-ins-selcount');"
                        " return c && Number(c.dataset.count) > 0 ? performance.now() - since"
                        " : false; }", arg=since, polling="raf").json_value())
                    got = int(page.locator(".cvb-ins-selcount").get_attribute("data-count"))
                    if got != args.points:
                        raise RuntimeError(f"the lasso selected {got} of {args.points} points")
                print(f"lasso around every point → count shown:        {summary(lassos)}")
                page.locator(".cvb-insight [data-action=clear-selection]").click()

                hovers = []
                xs = page.evaluate("""() => { const r = document.querySelector('.cvb-ins-overlay')
                  .getBoundingClientRect(); return [r.width, r.height]; }""")
                for k in range(40):
                    if len(hovers) >= 8:
                        break
                    page.mouse.move(box["x"] + 5, box["y"] + 5)
                    page.wait_for_timeout(50)
                    fx, fy = 0.25 + 0.5 * ((k * 7) % 40) / 40, 0.25 + 0.5 * ((k * 11) % 40) / 40
                    since = page.evaluate("() => performance.now()")
                    page.mouse.move(box["x"] + fx * xs[0], box["y"] + fy * xs[1])
                    try:
                        hovers.append(page.wait_for_function(
                            "(since) => { const t = document.querySelector("
                            "'.cvb-ins-tip.is-visible img'); return t && t.complete ? "
                            "performance.now() - since : false; }", arg=since, polling="raf",
                            timeout=2000).json_value())
                    except PlaywrightTimeout:  # no point under the pointer there
                        continue
                print(f"hover → thumbnail shown (round trip):          {summary(hovers)}")
                watch.assert_clean()
            finally:
                context.close()
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
