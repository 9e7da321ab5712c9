"""Images as the browser gets them: thumbnails and downscaled previews as data URLs."""

from __future__ import annotations

import base64
import io

from .._types import StoredImage
from ..project import Project

__all__ = ["data_url", "thumbnail_url", "preview_url"]


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail_url(project: Project, image: StoredImage) -> str:
    """The stored JPEG thumbnail (256 px) of ``image`` as a data URL."""
    try:
        data = image.thumbnail_path.read_bytes()
    except FileNotFoundError:  # the project re-makes a missing thumbnail
        data = project.thumbnail(image.id)
    return data_url(data)


def preview_url(project: Project, image: StoredImage, max_side: int, quality: int = 85) -> str:
    """The image as displayed (EXIF orientation applied), fitting ``max_side`` px, as JPEG.

    Normalized boxes are relative to the displayed image, so they hold on the preview.
    """
    img = project.load_image(image, max_side)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return data_url(out.getvalue())
