"""Helpers shared by the dataset formats: safe paths inside a dataset folder, zip reading."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["safe_join", "PathEscapeError", "safe_extract", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class PathEscapeError(ValueError):
    """A path in a dataset points outside the dataset's folder."""


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing absolute paths and paths that climb out of ``root``."""
    rel = relative.replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or os.path.isabs(rel):
        raise PathEscapeError(
            f"path {relative!r} is absolute; paths in a dataset must be relative to its folder"
        )
    root_resolved = root.resolve()
    target = (root_resolved / rel).resolve()
    if target != root_resolved and root_resolved not in target.parents:
        raise PathEscapeError(
            f"path {relative!r} leads outside the dataset folder {root}; keep files inside it"
        )
    return target


def safe_extract(zf: zipfile.ZipFile, dest: Path) -> list[str]:
    """Extract a zip into ``dest``, skipping (and returning) entries that would escape it."""
    skipped: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for info in zf.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            skipped.append(name)
            continue
        if info.is_dir():
            continue
        # symlinks stored in zips (unix mode bits) are not followed: written as plain files
        target = safe_join(dest, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    return skipped
