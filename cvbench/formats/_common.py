"""Helpers shared by the dataset formats: safe paths inside a dataset folder, zip reading."""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

__all__ = [
    "safe_join",
    "PathEscapeError",
    "safe_extract",
    "open_dataset",
    "relative_label",
    "is_hidden",
    "IMAGE_SUFFIXES",
]

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


def _escapes(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or bool(parts and ":" in parts[0])


def safe_extract(
    zf: zipfile.ZipFile,
    dest: Path,
    *,
    on_error: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Extract a zip into ``dest``, skipping (and returning) entries that would escape it.

    An entry that cannot be read (bad CRC, truncated data) raises ``zipfile.BadZipFile``,
    or, when ``on_error(name, reason)`` is given, is reported to it and skipped.
    """
    skipped: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for info in zf.infolist():
        name = info.filename
        if _escapes(name):
            skipped.append(name)
            continue
        if info.is_dir():
            continue
        # symlinks stored in zips (unix mode bits) are not followed: written as plain files
        target = safe_join(dest, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            target.unlink(missing_ok=True)
            if on_error is None:
                raise zipfile.BadZipFile(f"zip entry {name!r} cannot be read: {exc}") from None
            on_error(name, f"cannot be read from the zip ({exc}); skipped")
    return skipped


def is_hidden(path: Path) -> bool:
    """Files and folders that datasets carry by accident (``.DS_Store``, ``__MACOSX``)."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def relative_label(path: Path, root: Path) -> str:
    """``path`` relative to the folder ``root`` in POSIX form, for messages."""
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path)


@contextmanager
def open_dataset(
    source: Path,
    problem: Callable[[str, str], None],
    *,
    looks_complete: Callable[[Path], bool] | None = None,
) -> Iterator[Path]:
    """The dataset at ``source``: the path itself, or a temporary extraction of a ``.zip``.

    Zip entries that would leave the folder (``../x``, absolute paths) and entries that
    cannot be read are reported through ``problem(file, message)`` and skipped. When a zip
    holds one folder and nothing else, and ``looks_complete(root)`` is false, that folder
    is taken as the dataset (zips made by "compress folder").
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"no dataset at {source}; check the path")
    if not (source.is_file() and source.suffix.lower() == ".zip"):
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="cvbench-import-") as tmp:
        root = Path(tmp)
        try:
            with zipfile.ZipFile(source) as zf:
                skipped = safe_extract(
                    zf, root, on_error=lambda name, msg: problem(f"{source.name}:{name}", msg)
                )
        except (zipfile.BadZipFile, OSError) as exc:
            problem(source.name, f"not a readable zip file ({exc})")
            skipped = []
        for name in skipped:
            problem(
                f"{source.name}:{name}",
                "zip entry leads outside the dataset folder (absolute or '..' path); skipped",
            )
        while True:
            entries = [e for e in root.iterdir() if not is_hidden(e)]
            if (
                len(entries) == 1
                and entries[0].is_dir()
                and not (looks_complete is not None and looks_complete(root))
            ):
                root = entries[0]
                continue
            break
        yield root
