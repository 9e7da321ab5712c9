"""``cvbench app`` in a real Chromium, as a workshop participant uses it: a real
``cvbench app`` subprocess on a free port of 127.0.0.1 (stopped with Ctrl-C by the test), the
workbench's tabs driven with mouse and keyboard, and the teaching notebooks run in a real
JupyterLab. Screenshots go to test-artifacts/app-*.png; any console error or request to
another host fails the test.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cvb_browser import assert_rendered, keyed_tags, wait_until, watch_page

import cvbench
from cvbench.samples import get_sample, make_sample

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CVBENCH = str(Path(sys.executable).parent / "cvbench")
ALL_IMAGES_LOADED = """(sel) => {
  const imgs = [...document.querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
TRAIN_TIMEOUT_MS = 600_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    """A running ``cvbench app`` and what it printed."""

    proc: subprocess.Popen
    url: str
    started: float
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines)


@contextmanager
def cvbench_app(project: Path, *args: str, cwd: Path) -> Iterator[App]:
    """``cvbench app PROJECT --port N --no-browser ARGS``; Ctrl-C (SIGINT) when done, which
    must stop it with status 0."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [CVBENCH, "app", str(project), "--port", str(port), "--no-browser", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
    )
    app = App(proc, f"http://127.0.0.1:{port}/", started)
    reader = threading.Thread(target=lambda: app.lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        wait_until(lambda: "press Ctrl-C" in app.output() or proc.poll() is not None, 120,
                   what="cvbench app to print its URL")
        assert proc.poll() is None, f"cvbench app exited:\n{app.output()}"
        assert app.url in app.output()
        yield app
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"cvbench app did not stop on Ctrl-C:\n{app.output()}") from None
            reader.join(5)
            assert code == 0, f"cvbench app exited with {code} on Ctrl-C:\n{app.output()}"
            assert "cvbench: stopped" in app.output()


def open_app(browser, url: str):
    """A new tab on ``url`` that records console errors and requests to other hosts."""
    page = browser.new_page()
    watch = watch_page(page)
    page.goto(url, timeout=120_000)
    return page, watch


def assert_clean(watch) -> None:
    """No console error, no uncaught exception, and no request to another host at all
    (the app's template drops Voila's stylesheets from a CDN)."""
    watch.assert_clean()
    assert watch.external == [], f"the app asked other hosts for {watch.external}"


def shot(page, artifacts: Path, name: str, locator: str | None = None) -> Path:
    path = artifacts / f"app-{name}.png"
    if locator is None:
        page.screenshot(path=path)
    else:
        page.locator(locator).first.screenshot(path=path)
    return path


def tab(page, key: str) -> None:
    page.locator(f".cvb-wb-tab[data-tab={key}]").click()
    page.wait_for_selector(f".cvb-wb-tab.is-active[data-tab={key}]")


def tiles(page) -> dict[str, str]:
    """The performance tiles: label -> value text (e.g. {'Precision': '85.7%', …})."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '.cvb-perf-tiles .cvb-tile')].map((t) => [t.querySelector('.cvb-tile-label').textContent,
                                               t.querySelector('.cvb-tile-value').textContent]))""")


def intervals(page) -> dict[str, str]:
    """The intervals under the tiles: metric -> '71%–94%'."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '.cvb-perf-tiles [data-interval]')].map((e) => [e.dataset.interval, e.textContent]))""")


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100.0


# --------------------------------------------------------------------------- workbench


