"""Memory of a shared page over many visits: the public quick-test page, and the workbench.

    .venv/bin/python benchmarks/bench_share_memory.py                  # 20 visits, 3 Voila visits
    .venv/bin/python benchmarks/bench_share_memory.py --visits 20 --concurrency 5 --voila-visits 3

1. ``cvbench app PROJECT --app quicktest`` (one uvicorn process holding the model) gets
   ``--visits`` simulated visits, ``--concurrency`` at a time: each loads the page and its
   info, uploads an image and reads the predictions. The resident memory (RSS) of the
   server's whole process tree is sampled every 0.1 s: idle before, the peak above idle
   during the visits, and how long after the last visit it is back within 50 MB of idle
   (at most 2 minutes are waited).
2. Baseline in the same run: the workbench (Voila, a kernel per visit) gets
   ``--voila-visits`` real visits in Chromium (page painted, then the tab closed), one after
   another; the same samples, and the seconds from the last tab closed to Voila's tree back
   within 50 MB of idle (its kernels culled: cvbench/apps/voila.json).

3. ``--voila-reloads`` (default 5): one workbench tab reloaded that many times, as a person
   pressing F5 would; after each reload, the kernels alive and the tree's RSS above idle,
   then how long until only the open page's kernel is left (the reloaded-away kernels
   culled) and the memory then.

Prints a table; the figures go into benchmarks/RESULTS.md by hand, with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

CVBENCH = str(Path(sys.executable).parent / "cvbench")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MB = 2**20
BACK_WITHIN = 50 * MB
BACK_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler:
    """Samples the tree's RSS every 0.1 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tree_rss(self.pid)))
            time.sleep(0.1)

    def peak(self, since: float) -> int:
        return max((r for t, r in self.samples if t >= since), default=0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([CVBENCH, "app", *args, "--port", str(port), "--no-browser"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    out = ""
    while "press Ctrl-C" not in out:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"cvbench app exited:\n{out}")
        out += line
    threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
    return proc, f"http://127.0.0.1:{port}/"


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def settle(pid: int, idle: int) -> float:
    """Seconds until the tree is back within BACK_WITHIN of ``idle`` (inf if not in time)."""
    started = time.monotonic()
    while time.monotonic() - started < BACK_TIMEOUT:
        if tree_rss(pid) <= idle + BACK_WITHIN:
            return time.monotonic() - started
        time.sleep(0.5)
    return float("inf")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "cvbenchbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def visit(url: str, image: bytes) -> None:
    with urllib.request.urlopen(url, timeout=60) as resp:
        resp.read()
    with urllib.request.urlopen(url + "api/info", timeout=60) as resp:
        json.load(resp)
    body, kind = multipart("image.png", image)
    req = urllib.request.Request(url + "api/predict", data=body, headers={"Content-Type": kind})
    with urllib.request.urlopen(req, timeout=120) as resp:
        assert json.load(resp)["predictions"]


def bench_quicktest(project: Path, image: bytes, visits: int, concurrency: int, cwd: Path
                    ) -> dict:
    proc, url = start([str(project), "--app", "quicktest"], cwd)
    try:
        time.sleep(2)
        idle = tree_rss(proc.pid)
        sampler = Sampler(proc.pid)
        t0 = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(lambda _: visit(url, image), range(visits)))
        took = time.monotonic() - t0
        back = settle(proc.pid, idle)
        sampler.stop()
        return {"idle": idle, "peak_above": sampler.peak(t0) - idle, "back_s": back,
                "visits_s": took, "after": tree_rss(proc.pid) - idle}
    finally:
        stop(proc)


def bench_voila(project: Path, visits: int, cwd: Path) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = start([str(project)], cwd)
    try:
        time.sleep(2)
        idle = tree_rss(proc.pid)
        sampler = Sampler(proc.pid)
        t0 = time.monotonic()
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for _ in range(visits):
                page = ctx.new_page()
                page.goto(url, timeout=180_000)
                page.wait_for_selector(".cvb-wb-tabs", timeout=180_000)
                page.close()
            ctx.close()
        closed = time.monotonic()
        back = settle(proc.pid, idle)
        sampler.stop()
        return {"idle": idle, "peak_above": sampler.peak(t0) - idle, "back_s": back,
                "visits_s": closed - t0, "after": tree_rss(proc.pid) - idle}
    finally:
        stop(proc)


def kernels(pid: int) -> int:
    """Kernels (ipykernel processes) under ``pid``."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    n = 0
    for k in kids:
        try:
            n += any("ipykernel" in part for part in k.cmdline())
        except psutil.Error:
            pass
    return n


def bench_voila_reloads(project: Path, reloads: int, cwd: Path) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = start([str(project)], cwd)
    try:
        time.sleep(2)
        idle = tree_rss(proc.pid)
        after_each = []
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = ctx.new_page()
            page.goto(url, timeout=180_000)
            page.wait_for_selector(".cvb-wb-tabs", timeout=180_000)
            for _ in range(reloads):
                page.reload(timeout=180_000)
                page.wait_for_selector(".cvb-wb-tabs", timeout=180_000)
                time.sleep(3)
                after_each.append((kernels(proc.pid), tree_rss(proc.pid) - idle))
            t0 = time.monotonic()
            while kernels(proc.pid) > 1 and time.monotonic() - t0 < 180:
                time.sleep(1)
            culled = time.monotonic() - t0
            left = (kernels(proc.pid), tree_rss(proc.pid) - idle)
            page.close()
            ctx.close()
        return {"idle": idle, "after_each": after_each, "culled_s": culled, "left": left}
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--visits", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=5)
    ap.add_argument("--voila-visits", type=int, default=3)
    ap.add_argument("--voila-reloads", type=int, default=5)
    args = ap.parse_args()

    from cvbench.samples import make_sample

    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        project = cwd / "faces"
        with make_sample("faces", project, small=True) as p:
            p.train("quick", size=112, progress_bar=False).publish("production")
            image = p.images(take=1)[0].path.read_bytes()
        qt = bench_quicktest(project, image, args.visits, args.concurrency, cwd)
        vo = bench_voila(project, args.voila_visits, cwd) if args.voila_visits else None
        rl = (bench_voila_reloads(project, args.voila_reloads, cwd) if args.voila_reloads
              else None)

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print("| page | visits | idle RSS | peak above idle | back within 50 MB of idle | "
          "above idle at the end |")
    print("|---|---|---|---|---|---|")
    print(f"| quick test (one process) | {args.visits}, {args.concurrency} at a time | "
          f"{qt['idle'] / MB:.0f} MB | {qt['peak_above'] / MB:.0f} MB | {qt['back_s']:.1f} s "
          f"| {qt['after'] / MB:.0f} MB |")
    if vo is not None:
        print(f"| workbench (Voila, a kernel per visit) | {args.voila_visits}, one after "
              f"another | {vo['idle'] / MB:.0f} MB | {vo['peak_above'] / MB:.0f} MB | "
              f"{vo['back_s']:.1f} s after the last tab closed | {vo['after'] / MB:.0f} MB |")

    if rl is not None:
        steps = ", ".join(f"{k} kernels / {m / MB:.0f} MB" for k, m in rl["after_each"])
        print(f"\nworkbench tab reloaded {args.voila_reloads} times (idle {rl['idle'] / MB:.0f} "
              f"MB): after each reload {steps}; {rl['culled_s']:.0f} s later "
              f"{rl['left'][0]} kernel(s), {rl['left'][1] / MB:.0f} MB above idle")


if __name__ == "__main__":
    main()
