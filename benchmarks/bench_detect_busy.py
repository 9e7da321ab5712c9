"""Quick detection on a busy machine: the small ``shapes`` sample (30 scenes, 7 of them
validation) trained with CPU-bound processes competing for the cores, with the step floor
(``QUICK_MIN_STEPS``) and without it (0), runs interleaved per seed in one process.

    .venv/bin/python benchmarks/bench_detect_busy.py --burners 4 --seeds 0,1,2 --out busy.json

Prints each run's optimizer steps, training seconds and validation mAP@0.5, then the mean
and spread of each variant.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_common as common  # noqa: E402


def _burn(stop: float) -> None:  # a process that only spins, as a busy neighbour does
    while time.time() < stop:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burners", type=int, default=4, help="spinning processes (0: idle)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from cvbench.samples import make_sample
    from cvbench.train import detect

    floor = detect.QUICK_MIN_STEPS
    rows: list[dict] = []
    report = {"machine": common.machine(), "command": " ".join(sys.argv), "rows": rows}
    ctx = mp.get_context("spawn")
    burners = [ctx.Process(target=_burn, args=(time.time() + 3600,), daemon=True)
               for _ in range(args.burners)]
    for b in burners:
        b.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for seed in (int(s) for s in args.seeds.split(",")):
                for name, steps in (("floor", floor), ("no floor", 0)):
                    detect.QUICK_MIN_STEPS = steps
                    project = make_sample("shapes", Path(tmp) / f"{seed}-{steps}", small=True)
                    t0 = time.monotonic()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        it = project.train("quick", settings={"seed": seed}, progress_bar=False)
                    fit = it.settings["notes"]["fit"]
                    row = {"run": name, "seed": seed, "steps": fit["steps"]["head"],
                           "train_s": round(fit["seconds"]["head"], 1),
                           "wall_s": round(time.monotonic() - t0, 1),
                           "map50": round(it.performance().map, 3), "load": common.load()}
                    rows.append(row)
                    common.log(json.dumps(row))
                    project.close()
    finally:
        detect.QUICK_MIN_STEPS = floor
        for b in burners:
            b.terminate()
    report["summary"] = common.summarise(rows, ("steps", "train_s", "wall_s", "map50"))
    print(json.dumps(report["summary"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
