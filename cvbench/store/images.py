"""Reading images safely: checks before decoding, and one way to get displayed RGB pixels.

Every image that enters cvbench, for training or for prediction, goes through
:func:`inspect_image` (refuses with Custom Vision's status words) and is read back with
:func:`load_rgb` (EXIF orientation applied, first frame, 16-bit scaled, CMYK/palette/alpha
to RGB), so that the pixels a model sees are the same everywhere.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .._pixels import displayed as _displayed
from .._pixels import to_rgb as _to_rgb  # one conversion for the app and exported models
from ..errors import ImageError

__all__ = [
    "ImageInfo",
    "Limits",
    "LIMIT_CEILINGS",
    "check_limits",
    "inspect_image",
    "load_rgb",
    "make_thumbnail",
    "size_text",
    "EXTENSIONS",
    "THUMBNAIL_SIZE",
]

# Pillow's own bomb guard only warns below 2x its limit; cvbench checks the pixel count
# itself (from the header, before decoding) against the project's limit.
Image.MAX_IMAGE_PIXELS = None

#: Formats cvbench stores, and the file extension it stores them under.
EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "BMP": "bmp",
    "GIF": "gif",
    "WEBP": "webp",
    "TIFF": "tif",
}

#: EXIF orientations that swap width and height when displayed.
_TRANSPOSED = {5, 6, 7, 8}

#: The side of the square that thumbnails fit in.
THUMBNAIL_SIZE = 256


#: The most each limit may be set to: what cvbench reads safely. A file is held in memory
#: whole while it is checked, hashed and stored (and the workbench's websocket carries at
#: most 256 MiB); the pixel count is Pillow's own decompression-bomb threshold (twice its
#: ``MAX_IMAGE_PIXELS``: about 537 MB of RGB pixels, decoded, then converted); a side of
#: 65,535 pixels is the most JPEG, GIF and most other formats can store. The counts bound
#: what one project keeps in memory at once: a class per tag in the model's head and in
#: every tag list, a row per image in the split, the insight features and the training
#: lists, a drawn box and a training target per region.
LIMIT_CEILINGS: dict[str, int] = {
    "max_image_bytes": 256 * 1024 * 1024,
    "max_image_pixels": 2 * 89_478_485,
    "max_image_side": 65_535,
    "max_tags": 10_000,
    "max_images": 1_000_000,
    "max_regions_per_image": 1_000,
    "max_tags_per_image": 1_000,
}


@dataclass(frozen=True)
class Limits:
    """Limits on what a project accepts; defaults follow Custom Vision's S0 tier.

    Each is a whole number from 1 to its ceiling in :data:`LIMIT_CEILINGS`. The byte,
    pixel and side limits govern images as they are added (and predicted); the counts
    govern what the project may hold."""

    max_image_bytes: int = 6 * 1024 * 1024
    max_image_pixels: int = 10240 * 10240
    max_image_side: int = 10240
    max_tags: int = 500
    max_images: int = 100_000
    max_regions_per_image: int = 300
    max_tags_per_image: int = 100

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Limits:
        """Limits from ``{name: value}``, each checked (:meth:`check`); those not given
        keep their defaults."""
        return cls().updated(data or {})

    @classmethod
    def from_stored(cls, data: Mapping[str, Any] | None) -> Limits:
        """The limits a project stored: those it lacks (a project made before they
        existed) take their defaults, names this version does not know are left out, and
        values are taken as they were accepted then (not checked against today's
        ceilings)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in known})

    def updated(self, changes: Mapping[str, Any]) -> Limits:
        """These limits with ``changes`` (``{name: value}``) applied, each checked: a
        ValueError names every bad one and says what it should be."""
        check_limits(changes)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def check_limits(changes: Mapping[str, Any]) -> None:
    """Raise a ValueError naming every unknown limit, and every value that is not a whole
    number from 1 to its ceiling (:data:`LIMIT_CEILINGS`)."""
    unknown = sorted(set(changes) - set(LIMIT_CEILINGS))
    if unknown:
        raise ValueError(f"unknown limit(s) {unknown}; valid limits are "
                         f"{sorted(LIMIT_CEILINGS)}")
    problems = []
    for key, value in changes.items():
        ceiling = LIMIT_CEILINGS[key]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{key}={value!r} should be a positive whole number "
                            f"(at most {ceiling:,})")
        elif value <= 0:
            problems.append(f"{key}={value} should be a positive whole number "
                            f"(at most {ceiling:,})")
        elif value > ceiling:
            problems.append(f"{key}={value:,} is above the most cvbench reads safely, "
                            f"{ceiling:,}; choose {ceiling:,} or less")
    if problems:
        raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class ImageInfo:
    format: str
    ext: str
    width: int  # as displayed, after EXIF orientation
    height: int
    frames: int


def size_text(nbytes: int) -> str:
    """A byte count for people: ``6.3 MB``, ``20.0 kB``, ``512 bytes``."""
    if nbytes >= 1_000_000:
        return f"{nbytes / 1e6:.1f} MB"
    if nbytes >= 1_000:
        return f"{nbytes / 1e3:.1f} kB"
    return f"{nbytes} bytes"


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # a broken EXIF block must not refuse an otherwise good image
        return 1


