"""Pixels as cvbench's models see them, with NumPy and Pillow only.

One module for the app and for the exported model's runtime, so that an exported model is
fed exactly what the app feeds it. The app reads images through
:func:`cvbench.store.images.load_rgb` (which uses :func:`to_rgb`) and turns them into a
model's input with :func:`cvbench.domains.preprocess` (which uses :func:`model_input`);
``cvbench/export/onnx_runtime.py`` uses :func:`displayed` and :func:`model_input`. Outside
cvbench the runtime loads this file from next to itself: ship the two files together.

* :func:`to_rgb`: any Pillow mode as 8-bit RGB. 16-bit and 32-bit integer images are scaled
  to 8 bits, float images stretched to their range, transparency is composited on white.
* :func:`displayed`: an image as displayed: EXIF orientation applied, in 8-bit RGB.
* :func:`squash`: an image *squashed* to ``size x size`` with bilinear resampling (the whole
  image is kept, its aspect ratio is not).
* :func:`model_input`: images squashed, scaled to [0, 1] and normalised with ``mean`` and
  ``std``: a float32 batch ``(N, 3, size, size)`` (``NCHW``).

This file imports nothing from cvbench (leaf module), and nothing but NumPy and Pillow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageOps

__all__ = ["to_rgb", "displayed", "squash", "model_input"]

#: Modes of more than 8 bits a channel (scaled to 8 bits by :func:`to_rgb`).
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
#: Modes with transparency (composited on white by :func:`to_rgb`).
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "PA")


def to_rgb(img: Image.Image) -> Image.Image:
    """``img`` in 8-bit RGB (``img`` itself when it already is)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _WIDE_MODES:
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
            arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        elif mode.startswith("I;16") or arr.max(initial=0) > 255:
            arr = arr / 257.0
        arr8 = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "La":  # premultiplied alpha: Pillow converts it to LA only
        img, mode = img.convert("LA"), "LA"
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def displayed(img: Image.Image) -> Image.Image:
    """``img`` as displayed (EXIF orientation applied) in 8-bit RGB; ``img`` is not changed."""
    return to_rgb(ImageOps.exif_transpose(img) or img.copy())


def squash(img: Image.Image, size: int) -> Image.Image:
    """``img`` in RGB, resized to ``size x size`` with bilinear resampling."""
    return img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def model_input(images: Sequence[Image.Image], size: int, mean: Sequence[float],
                std: Sequence[float], *, scale: float = 1.0 / 255.0) -> np.ndarray:
    """A float32 batch ``(N, 3, size, size)``: each image squashed (:func:`squash`), its
    8-bit values multiplied by ``scale``, then normalised as ``(x - mean) / std`` per
    channel (RGB order)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size={size!r} is not valid. It should be a positive int (pixels).")
    mean32 = np.asarray(mean, dtype=np.float32)
    std32 = np.asarray(std, dtype=np.float32)
    # divide by 255 rather than multiply by 1/255: the float32 result is the exact quotient
    divisor = np.float32(round(1.0 / float(scale), 6))
    batch = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, image in enumerate(images):
        pixels = np.asarray(squash(image, size), dtype=np.float32) / divisor
        batch[i] = ((pixels - mean32) / std32).transpose(2, 0, 1)
    return batch
