"""Where images come from: paths, bytes, PIL images and http(s) URLs, read the one way.

Every image given to cvbench — added to a project or predicted — is read here:
:func:`read_source` gives its bytes and original name (refusing unreadable, missing and
oversized sources with :class:`~cvbench.errors.ImageError` and Custom Vision's status
words), and :func:`read_image` also checks and decodes them as
:func:`cvbench.store.images.inspect_image` and :func:`~cvbench.store.images.load_rgb` do.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from PIL import Image as PILImage

from .errors import ImageError
from .fetch import URLError, fetch_url
from .store.images import Limits, inspect_image, load_rgb, size_text

__all__ = ["ImageSource", "ReadImage", "read_source", "read_image", "source_label",
           "download", "is_single_source"]

#: What an image can be given as.
ImageSource = str | os.PathLike | bytes | PILImage.Image

_URL_TIMEOUT = 20.0


def is_single_source(value: object) -> TypeGuard[ImageSource]:
    """Whether ``value`` is one image source (rather than a list of them)."""
    return isinstance(value, (str, os.PathLike, bytes, PILImage.Image))


def source_label(source: ImageSource) -> str:
    """A source as people read it in a report."""
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, PILImage.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]}>"
    return str(source)


def read_source(source: ImageSource, limits: Limits) -> tuple[bytes, str]:
    """The bytes of a source and its original name. Raises ImageError(ErrorSource)."""
    if isinstance(source, bytes):
        return source, ""
    if isinstance(source, PILImage.Image):
        buf = io.BytesIO()
        img = source
        if img.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
            img = load_rgb(img)  # modes PNG cannot hold ("I", "F", "CMYK", …): 8-bit RGB
        img.save(buf, "PNG")
        return buf.getvalue(), ""
    text = os.fspath(source)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.lower().startswith(("http://", "https://")):
        return download(text, limits), text.rsplit("/", 1)[-1].split("?", 1)[0]
    path = Path(text)
    try:
        if not path.is_file():
            raise ImageError(
                "ErrorSource",
                f"no file at {path}" + ("" if path.exists() else "; check the path"),
            )
        size = path.stat().st_size
        if size > limits.max_image_bytes:
            raise ImageError(
                "ErrorImageSize",
                f"the file is {size_text(size)}, above the limit of "
                f"{size_text(limits.max_image_bytes)}; resize or recompress it",
            )
        return path.read_bytes(), path.name
    except OSError as exc:
        raise ImageError("ErrorSource", f"cannot read {path}: {exc.strerror or exc}") from None


def download(url: str, limits: Limits) -> bytes:
    """The bytes at an http(s) ``url``, at most ``limits.max_image_bytes`` of them, for a
    local user's own API: any address (the public faces call :func:`cvbench.fetch.fetch_url`
    with ``allow_private=False`` themselves)."""
    try:
        return fetch_url(url, max_bytes=limits.max_image_bytes, timeout=_URL_TIMEOUT,
                         allow_private=True)
    except URLError as exc:
        if exc.status == "ErrorSource" and exc.reason not in ("truncated", "scheme"):
            raise URLError(exc.status, f"{exc.message}; check the address and the network, "
                           "or download the file and add it by path", exc.reason) from None
        raise

@dataclass
class ReadImage:
    """One source read and decoded: its bytes, original name, displayed RGB pixels, the
    extension it is stored under and its displayed size."""

    data: bytes
    name: str
    image: PILImage.Image
    ext: str
    width: int
    height: int


def read_image(source: ImageSource, limits: Limits) -> ReadImage:
    """Read a source as an import does: the same sources, checks and errors
    (:class:`~cvbench.errors.ImageError` with Custom Vision's status), then decode it
    with :func:`~cvbench.store.images.load_rgb`."""
    data, name = read_source(source, limits)
    info = inspect_image(data, limits, decode=True)
    try:
        image = load_rgb(data)
    except Exception as exc:  # decoding the pixels is where truncation shows
        raise ImageError(
            "ErrorImageFormat",
            f"the image data is truncated or corrupt ({exc}); re-save or re-download it",
        ) from None
    return ReadImage(data, name, image, info.ext, info.width, info.height)
