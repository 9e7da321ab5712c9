"""Harder benchmark sets, generated from data that packages ship: the recipe that rebuilds them.

    .venv/bin/python benchmarks/hard_sets.py --out /tmp/hard   # writes every set, seeds 0-2

Every set is drawn from a seed, so a benchmark that says "seed 1" can be rebuilt exactly.
Backgrounds are photos shipped inside scikit-image and scikit-learn (no download).

* ``shapes6`` (detection, hard): 320x240 scenes, 2-7 objects of 24-64 px each, six tags of
  which four look alike: ``circle``, ``octagon``, ``hexagon`` and ``pentagon`` (turned at
  random), plus ``triangle`` and ``star``. Colours are often close to the background, half
  the shapes have no outline, some scenes are blurred, JPEG quality 70. Clutter that is
  not to be found: ellipses (aspect 1.3-2), rings, line segments and thin bars.
* ``shapes3`` (detection, easy): cvbench's own ``shapes`` sample (1-3 circles, squares and
  triangles of 28-96 px per 320x240 scene).
* ``shapes10`` (classification, hard): 10 tags of small images (32x32 px): circle, ring,
  square, diamond, triangle_up, triangle_down, pentagon, hexagon, star, cross, one shape
  per image in a random colour, size and place on a photo crop, with clutter lines.
* ``digits`` (classification): scikit-learn's ``load_digits``, upscaled to 64x64.

A set is a :class:`Split` of three lists (train, validation, test) of :class:`Item`:
benchmarks put train and validation into a project (with the split given), and keep the
test items outside it until testing.
"""

from __future__ import annotations

import argparse
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["Item", "Split", "SETS", "build", "to_project"]

_BACKGROUNDS = ("grass", "gravel", "brick", "astronaut", "chelsea", "rocket",
                "hubble_deep_field", "immunohistochemistry", "camera", "coffee", "coins")


@dataclass
class Item:
    """One image: encoded bytes, its tag (classification) or its boxes (detection:
    ``(tag, left, top, width, height)`` normalized)."""

    data: bytes
    name: str
    tag: str | None = None
    regions: list[tuple[str, float, float, float, float]] = field(default_factory=list)


@dataclass
class Split:
    kind: str  # "multiclass" or "detection"
    tags: list[str]
    train: list[Item]
    validation: list[Item]
    test: list[Item]


def _encode(img: Image.Image, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


_BG_CACHE: dict[str, Image.Image] = {}


def _background(name: str) -> Image.Image:
    if name not in _BG_CACHE:
        from skimage import data

        arr = getattr(data, name)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        if arr.dtype != np.uint8:
            arr = (255 * (arr - arr.min()) / max(1e-9, float(np.ptp(arr)))).astype(np.uint8)
        _BG_CACHE[name] = Image.fromarray(arr[..., :3])
    return _BG_CACHE[name]


def _crop(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    bg = _background(_BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))])
    scale = max(w / bg.width, h / bg.height) * rng.uniform(1.0, 2.0)
    bg = bg.resize((math.ceil(bg.width * scale), math.ceil(bg.height * scale)),
                   Image.Resampling.BILINEAR)
    x = int(rng.integers(0, bg.width - w + 1))
    y = int(rng.integers(0, bg.height - h + 1))
    return bg.crop((x, y, x + w, y + h))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.55, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _polygon(n: int, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(angle + 2 * math.pi * k / n),
             cy + r * math.sin(angle + 2 * math.pi * k / n)) for k in range(n)]


