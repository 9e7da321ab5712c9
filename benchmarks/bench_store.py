"""Benchmark of the project store: importing photos, and queries on a 100,000-image project.

    .venv/bin/python benchmarks/bench_store.py            # a table
    .venv/bin/python benchmarks/bench_store.py --json     # the same figures as JSON

1. Import: ``--images`` (1,000) distinct, photo-like 640x480 JPEGs (quality 90), cut from
   the sample photos that scikit-image and scikit-learn ship (random scale, crop, flip,
   brightness and sensor noise), are added from a folder with ``Project.add_images``.
   The baseline, timed in the same run over the same files, is a bare
   ``PIL.Image.open(p).load()`` loop; the ratio is cvbench's images/s over the baseline's.
2. Scale: a project of ``--big`` (100,000) images and ``--tags`` (500) tags at Custom
   Vision's S0 limits. Its rows are inserted directly with SQL in one transaction (the image
   files are not written: no query timed here reads them); 90% of the images carry one tag
   (a multiclass project): one dominant tag holds 30% of the tagged images (~27,000), the
   others follow a Zipf-like law (from ~1,800 images down to a few dozen), and 10% are
   untagged. Timed: opening the project, a page of 100
   images of a tag (largest and smallest tag), the counts per tag (``project.tags`` and
   ``tag_counts()``), a page of untagged images, the count of untagged images,
   ``summary()``, the change counter (``project.revision``), the REST API's queries (a page
   and a count of two tags OR'ed, of tagged images, of a metadata ``$filter`` matching 0.5%
   of the images: a tenth carry a ``camera`` key), the first split computation, and the
   tag operations with their split
   upkeep (the split is kept up to date by every write): tagging one image of the
   dominant tag with the smallest tag (the worst case: its 27,000-image group loses a
   member), untagging one, and what a gallery does (tag, then a page).
3. Boxes at scale (``--skip-detection`` to leave out): the same 100,000 images as a
   detection project, one box on each tagged image. Timed: ``set_regions`` of one image of
   the dominant tag with a box of the smallest tag, split upkeep included, and
   ``summary()`` (with box counts).

Each figure is the median of ``--repeat`` runs of the operation (the import: of
``--import-runs`` runs, each into a fresh project).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import cvbench
from cvbench.store import Store

# -- photos ----------------------------------------------------------------------------------


def sample_photos() -> list[np.ndarray]:
    """The colour photos (and a few grey ones) that scikit-image and scikit-learn ship."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [getattr(skimage.data, name)() for name in (
        "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
        "hubble_deep_field", "retina",
    )]
    photos += list(load_sample_images().images)
    for name in ("camera", "grass", "gravel", "brick"):
        grey = getattr(skimage.data, name)()
        photos.append(np.stack([grey] * 3, axis=-1))
    return [np.ascontiguousarray(p[..., :3]) for p in photos]


