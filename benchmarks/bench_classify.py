"""Classification benchmark: quick and advanced training against baselines, in one run.

    .venv/bin/python benchmarks/bench_classify.py                  # ~10-15 min on 2 cores
    .venv/bin/python benchmarks/bench_classify.py --extras         # + head/flip/Lite2 study
    .venv/bin/python benchmarks/bench_classify.py --dataset faces  # LFW face / not face

Data: scikit-learn's ``load_digits`` (UCI optdigits, 10 tags), each 8x8 digit upscaled to
64x64 (bicubic, dark ink on white, as ``cvbench.samples`` draws it); or scikit-image's
``lfw_subset`` (25x25 gray, 100 faces and 100 non-faces, upscaled to 100x100). Per tag: 63
images in the project (the project's split sends 13 to validation: 50 training images per
tag) and 30 held-out test images per tag that no model sees before testing; 10 more
images are kept to measure retraining.

What it measures, all in the same process and run (the machine may be shared: ratios are
what to compare, see RESULTS.md):

1. speed of quick training: its wall time over one forward pass of the frozen backbone
   over the same images (read, preprocess, forward; target <= 1.3), and retraining after
   10 more images over the first training (target < 10 %);
2. test accuracy of quick and advanced training, against logistic regression on the raw
   pixels and a plain fastai ``vision_learner(...).fine_tune()`` (the same pretrained
   EfficientNet-Lite0, standard fastai augmentation) given the advanced run's wall time;
3. prediction: single-image latency (read + preprocess + model) and batch throughput
   (model only, batches of 32), eager PyTorch against ONNX Runtime.

**Hard sets** (``--sets shapes10,digits --seeds 0,1,2``, see ``benchmarks/hard_sets.py``):
every seed draws its own train (50 per tag), validation (13 per tag) and test (30 per tag)
images and trains with that seed; per seed, in the same process: one forward pass of the
frozen backbone over the project's images on the fastest path, quick training (its wall
time over that forward pass), advanced training (``--budget-minutes``), and the baselines
on the same images: logistic regression on raw gray pixels, frozen pooled features +
logistic regression (C by 3-fold CV), and a plain fastai ``fine_tune`` given advanced's
wall time. ``--runs`` picks among ``quick,advanced,pixels,frozen,fastai``; ``--label``
names the code under test (run with ``PYTHONPATH`` at an older checkout, ``--label
before``).

``--extras`` adds, on the cached features: scikit-learn's LogisticRegression against the
L-BFGS head, features of mirrored images, and EfficientNet-Lite2 ("General [A2]").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _bench_common import log, machine  # noqa: E402  (benchmarks/ is the script's folder)

import cvbench  # noqa: E402
from cvbench import domains  # noqa: E402
from cvbench.train import features as _features  # noqa: E402


def digit_png(pixels: np.ndarray) -> bytes:
    ink = np.clip(pixels * 16.0, 0, 255).astype(np.uint8)
    img = Image.fromarray(255 - ink, "L").resize((64, 64), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def face_png(pixels: np.ndarray) -> bytes:
    img = Image.fromarray(np.clip(pixels * 255, 0, 255).astype(np.uint8), "L")
    buf = io.BytesIO()
    img.resize((100, 100), Image.Resampling.BICUBIC).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def load_dataset(name: str) -> tuple[list[np.ndarray], list[str], object]:
    """Images, labels, and the function that encodes one image as PNG bytes."""
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return list(digits.images), [str(t) for t in digits.target], digit_png
    from skimage.data import lfw_subset

    faces = lfw_subset()  # 100 faces, then 100 non-faces (LFW)
    return list(faces), ["face"] * 100 + ["not face"] * 100, face_png


def make_data(per_tag: int, test_per_tag: int, extra: int, seed: int = 0,
              dataset: str = "digits"):
    """Project, test and ``extra`` (spread over the tags) items: (png, label, pixels)."""
    images, labels, encode = load_dataset(dataset)
    targets = np.array(labels)
    extra_per_tag = -(-extra // len(set(labels)))
    rng = np.random.default_rng(seed)
    project_items, test_items, extra_items = [], [], []
    for label in sorted(set(labels)):
        idx = np.flatnonzero(targets == label)
        rng.shuffle(idx)
        need = per_tag + test_per_tag
        for k, i in enumerate(idx[: need + extra_per_tag]):
            item = (encode(images[i]), label, images[i].ravel())
            if k < per_tag:
                project_items.append(item)
            elif k < need:
                test_items.append(item)
            else:
                extra_items.append(item)
    return project_items, test_items, extra_items


# --------------------------------------------------------------------------- baselines


def raw_pixel_baseline(train, test) -> dict:
    """Logistic regression on raw 64x64 gray pixels, C chosen by 3-fold CV on training."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    def pixels(items):
        return np.stack([
            np.asarray(Image.open(io.BytesIO(d)).convert("L"), dtype=np.float32).ravel() / 255
            for d, _, _ in items])

    xtr, xte = pixels(train), pixels(test)
    ytr = np.array([t for _, t, _ in train])
    yte = np.array([t for _, t, _ in test])
    sc = StandardScaler().fit(xtr)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # small problem: threads only contend
        model = LogisticRegressionCV(Cs=[0.001, 0.01, 0.1, 1.0], cv=3, max_iter=300).fit(
            sc.transform(xtr), ytr)
    return {"accuracy": float((model.predict(sc.transform(xte)) == yte).mean()),
            "C": float(model.C_[0]), "fit_seconds": round(time.perf_counter() - t0, 2)}


