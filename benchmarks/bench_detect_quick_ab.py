"""Quick detection, A/B in one process: the later blocks + FPN + head on cached early
activations (``quick="tail"``) against the FPN + head on cached feature maps
(``quick="head"``), on the same scenes, seeds and machine, runs interleaved.

    .venv/bin/python benchmarks/bench_detect_quick_ab.py --set shapes6 --seeds 0,1,2 --out ab.json
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench_common as common  # noqa: E402
import hard_sets  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="shapes6")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="tail,head")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from PIL import Image

    rows = []
    report = {"machine": common.machine(), "command": " ".join(sys.argv), "rows": rows}
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        split = hard_sets.build(args.set, seed)
        truth = common.detection_truth(split.test, split.tags)
        pils = [Image.open(io.BytesIO(x.data)).convert("RGB") for x in split.test]
        variants = args.variants.split(",")
        if i % 2:
            variants = variants[::-1]  # alternate who goes first
        with tempfile.TemporaryDirectory() as tmp:
            project = hard_sets.to_project(split, Path(tmp) / "p")
            for v in variants:
                row = {"seed": seed, "run": f"{args.set}:quick-{v}", "load_before": common.load()}
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    it = project.train("quick", progress_bar=False,
                                       settings={"seed": seed, "quick": v})
                row["seconds"] = round(time.perf_counter() - t, 1)
                names = list(it.tag_names)
                remap = {names.index(t): j for j, t in enumerate(split.tags)}
                preds = [[(remap[names.index(p["tagName"])], float(p["probability"]),
                           tuple(p["boundingBox"][k] for k in ("left", "top", "width", "height")))
                          for p in ps] for ps in it.model().predict_images(pils)]
                row.update(common.detection_scores(truth, preds, split.tags))
                row["epochs"] = it.settings["notes"]["fit"]["epochs"]
                row["load_after"] = common.load()
                rows.append(row)
                common.log(json.dumps(row))
            project.close()
    report["summary"] = common.summarise(rows, ["map50", "coco_map", "seconds"])
    for name, summary in report["summary"].items():
        print(name, summary, flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
