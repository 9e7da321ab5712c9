"""The files of a project, written atomically.

``images/ab/<sha256>.<ext>`` holds the original bytes; ``thumbs/ab/<sha256>.jpg`` a small
JPEG (:class:`FileStore`). Files are written to a temporary name in the same folder and
renamed into place, so a killed process leaves either no file or the whole file, never
half of one.

``iterations/<id>/`` holds an iteration's ``model.safetensors`` (tensors, no pickle; the
JSON config in its metadata) and ``config.json`` (:class:`IterationFiles`); they are
written into ``iterations/.tmp-<id>/``, which is renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["atomic_write", "sha256_bytes", "FileStore", "IterationFiles",
           "WEIGHTS_FILE", "CONFIG_FILE"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


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


class IterationFiles:
    """Where the iterations' weights live: ``<root>/<id>/model.safetensors`` and
    ``config.json``; ``root`` is the project's ``iterations/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, iteration_id: str) -> Path:
        return self.root / iteration_id

    def weights_name(self, iteration_id: str) -> str:
        """The weights' path relative to the project folder (what the row records)."""
        return f"{self.root.name}/{iteration_id}/{WEIGHTS_FILE}"

    def write(self, iteration_id: str, tensors: Mapping[str, torch.Tensor],
              config: Mapping[str, Any], *, before_rename: Callable[[], None] | None = None
              ) -> Path:
        """Write the weights (safetensors, the config JSON in their metadata) and the
        config, fsynced, into a temporary folder renamed to ``<root>/<id>/`` when complete.
        ``before_rename()`` may raise to cancel: nothing is left then. Returns the folder."""
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{iteration_id}"
        final = self.folder(iteration_id)
        tmp.mkdir()
        try:
            save_file(dict(tensors), str(tmp / WEIGHTS_FILE),
                      metadata={"cvbench": json.dumps(config, sort_keys=True)})
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True))
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            if before_rename is not None:
                before_rename()  # last moment to cancel: nothing is visible yet
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def config_path(self, project_root: Path, weights: str) -> Path:
        return (project_root / weights).parent / CONFIG_FILE

    def read_config(self, project_root: Path, weights: str) -> dict[str, Any]:
        """The stored config of the iteration whose row names ``weights`` (raises
        FileNotFoundError when the files are gone)."""
        config: dict[str, Any] = json.loads(self.config_path(project_root, weights).read_text())
        return config

    def load_tensors(self, project_root: Path, weights: str) -> dict[str, torch.Tensor]:
        """The stored tensors (safetensors: no code runs while loading)."""
        from safetensors.torch import load_file

        return load_file(str(project_root / weights))

    def remove(self, iteration_id: str) -> None:
        shutil.rmtree(self.folder(iteration_id), ignore_errors=True)

    def sweep(self, known: set[str], older_than: float = 3600.0) -> None:
        """Remove what killed runs left: temporary folders and folders without a row (only
        old ones: another process may be saving right now)."""
        if not self.root.is_dir():
            return
        cutoff = time.time() - older_than
        for p in self.root.iterdir():
            if p.name in known or not p.is_dir():
                continue
            try:
                if p.stat().st_mtime < cutoff:
                    shutil.rmtree(p, ignore_errors=True)
            except FileNotFoundError:
                pass
