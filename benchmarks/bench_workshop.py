"""The workshop's 15-minute flow, timed cell by cell (the figures in docs/workshop.md).

    .venv/bin/python benchmarks/bench_workshop.py [--runs 3]

The flow of docs/workshop.md: a multiclass project, 51 digits of three tags (17 each) added
from bytes, a quick iteration, its performance with a bootstrap interval, and a quick test
of an unseen digit. Each run starts from a new folder, so the first training pays for the
frozen backbone's features (the cache is per project). Prints the median of ``--runs``
runs per step with the spread, and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

TAGS = ("0", "1", "2")
PER_TAG = 17


def one_run(folder: Path) -> dict[str, float]:
    import cvbench
    from cvbench.samples import get_sample

    times: dict[str, float] = {}
    t = time.perf_counter()
    items = get_sample("digits").items()
    chosen = {tag: [it for it in items if it.tags == (tag,)][:PER_TAG] for tag in TAGS}
    project = cvbench.create_project(folder / "workshop", kind="multiclass")
    for tag, its in chosen.items():
        project.add_images([it.data for it in its], tags=tag, names=[it.name for it in its])
    times["create + add 51 images"] = time.perf_counter() - t

    t = time.perf_counter()
    iteration = project.train("quick", progress_bar=False)
    times["quick training"] = time.perf_counter() - t

    t = time.perf_counter()
    perf = iteration.performance(threshold=0.5)
    _ = perf.per_tag
    times["performance"] = time.perf_counter() - t

    used = {it.name for its in chosen.values() for it in its}
    unseen = next(it for it in items if it.tags[0] in TAGS and it.name not in used)
    t = time.perf_counter()
    iteration.predict(unseen.data)
    times["quick test (first prediction)"] = time.perf_counter() - t
    project.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(Path(tmp)))
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
          f"{platform.python_version()}, load {os.getloadavg()[0]:.1f}; {args.runs} runs")
    print("| step | median | min–max |")
    print("|---|---|---|")
    for step in runs[0]:
        values = [r[step] for r in runs]
        print(f"| {step} | {statistics.median(values):.1f} s | "
              f"{min(values):.1f}–{max(values):.1f} s |")


if __name__ == "__main__":
    main()
