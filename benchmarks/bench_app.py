"""How long the apps and the notebooks take, on this machine.

    .venv/bin/python benchmarks/bench_app.py                 # everything
    .venv/bin/python benchmarks/bench_app.py --runs 5 --no-notebooks
    .venv/bin/python benchmarks/bench_app.py --no-app        # only the notebooks

1. ``cvbench app`` to the workbench painted in Chromium: from starting the command to the
   page showing its header, tabs and the gallery's thumbnails (every <img> decoded). Measured
   "cold" once (no project folder: the digits sample is built first) and "warm" ``--runs``
   times (the sample is reused), each run a new ``cvbench app`` process and a fresh
   Chromium profile; Ctrl-C stops it, and the time it takes to exit is reported too.
2. Each teaching notebook executed from top to bottom with nbclient (its own kernel, in a
   temporary folder), as tests/test_notebooks.py runs them.

Chromium is Debian's /usr/bin/chromium driven by Playwright (never ``playwright install``).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CVBENCH = str(Path(sys.executable).parent / "cvbench")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PAINTED = """() => {
  const imgs = [...document.querySelectorAll('.cvb-gallery .cvb-cell img')];
  return document.querySelector('.cvb-wb-tabs') !== null && imgs.length > 0
    && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_app(playwright, cwd: Path, project: str | None) -> tuple[float, float, float]:
    """(seconds to the URL printed, seconds to the workbench painted, seconds to exit on
    Ctrl-C) for one ``cvbench app`` run."""
    port = free_port()
    args = [CVBENCH, "app", *([project] if project else []), "--port", str(port), "--no-browser"]
    lines: list[str] = []
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        while not any("press Ctrl-C" in line for line in lines):
            if proc.poll() is not None or time.perf_counter() - start > 300:
                raise RuntimeError("cvbench app did not start:\n" + "".join(lines))
            time.sleep(0.05)
        url_printed = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as profile:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                viewport={"width": 1280, "height": 900})
            try:
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/", timeout=300_000)
                page.wait_for_function(PAINTED, timeout=300_000, polling=50)
                painted = time.perf_counter() - start
            finally:
                context.close()
    finally:
        stop = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        stopped = time.perf_counter() - stop
        reader.join(5)
    if code != 0:
        raise RuntimeError(f"cvbench app exited with {code} on Ctrl-C:\n" + "".join(lines))
    return url_printed, painted, stopped


def time_notebook(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        client = NotebookClient(nb, kernel_name="python3", timeout=1800,
                                resources={"metadata": {"path": work}})
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="warm app runs (default 3)")
    parser.add_argument("--no-app", action="store_true", help="skip the app timings")
    parser.add_argument("--no-notebooks", action="store_true", help="skip the notebooks")
    args = parser.parse_args(argv)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    if not args.no_app:
        if not Path(CHROMIUM).exists():
            print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
            return 1
        from playwright.sync_api import sync_playwright

        with tempfile.TemporaryDirectory() as work, sync_playwright() as pw:
            cwd = Path(work)
            cold = time_app(pw, cwd, None)  # builds ./cvbench-sample (digits, 500 images)
            warm = [time_app(pw, cwd, None) for _ in range(args.runs)]
        print("\ncvbench app -> workbench painted in Chromium (digits sample, 500 images)")
        print(f"  cold (builds the sample): URL printed {cold[0]:5.1f} s, painted "
              f"{cold[1]:5.1f} s, Ctrl-C to exit {cold[2]:4.1f} s")
        for name, k in (("URL printed", 0), ("painted", 1), ("Ctrl-C to exit", 2)):
            values = [w[k] for w in warm]
            print(f"  warm, {name:<15} median {statistics.median(values):5.1f} s "
                  f"(min {min(values):.1f}, max {max(values):.1f}, {len(values)} runs)")
    if not args.no_notebooks:
        print("\nnotebooks executed with nbclient (a new kernel each, in a temporary folder)")
        total = 0.0
        for path in NOTEBOOKS:
            seconds = time_notebook(path)
            total += seconds
            print(f"  {path.name:<34} {seconds:6.1f} s")
        print(f"  {'all four':<34} {total:6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