def _star(cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else 0.45 * r
        a = angle - math.pi / 2 + math.pi * k / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _draw_shape(draw: ImageDraw.ImageDraw, tag: str, cx: float, cy: float, size: float,
                rng: np.random.Generator, *, fill: tuple[int, int, int] | None = None,
                outline: tuple[int, int, int] | None | bool = True,
                turn: float | None = None) -> None:
    """Draw shape ``tag`` whose bounding box is about ``size`` wide, centred at (cx, cy).
    ``turn`` (radians) turns the hexagon and pentagon (default: upright, +-8 degrees)."""
    fill = _colour(rng) if fill is None else fill
    if outline is True:
        outline = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    elif outline is False:
        outline = None
    r = size / 2
    jitter = math.radians(float(rng.uniform(-8, 8))) if turn is None else turn
    if tag == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=2)
    elif tag == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=None, outline=fill,
                     width=max(2, int(size / 5)))
    elif tag == "square":
        draw.polygon(_polygon(4, cx, cy, r * math.sqrt(2) * 0.98, math.pi / 4 + jitter),
                     fill=fill, outline=outline, width=2)
    elif tag == "diamond":
        draw.polygon(_polygon(4, cx, cy, r, jitter), fill=fill, outline=outline, width=2)
    elif tag == "triangle_up":
        draw.polygon(_polygon(3, cx, cy + r * 0.15, r * 1.1, -math.pi / 2 + jitter),
                     fill=fill, outline=outline, width=2)
    elif tag == "triangle_down":
        draw.polygon(_polygon(3, cx, cy - r * 0.15, r * 1.1, math.pi / 2 + jitter),
                     fill=fill, outline=outline, width=2)
    elif tag == "pentagon":
        draw.polygon(_polygon(5, cx, cy, r, -math.pi / 2 + jitter), fill=fill,
                     outline=outline, width=2)
    elif tag in ("octagon", "triangle"):  # turned at random
        n = 8 if tag == "octagon" else 3
        draw.polygon(_polygon(n, cx, cy, r, float(rng.uniform(0, 2 * math.pi))), fill=fill,
                     outline=outline)
    elif tag == "hexagon":
        draw.polygon(_polygon(6, cx, cy, r, jitter), fill=fill, outline=outline, width=2)
    elif tag == "star":
        draw.polygon(_star(cx, cy, r, jitter), fill=fill, outline=outline, width=1)
    elif tag == "cross":
        t = size / 6
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
    else:  # pragma: no cover
        raise ValueError(tag)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, n: int,
             scale: float) -> None:
    """Things that are no tag: segments, elongated ellipses, thin bars."""
    for _ in range(n):
        kind = int(rng.integers(3))
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        c = _colour(rng)
        if kind == 0:
            a, length = rng.uniform(0, math.pi), rng.uniform(0.5, 1.5) * scale
            draw.line([x, y, x + length * math.cos(a), y + length * math.sin(a)], fill=c,
                      width=int(rng.integers(1, 4)))
        elif kind == 1:
            a, b = rng.uniform(0.4, 0.8) * scale, rng.uniform(0.08, 0.2) * scale
            if rng.random() < 0.5:
                a, b = b, a
            draw.ellipse([x - a, y - b, x + a, y + b], fill=c)
        else:
            a, b = rng.uniform(0.5, 1.0) * scale, rng.uniform(0.04, 0.1) * scale
            draw.rectangle([x - a, y - b, x + a, y + b], fill=c)


SHAPES6 = ("circle", "octagon", "hexagon", "pentagon", "triangle", "star")
SHAPES10 = ("circle", "ring", "square", "diamond", "triangle_up", "triangle_down",
            "pentagon", "hexagon", "star", "cross")


def _hard_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int,
                  n: int) -> None:
    """Untagged look-alikes: ellipses of aspect 1.3-2 and rings."""
    for _ in range(n):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        a = float(rng.uniform(10, 30))
        if rng.random() < 0.6:
            b = a / float(rng.uniform(1.3, 2.0))
            if rng.random() < 0.5:
                a, b = b, a
            draw.ellipse([x - a, y - b, x + a, y + b], fill=_colour(rng))
        else:
            draw.ellipse([x - a, y - a, x + a, y + a], outline=_colour(rng),
                         width=int(rng.integers(2, 5)))


def _scene(rng: np.random.Generator, k: int, tags: tuple[str, ...], *, w: int = 320,
           h: int = 240, n_objects: tuple[int, int] = (2, 7),
           sizes: tuple[float, float] = (24, 64)) -> Item:
    from PIL import ImageFilter

    scene = _crop(rng, w, h)
    draw = ImageDraw.Draw(scene)
    _clutter(draw, rng, w, h, int(rng.integers(3, 9)), 40.0)
    _hard_clutter(draw, rng, w, h, int(rng.integers(1, 5)))
    pixels = np.asarray(scene, dtype=np.float64)
    boxes: list[tuple[float, float, float, float]] = []
    regions = []
    for _ in range(int(rng.integers(n_objects[0], n_objects[1] + 1))):
        tag = tags[int(rng.integers(len(tags)))]
        for _attempt in range(50):
            size = float(rng.uniform(*sizes))
            cx = float(rng.uniform(size / 2 + 2, w - size / 2 - 2))
            cy = float(rng.uniform(size / 2 + 2, h - size / 2 - 2))
            x1, y1, x2, y2 = cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2
            if all(x2 + 3 <= a or b + 3 <= x1 or y2 + 3 <= c or d + 3 <= y1
                   for a, c, b, d in boxes):
                break
        else:
            continue
        fill = _colour(rng)
        if rng.random() < 0.5:  # low contrast: halfway to the background under the shape
            under = pixels[int(y1):int(y2) + 1, int(x1):int(x2) + 1].reshape(-1, 3).mean(0)
            fill = tuple(int(0.45 * f + 0.55 * u) for f, u in zip(fill, under, strict=True))
        _draw_shape(draw, tag, cx, cy, size, rng, fill=fill, outline=bool(rng.random() < 0.5),
                    turn=float(rng.uniform(0, 2 * math.pi)))
        boxes.append((x1, y1, x2, y2))
        regions.append((tag, x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h))
    if rng.random() < 0.3:
        scene = scene.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.2))))
    return Item(_encode(scene, "JPEG", quality=70), f"scene_{k:04d}.jpg", regions=regions)