def test_workshop_classification_in_the_workbench(browser, artifacts, tmp_path):
    """Gallery, two images tagged with the keyboard, quick training, the threshold slider,
    a quick test and an ONNX export: what a participant does in the first hour."""
    path = tmp_path / "digits"
    project = make_sample("digits", path, small=True)
    # "0" … "9": each digit's key is the digit itself (keys 1-9, then 0 for the tenth tag)
    tags = [t.name for t in keyed_tags(project)]
    arrived = [i for i in project.images(order="oldest") if i.tags[0] != "9"][:2]
    truth = {i.id: i.tags[0] for i in arrived}
    project.untag_images(list(truth))
    project.close()

    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        # the workbench, painted: header, tabs and the gallery's thumbnails
        page.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        page.wait_for_selector(".cvb-gallery .cvb-cell img", timeout=120_000)
        page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-gallery .cvb-cell img")
        painted = time.perf_counter() - app.started
        assert_rendered(page)
        header = page.locator(".cvb-wb-stats").inner_text()
        assert "80" in header and "images" in header and "untagged" in header
        assert page.locator(".cvb-gallery .cvb-cell").count() == 60
        shot(page, artifacts, "workbench")
        print(f"cvbench app to the workbench painted: {painted:.1f} s")

        # Tag: the two untagged images, one key each, Enter moves on
        tab(page, "tag")
        page.wait_for_selector(".cvb-tagger .cvb-tagger-img", timeout=60_000)
        page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-tagger .cvb-tagger-img")
        assert "Image 1 of 2" in page.locator(".cvb-tagger .cvb-counter").inner_text()
        queue = [i.id for i in cvbench.open_project(path).images(untagged=True, order="oldest")]
        page.locator(".cvb-tagger .cvb-stage").click()
        for n, image_id in enumerate(queue):
            key = str((tags.index(truth[image_id]) + 1) % 10)
            page.keyboard.press(key)
            wait_until(lambda i=image_id: cvbench.open_project(path).image(i).tags == (truth[i],),
                       what=f"key {key} to tag image {n + 1}")
            if n == 0:
                shot(page, artifacts, "tagger", ".cvb-tagger")
            page.keyboard.press("Enter")
        assert cvbench.open_project(path).count_images(untagged=True) == 0

        # Train: a quick training, with its progress, until the iteration is listed
        tab(page, "train")
        page.locator("[data-action=train]").click()
        page.wait_for_selector(".cvb-run-bar", timeout=60_000)
        pct = page.locator(".cvb-run-pct")
        wait_until(lambda: pct.count() and pct.inner_text().strip() not in ("", "0%")
                   or page.locator(".cvb-iterations tbody tr").count(), 120,
                   what="training to make progress")
        shot(page, artifacts, "training")
        page.wait_for_selector(".cvb-iterations tbody tr", timeout=TRAIN_TIMEOUT_MS)
        assert len(cvbench.open_project(path).iterations) == 1
        shot(page, artifacts, "trained")

        # Performance: moving the threshold slider changes precision and recall
        tab(page, "performance")
        page.wait_for_selector(".cvb-perf-tiles", timeout=60_000)
        wait_until(lambda: "Precision" in tiles(page), what="the performance tiles")
        at_half = tiles(page)
        performance = cvbench.open_project(path).iteration().performance(threshold=0.5)
        shown = intervals(page)  # how sure each number is, next to it
        expected_iv = performance.intervals(resamples=200)
        assert set(shown) == {"precision", "recall", "map", "f1"}, shown
        assert shown["recall"] == (f"{100 * expected_iv['recall'].low:.0f}%–"
                                   f"{100 * expected_iv['recall'].high:.0f}%")
        assert percent(at_half["Precision"]) == pytest.approx(performance.precision, abs=0.001)
        assert percent(at_half["Recall"]) == pytest.approx(performance.recall, abs=0.001)
        slider = page.locator("[data-slider=threshold] input[type=range]")
        slider.fill("0.05")
        wait_until(lambda: tiles(page) != at_half, what="the tiles to follow the slider")
        low = tiles(page)
        expected = performance.at(0.05)
        assert percent(low["Recall"]) == pytest.approx(expected.recall, abs=0.001)
        assert percent(low["Precision"]) == pytest.approx(expected.precision, abs=0.001)
        assert percent(low["Recall"]) >= percent(at_half["Recall"])
        assert "5%" in page.locator("[data-slider=threshold] .cvb-slider-value").inner_text()
        shot(page, artifacts, "performance")

        # Quick test: an unseen digit from a file
        names = {i.original_name for i in cvbench.open_project(path).images()}
        unseen = next(it for it in get_sample("digits").items() if it.name not in names)
        image_file = tmp_path / unseen.name
        image_file.write_bytes(unseen.data)
        tab(page, "quick_test")
        page.wait_for_selector("[data-action=browse]", timeout=60_000)
        page.set_input_files(".cvb-fileinput", str(image_file))
        page.wait_for_selector(".cvb-qt-preds tbody tr", timeout=120_000)
        page.wait_for_selector(".cvb-qt-frame svg image[href^='data:']")
        first_row = page.locator(".cvb-qt-preds tbody tr").first.inner_text()
        assert any(name in first_row for name in tags) and "%" in first_row
        shot(page, artifacts, "quick-test")

        # Export: ONNX into a folder, checked against the app. A person types the folder and
        # clicks Export straight away: the input commits its value on blur, between mousedown
        # and click, and the click must still land (the form is not re-rendered under it).
        tab(page, "export")
        page.locator(".cvb-ex-format[data-format=onnx]").click()
        folder = page.locator(".cvb-ex-folder")
        folder.fill(str(tmp_path / "export"))
        page.locator("[data-action=export]").click()
        started = page.locator("[data-action=export][disabled]")
        wait_until(lambda: started.count() or (tmp_path / "export").exists(), 60,
                   what="the Export click to start the export")
        wait_until(lambda: (tmp_path / "export" / "model.onnx").exists(), 300,
                   what="model.onnx to be written")
        page.wait_for_selector(".cvb-ex-status.is-done", timeout=120_000)
        assert (tmp_path / "export" / "model.onnx.json").exists()
        report = page.locator(".cvb-ex-result").inner_text()
        assert "model.onnx" in report and "model.onnx.json" in report
        assert "Passed" in page.locator(".cvb-ex-result .cvb-badge").first.inner_text()
        shot(page, artifacts, "export")
        assert_clean(watch)
        page.close()


