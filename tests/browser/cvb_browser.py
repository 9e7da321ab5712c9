"""Servers, notebooks and page checks shared by the browser tests and benchmarks/bench_ui.py.

Voila and JupyterLab run as subprocesses of this Python (its virtualenv's ``bin`` first on
PATH, so their kernels import this cvbench), bound to 127.0.0.1 on free ports, with their
config, runtime and settings folders in a given folder; :func:`stop_server` stops the whole
process group (kernels included). Chromium is Debian's ``/usr/bin/chromium`` driven by
Playwright for Python with a fresh user data folder (never ``playwright install``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The only requests to other hosts a page may make: Voila's template asks for Font Awesome.
ALLOWED_EXTERNAL = re.compile(r"^https://cdn\.jsdelivr\.net/npm/@fortawesome/")
#: Every request to a host other than 127.0.0.1 (the machine is offline).
EXTERNAL = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for key, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("IPYTHONDIR", "ipython")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[key] = str(home / sub)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("JUPYTER_PLATFORM_DIRS", None)
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    base: str
    log: Path
    token: str = ""

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}" + (f"{sep}token={self.token}" if self.token else "")

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def start_server(name: str, args: list[str], home: Path, port: int, probe: str,
                 token: str = "") -> Server:
    log = home / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=home, env=server_env(home), stdout=log.open("wb"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    server = Server(name, proc, f"http://127.0.0.1:{port}", log, token)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(server.url(probe), timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"{name} did not answer on port {port} in 90 s:\n{server.tail()}")
        time.sleep(0.3)


def stop_server(server: Server) -> None:
    """Stop the server and its kernels (the process group it leads)."""
    if server.proc.poll() is None:
        try:
            os.killpg(server.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(5)
    try:  # kernels left in the group after the server went
        os.killpg(server.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def write_notebook(path: Path, *cells: str) -> Path:
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {},
             "outputs": [], "source": code}
            for i, code in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


@dataclass
class Watch:
    """What a page said: console errors, uncaught exceptions, requests to other hosts."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, "errors in the page:\n" + "\n".join(self.errors)
        bad = [u for u in self.external if not ALLOWED_EXTERNAL.match(u)]
        assert not bad, f"the page asked other hosts for {bad}"


def start_voila(notebooks: Path, home: Path) -> Server:
    """Voila serving the folder ``notebooks`` (pages at /voila/render/NAME.ipynb)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    return start_server(
        "voila",
        ["voila", str(notebooks), "--port", str(port), "--no-browser", "--Voila.ip=127.0.0.1",
         "--show_tracebacks=True"],
        home, port, "/",
    )


#: What a saved notebook keeps of its widgets: their text (cvbench.ui.clear_widget_state).
LAB_PRE_SAVE_HOOK = "--ContentsManager.pre_save_hook=cvbench.ui.clear_widget_state"


def start_lab(notebooks: Path, home: Path) -> Server:
    """JupyterLab on the folder ``notebooks``, with a random token and its own settings, and
    the pre-save hook that saves no widget model (:data:`LAB_PRE_SAVE_HOOK`)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    token = os.urandom(12).hex()
    # no "Would you like to get notified about official Jupyter news?" toast
    notification = home / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return start_server(
        "jupyterlab",
        ["jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
         "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
         f"--LabApp.user_settings_dir={home / 'settings'}",
         f"--LabApp.workspaces_dir={home / 'workspaces'}",
         LAB_PRE_SAVE_HOOK,
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        home, port, "/api/status", token=token,
    )


def launch_chromium(playwright, profile: Path):
    """A persistent Chromium context with a fresh profile folder (1280x900 viewport)."""
    return playwright.chromium.launch_persistent_context(
        user_data_dir=str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
        headless=True, viewport={"width": 1280, "height": 900}, device_scale_factor=1,
    )


def watch_page(page) -> Watch:
    """Record the page's console errors and exceptions; answer other hosts with nothing."""
    watch = Watch()
    page.on("console", lambda m: watch.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))

    def route(r):
        watch.external.append(r.request.url)
        r.fulfill(status=200, body="", content_type="text/css")

    page.route(EXTERNAL, route)
    return watch


