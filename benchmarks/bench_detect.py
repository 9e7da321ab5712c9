"""Object detection benchmark: accuracy, training time and latency of the detectors.

    .venv/bin/python benchmarks/bench_detect.py [--out results.json] [--advanced-minutes 4]
                                                [--runs fcos:quick,retinanet:quick,fcos:advanced]

    # the hard sets (benchmarks/hard_sets.py), 3 seeds, held-out test images, baselines:
    .venv/bin/python benchmarks/bench_detect.py --sets shapes6,shapes3 --seeds 0,1,2 \
        --runs quick,advanced,torchvision --advanced-minutes 5 --out hard.json

With ``--sets``, every seed draws a new data set (train, validation and test images from
that seed) and trains with that seed; figures are on the test images, which no model
sees before testing, with the validation figures beside them. ``torchvision`` is a plain
torchvision FCOS recipe with the same backbone and the quick run's wall time
(``_bench_common.torchvision_fcos``). ``--label`` names the code under test (e.g. run the
same command with ``PYTHONPATH`` pointing at an older checkout, ``--label before``).

Data: the "shapes" sample (cvbench.samples): 120 generated 320x240 scenes with 1-3 circles,
squares and triangles on photo backgrounds (seed 0) for training, and 40 more scenes
(seed 1) as the test set. Both go into one project, the 120 in the train split and the 40
in the validation split, so an iteration's stored validation performance *is* the test
performance (Custom Vision's definitions, ``cvbench.evaluate.detection``: mAP@0.5 and COCO
mAP@[.5:.95]).

Each run trains through ``Project.train`` (the product path): quick = frozen backbone,
cached feature maps, FPN + head trained for ``head_seconds``; advanced = the same, then
end-to-end fine-tuning within ``budget_minutes``. Then, on the first test image, the
median latency of one prediction in PyTorch (``Iteration.predict``: decode, preprocess,
network, NMS) and in ONNX Runtime (the exported graph with NMS inside), with one thread and
with torch's default thread count; and the ONNX parity check on the test images.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch


def _machine() -> dict:
    from _bench_common import machine  # benchmarks/ is the script's folder

    return machine()


def _project(root: Path):
    from cvbench import open_project
    from cvbench.samples import make_sample

    project = make_sample("shapes", root / "shapes", seed=0)
    project.set_split([i.id for i in project.images()], "train")
    test = make_sample("shapes", root / "test", seed=1)
    test_images = test.images(order="oldest")[:40]
    results = project.add_images(
        [i.path for i in test_images],
        regions=[[(r.tag_name, r.left, r.top, r.width, r.height) for r in i.regions]
                 for i in test_images],
        names=[f"test_{i.original_name}" for i in test_images],
    )
    ids = [r.image_id for r in results if r.ok]
    project.set_split(ids, "validation")
    test.close()
    return open_project(project.path), ids


def _median_ms(fn, n: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 1)


def _latency(iteration, image_path: Path, onnx_path: Path, n: int) -> dict:
    from PIL import Image

    from cvbench import domains
    from cvbench.export.detect import OnnxDetector

    model = iteration.model()
    pil = Image.open(image_path).convert("RGB")
    x = domains.preprocess(model.domain, [pil], model.size)
    runner = OnnxDetector(onnx_path, model.export_spec(), model.config["tags"])
    out = {}
    before = torch.get_num_threads()
    for threads in sorted({1, before}):
        torch.set_num_threads(threads)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        runner.session = ort.InferenceSession(str(onnx_path), opts,
                                              providers=["CPUExecutionProvider"])
        out[f"threads={threads}"] = {
            "pytorch_predict_ms": _median_ms(lambda: iteration.predict(image_path), n),
            "pytorch_network_nms_ms": _median_ms(lambda: model.detections(x), n),
            "onnxruntime_network_nms_ms": _median_ms(lambda: runner.run(x.numpy()), n),
            "onnxruntime_predict_ms": _median_ms(lambda: runner.predict(pil), n),
        }
    torch.set_num_threads(before)
    return out


def run(spec: str, project, test_ids: list[str], workdir: Path, advanced_minutes: float,
        head_seconds: float, n_latency: int) -> dict:
    from PIL import Image

    from cvbench.export.detect import check_parity, export_onnx

    arch, mode = spec.split(":")
    settings = {"arch": arch, "head_seconds": head_seconds}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = project.train(mode, budget_minutes=advanced_minutes if mode == "advanced" else None,
                           settings=settings, progress_bar=False)
    wall = time.perf_counter() - t
    perf = it.performance(threshold=0.5, overlap=0.5)
    ev = it.evaluation()
    notes = it.settings["notes"]
    onnx_path = export_onnx(it.model(), workdir / f"{arch}-{mode}.onnx")
    test_paths = [project.image(i).path for i in test_ids]
    parity = check_parity(it.model(), onnx_path, [Image.open(p) for p in test_paths[:10]])
    result = {
        "run": spec,
        "train_seconds": round(wall, 1),
        "fit": notes["fit"],
        "threads_used_in_training": notes["threads"],
        "map50": round(perf.map, 4),
        "coco_map": round(ev.coco_map, 4),
        "precision@0.5": round(perf.precision, 4),
        "recall@0.5": round(perf.recall, 4),
        "ap_per_tag": {t: round(float(a), 4) for t, a in zip(perf.per_tag["tag"],
                                                             perf.per_tag["ap"], strict=True)},
        "onnx_parity": {k: parity[k] for k in ("ok", "max_box_difference",
                                                "max_probability_difference")},
        "latency": _latency(it, test_paths[0], onnx_path, n_latency),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)
    return result


def hard(args: argparse.Namespace) -> dict:
    """The hard-set protocol (see the module docstring)."""
    import _bench_common as common
    import hard_sets
    from PIL import Image

    rows: list[dict] = []
    report = {"machine": common.machine(), "command": " ".join(sys.argv), "label": args.label,
              "rows": rows}
    for set_name in args.sets.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            split = hard_sets.build(set_name, seed)
            truth = common.detection_truth(split.test, split.tags)
            test_pils = [Image.open(__import__("io").BytesIO(i.data)).convert("RGB")
                         for i in split.test]
            with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
                project = hard_sets.to_project(split, Path(tmp) / "p")
                quick_wall = None
                for run_name in args.runs.split(","):
                    row = {"set": set_name, "seed": seed, "run": f"{set_name}:{run_name}",
                           "label": args.label, "load_before": common.load()}
                    if run_name == "torchvision":
                        res = common.torchvision_fcos(
                            split.train, split.tags, split.test, seed=seed,
                            seconds=args.baseline_seconds or quick_wall or 100.0)
                        row.update(res)
                    else:
                        t = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            it = project.train(
                                run_name, progress_bar=False, settings={"seed": seed},
                                budget_minutes=args.advanced_minutes
                                if run_name == "advanced" else None)
                        wall = time.perf_counter() - t
                        if run_name == "quick":
                            quick_wall = wall
                        model = it.model()
                        preds_cv = model.predict_images(test_pils)
                        names = list(it.tag_names)
                        preds = [[(names.index(p["tagName"]), float(p["probability"]),
                                   tuple(p["boundingBox"][k] for k in
                                         ("left", "top", "width", "height")))
                                  for p in ps] for ps in preds_cv]
                        order = [names.index(t) for t in split.tags]
                        remap = {j: i for i, j in enumerate(order)}
                        preds = [[(remap[c], p, b) for c, p, b in ps] for ps in preds]
                        notes = it.settings["notes"]
                        row.update(common.detection_scores(truth, preds, split.tags))
                        row.update({"validation_map50": it.metrics.get("map"),
                                    "validation_coco_map": it.metrics.get("coco_map"),
                                    "seconds": round(wall, 1), "chosen": notes.get("chosen"),
                                    "fit": notes.get("fit"), "threads": notes.get("threads"),
                                    "frozen_backbone": notes.get("frozen_backbone")})
                    row["load_after"] = common.load()
                    rows.append(row)
                    common.log(json.dumps({k: v for k, v in row.items() if k != "fit"}))
                project.close()
            if args.out:
                args.out.write_text(json.dumps(report, indent=1, default=str))
    report["summary"] = common.summarise(
        rows, ["map50", "coco_map", "validation_map50", "seconds"])
    for name, summary in report["summary"].items():
        print(name, summary, flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=None,
                        help="hard sets (benchmarks/hard_sets.py), e.g. shapes6,shapes3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--label", default="after")
    parser.add_argument("--baseline-seconds", type=float, default=None,
                        help="torchvision baseline's training time (default: quick's wall)")
    parser.add_argument("--runs", default=None,
                        help="default fcos:quick,retinanet:quick,fcos:advanced; with --sets "
                             "quick,advanced,torchvision")
    parser.add_argument("--advanced-minutes", type=float, default=4.0)
    parser.add_argument("--head-seconds", type=float, default=60.0)
    parser.add_argument("--latency-runs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.sets:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        args.runs = args.runs or "quick,advanced,torchvision"
        hard(args)
        return 0
    args.runs = args.runs or "fcos:quick,retinanet:quick,fcos:advanced"
    started = time.perf_counter()
    report = {"machine": _machine(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        workdir = Path(tmp)
        project, test_ids = _project(workdir)
        print(f"data: {project.count_images(split='train')} train, {len(test_ids)} test "
              f"images ({time.perf_counter() - started:.0f} s)", flush=True)
        for spec in args.runs.split(","):
            report["runs"].append(run(spec, project, test_ids, workdir, args.advanced_minutes,
                                      args.head_seconds, args.latency_runs))
        project.close()
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    print(f"total {report['total_seconds']} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