def test_draw_a_box_in_a_detection_workbench(browser, artifacts, tmp_path):
    path = tmp_path / "shapes"
    project = make_sample("shapes", path, small=True)
    for image in project.images():
        if image.original_name == "scene_000.jpg":
            first = image
    project.set_regions(first.id, [])
    project.close()

    def regions():
        return cvbench.open_project(path).image(first.id).regions

    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        tab(page, "tag")
        page.wait_for_selector(".cvb-boxeditor .cvb-be-img", timeout=60_000)
        page.wait_for_function(ALL_IMAGES_LOADED, arg=".cvb-boxeditor .cvb-be-img")
        shown = page.locator(".cvb-boxeditor .cvb-imgname").inner_text()
        if not shown.startswith(first.original_name):  # the queue starts elsewhere: go there
            page.locator(".cvb-boxeditor .cvb-be-img").click()
            for _ in range(40):
                if page.locator(".cvb-boxeditor .cvb-imgname").inner_text().startswith(
                        first.original_name):
                    break
                page.keyboard.press("n")
                time.sleep(0.3)
        assert page.locator(".cvb-boxeditor .cvb-imgname").inner_text().startswith(
            first.original_name)
        bb = page.locator(".cvb-boxeditor .cvb-be-img").bounding_box()
        x0, y0 = bb["x"] + 0.25 * bb["width"], bb["y"] + 0.30 * bb["height"]
        x1, y1 = bb["x"] + 0.60 * bb["width"], bb["y"] + 0.75 * bb["height"]
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()
        wait_until(lambda: len(regions()) == 1, what="the drawn box in the project")
        assert regions()[0].tag_name == "circle"  # the first tag is the current one
        page.keyboard.press("2")  # retags the selected box: the second tag, "square"
        wait_until(lambda: regions()[0].tag_name == "square", what="key 2 to retag the box")
        (region,) = regions()
        assert (region.left, region.top, region.width, region.height) == pytest.approx(
            (0.25, 0.30, 0.35, 0.45), abs=0.01)
        page.locator(".cvb-savestate.is-saved").wait_for()
        shot(page, artifacts, "box-editor")
        assert_clean(watch)
        page.close()


