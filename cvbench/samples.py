"""Sample projects built from images that installed packages ship: no network needed.

    import cvbench.samples
    project = cvbench.samples.make_sample("digits", "digits-project", small=True)

``SAMPLES`` is the registry, an explicit dict from a sample's name to a :class:`Sample`.
Every recipe is deterministic: the same name, ``small`` and ``seed`` give the same image
bytes, the same tags and the same boxes. Where each image comes from and under which
license is written in ``datasets/README.md`` and in each sample's ``license`` field.

Recipes, and what they build (default / ``small=True``):

* ``digits`` (multiclass): scikit-learn's ``load_digits`` (UCI optdigits), 8x8 pixels
  upscaled to 64x64 with bicubic interpolation, dark ink on white; tags ``"0"`` … ``"9"``,
  50 images per tag / 8 per tag.
* ``faces`` (multiclass): scikit-image's ``data.lfw_subset()`` (LFW), 25x25 grayscale
  upscaled to 100x100 (bicubic); tags ``"face"`` and ``"not face"``, 100 per tag / 12.
* ``photos`` (multilabel): random square crops, with random horizontal flips, of 13
  photographs from scikit-image and scikit-learn, 224x224; each source photo carries the
  tags that describe it (``"person"``, ``"animal"``, ``"vehicle"``, ``"outdoor"``, …);
  8 crops per photo (104 images) / 5 (65 images), so every tag has 5 images or more.
* ``shapes`` (detection): 320x240 scenes, a background cropped from a scikit-image photo
  with one to three filled shapes drawn on it (``"circle"``, ``"square"``, ``"triangle"``,
  random colours, sizes and rotations) and their exact boxes; 120 images / 30.
* ``quokka`` (detection): imgaug's quokka photo and its one annotated box, as crops that
  keep the whole quokka, some mirrored, at several sizes; 20 images / 15. Needs imgaug
  installed (only its files are read; imgaug is never imported).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ProjectError
from .project import Project, create_project

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = [
    "Sample",
    "SampleItem",
    "SAMPLES",
    "make_sample",
    "list_samples",
    "get_sample",
    "quokka_annotation",
]


@dataclass(frozen=True)
class SampleItem:
    """One image of a sample: encoded bytes, a file name, and its tags or its boxes.

    ``regions`` are ``(tag, left, top, width, height)`` tuples, normalized to [0, 1]
    (cvbench's one box format, see ``cvbench.boxes``); classification items leave it empty.
    """

    data: bytes
    name: str
    tags: tuple[str, ...] = ()
    regions: tuple[tuple[str, float, float, float, float], ...] = ()


@dataclass(frozen=True)
class Sample:
    """A recipe: how to build one sample project, what it holds, where it comes from."""

    name: str
    kind: str
    description: str
    size: str
    source: str
    license: str
    build: Callable[[bool, int], list[SampleItem]] = field(repr=False)

    def items(self, *, small: bool = False, seed: int = 0) -> list[SampleItem]:
        """The images of the sample, with their tags or boxes, without making a project."""
        return self.build(small, seed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "size": self.size,
            "source": self.source,
            "license": self.license,
        }


# -- helpers -------------------------------------------------------------------------------
def _encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=90, optimize=False)
    else:
        img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _to_pil_rgb(array: np.ndarray) -> Image.Image:
    """A uint8 image array (H, W), (H, W, 3) or (H, W, 4) as an RGB PIL image."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got {arr.dtype}")
    if arr.ndim == 2:
        return Image.fromarray(arr, "L").convert("RGB")
    return Image.fromarray(arr[..., :3].copy(), "RGB")


