"""Content-addressed files of a project, written atomically.

``images/ab/<sha256>.<ext>`` holds the original bytes; ``thumbs/ab/<sha256>.jpg`` a small
JPEG. Files are written to a temporary name in the same folder and renamed into place, so
a killed process leaves either no file or the whole file, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write", "sha256_bytes", "FileStore"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    except FileNotFoundError:  # the first file of its folder
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class FileStore:
    """Where a project's image and thumbnail files live."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.images = self.root / "images"
        self.thumbs = self.root / "thumbs"

    def image_path(self, sha: str, ext: str) -> Path:
        return self.images / sha[:2] / f"{sha}.{ext}"

    def thumb_path(self, sha: str) -> Path:
        return self.thumbs / sha[:2] / f"{sha}.jpg"

    def put_image(self, sha: str, ext: str, data: bytes) -> Path:
        path = self.image_path(sha, ext)
        try:
            if path.stat().st_size == len(data):  # already there (same content, same name)
                return path
        except FileNotFoundError:
            pass
        atomic_write(path, data)
        return path

    def put_thumb(self, sha: str, data: bytes) -> Path:
        path = self.thumb_path(sha)
        atomic_write(path, data)
        return path

    def remove(self, sha: str, ext: str) -> None:
        for p in (self.image_path(sha, ext), self.thumb_path(sha)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def sweep_temporaries(self, older_than: float = 3600.0) -> int:
        """Remove temporary files left by a killed process. Returns how many.

        Only files older than ``older_than`` seconds go: a younger one may belong to a
        process writing to the project right now."""
        n = 0
        cutoff = time.time() - older_than
        for folder in (self.images, self.thumbs):
            if folder.exists():
                for p in folder.glob("*/.tmp-*"):
                    try:
                        if p.stat().st_mtime > cutoff:
                            continue
                        p.unlink()
                        n += 1
                    except FileNotFoundError:
                        pass
        return n