def test_a_large_upload_reaches_the_project(browser, artifacts, tmp_path):
    """A 14 MB image, more than tornado's default websocket message limit (10 MiB), is
    uploaded through the workbench: the app's voila.json raises the limit."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "big"
    cvbench.create_project(path, kind="multiclass",
                           limits={"max_image_bytes": 64 * 2**20}).close()
    big = tmp_path / "noise.png"
    noise = np.random.default_rng(0).integers(0, 256, (2200, 2200, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, compress_level=1)
    assert big.stat().st_size > 12 * 2**20
    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-uploader .cvb-drop", timeout=120_000)
        page.set_input_files(".cvb-uploader input[type=file]", str(big))
        page.wait_for_function(
            "() => document.querySelector('.cvb-staged').textContent.includes('1 file')",
            timeout=120_000)
        page.locator(".cvb-uploader [data-action=upload]").click()
        page.wait_for_selector(".cvb-uploader .cvb-table tbody tr[data-status=OK]",
                               timeout=120_000)
        with cvbench.open_project(path) as project:
            (image,) = project.images()
            assert image.path.stat().st_size == big.stat().st_size
        shot(page, artifacts, "large-upload", ".cvb-uploader")
        assert_clean(watch)
        page.close()


def test_the_workbench_follows_changes_made_by_another_process(browser, artifacts, tmp_path):
    """Tags changed by another process (a notebook, cvbench serve) show in the open page:
    the header's untagged count and the gallery's tag counts follow within seconds."""
    path = tmp_path / "faces"
    make_sample("faces", path, small=True).close()
    with cvbench_app(path, cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.wait_for_selector(".cvb-wb-stats", timeout=120_000)
        stats = page.locator(".cvb-wb-stats")
        assert "0\nuntagged" in stats.inner_text(), stats.inner_text()
        code = ("import sys, cvbench\n"
                "with cvbench.open_project(sys.argv[1]) as p:\n"
                "    p.untag_images([i.id for i in p.images(take=3)])\n")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
        wait_until(lambda: "3\nuntagged" in stats.inner_text(), 30,
                   what="the header to show the images untagged by the other process")
        shot(page, artifacts, "followed")
        assert_clean(watch)
        page.close()


def _kernels(pid: int) -> list:
    """The Jupyter kernels (ipykernel processes) under the process ``pid``."""
    import psutil

    alive = []
    for kid in psutil.Process(pid).children(recursive=True):
        try:  # a kernel just shut down may linger as a zombie for a moment: not a kernel
            if kid.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(kid.cmdline()):
                alive.append(kid)
        except psutil.Error:
            continue
    return alive


def test_a_workbench_kernel_goes_within_a_minute_of_its_page(browser, tmp_path):
    """A visit's kernel (0.6 GB or more) is shut down soon after its tab closes, so a
    classroom's visits do not add up; a page that stays open keeps its kernel."""
    path = tmp_path / "faces"
    make_sample("faces", path, small=True).close()
    with cvbench_app(path, cwd=tmp_path) as app:
        stays, _ = open_app(browser, app.url)
        stays.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        goes, _ = open_app(browser, app.url)
        goes.wait_for_selector(".cvb-wb-tabs", timeout=120_000)
        assert len(_kernels(app.proc.pid)) == 2
        goes.close()
        closed = time.monotonic()
        wait_until(lambda: len(_kernels(app.proc.pid)) == 1, 90,
                   what="the closed page's kernel to be shut down")
        print(f"kernel gone {time.monotonic() - closed:.0f} s after its page closed")
        time.sleep(15)  # longer than a cull interval: the open page keeps its kernel
        assert len(_kernels(app.proc.pid)) == 1
        assert stays.locator(".cvb-wb-tabs").is_visible()
        stays.close()


# --------------------------------------------------------------------------- quick-test page


def test_quicktest_without_an_iteration_says_so(tmp_path):
    """The public page needs a trained iteration: without one, ``cvbench app`` says so in
    one line and exits."""
    path = tmp_path / "faces"
    make_sample("faces", path, small=True).close()
    proc = subprocess.run([CVBENCH, "app", str(path), "--app", "quicktest", "--no-browser"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "has no trained iteration yet" in out
    assert "Traceback" not in out


def test_quicktest_page_refuses_server_paths_then_predicts(browser, artifacts, tmp_path):
    """The page anyone is given: a server path, a file:// URL and a loopback URL (one that
    answers, serving an image) get the same neutral message; an upload shows the
    predictions; a file that is not an image is refused in one line; requests that would
    change the project answer 404/405 and change nothing."""
    path = tmp_path / "faces"
    with make_sample("faces", path, small=True) as project:
        project.train("quick", size=112, progress_bar=False).publish("production")
        face = next(i for i in project.images() if i.tags == ("face",))
        count = project.count_images()
    with cvbench_app(path, "--app", "quicktest", cwd=tmp_path) as app:
        page, watch = open_app(browser, app.url)
        page.get_by_text("published as “production”").wait_for(timeout=60_000)
        loopback = f"{app.url}api/info"  # answers, on this very machine
        messages = []
        for url in (str(face.path), f"file://{face.path}", loopback):
            page.fill("#url", url)
            page.keyboard.press("Enter")
            page.wait_for_selector("#message.error", timeout=60_000)
            messages.append(page.locator("#message").inner_text())
            page.evaluate("document.getElementById('message').className = ''")
        assert len(set(messages)) == 1 and "public internet" in messages[0], messages
        assert not page.locator("#result").is_visible()
        shot(page, artifacts, "quicktest-refused")

        page.set_input_files("#file", str(face.path))
        page.wait_for_selector("#message.success", timeout=60_000)
        page.wait_for_function(ALL_IMAGES_LOADED, arg="#picture")
        assert "face" in page.locator("#table").inner_text()
        assert_rendered(page)
        shot(page, artifacts, "quicktest-page")
        # the slider greys the rows below it: none at 0, the unlikely tag at 100 %
        page.locator("#threshold").fill("0")
        assert page.locator("#table tr.below").count() == 0
        page.locator("#threshold").fill("1")
        assert page.locator("#table tr.below").count() >= 1

        junk = tmp_path / "notes.png"
        junk.write_bytes(b"this is not a picture")
        page.set_input_files("#file", str(junk))
        page.wait_for_selector("#message.error", timeout=60_000)
        error = page.locator("#message").inner_text()
        assert "Traceback" not in error and len(error.splitlines()) == 1
        assert not page.locator("#result").is_visible()  # no stale result
        statuses = page.evaluate("""async () => {
          const out = [];
          for (const [method, url] of [["POST", "api/tags"], ["DELETE", "api/predict"],
                                       ["POST", "api/train"], ["PUT", "api/images"]]) {
            out.push((await fetch(url, {method})).status);
          }
          return out;
        }""")
        assert set(statuses) <= {404, 405}, statuses
        # refusals are answered 4xx on purpose; Chromium logs those, and nothing else may be
        watch.errors = [e for e in watch.errors if not re.search(
            r"Failed to load resource: the server responded with a status of 4\d\d", e)]
        assert_clean(watch)
        page.close()
    with cvbench.open_project(path) as project:
        assert project.count_images() == count and len(project.stored_predictions()) == 0


# --------------------------------------------------------------------------- JupyterLab


LAB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def code_prompts(page) -> list[str]:
    return [p.strip() for p in page.locator(f"{LAB} .jp-CodeCell .jp-InputPrompt").all_inner_texts()]


def render_every_cell(lab) -> None:
    """Turn JupyterLab's notebook windowing off (user setting of this server's own settings
    folder), so that every cell is in the page: a lesson is longer than the window."""
    settings = lab.log.parent / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))