def wait_until(check: Callable[[], object], timeout: float = 20.0, what: str = "condition"):
    """Poll ``check()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


#: The notebook panel on show in JupyterLab (others may be open in hidden tabs).
LAB_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def lab_tree_url(server: Server, notebook: str) -> str:
    """The URL that opens ``notebook`` in a fresh JupyterLab workspace (no tabs left open
    by other tests)."""
    return server.url(f"lab/workspaces/t{os.urandom(6).hex()}/tree/{notebook}?reset")


def run_all_cells(page, server: Server, notebook: str, timeout: float = 90.0) -> None:
    """Run every cell through JupyterLab's menu (Run > Run All Cells).

    Waits for the notebook's kernel to be idle on the server and in the page first, and
    asks again if no cell started (a request sent while the page still connects is lost).
    """
    page.locator(f"{LAB_NOTEBOOK} .jp-Cell .cm-content").first.wait_for(timeout=timeout * 1000)

    def kernel_idle() -> bool:
        with urllib.request.urlopen(server.url("api/sessions"), timeout=5) as resp:  # noqa: S310
            sessions = json.load(resp)
        return any(s.get("path", "").endswith(notebook)
                   and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions)

    wait_until(kernel_idle, timeout, what=f"the kernel of {notebook}")
    deadline = time.monotonic() + timeout
    while True:
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status=idle]").wait_for(
            timeout=timeout * 1000
        )
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        started = time.monotonic()
        while time.monotonic() - started < 10:
            prompts = page.locator(f"{LAB_NOTEBOOK} .jp-InputPrompt").all_inner_texts()
            if prompts and all(p.strip() not in ("[ ]:", "") for p in prompts):
                return
            time.sleep(0.2)
        if time.monotonic() > deadline:
            raise AssertionError(f"the cells of {notebook} did not start: prompts {prompts}")


def assert_rendered(page) -> None:
    """No widget error and no widget still loading."""
    assert page.get_by_text("Error displaying widget").count() == 0
    assert page.get_by_text("Loading widget...").count() == 0


def trained_copy(home: Path, dest: Path, sample: str = "photos") -> Path:
    """A copy at ``dest`` of the small ``sample`` project with one quick iteration, trained
    the first time a session asks for it (kept in ``home``); returns ``dest``."""
    from cvbench.samples import make_sample

    built = home / f"trained-{sample}"
    if not (built / "done").exists():
        shutil.rmtree(built, ignore_errors=True)
        project = make_sample(sample, built / "project", small=True)
        project.train("quick", progress_bar=False)
        project.close()
        (built / "done").touch()
    shutil.copytree(built / "project", dest)
    return dest


#: The index of JupyterLab's active cell in the notebook on show (-1 for none).
LAB_ACTIVE_CELL = f"""() => [...document.querySelectorAll("{LAB_NOTEBOOK} .jp-Cell")]
  .findIndex((c) => c.classList.contains("jp-mod-active"))"""


def press_on_slider(page, slider, keys: list[str]) -> list[str]:
    """Focus ``slider`` (a range input's locator) from the keyboard's side, press ``keys``;
    returns its value before and after each key."""
    slider.focus()
    values = [slider.input_value()]
    for key in keys:
        page.keyboard.press(key)
        values.append(slider.input_value())
    return values


def untagged_project(path: Path, kind: str = "multiclass", n: int = 4):
    """A new project with ``n`` small untagged images and no tag: where a class starts."""
    import io

    from PIL import Image, ImageDraw

    import cvbench

    project = cvbench.create_project(path, kind=kind)
    files = []
    for i in range(n):
        img = Image.new("RGB", (160, 120), (40 + 50 * i % 200, 120, 200 - 30 * i % 180))
        ImageDraw.Draw(img).ellipse((20 + 10 * i, 20, 90 + 10 * i, 90), fill=(250, 220, 60))
        out = io.BytesIO()
        img.save(out, "PNG")
        files.append(out.getvalue())
    project.add_images(files, names=[f"photo{i}.png" for i in range(n)])
    return project


def assert_gallery_bounded(page) -> None:
    """The grid scrolls in a box of its own; the arrows keep the focused thumbnail in it."""
    gallery = page.locator(".cvb-gallery")
    wrap = gallery.locator(".cvb-grid-wrap")
    assert gallery.bounding_box()["height"] < 900, "the gallery is taller than the window"
    assert wrap.evaluate("(e) => e.scrollHeight > e.clientHeight + 100"), "the grid does not scroll"
    gallery.locator(".cvb-cell").first.click()
    for _ in range(6):
        page.keyboard.press("ArrowDown")
    assert wrap.evaluate("(e) => e.scrollTop") > 0
    inside = """(wrap) => {
      const box = wrap.getBoundingClientRect();
      const cell = wrap.querySelector(".cvb-cell.is-focused").getBoundingClientRect();
      return cell.top >= box.top && cell.bottom <= box.bottom;
    }"""
    assert wrap.evaluate(inside), "the focused thumbnail is out of the grid's box"
    page.keyboard.press("Home")
    assert wrap.evaluate(inside) and wrap.evaluate("(e) => e.scrollTop") == 0
    page.keyboard.press("Escape")  # no selection left


def add_tag(page, widget: str, name: str) -> None:
    """+ Add tag in ``widget`` (a selector), the name, and Enter: the form closes."""
    page.locator(f"{widget} button", has_text="+ Add tag").click()
    field = page.locator(f"{widget} .cvb-newtag input")
    field.wait_for()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    field.wait_for(state="detached", timeout=10_000)


def keyed_tags(project) -> list:
    """The project's tags in the order of their keys: the n-th has key n (1-9, then 0 for the
    tenth), as the widgets give them (cvbench.ui._assets.tag_slots)."""
    from cvbench.ui._assets import tag_slots

    tags = project.tags
    slots = tag_slots(tags, project.tag_ids_by_creation())
    return sorted(tags, key=lambda t: slots[t.id])