def fastai_baseline(train, valid, test_paths, test_labels, seconds: float, size: int,
                    workdir: Path) -> dict:
    """A plain ``vision_learner(...).fine_tune()`` sized to ``seconds``
    (:func:`_bench_common.fastai_fine_tune`), its accuracy on the test images."""
    from _bench_common import fastai_fine_tune

    res = fastai_fine_tune(train, valid, list(zip(test_paths, test_labels, strict=True)),
                           seconds, size, workdir)
    return {"accuracy": res["accuracy"], "epochs_after_head": res["epochs_after_head"],
            "wall_seconds": res["seconds"]}


# --------------------------------------------------------------------------- main


def accuracy(iteration, paths, labels) -> float:
    results = iteration.predict(list(paths))
    return float(np.mean([r[0].tag_name == t for r, t in zip(results, labels, strict=True)]))


def hard(args: argparse.Namespace) -> dict:
    """The hard-set protocol (see the module docstring)."""
    import _bench_common as common
    import hard_sets

    rows: list[dict] = []
    report = {"machine": common.machine(), "command": " ".join(sys.argv), "label": args.label,
              "rows": rows}
    runs = args.runs.split(",")
    domain = domains.DEFAULT_DOMAIN
    size = domains.get_domain(domain).image_size
    for set_name in args.sets.split(","):
        for seed in (int(x) for x in args.seeds.split(",")):
            split = hard_sets.build(set_name, seed)
            tags = split.tags
            y = {k: np.array([tags.index(i.tag) for i in getattr(split, k)])
                 for k in ("train", "validation", "test")}
            work = Path(tempfile.mkdtemp(prefix="cvbench-bench-"))
            try:
                test_paths = []
                for k, item in enumerate(split.test):
                    p = work / f"test_{k:04d}.png"
                    p.write_bytes(item.data)
                    test_paths.append(p)
                test_labels = [i.tag for i in split.test]
                project = hard_sets.to_project(split, work / "p", domain=domain)
                images = project.images(order="oldest")
                paths = [img.path for img in images]
                base = {"set": set_name, "seed": seed, "label": args.label}

                def add(run: str, base: dict = base, **values: object) -> None:
                    row = {**base, "run": f"{base['set']}:{run}", **values,
                           "load": common.load()}
                    rows.append(row)
                    common.log(json.dumps(row, default=str)[:600])

                if "quick" in runs or "advanced" in runs:
                    _features.frozen_backbone(domain)
                    project.train("quick", size=16, progress_bar=False)  # warm-up
                    _features.compute_features(domain, paths[:8], size)  # warm-up (export)
                    t0 = time.perf_counter()
                    _features.compute_features(domain, paths, size)
                    forward = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    quick = project.train("quick", size=size, progress_bar=False,
                                          settings={"seed": seed})
                    wall = time.perf_counter() - t0
                    head = quick.settings["notes"].get("head", {})
                    add("quick", accuracy=accuracy(quick, test_paths, test_labels),
                        validation=quick.metrics["accuracy"], seconds=round(wall, 2),
                        forward_seconds=round(forward, 2),
                        images_per_second=round(len(paths) / forward, 1),
                        quick_over_forward=round(wall / forward, 3),
                        chosen=head.get("chosen"), why=head.get("why"),
                        threads=quick.settings["notes"].get("threads"))
                adv_wall = args.budget_minutes * 60
                if "advanced" in runs:
                    t0 = time.perf_counter()
                    adv = project.train("advanced", budget_minutes=args.budget_minutes,
                                        size=size, progress_bar=False, settings={"seed": seed})
                    adv_wall = time.perf_counter() - t0
                    notes = adv.settings["notes"]
                    add("advanced", accuracy=accuracy(adv, test_paths, test_labels),
                        validation=adv.metrics["accuracy"], seconds=round(adv_wall, 1),
                        chosen=notes["chosen"], epochs=notes["fine_tune"].get("epochs"),
                        quick_validation=notes["quick_validation"]["accuracy"])
                if "pixels" in runs:
                    px = {k: common.gray_pixels(getattr(split, k)) for k in y}
                    res = common.logistic_cv(px["train"], y["train"], px["validation"],
                                             y["validation"], px["test"], y["test"])
                    add("pixels", **res)
                if "frozen" in runs:
                    t0 = time.perf_counter()
                    fx = {k: _features.compute_features(domain, [i.data for i in getattr(
                        split, k)], size) for k in y}
                    res = common.logistic_cv(fx["train"], y["train"], fx["validation"],
                                             y["validation"], fx["test"], y["test"])
                    add("frozen", **res, feature_seconds=round(time.perf_counter() - t0, 1))
                if "fastai" in runs:
                    train_pairs = [(i.path, i.tags[0]) for i in images if i.split == "train"]
                    valid_pairs = [(i.path, i.tags[0]) for i in images
                                   if i.split == "validation"]
                    res = common.fastai_fine_tune(
                        train_pairs, valid_pairs, list(zip(test_paths, test_labels, strict=True)),
                        adv_wall, size, work)
                    add("fastai", **res)
                project.close()
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if args.out:
                args.out.write_text(json.dumps(report, indent=1, default=str))
    report["summary"] = common.summarise(
        rows, ["accuracy", "validation", "seconds", "quick_over_forward", "images_per_second"])
    for name, summary in report["summary"].items():
        print(name, summary, flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    return report


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=None, help="hard sets, e.g. shapes10,digits")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--runs", default="quick,advanced,pixels,frozen,fastai")
    ap.add_argument("--label", default="after")
    ap.add_argument("--dataset", choices=("digits", "faces"), default="digits",
                    help="digits: scikit-learn's, 10 tags; faces: scikit-image's "
                         "lfw_subset, face / not face")
    ap.add_argument("--budget-minutes", type=float, default=2.5)
    ap.add_argument("--per-tag", type=int, default=63, help="project images per tag")
    ap.add_argument("--test-per-tag", type=int, default=30)
    ap.add_argument("--size", type=int, default=None, help="input side (domain default)")
    ap.add_argument("--extras", action="store_true")
    ap.add_argument("--skip-fastai", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's, one per core)")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sets:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        return hard(args)

    out: dict = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    domain = domains.DEFAULT_DOMAIN
    size = args.size or domains.get_domain(domain).image_size
    work = Path(tempfile.mkdtemp(prefix="cvbench-bench-"))
    try:
        test_per_tag = args.test_per_tag
        if args.dataset == "faces":  # 100 images per tag in all
            test_per_tag = min(test_per_tag, 100 - args.per_tag - 5)
        project_items, test_items, extra_items = make_data(
            args.per_tag, test_per_tag, 10, dataset=args.dataset)
        extra_items = extra_items[:10]
        test_dir = work / "test"
        test_dir.mkdir()
        test_paths, test_labels = [], []
        for k, (data, label, _) in enumerate(test_items):
            p = test_dir / f"{k:04d}.png"
            p.write_bytes(data)
            test_paths.append(p)
            test_labels.append(label)
        project = cvbench.create_project(work / "digits", kind="multiclass", domain=domain)
        tag_names = sorted({t for _, t, _ in project_items})
        for label in tag_names:
            project.add_images([d for d, t, _ in project_items if t == label], tags=[label])
        summary = project.summary()
        out["data"] = {"dataset": args.dataset, "tags": len(tag_names), "train": summary.train,
                       "validation": summary.validation, "test": len(test_items),
                       "input_size": size, "domain": domain}
        log("data:", out["data"])

        # -- 1. speed -------------------------------------------------------------------
        all_imgs = project.images(order="oldest")
        paths = [img.path for img in all_imgs]
        _features.frozen_backbone(domain)  # built once, as in any session
        project.train("quick", size=16, progress_bar=False)  # warm-up: imports, first calls
        t0 = time.perf_counter()
        _features.compute_features(domain, paths, size)
        forward = time.perf_counter() - t0
        log(f"one forward pass over {len(paths)} images: {forward:.1f} s")
        t0 = time.perf_counter()
        quick = project.train("quick", size=size, progress_bar=False)
        quick_wall = time.perf_counter() - t0
        log(f"quick training: {quick_wall:.1f} s", quick.settings["notes"]["head"])
        for data, label, _ in extra_items:
            project.add_images([data], tags=[label])
        t0 = time.perf_counter()
        retrained = project.train("quick", size=size, progress_bar=False)
        retrain_wall = time.perf_counter() - t0
        log(f"retraining after +10 images: {retrain_wall:.1f} s",
            retrained.settings["notes"]["features"])
        out["speed"] = {
            "forward_pass_seconds": round(forward, 2),
            "images_per_second": round(len(paths) / forward, 1),
            "quick_seconds": round(quick_wall, 2),
            "quick_over_forward": round(quick_wall / forward, 3),
            "retrain_seconds": round(retrain_wall, 2),
            "retrain_over_first": round(retrain_wall / quick_wall, 3),
            "retrain_features": retrained.settings["notes"]["features"],
        }

        # -- 2. accuracy (every model learns from the same images: the retrained split) --
        acc: dict = {}
        acc["quick"] = {"accuracy": accuracy(retrained, test_paths, test_labels),
                        "validation": retrained.metrics["accuracy"]}
        log("quick:", acc["quick"])
        t0 = time.perf_counter()
        advanced = project.train("advanced", budget_minutes=args.budget_minutes, size=size,
                                 progress_bar=False)
        adv_wall = time.perf_counter() - t0
        notes = advanced.settings["notes"]
        acc["advanced"] = {
            "accuracy": accuracy(advanced, test_paths, test_labels),
            "validation": advanced.metrics["accuracy"],
            "chosen": notes["chosen"],
            "epochs": notes["fine_tune"].get("epochs"),
            "best_epoch": notes["fine_tune"].get("best_epoch"),
            "wall_seconds": round(adv_wall, 1),
            "budget_seconds": args.budget_minutes * 60,
            "trained_seconds": round(advanced.trained_seconds, 1),
            "validation_by_epoch": notes["fine_tune"].get("validation_by_epoch"),
            "skipped": notes["fine_tune"].get("skipped"),
        }
        log("advanced:", {k: v for k, v in acc["advanced"].items()
                          if k != "validation_by_epoch"})
        split = advanced.split()
        assert split == retrained.split()
        train_pairs, valid_pairs = [], []
        for img in project.images(ids=list(split)):
            (train_pairs if split[img.id] == "train" else valid_pairs).append(
                (img.path, img.tags[0]))
        raw_train = [(p.read_bytes(), t, None) for p, t in train_pairs]
        acc["raw_pixels_logistic_regression"] = raw_pixel_baseline(raw_train, test_items)
        log("raw pixels:", acc["raw_pixels_logistic_regression"])
        if not args.skip_fastai:
            acc["fastai_fine_tune"] = fastai_baseline(
                train_pairs, valid_pairs, test_paths, test_labels, adv_wall, size, work)
            log("fastai fine_tune:", acc["fastai_fine_tune"])
        out["accuracy"] = acc

        # -- 3. prediction --------------------------------------------------------------
        from cvbench.export import onnx_runtime

        exported = quick.export("onnx", work / "onnx")
        model = quick.model()
        sample = test_paths[:20]
        quick.predict(sample[0])
        onnx_runtime.predict(exported.path, sample[0])  # warm-up both

        def per_image(fn) -> float:
            times = []
            for p in sample:
                t = time.perf_counter()
                fn(p)
                times.append(time.perf_counter() - t)
            return statistics.median(times) * 1000

        eager_ms = per_image(quick.predict)
        onnx_ms = per_image(lambda p: onnx_runtime.predict(exported.path, p))
        batch = domains.preprocess(domain, [Image.open(p).convert("RGB")
                                            for p in test_paths[:32]], size)
        session = onnx_runtime.load(exported.path).session

        def throughput(fn, reps: int = 3) -> float:
            fn()
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            return reps * len(batch) / (time.perf_counter() - t)

        eager_ips = throughput(lambda: model.probabilities(batch))
        onnx_ips = throughput(lambda: session.run(None, {"input": batch.numpy()}))
        out["prediction"] = {
            "single_image_ms": {"pytorch_eager": round(eager_ms, 1),
                                "onnxruntime": round(onnx_ms, 1)},
            "batch32_images_per_second": {"pytorch_eager": round(eager_ips, 1),
                                          "onnxruntime": round(onnx_ips, 1)},
            "onnx_parity": exported.parity.to_dict(),
            "torch_threads": torch.get_num_threads(),
        }
        log("prediction:", out["prediction"])

        # -- extras ---------------------------------------------------------------------
        if args.extras:
            out["extras"] = extras(project, quick, test_paths, test_labels, size)
        out["machine"]["load_average_at_end"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(out, indent=1, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    return out


def extras(project, quick, test_paths, test_labels, size) -> dict:
    """Head and feature variants measured on the same split and test set."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from cvbench.train.classify import fit_linear_head

    res: dict = {}
    split = quick.split()
    imgs = project.images(ids=list(split))
    tags = quick.tag_names
    train = [i for i in imgs if split[i.id] == "train"]
    y = np.array([tags.index(i.tags[0]) for i in train])
    yte = np.array([tags.index(t) for t in test_labels])
    for domain, dsize in (("General (compact)", size), ("General [A2]", size)):
        t0 = time.perf_counter()
        ftr, _ = _features.project_features(project.store.features,
                                            [(i.sha256, i.path) for i in train],
                                            domain, dsize)
        fte = _features.compute_features(domain, test_paths, dsize)
        feat_seconds = time.perf_counter() - t0
        key = f"{domain} @ {dsize or domains.get_domain(domain).image_size}"
        row: dict = {"feature_seconds": round(feat_seconds, 1)}
        for C in (0.1, 1.0):
            t0 = time.perf_counter()
            w, b = fit_linear_head(ftr, y, multilabel=False, C=C)
            row[f"lbfgs_head_C{C}"] = {
                "accuracy": float(((fte @ w.numpy().T + b.numpy()).argmax(1) == yte).mean()),
                "fit_seconds": round(time.perf_counter() - t0, 3)}
            sc = StandardScaler().fit(ftr)
            t0 = time.perf_counter()
            with threadpool_limits(limits=1):
                lr = LogisticRegression(C=C, max_iter=1000).fit(sc.transform(ftr), y)
            row[f"sklearn_logreg_C{C}"] = {
                "accuracy": float((lr.predict(sc.transform(fte)) == yte).mean()),
                "fit_seconds": round(time.perf_counter() - t0, 3)}
        if domain == "General (compact)":
            t0 = time.perf_counter()
            fflip, _ = _features.project_features(
                project.store.features, [(i.sha256, i.path) for i in train], domain, dsize, flip=True)
            flip_seconds = time.perf_counter() - t0
            w, b = fit_linear_head(np.concatenate([ftr, fflip]), np.concatenate([y, y]),
                                   multilabel=False, C=0.1)
            row["flip_augmented_lbfgs_C0.1"] = {
                "accuracy": float(((fte @ w.numpy().T + b.numpy()).argmax(1) == yte).mean()),
                "extra_feature_seconds": round(flip_seconds, 1)}
        res[key] = row
        log("extras", key, row)
    return res


if __name__ == "__main__":
    main()