def run_lesson(page, lab, name: str, timeout: float) -> None:
    """Run All Cells from JupyterLab's menu once the notebook's kernel is idle (on the server
    and in the page), again if no cell started (a request sent while the page still
    connects is lost), then wait until every code cell has run. Works for notebooks that
    open with a markdown cell; answers JupyterLab's "Select Kernel" dialog if it shows."""
    page.locator(f"{LAB} .jp-Cell").first.wait_for(timeout=120_000)

    def kernel_idle() -> bool:
        with urllib.request.urlopen(lab.url("api/sessions"), timeout=5) as resp:  # noqa: S310
            sessions = json.load(resp)
        return any(s.get("path", "").endswith(name)
                   and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions)

    wait_until(kernel_idle, 120, what=f"the kernel of {name}")
    idle = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                        ".jp-Notebook-ExecutionIndicator[data-status=idle]")
    select = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    for _attempt in range(6):
        idle.wait_for(timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            wait_until(lambda: select.count() or code_prompts(page) and all(
                p not in ("[ ]:", "") for p in code_prompts(page)), 10, what="the cells to start")
        except AssertionError:
            continue
        if select.count():  # "Select Kernel": take the notebook's own (python3)
            select.click()
            continue
        break
    wait_until(lambda: all(re.fullmatch(r"\[\d+\]:", p) for p in code_prompts(page)), timeout,
               what=f"every code cell of {name} to run")


#: The widgets each lesson shows (the first one is where its screenshot is taken).
LAB_NOTEBOOKS = {
    "01_quickstart_classifier.ipynb": (".cvb-gallery .cvb-cell img", ".cvb-tagger",
                                       ".cvb-performance .cvb-perf-tiles", ".cvb-quicktest"),
    "02_object_detector.ipynb": (".cvb-boxeditor .cvb-be-img", ".cvb-performance .cvb-perf-tiles"),
    "03_evaluate_and_improve.ipynb": (".cvb-gallery .cvb-cell img", ".cvb-predictions"),
}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n.startswith("01") else [pytest.mark.slow])
    for n in LAB_NOTEBOOKS
])
def test_teaching_notebook_widgets_render_in_jupyterlab(name, lab, open_page, notebooks,
                                                         artifacts):
    shutil.copy(ROOT / "notebooks" / name, notebooks / name)
    render_every_cell(lab)
    page, watch = open_page(lab.url(f"lab/tree/{name}"))
    try:
        run_lesson(page, lab, name, TRAIN_TIMEOUT_MS / 1000)
        for selector in LAB_NOTEBOOKS[name]:
            page.wait_for_selector(selector, timeout=60_000)
    except Exception:
        page.screenshot(path=artifacts / f"app-lab-failure-{name[:2]}.png")
        raise
    wait_until(lambda: page.get_by_text("Loading widget...").count() == 0, 60,
               what="the widgets to load")
    assert_rendered(page)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t]
    assert not tracebacks, tracebacks
    for n, selector in enumerate(LAB_NOTEBOOKS[name]):  # one screenshot per widget
        page.locator(selector).first.scroll_into_view_if_needed()
        shot(page, artifacts, f"lab-{name[:2]}" + (f"-{n}" if n else ""))
    watch.assert_clean()
