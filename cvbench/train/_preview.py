"""What advanced training's augmentation makes of an image, to look at before training.

The views come from the very functions training calls: for classification
:func:`cvbench.train._classify_advanced.augment_view` (the random views of the cached
path: a crop of 60-100 % of the area, colour jitter, a mirror half of the time), for
detection :func:`cvbench.train._detect_fit.augmented_views` on the images squashed to the
detector's input side, with the boxes that survive each crop drawn on the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["preview_augmentations", "PREVIEW_COLORS"]

#: Colours of the boxes drawn on detection views, by label index (cycling).
PREVIEW_COLORS: tuple[str, ...] = ("#0078d4", "#d83b01", "#107c10", "#8764b8", "#e3008c",
                                   "#008575", "#986f0b", "#a4262c")


def _check(n: int, seed: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} should be a whole number of views, at least 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} should be a whole number")


def preview_augmentations(images: Sequence[Any], n: int = 6, seed: int = 0, *,
                          boxes: Sequence[Any] | None = None,
                          labels: Sequence[Any] | None = None,
                          size: int = 320,
                          colors: Sequence[str] = PREVIEW_COLORS) -> list[list[Image.Image]]:
    """``n`` augmented views of each of ``images`` (paths, bytes or PIL images), as advanced
    training makes them, from the random generator seeded with ``seed``: one list of ``n``
    RGB PIL images per image.

    Classification (``boxes`` None): each view has the image's own size. Detection: give
    each image's ``boxes`` (``(K, 4)`` normalized ``x0, y0, x1, y1``) and ``labels``
    (``(K,)`` label indices); the views are ``size`` px squares (the detector's input) with
    the boxes drawn in ``colors[label]``.
    """
    _check(n, seed)
    images = list(images)
    if boxes is None:
        if labels is not None:
            raise ValueError("labels go with boxes (detection); give both, or neither")
        return _classification(images, n, seed)
    if labels is None or len(boxes) != len(images) or len(labels) != len(images):
        raise ValueError(
            f"detection needs boxes and labels for every image: {len(images)} images, "
            f"{len(boxes)} boxes, {'no' if labels is None else len(labels)} labels")
    if not colors:
        raise ValueError("colors should hold at least one colour (#rrggbb)")
    return _detection(images, list(boxes), list(labels), n, seed, size, colors)


def _classification(images: list[Any], n: int, seed: int) -> list[list[Image.Image]]:
    from ..store.images import load_rgb
    from ._classify_advanced import augment_view

    rng = np.random.default_rng(seed)
    pictures = [load_rgb(i) for i in images]
    # the order training draws them in: one view of every image, then the next view
    views: list[list[Image.Image]] = [[] for _ in pictures]
    for _ in range(n):
        for k, p in enumerate(pictures):
            views[k].append(augment_view(p, rng).convert("RGB"))
    return views


def _detection(images: list[Any], boxes: list[Any], labels: list[Any], n: int, seed: int,
               size: int, colors: Sequence[str]) -> list[list[Image.Image]]:
    from PIL import Image, ImageDraw

    from ._detect_fit import augmented_views, load_samples

    items = []
    for k, (src, b, lab) in enumerate(zip(images, boxes, labels, strict=True)):
        b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
        lab = np.asarray(lab, dtype=np.int64).reshape(-1)
        if len(b) != len(lab):
            raise ValueError(f"image {k} has {len(b)} boxes but {len(lab)} labels")
        items.append((src, b, lab))
    samples = load_samples(items, size)
    views = augmented_views(samples, n, seed)
    out: list[list[Image.Image]] = [[] for _ in samples]
    for view in views:
        for k, s in enumerate(view):
            img = Image.fromarray(s.image.permute(1, 2, 0).numpy().copy(), "RGB")
            draw = ImageDraw.Draw(img)
            for (x0, y0, x1, y1), lab in zip(s.boxes.tolist(), s.labels.tolist(),
                                             strict=True):
                draw.rectangle([x0 * size, y0 * size, x1 * size, y1 * size],
                               outline=colors[int(lab) % len(colors)], width=2)
            out[k].append(img)
    return out