def make_photos(folder: Path, n: int, seed: int = 0, size: tuple[int, int] = (640, 480)
                ) -> list[Path]:
    """``n`` distinct photo-like JPEGs of ``size``, quality 90, in ``folder`` (reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"photo_{i:05d}.jpg" for i in range(n)]
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    sources = [Image.fromarray(p) for p in sample_photos()]
    w, h = size
    for i, path in enumerate(paths):
        src = sources[i % len(sources)]
        scale = max(w / src.width, h / src.height) * rng.uniform(1.0, 1.6)
        big = src.resize((int(src.width * scale) + 1, int(src.height * scale) + 1),
                         Image.Resampling.BILINEAR)
        x = int(rng.integers(0, big.width - w + 1))
        y = int(rng.integers(0, big.height - h + 1))
        arr = np.asarray(big.crop((x, y, x + w, y + h)), dtype=np.float32)
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        arr = arr * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20)
        arr += rng.normal(0, 3.0, arr.shape)
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        img.save(path, "JPEG", quality=90)
    return paths


# -- 1. import -------------------------------------------------------------------------------


def bench_baseline(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as img:
            img.load()
    return time.perf_counter() - start


def bench_import_once(paths: list[Path], workdir: Path, profile: bool = False) -> float:
    root = workdir / f"import-{uuid.uuid4().hex[:8]}"
    project = cvbench.create_project(root, kind="multiclass")
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    results = project.add_images(paths, tags="photo")
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - start
    bad = [r for r in results if r.status != "OK"]
    if bad:
        raise RuntimeError(f"{len(bad)} images were not added, e.g. {bad[0]}")
    project.close()
    shutil.rmtree(root)
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return elapsed


def bench_import(paths: list[Path], workdir: Path, runs: int, profile: bool) -> dict:
    n = len(paths)
    for p in paths:  # the files in the page cache for both contenders
        p.read_bytes()
    base, ours = [], []
    for _ in range(runs):  # alternate, so that both see the same machine load
        base.append(n / bench_baseline(paths))
        ours.append(n / bench_import_once(paths, workdir, profile and not ours))
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    return {
        "images": n,
        "baseline_images_per_s": statistics.median(base),
        "cvbench_images_per_s": statistics.median(ours),
        "ratio": statistics.median(ratios),
        "runs": {"baseline": base, "cvbench": ours},
    }


# -- 2. a project at S0 scale ----------------------------------------------------------------


def build_big_project(root: Path, n_images: int, n_tags: int, seed: int = 0, *,
                      kind: str = "multiclass") -> None:
    """A project of ``n_images`` rows and ``n_tags`` tags, written with SQL in one
    transaction (no image files: the timed queries do not read them). A detection project
    gets one box (the middle quarter of the image) per tagged image."""
    rng = np.random.default_rng(seed)
    cvbench.create_project(root, kind=kind).close()
    store = Store.open(root)
    sql = store.sql
    tag_ids = [str(uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | k)) for k in range(n_tags)]
    weights = 1.0 / (np.arange(n_tags) + 10.0)
    weights[0] = 0.0
    weights *= 0.7 / weights.sum()
    weights[0] = 0.3  # one dominant tag, as real data sets often have
    tagged = rng.random(n_images) < 0.9
    which = rng.choice(n_tags, size=n_images, p=weights)
    now = "2026-01-01T00:00:00.000000+00:00"
    with store.transaction():
        sql.write_many(
            "INSERT INTO tags (id, name, type, description, created) VALUES (?, ?, ?, '', ?)",
            [(t, f"tag {k:03d}", "Regular", now) for k, t in enumerate(tag_ids)],
        )
        image_ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n_images)]
        sql.write_many(
            "INSERT INTO images (id, sha256, ext, width, height, bytes, original_name, created, "
            "seq) VALUES (?, ?, 'jpg', 640, 480, 60000, ?, ?, ?)",
            (
                (image_ids[i], hashlib.sha256(b"%d" % i).hexdigest(), f"photo_{i:06d}.jpg",
                 now, i + 1)
                for i in range(n_images)
            ),
        )
        sql.write_many(
            "INSERT INTO image_tags (image_id, tag_id) VALUES (?, ?)",
            ((image_ids[i], tag_ids[which[i]]) for i in range(n_images) if tagged[i]),
        )
        # metadata on a tenth of the images (Custom Vision's $filter runs on it)
        sql.write_many(
            "INSERT INTO image_metadata (image_id, key, value) VALUES (?, 'camera', ?)",
            ((image_ids[i], "a" if i % 20 == 0 else "b") for i in range(0, n_images, 10)),
        )
        if kind == "detection":
            sql.write_many(
                "INSERT INTO regions (id, image_id, tag_id, left, top, width, height) "
                "VALUES (?, ?, ?, 0.25, 0.25, 0.5, 0.5)",
                ((f"r{i}", image_ids[i], tag_ids[which[i]])
                 for i in range(n_images) if tagged[i]),
            )
        store.meta.set("seq", str(n_images))
        store.meta.set("split_dirty", "1")
    sql.rows("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_big(root: Path, repeat: int) -> dict:
    out: dict[str, float] = {}

    def open_close() -> None:
        cvbench.open_project(root).close()

    out["open_s"] = timed(open_close, repeat)
    p = cvbench.open_project(root)
    start = time.perf_counter()
    p.ensure_split()
    out["first_split_s"] = time.perf_counter() - start
    counts = p.tag_counts()
    largest = max(counts, key=counts.get)
    smallest = min(counts, key=counts.get)
    out["largest_tag_images"] = counts[largest]
    out["smallest_tag_images"] = counts[smallest]
    out["page_largest_tag_s"] = timed(lambda: p.images(tag=largest, take=100), repeat)
    second = sorted(counts, key=counts.get)[-2]
    out["second_tag_images"] = counts[second]
    out["page_second_tag_s"] = timed(lambda: p.images(tag=second, take=100), repeat)
    out["page_smallest_tag_s"] = timed(lambda: p.images(tag=smallest, take=100), repeat)
    out["page_deep_s"] = timed(lambda: p.images(skip=50_000, take=100), repeat)
    out["tags_s"] = timed(lambda: p.tags, repeat)
    out["tag_counts_s"] = timed(p.tag_counts, repeat)
    out["page_untagged_s"] = timed(lambda: p.images(untagged=True, take=100), repeat)
    out["count_untagged_s"] = timed(lambda: p.count_images(untagged=True), repeat)
    out["page_validation_s"] = timed(lambda: p.images(split="validation", take=100), repeat)
    out["summary_s"] = timed(p.summary, repeat)
    out["revision_s"] = timed(lambda: p.revision, repeat)
    two = [largest, second]
    out["page_two_tags_s"] = timed(lambda: p.images(tags=two, take=100), repeat)
    out["count_two_tags_s"] = timed(lambda: p.count_images(tags=two), repeat)
    out["page_tagged_s"] = timed(lambda: p.images(tagged=True, take=100), repeat)
    out["count_tagged_in_split_s"] = timed(
        lambda: p.count_images(tagged=True, split="validation"), repeat)
    flt = "camera eq 'a'"  # 0.5% of the images
    out["page_metadata_filter_s"] = timed(lambda: p.images(metadata_filter=flt, take=100),
                                          repeat)
    out["count_metadata_filter_s"] = timed(lambda: p.count_images(metadata_filter=flt),
                                           repeat)

    image_ids = [im.id for im in p.images(tag=largest, take=4 * repeat)]

    def retag_and_split(state={"k": 0}) -> None:  # noqa: B006 - a counter across calls
        k = state["k"]
        state["k"] += 1
        p.tag_images(image_ids[k % len(image_ids)], smallest)

    times_tag, times_split = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        retag_and_split()
        times_tag.append(time.perf_counter() - start)
        start = time.perf_counter()
        p.ensure_split()
        times_split.append(time.perf_counter() - start)
    out["tag_one_image_s"] = statistics.median(times_tag)
    out["split_after_tag_change_s"] = statistics.median(times_split)
    untag = iter(image_ids[2 * repeat:])
    out["untag_one_image_s"] = timed(lambda: p.untag_images(next(untag)), repeat)

    def tag_then_page() -> None:  # what a gallery does: tag, then show the page again
        retag_and_split()
        p.images(tag=largest, take=100)

    out["page_after_tag_change_s"] = timed(tag_then_page, repeat)
    p.close()
    return out


def bench_boxes(root: Path, repeat: int) -> dict:
    """Boxes on a detection project at scale: ``set_regions`` with its split upkeep."""
    out: dict[str, float] = {}
    p = cvbench.open_project(root)
    start = time.perf_counter()
    p.ensure_split()
    out["first_split_detection_s"] = time.perf_counter() - start
    counts = p.tag_counts()
    largest = max(counts, key=counts.get)
    smallest = min(counts, key=counts.get)
    image_ids = iter([im.id for im in p.images(tag=largest, take=repeat)])
    box = {"tag": smallest, "left": 0.1, "top": 0.1, "width": 0.3, "height": 0.3}
    out["set_box_s"] = timed(lambda: p.set_regions(next(image_ids), [box]), repeat)
    out["summary_detection_s"] = timed(p.summary, repeat)
    p.close()
    return out


# -- report ----------------------------------------------------------------------------------

TARGETS = {
    "cvbench_images_per_s": (">=", 150.0),
    "open_s": ("<", 0.5),
    "page_largest_tag_s": ("<", 0.05),
    "page_second_tag_s": ("<", 0.05),
    "page_smallest_tag_s": ("<", 0.05),
    "tags_s": ("<", 0.05),
    "tag_counts_s": ("<", 0.05),
    "page_untagged_s": ("<", 0.05),
    "count_untagged_s": ("<=", 0.01),
    "summary_s": ("<=", 0.1),
    "revision_s": ("<=", 0.001),
    "page_two_tags_s": ("<", 0.05),
    "count_two_tags_s": ("<", 0.05),
    "page_tagged_s": ("<", 0.05),
    "count_tagged_in_split_s": ("<", 0.1),
    "page_metadata_filter_s": ("<", 0.05),
    "count_metadata_filter_s": ("<", 0.05),
    "tag_one_image_s": ("<=", 0.02),
    "untag_one_image_s": ("<=", 0.02),
    "set_box_s": ("<=", 0.02),
    "summary_detection_s": ("<=", 0.1),
}

LABELS = {
    "baseline_images_per_s": ("import: bare PIL open+load loop", "images/s"),
    "cvbench_images_per_s": ("import: Project.add_images", "images/s"),
    "ratio": ("import: cvbench / baseline", "x"),
    "open_s": ("100k: open_project", "ms"),
    "first_split_s": ("100k: first split computation", "ms"),
    "page_largest_tag_s": ("100k: page of 100, largest tag", "ms"),
    "page_second_tag_s": ("100k: page of 100, second largest tag", "ms"),
    "page_smallest_tag_s": ("100k: page of 100, smallest tag", "ms"),
    "page_deep_s": ("100k: page of 100 at skip=50,000", "ms"),
    "tags_s": ("100k: project.tags (500 counts)", "ms"),
    "tag_counts_s": ("100k: tag_counts()", "ms"),
    "page_untagged_s": ("100k: page of 100 untagged", "ms"),
    "count_untagged_s": ("100k: count untagged", "ms"),
    "page_validation_s": ("100k: page of 100 in validation", "ms"),
    "summary_s": ("100k: summary()", "ms"),
    "revision_s": ("100k: project.revision", "ms"),
    "page_two_tags_s": ("100k: page of 100, two largest tags (OR)", "ms"),
    "count_two_tags_s": ("100k: count, two largest tags (OR)", "ms"),
    "page_tagged_s": ("100k: page of 100 tagged", "ms"),
    "count_tagged_in_split_s": ("100k: count tagged in validation", "ms"),
    "page_metadata_filter_s": ("100k: page of 100, $filter camera eq 'a'", "ms"),
    "count_metadata_filter_s": ("100k: count, $filter camera eq 'a'", "ms"),
    "tag_one_image_s": ("100k: tag_images(one image), split incl.", "ms"),
    "split_after_tag_change_s": ("100k: ensure_split() after it", "ms"),
    "untag_one_image_s": ("100k: untag_images(one image), split incl.", "ms"),
    "page_after_tag_change_s": ("100k: tag one image + page of 100", "ms"),
    "first_split_detection_s": ("100k boxes: first split computation", "ms"),
    "set_box_s": ("100k boxes: set_regions(one image), split incl.", "ms"),
    "summary_detection_s": ("100k boxes: summary()", "ms"),
}


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    import PIL

    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def table(results: dict) -> str:
    flat = {**results.get("import", {}), **results.get("scale", {}),
            **results.get("boxes", {})}
    lines = [f"{'measure':<40} {'value':>10}  {'unit':<9} target", "-" * 72]
    for key, (label, unit) in LABELS.items():
        if key not in flat:
            continue
        value = flat[key]
        shown = value * 1000 if unit == "ms" else value
        target = ""
        if key in TARGETS:
            op, limit = TARGETS[key]
            ok = {">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]
            limit_shown = limit * 1000 if unit == "ms" else limit
            target = f"{op} {limit_shown:g} {'ok' if ok else 'MISSED'}"
        digits = 2 if unit == "x" else 1
        lines.append(f"{label:<40} {shown:>10.{digits}f}  {unit:<9} {target}")
    m = results["machine"]
    lines.append(
        f"\n{m['nproc']} cores, {m['cpu']}, Python {m['python']}, Pillow {m['pillow']}, "
        f"SQLite {m['sqlite']}, load average at start {m['load_average_at_start']:.1f}"
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000, help="photos to import (1000)")
    ap.add_argument("--import-runs", type=int, default=3, help="import runs; the median (3)")
    ap.add_argument("--big", type=int, default=100_000, help="images of the big project")
    ap.add_argument("--tags", type=int, default=500, help="tags of the big project")
    ap.add_argument("--repeat", type=int, default=7, help="repeats of each query; the median")
    ap.add_argument("--data", type=Path, default=None,
                    help="folder for the generated photos (kept; default: a temporary one)")
    ap.add_argument("--skip-import", action="store_true")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-detection", action="store_true",
                    help="leave out the detection project (boxes at scale)")
    ap.add_argument("--profile", action="store_true", help="cProfile one import (stderr)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return ap


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    results: dict = {"machine": machine(), "command": " ".join(["benchmarks/bench_store.py",
                                                               *(argv or sys.argv[1:])])}
    with tempfile.TemporaryDirectory(prefix="cvbench-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_import:
            folder = args.data or work / "photos"
            paths = make_photos(folder, args.images)
            results["import"] = bench_import(paths, work, args.import_runs, args.profile)
        if not args.skip_scale:
            root = work / "big"
            start = time.perf_counter()
            build_big_project(root, args.big, args.tags)
            results["build_big_s"] = time.perf_counter() - start
            results["scale"] = bench_big(root, args.repeat)
            results["scale"]["images"] = args.big
            results["scale"]["tags"] = args.tags
            shutil.rmtree(root)
            if not args.skip_detection:
                boxes = work / "boxes"
                build_big_project(boxes, args.big, args.tags, kind="detection")
                results["boxes"] = bench_boxes(boxes, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results))
    return results


if __name__ == "__main__":
    main()