def shapes6(seed: int, n_train: int = 150, n_val: int = 40, n_test: int = 60) -> Split:
    rng = np.random.default_rng([6, seed])
    items = [_scene(rng, k, SHAPES6) for k in range(n_train + n_val + n_test)]
    return Split("detection", list(SHAPES6), items[:n_train],
                 items[n_train:n_train + n_val], items[n_train + n_val:])


def shapes3(seed: int, n_train: int = 120, n_val: int = 30, n_test: int = 40) -> Split:
    from cvbench.samples import get_sample

    sample = get_sample("shapes")
    items: list[Item] = []
    for offset in range(3):  # a sample draw has 120 scenes: draw as many as needed
        for it in sample.items(seed=3 * seed + offset):
            items.append(Item(it.data, f"{offset}_{it.name}",
                              regions=[tuple(r) for r in it.regions]))  # type: ignore[misc]
    n = n_train + n_val + n_test
    items = items[:n]
    return Split("detection", ["circle", "square", "triangle"], items[:n_train],
                 items[n_train:n_train + n_val], items[n_train + n_val:n])


def shapes10(seed: int, per_tag: int = 50, val_per_tag: int = 13, test_per_tag: int = 30,
             side: int = 32) -> Split:
    rng = np.random.default_rng([10, seed])
    train, val, test = [], [], []
    for tag in SHAPES10:
        for k in range(per_tag + val_per_tag + test_per_tag):
            big = 4 * side  # drawn at 4x, then reduced: antialiased small images
            img = _crop(rng, big, big)
            draw = ImageDraw.Draw(img)
            _clutter(draw, rng, big, big, int(rng.integers(0, 3)), big * 0.4)
            size = float(rng.uniform(0.45, 0.85)) * big
            cx = float(rng.uniform(size / 2, big - size / 2))
            cy = float(rng.uniform(size / 2, big - size / 2))
            _draw_shape(draw, tag, cx, cy, size, rng)
            small = img.resize((side, side), Image.Resampling.BOX)
            item = Item(_encode(small), f"{tag}_{k:03d}.png", tag=tag)
            (train if k < per_tag else val if k < per_tag + val_per_tag else test).append(item)
    return Split("multiclass", list(SHAPES10), train, val, test)


def digits(seed: int, per_tag: int = 50, val_per_tag: int = 13, test_per_tag: int = 30) -> Split:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng([64, seed])
    train, val, test = [], [], []
    for label in range(10):
        idx = np.flatnonzero(d.target == label)
        rng.shuffle(idx)
        for k, i in enumerate(idx[: per_tag + val_per_tag + test_per_tag]):
            ink = np.clip(d.images[i] * 16.0, 0, 255).astype(np.uint8)
            img = Image.fromarray(255 - ink, "L").resize((64, 64), Image.Resampling.BICUBIC)
            item = Item(_encode(img), f"{label}_{k:03d}.png", tag=str(label))
            (train if k < per_tag else val if k < per_tag + val_per_tag else test).append(item)
    return Split("multiclass", [str(i) for i in range(10)], train, val, test)


#: set name -> builder(seed) -> Split
SETS: dict[str, Callable[[int], Split]] = {
    "shapes6": shapes6, "shapes3": shapes3, "shapes10": shapes10, "digits": digits,
}


def build(name: str, seed: int) -> Split:
    try:
        return SETS[name](seed)
    except KeyError:
        raise ValueError(f"set={name!r} is not a benchmark set; sets are {sorted(SETS)}") from None


def to_project(split: Split, path: Path, *, domain: str = "General (compact)"):
    """A cvbench project holding ``split.train`` and ``split.validation`` in those splits."""
    import cvbench

    project = cvbench.create_project(path, kind=split.kind, domain=domain)
    ids: dict[str, list[str]] = {"train": [], "validation": []}
    for name, items in (("train", split.train), ("validation", split.validation)):
        if split.kind == "detection":
            res = project.add_images([i.data for i in items], names=[i.name for i in items],
                                     regions=[list(i.regions) for i in items])
            ids[name] += [r.image_id for r in res if r.ok]
        else:
            for tag in split.tags:
                chunk = [i for i in items if i.tag == tag]
                res = project.add_images([i.data for i in chunk], names=[i.name for i in chunk],
                                         tags=[tag])
                ids[name] += [r.image_id for r in res if r.ok]
    for name, chosen in ids.items():
        project.set_split(chosen, name)
    return project


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    for name in args.sets.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            split = build(name, seed)
            root = args.out / name / f"seed{seed}"
            for part in ("train", "validation", "test"):
                folder = root / part
                folder.mkdir(parents=True, exist_ok=True)
                labels = {}
                for item in getattr(split, part):
                    (folder / item.name).write_bytes(item.data)
                    labels[item.name] = item.tag if split.kind != "detection" else item.regions
                (folder / "labels.json").write_text(json.dumps(labels))
            print(f"{name} seed {seed}: {len(split.train)} train, {len(split.validation)} "
                  f"validation, {len(split.test)} test -> {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
