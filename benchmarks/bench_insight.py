"""How fast "see why" is: saliency per image at 224 px, and dataset health on 10,000 images
whose features are cached.

    python benchmarks/bench_insight.py [--images 10000] [--threads 2]

Saliency: a quick classifier trained on 48 drawn shapes, then the heat map of 20 new
224 px images (the first call, which copies the network, is reported apart). Health: a
multiclass project of N small images in 10 tags whose taps are put into the feature cache
directly (as quick training leaves them), then ``project.health()`` end to end: reading
the images and the cached vectors, duplicates, mislabels, outliers, balance, problems.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import cvbench
from cvbench.train import features as _features


def _shape(tag: str, seed: int, side: int = 224) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(60, 200, 3)))
    s = int(rng.integers(side * 0.3, side * 0.42))
    x, y = (int(v) for v in rng.integers(0, side - s, 2))
    draw = ImageDraw.Draw(img)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    if tag == "circle":
        draw.ellipse([x, y, x + s, y + s], fill=colour)
    else:
        draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
    return img


def bench_saliency(root: Path) -> dict[str, float]:
    project = cvbench.create_project(root / "saliency")
    for k, tag in enumerate(("circle", "triangle")):
        project.add_images([_shape(tag, 1000 * k + i) for i in range(24)], tags=tag)
    it = project.train("quick", progress_bar=False)
    images = [_shape(("circle", "triangle")[k % 2], 9000 + k) for k in range(21)]
    t0 = time.perf_counter()
    it.saliency(images[0])
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for img in images[1:]:
        it.saliency(img)
    per_image = (time.perf_counter() - t0) / (len(images) - 1)
    project.close()
    return {"saliency_first_s": round(first, 3), "saliency_per_image_s": round(per_image, 3)}


def bench_health(root: Path, n: int) -> dict[str, float]:
    project = cvbench.create_project(root / "health")
    rng = np.random.default_rng(0)
    tags = [f"tag{k}" for k in range(10)]
    t0 = time.perf_counter()
    for start in range(0, n, 500):
        for tag in tags:
            batch = []
            for _ in range(start // 10, min(n, start + 500) // 10):
                buf = io.BytesIO()
                px = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
                Image.fromarray(px).save(buf, "PNG")
                batch.append(buf.getvalue())
            project.add_images(batch, tags=tag)
    build = time.perf_counter() - t0
    stored = project.images(order="oldest")
    key = _features.feature_key(project.domain, None, part="taps")
    width = _features.taps_layout(project.domain)["pixels"][1]
    centres = rng.normal(0, 1, (len(tags), width)).astype(np.float32)
    index = {t: k for k, t in enumerate(tags)}
    vectors = np.stack([np.abs(centres[index[i.tags[0]]] + rng.normal(0, 0.8, width))
                        for i in stored]).astype(np.float32)
    project.store.features.put(key, [i.sha256 for i in stored], vectors)
    t0 = time.perf_counter()
    report = project.health()
    seconds = time.perf_counter() - t0
    assert report.features["computed"] == 0, report.features
    project.close()
    return {"health_images": len(stored), "health_s": round(seconds, 2),
            "project_build_s": round(build, 1), "mislabels": len(report.mislabels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(bench_saliency(root), flush=True)
        print(bench_health(root, args.images), flush=True)


if __name__ == "__main__":
    main()