def inspect_image(data: bytes, limits: Limits | None = None, *, decode: bool = True) -> ImageInfo:
    """Check image bytes and return their format and displayed size.

    Refuses (raises :class:`ImageError` with Custom Vision's status) empty, oversized,
    undecodable and truncated files, and images with too many pixels, *before* decoding
    their pixels. With ``decode=True`` the whole image is decoded once to catch truncation.
    """
    limits = limits or Limits()
    if len(data) == 0:
        raise ImageError("ErrorImageFormat", "the file is empty (0 bytes); choose an image file")
    if len(data) > limits.max_image_bytes:
        raise ImageError(
            "ErrorImageSize",
            f"the file is {size_text(len(data))}, above the limit of "
            f"{size_text(limits.max_image_bytes)}; resize or recompress it",
        )
    head = data[:512].lstrip().lower()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        raise ImageError(
            "ErrorImageFormat",
            "SVG (vector) images are not supported; convert it to PNG or JPEG",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(
            "ErrorImageFormat",
            "not an image that can be read (supported: JPEG, PNG, BMP, GIF, WebP, TIFF)",
        ) from None
    except Exception as exc:
        raise ImageError("ErrorImageFormat", f"the image header cannot be read: {exc}") from None
    fmt = img.format or ""
    if fmt not in EXTENSIONS:
        raise ImageError(
            "ErrorImageFormat",
            f"{fmt or 'this'} images are not supported (supported: JPEG, PNG, BMP, GIF, WebP, "
            "TIFF); convert it to PNG or JPEG",
        )
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError("ErrorImageDimensions", f"the image has no pixels ({w}x{h})")
    if w * h > limits.max_image_pixels or max(w, h) > limits.max_image_side:
        raise ImageError(
            "ErrorImageDimensions",
            f"the image is {w}x{h} pixels, above the limit of {limits.max_image_side} pixels a "
            f"side and {limits.max_image_pixels:,} pixels in all; resize it",
        )
    frames = int(getattr(img, "n_frames", 1) or 1)
    if decode:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.seek(0)
                if fmt == "JPEG":
                    img.draft("RGB", (max(1, w // 8), max(1, h // 8)))
                img.load()
        except Exception as exc:
            raise ImageError(
                "ErrorImageFormat",
                f"the image data is truncated or corrupt ({exc}); re-save or re-download it",
            ) from None
    if _orientation(img) in _TRANSPOSED:
        w, h = h, w
    return ImageInfo(format=fmt, ext=EXTENSIONS[fmt], width=w, height=h, frames=frames)


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size of ``size``'s aspect ratio that fits in ``box`` (never larger than
    ``size``, never below one pixel)."""
    w, h = size
    scale = min(box[0] / w, box[1] / h, 1.0)
    return max(1, min(w, round(w * scale))), max(1, min(h, round(h * scale)))


def load_rgb(source: str | Path | bytes | Image.Image, *,
             draft: tuple[int, int] | None = None) -> Image.Image:
    """The image as displayed, in 8-bit RGB: EXIF orientation applied, first frame.

    ``draft=(w, h)`` says that the caller will shrink the image to fit in ``w`` x ``h``
    (displayed orientation): a JPEG is then decoded at 1/2, 1/4 or 1/8 scale where that
    still covers the fitted size, which makes thumbnails and previews several times faster.
    The result may be larger than the box; it is never smaller than what fits in it.
    """
    if isinstance(source, Image.Image):  # the caller's image: never changed, always copied
        return _displayed(source)
    with (
        warnings.catch_warnings(),
        io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as fp,
    ):
        warnings.simplefilter("ignore")
        img = Image.open(fp)
        img.seek(0)
        if draft is not None and img.format == "JPEG":
            w, h = img.size
            transposed = _orientation(img) in _TRANSPOSED
            fw, fh = _fit((h, w) if transposed else (w, h), draft)
            if (fw, fh) != ((h, w) if transposed else (w, h)):
                img.draft("RGB", (fh, fw) if transposed else (fw, fh))
        img.load()
    ImageOps.exif_transpose(img, in_place=True)  # no copy when there is nothing to turn
    return _to_rgb(img)


def make_thumbnail(img: Image.Image, size: int = THUMBNAIL_SIZE, quality: int = 80) -> bytes:
    """A JPEG thumbnail of an RGB (or L) image, fitting in ``size`` x ``size``."""
    fitted = _fit(img.size, (size, size))
    # BOX: area averaging, the right filter to shrink by 1-2x after a drafted JPEG decode,
    # and a third faster than BILINEAR in Pillow
    thumb = img if fitted == img.size else img.resize(
        fitted, Image.Resampling.BOX, reducing_gap=2.0
    )
    if thumb.mode not in ("RGB", "L"):
        thumb = _to_rgb(thumb)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=quality)
    return out.getvalue()