def _rng(name: str, seed: int) -> np.random.Generator:
    """A generator seeded from the sample's name and ``seed`` (stable across runs)."""
    import numpy as np

    digest = hashlib.sha256(f"cvbench-sample:{name}:{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# -- digits --------------------------------------------------------------------------------
def _build_digits(small: bool, seed: int) -> list[SampleItem]:
    from PIL import Image
    from sklearn.datasets import load_digits

    per_tag = 8 if small else 50
    digits = load_digits()
    order = _rng("digits", seed).permutation(len(digits.target))
    taken = {d: 0 for d in range(10)}
    items: list[SampleItem] = []
    for i in order:
        label = int(digits.target[i])
        if taken[label] >= per_tag:
            continue
        taken[label] += 1
        # values are 0 (paper) … 16 (ink): draw dark ink on white, as on the scanned forms
        pixels = (255 - digits.images[i] * (255.0 / 16.0)).round().clip(0, 255)
        img = Image.fromarray(pixels.astype("uint8"), "L").resize(
            (64, 64), Image.Resampling.BICUBIC
        )
        items.append(
            SampleItem(_encode(img.convert("RGB")), f"digit{label}_{int(i):04d}.png", (str(label),))
        )
    return items


# -- faces ---------------------------------------------------------------------------------
def _build_faces(small: bool, seed: int) -> list[SampleItem]:
    from PIL import Image
    from skimage import data

    per_tag = 12 if small else 100
    faces = data.lfw_subset()  # (200, 25, 25) floats in [0, 1]: 100 faces, then 100 not
    items: list[SampleItem] = []
    for tag, block in (("face", range(0, 100)), ("not face", range(100, 200))):
        chosen = sorted(_rng(f"faces:{tag}", seed).permutation(list(block))[:per_tag])
        for i in chosen:
            pixels = (faces[i] * 255.0).round().clip(0, 255).astype("uint8")
            img = Image.fromarray(pixels, "L").resize((100, 100), Image.Resampling.BICUBIC)
            stem = tag.replace(" ", "_")
            items.append(SampleItem(_encode(img.convert("RGB")), f"{stem}_{int(i):03d}.png", (tag,)))
    return items


# -- photos --------------------------------------------------------------------------------
def _skimage(loader: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        if loader == "motorcycle_left":
            return data.stereo_motorcycle()[0]
        if loader == "motorcycle_right":
            return data.stereo_motorcycle()[1]
        return getattr(data, loader)()

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


#: Source photographs of the ``photos`` sample and their tags. Every loader reads a file
#: inside the installed package (scikit-image loaders that need pooch downloads are left out).
_PHOTOS: dict[str, tuple[Callable[[], np.ndarray], tuple[str, ...]]] = {
    "astronaut": (_skimage("astronaut"), ("person",)),
    "camera": (_skimage("camera"), ("person", "outdoor")),
    "chelsea": (_skimage("chelsea"), ("animal",)),
    "coffee": (_skimage("coffee"), ("food",)),
    "rocket": (_skimage("rocket"), ("vehicle", "outdoor", "sky")),
    "motorcycle_left": (_skimage("motorcycle_left"), ("vehicle",)),
    "motorcycle_right": (_skimage("motorcycle_right"), ("vehicle",)),
    "coins": (_skimage("coins"), ("money",)),
    "hubble_deep_field": (_skimage("hubble_deep_field"), ("space", "sky")),
    "immunohistochemistry": (_skimage("immunohistochemistry"), ("microscopy",)),
    "grass": (_skimage("grass"), ("plant", "outdoor")),
    "china": (_sklearn("china.jpg"), ("building", "outdoor", "sky")),
    "flower": (_sklearn("flower.jpg"), ("plant",)),
}
_PHOTO_SIZE = 224


def _random_crop(img: Image.Image, rng: np.random.Generator, *, min_frac: float,
                 max_frac: float, size: int) -> tuple[Image.Image, bool]:
    """A random square crop (side a fraction of the shorter side), resized, maybe mirrored."""
    from PIL import Image

    w, h = img.size
    side = int(round(min(w, h) * rng.uniform(min_frac, max_frac)))
    x = int(rng.integers(0, w - side + 1))
    y = int(rng.integers(0, h - side + 1))
    crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BICUBIC)
    flipped = bool(rng.random() < 0.5)
    if flipped:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return crop, flipped


def _build_photos(small: bool, seed: int) -> list[SampleItem]:
    per_photo = 5 if small else 8
    items: list[SampleItem] = []
    for source, (load, tags) in _PHOTOS.items():
        rng = _rng(f"photos:{source}", seed)
        img = _to_pil_rgb(load())
        for k in range(per_photo):
            crop, _ = _random_crop(img, rng, min_frac=0.55, max_frac=0.95, size=_PHOTO_SIZE)
            items.append(SampleItem(_encode(crop, "JPEG"), f"{source}_{k:02d}.jpg", tags))
    return items


# -- shapes --------------------------------------------------------------------------------
_SHAPE_TAGS = ("circle", "square", "triangle")
_SCENE_W, _SCENE_H = 320, 240
#: Backgrounds: photos with no circles, squares or triangles that stand out.
_BACKGROUNDS = ("grass", "gravel", "brick", "astronaut", "chelsea", "rocket",
                "hubble_deep_field", "immunohistochemistry", "camera", "motorcycle_left")


def _shape_polygon(tag: str, cx: float, cy: float, size: float, angle: float
                   ) -> list[tuple[float, float]]:
    """Vertices of a square or an equilateral triangle of circumradius ``size / 2``."""
    r = size / 2.0
    n, start = (4, math.pi / 4) if tag == "square" else (3, -math.pi / 2)
    return [
        (cx + r * math.cos(start + angle + 2 * math.pi * k / n),
         cy + r * math.sin(start + angle + 2 * math.pi * k / n))
        for k in range(n)
    ]


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _build_shapes(small: bool, seed: int) -> list[SampleItem]:
    from PIL import Image, ImageDraw

    n_images = 30 if small else 120
    rng = _rng("shapes", seed)
    backgrounds = [_to_pil_rgb(_skimage(b)()) for b in _BACKGROUNDS]
    items: list[SampleItem] = []
    next_tag = 0
    for i in range(n_images):
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        scale = max(_SCENE_W / bg.width, _SCENE_H / bg.height) * rng.uniform(1.0, 1.6)
        bg = bg.resize((math.ceil(bg.width * scale), math.ceil(bg.height * scale)),
                       Image.Resampling.BILINEAR)
        x = int(rng.integers(0, bg.width - _SCENE_W + 1))
        y = int(rng.integers(0, bg.height - _SCENE_H + 1))
        scene = bg.crop((x, y, x + _SCENE_W, y + _SCENE_H))
        draw = ImageDraw.Draw(scene)
        boxes: list[tuple[float, float, float, float]] = []
        regions: list[tuple[str, float, float, float, float]] = []
        for _ in range(int(rng.integers(1, 4))):
            tag = _SHAPE_TAGS[next_tag % len(_SHAPE_TAGS)]
            for _attempt in range(50):
                size = float(rng.uniform(28, 96))
                cx = float(rng.uniform(size / 2 + 2, _SCENE_W - size / 2 - 2))
                cy = float(rng.uniform(size / 2 + 2, _SCENE_H - size / 2 - 2))
                if tag == "circle":
                    points = [(cx - size / 2, cy - size / 2), (cx + size / 2, cy + size / 2)]
                else:
                    points = _shape_polygon(tag, cx, cy, size, float(rng.uniform(0, math.pi)))
                x1 = math.floor(min(p[0] for p in points))
                y1 = math.floor(min(p[1] for p in points))
                x2 = math.ceil(max(p[0] for p in points)) + 1
                y2 = math.ceil(max(p[1] for p in points)) + 1
                if all(x2 + 4 <= a or b + 4 <= x1 or y2 + 4 <= c or d + 4 <= y1
                       for a, c, b, d in boxes):
                    break
            else:
                continue  # no free room left in this scene
            fill = _random_color(rng)
            outline = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
            if tag == "circle":
                draw.ellipse(points, fill=fill, outline=outline, width=2)
            else:
                draw.polygon(points, fill=fill, outline=outline, width=2)
            next_tag += 1
            boxes.append((x1, y1, x2, y2))
            regions.append((tag, x1 / _SCENE_W, y1 / _SCENE_H,
                            (x2 - x1) / _SCENE_W, (y2 - y1) / _SCENE_H))
        items.append(SampleItem(_encode(scene, "JPEG"), f"scene_{i:03d}.jpg",
                                regions=tuple(regions)))
    return items


# -- quokka --------------------------------------------------------------------------------
def _quokka_files() -> tuple[Path, Path]:
    """imgaug's ``quokka.jpg`` and ``quokka_annotations.json``, found without importing it."""
    spec = importlib.util.find_spec("imgaug")
    if spec is None or not spec.submodule_search_locations:
        raise ProjectError(
            "the 'quokka' sample reads its photo from the imgaug package, which is not "
            "installed; install it with `pip install imgaug` (it is read, never imported) "
            f"or choose another sample: {sorted(n for n in SAMPLES if n != 'quokka')}"
        )
    for location in spec.submodule_search_locations:
        image = Path(location) / "quokka.jpg"
        notes = Path(location) / "quokka_annotations.json"
        if image.is_file() and notes.is_file():
            return image, notes
    raise ProjectError(
        "the installed imgaug package has no quokka.jpg / quokka_annotations.json; "
        "reinstall it with `pip install --force-reinstall imgaug`"
    )


def quokka_annotation() -> tuple[Path, tuple[float, float, float, float], tuple[int, int]]:
    """imgaug's quokka photo: its path, its box ``x1, y1, x2, y2`` in pixels, its size."""
    from PIL import Image

    image_path, notes_path = _quokka_files()
    box = json.loads(notes_path.read_text())["bounding_boxes"][0]
    with Image.open(image_path) as img:
        size = img.size
    return image_path, (box["x1"], box["y1"], box["x2"], box["y2"]), size


def _build_quokka(small: bool, seed: int) -> list[SampleItem]:
    from PIL import Image

    n_images = 15 if small else 20
    image_path, (bx1, by1, bx2, by2), (w, h) = quokka_annotation()
    with Image.open(image_path) as src:
        photo = src.convert("RGB")
    rng = _rng("quokka", seed)
    items: list[SampleItem] = []
    for i in range(n_images):
        if i == 0:  # the photo as it is, with its annotation
            x1, y1, x2, y2, flip, longest = 0, 0, w, h, False, max(w, h)
        else:  # a crop that keeps the whole quokka, maybe mirrored, at another size
            x1 = int(rng.integers(0, int(bx1) + 1))
            y1 = int(rng.integers(0, int(by1) + 1))
            x2 = int(rng.integers(math.ceil(bx2), w + 1))
            y2 = int(rng.integers(math.ceil(by2), h + 1))
            flip = bool(i % 2)
            longest = int(rng.integers(320, 641))
        cw, ch = x2 - x1, y2 - y1
        scale = longest / max(cw, ch)
        out_w, out_h = max(1, round(cw * scale)), max(1, round(ch * scale))
        img = photo.crop((x1, y1, x2, y2))
        if (out_w, out_h) != (cw, ch):
            img = img.resize((out_w, out_h), Image.Resampling.BICUBIC)
        left, top = (bx1 - x1) / cw, (by1 - y1) / ch
        width, height = (bx2 - bx1) / cw, (by2 - by1) / ch
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            left = 1.0 - left - width
        items.append(SampleItem(_encode(img, "JPEG"), f"quokka_{i:02d}.jpg",
                                regions=(("quokka", left, top, width, height),)))
    return items


# -- registry ------------------------------------------------------------------------------
_SKIMAGE_LICENSE = (
    "scikit-image sample data; per image as its loader's docstring states: astronaut, rocket, "
    "hubble_deep_field: public domain (NASA / SpaceX); camera, chelsea, coffee: CC0; grass, "
    "gravel, brick: CC0; coins, immunohistochemistry: no known copyright restrictions; "
    "motorcycle: Middlebury 2014 stereo benchmark"
)

SAMPLES: dict[str, Sample] = {
    "digits": Sample(
        name="digits",
        kind="multiclass",
        description="handwritten digits 0-9, 8x8 scans upscaled to 64x64 (bicubic)",
        size="500 images, 50 per tag (small: 80, 8 per tag)",
        source="scikit-learn load_digits (UCI ML hand-written digits, optdigits test set)",
        license="CC BY 4.0 (UCI Machine Learning Repository); shipped in scikit-learn (BSD-3)",
        build=_build_digits,
    ),
    "faces": Sample(
        name="faces",
        kind="multiclass",
        description="25x25 grayscale faces and non-faces from LFW, upscaled to 100x100",
        size="200 images, 100 per tag (small: 24, 12 per tag)",
        source="scikit-image data.lfw_subset() (Labeled Faces in the Wild)",
        license="LFW images were collected from news photographs on the web; LFW states no "
                "license; shipped in scikit-image (BSD-3)",
        build=_build_faces,
    ),
    "photos": Sample(
        name="photos",
        kind="multilabel",
        description="224x224 random crops (some mirrored) of 13 photographs, tagged by "
                    "content: person, animal, food, vehicle, outdoor, sky, plant, building, "
                    "space, money, microscopy",
        size="104 images, 8 per photograph (small: 65, 5 per photograph)",
        source="scikit-image skimage.data photographs; scikit-learn sample images "
               "china.jpg and flower.jpg",
        license=_SKIMAGE_LICENSE + "; china.jpg, flower.jpg: CC BY 2.0 (Flickr, see "
                "sklearn/datasets/images/README.txt)",
        build=_build_photos,
    ),
    "shapes": Sample(
        name="shapes",
        kind="detection",
        description="320x240 scenes: a photo background with 1-3 drawn circles, squares "
                    "and triangles (random colours, sizes, rotations) and their exact boxes",
        size="120 images, 81 boxes per tag (small: 30 images, 19-20 boxes per tag)",
        source="generated; backgrounds cropped from scikit-image skimage.data photographs",
        license="shapes: generated by cvbench (Apache-2.0); backgrounds: " + _SKIMAGE_LICENSE,
        build=_build_shapes,
    ),
    "quokka": Sample(
        name="quokka",
        kind="detection",
        description="imgaug's quokka photo with its one annotated box, as crops that keep the "
                    "whole quokka, some mirrored, at several sizes",
        size="20 images, one 'quokka' box each (small: 15)",
        source="imgaug's quokka.jpg and quokka_annotations.json (needs `pip install imgaug`)",
        license="MIT (the imgaug repository's license, which ships the photo)",
        build=_build_quokka,
    ),
}


def get_sample(name: str) -> Sample:
    """The recipe called ``name``; raises ValueError naming the samples there are."""
    try:
        return SAMPLES[name]
    except KeyError:
        raise ValueError(
            f"no sample called {name!r}; the samples are {list(SAMPLES)}"
        ) from None


def list_samples() -> list[Sample]:
    """Every sample recipe, in the order of ``SAMPLES``."""
    return list(SAMPLES.values())


def make_sample(
    name: str,
    dest: str | os.PathLike,
    *,
    small: bool = False,
    seed: int = 0,
    domain: str | None = None,
) -> Project:
    """Build the sample project ``name`` in the folder ``dest`` and return it, opened.

    ``dest`` must not exist or be an empty folder. The project is built in a temporary
    folder beside ``dest`` and renamed into place when complete, so an interrupted build
    leaves nothing behind. ``small=True`` builds a smaller set (for tests and quick looks);
    ``seed`` picks another, equally deterministic, set of images.
    """
    sample = get_sample(name)
    target = Path(dest)
    if target.exists():
        if not target.is_dir():
            raise ProjectError(f"{target} is a file; choose a new folder for the sample project")
        if any(target.iterdir()):
            raise ProjectError(
                f"{target} is not empty; choose a new or empty folder for the sample project"
            )
    items = sample.items(small=small, seed=seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        project = create_project(staging / "project", kind=sample.kind, domain=domain,
                                 name=target.name)
        try:
            _add_items(project, sample, items)
        finally:
            project.close()
        if target.exists():
            target.rmdir()
        os.replace(staging / "project", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Project(target)


def _add_items(project: Project, sample: Sample, items: list[SampleItem]) -> None:
    """Add the items, one call per tag set (classification) or with their boxes."""
    failed: list[str] = []
    if sample.kind == "detection":
        results = project.add_images(
            [it.data for it in items],
            regions=[list(it.regions) for it in items],
            names=[it.name for it in items],
        )
        failed += [f"{r.source}: {r.status} {r.message}" for r in results if r.status != "OK"]
    else:
        groups: dict[tuple[str, ...], list[SampleItem]] = {}
        for it in items:
            groups.setdefault(it.tags, []).append(it)
        for tags, group in groups.items():
            results = project.add_images(
                [it.data for it in group], tags=list(tags), names=[it.name for it in group]
            )
            failed += [f"{r.source}: {r.status} {r.message}" for r in results if r.status != "OK"]
    if failed:
        raise ProjectError(
            f"building the {sample.name!r} sample failed for {len(failed)} images: {failed[:3]}"
        )
