"""How fast ``cvbench serve`` answers predictions, against the model called in-process.

    .venv/bin/python benchmarks/bench_server.py                       # 2,000 requests, 8 at once
    .venv/bin/python benchmarks/bench_server.py --requests 500 --concurrency 4 --json

1. A sample project (``faces``, small) is built in a temporary ROOT and trained quick at the
   domain's size; the iteration is published as ``bench``.
2. In a fresh process, ``Iteration.predict`` is called on the test images one at a time
   (``--direct`` calls, after ``WARM_UP`` untimed ones): the in-process rate, images/s.
3. ``cvbench serve ROOT`` starts (a subprocess, as a user starts it); after the same
   warm-up, sequential, ``--requests`` prediction requests (``classify_image_with_no_store``: multipart
   ``imageData``, as the SDK sends) go over loopback from ``--concurrency`` threads, each
   with its own keep-alive session, cycling over the same test images.

Reported: errors (must be 0), latency p50/p99, throughput (requests/s) and its ratio to the
in-process rate of the same run, and the server's RSS after its warm-up and after the load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

TRAINING_KEY = "0123456789abcdef0123456789abcdef"
PREDICTION_KEY = "fedcba9876543210fedcba9876543210"
#: Calls before timing, in-process and over HTTP alike: torch's first few dozen forward
#: passes in a process are several times slower than the steady state.
WARM_UP = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def build(root: Path) -> tuple[str, list[bytes]]:
    """The published project and the test images (PNG bytes of the sample's pictures)."""
    import cvbench.samples

    project = cvbench.samples.make_sample("faces", root / "faces", small=True)
    iteration = project.train("quick", progress_bar=False)
    iteration.publish("bench")
    images = test_images(project)
    project_id = project.id
    project.close()
    return project_id, images


def test_images(project) -> list[bytes]:
    """The sample's pictures as PNG bytes, in the project's order."""
    images = []
    for img in project.images(order="oldest"):
        buf = io.BytesIO()
        project.load_image(img).save(buf, "PNG")
        images.append(buf.getvalue())
    return images


def direct_rate(root: Path, calls: int) -> float:
    """``Iteration.predict`` one image at a time, in a fresh process (as a notebook that
    opened the project would call it), after the warm-up calls."""
    code = f"""
import time, cvbench, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from bench_server import test_images
with cvbench.open_project({str(root / "faces")!r}) as project:
    images = test_images(project)
    iteration = project.iteration("bench")
    for k in range({WARM_UP}):
        iteration.predict(images[k % len(images)])
    start = time.perf_counter()
    for k in range({calls}):
        iteration.predict(images[k % len(images)])
    print({calls} / (time.perf_counter() - start))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=root.parent)
    return float(out.stdout.strip().splitlines()[-1])


def start_server(root: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CVBENCH_TRAINING_KEY": TRAINING_KEY,
           "CVBENCH_PREDICTION_KEY": PREDICTION_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "cvbench", "serve", str(root), "--port",
                             str(port)], env=env, cwd=root.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{port}/customvision/v3.4-preview/training/domains"
    while time.monotonic() < deadline:
        try:
            if requests.get(url, headers={"Training-Key": TRAINING_KEY}, timeout=2).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("cvbench serve did not start")


def load(url: str, images: list[bytes], total: int, concurrency: int
         ) -> tuple[list[float], int, float]:
    """(latencies in seconds, errors, wall seconds) of ``total`` requests."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                t0 = time.perf_counter()
                try:
                    r = session.post(url, headers={"Prediction-Key": PREDICTION_KEY},
                                     files={"imageData": images[k % len(images)]}, timeout=120)
                    ok = r.status_code == 200 and r.json()["predictions"]
                except (requests.RequestException, ValueError, KeyError):
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--direct", type=int, default=300,
                        help="in-process Iteration.predict calls for the baseline rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cvbench-bench-server-") as td:
        root = Path(td) / "root"
        root.mkdir()
        t0 = time.perf_counter()
        project_id, images = build(root)
        built = time.perf_counter() - t0
        direct = direct_rate(root, args.direct)
        port = free_port()
        proc = start_server(root, port)
        try:
            url = (f"http://127.0.0.1:{port}/customvision/v3.1/prediction/{project_id}/"
                   "classify/iterations/bench/image/nostore")
            with requests.Session() as session:
                for k in range(WARM_UP):
                    session.post(url, headers={"Prediction-Key": PREDICTION_KEY},
                                 files={"imageData": images[k % len(images)]},
                                 timeout=120).raise_for_status()
            rss_before = rss_mb(proc.pid)
            latencies, errors, wall = load(url, images, args.requests, args.concurrency)
            rss_after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    throughput = len(latencies) / wall
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "project": f"faces sample (small): {len(images)} images, quick iteration at the "
                   "domain's size",
        "build_seconds": round(built, 1),
        "requests": len(latencies),
        "concurrency": args.concurrency,
        "errors": errors,
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * percentile(latencies, 99), 1),
        "throughput_rps": round(throughput, 1),
        "in_process_rps": round(direct, 1),
        "ratio_to_in_process": round(throughput / direct, 2),
        "server_rss_mb_before": round(rss_before, 1),
        "server_rss_mb_after": round(rss_after, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
