"""Markdown tables (mean ± standard deviation over seeds) from the JSON files that
``bench_classify.py --sets`` and ``bench_detect.py --sets`` write.

    .venv/bin/python benchmarks/summarise.py results/*.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_common import mean_spread  # noqa: E402

COLUMNS = {
    "detection": ["map50", "coco_map", "validation_map50", "seconds", "load_after"],
    "classification": ["accuracy", "validation", "seconds", "quick_over_forward",
                       "images_per_second", "load"],
}


def main(paths: list[str]) -> None:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for path in paths:
        report = json.loads(Path(path).read_text())
        for row in report["rows"]:
            groups[(row["run"], row.get("label", ""))].append(row)
    for kind, cols in COLUMNS.items():
        key = "map50" if kind == "detection" else "accuracy"
        mine = {k: v for k, v in groups.items() if any(key in r for r in v)}
        if not mine:
            continue
        present = [c for c in cols if any(c in r for rows in mine.values() for r in rows)]
        print(f"\n{kind}\n")
        print("| run | code | seeds | " + " | ".join(present) + " |")
        print("|---|---|---:|" + "---:|" * len(present))
        for (run, label), rows in sorted(mine.items()):
            cells = [mean_spread([r.get(c) for r in rows]) for c in present]
            print(f"| {run} | {label} | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
