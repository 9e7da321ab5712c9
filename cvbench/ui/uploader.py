"""``Uploader``: add images by drag and drop, a file dialog, folder paths or URLs.

    from cvbench.ui import Uploader
    Uploader(project)

Files dropped or chosen in the browser are sent one message each (bytes in a binary
buffer). The text box takes one path, folder or http(s) URL per line; a folder adds the
image files inside it (and its subfolders). Tags chosen before the upload go on every
image (classification; detection images get their tags from their boxes). The progress
bar follows ``project.add_images(progress=...)``, and the table shows every file's
result in words (:data:`STATUS_LABELS`), with Custom Vision's status code (OK, OKDuplicate,
ErrorImageFormat, …) in its tooltip and in ``results``. Staging the first file of a new
batch clears the results of the last one.

"Webcam" opens the camera in the browser: after a 3-2-1 countdown it takes a burst of
frames (JPEG) at an interval and sends them in one message; they are added under the tag
chosen (:meth:`Uploader.add_frames`), with the same results table.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal, TypedDict

import traitlets as t

from .._types import STATUSES
from ._assets import css, esm
from ._base import ProjectWidget, check_dict_list
from ._messages import ClearFilesMsg, FileMsg, UploadMsg

__all__ = ["Uploader", "IMAGE_SUFFIXES", "STATUS_LABELS", "WebcamMsg", "MAX_FRAMES"]

#: The most frames one webcam burst may send.
MAX_FRAMES = 100

#: File name endings a folder is searched for.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

#: Custom Vision's status codes in the words the results table shows (the code stays in
#: the tooltip and in ``results``).
STATUS_LABELS: dict[str, str] = {
    "OK": "Added",
    "OKDuplicate": "Already there",
    "ErrorSource": "Cannot read",
    "ErrorImageFormat": "Not an image",
    "ErrorImageSize": "File too large",
    "ErrorImageDimensions": "Too many pixels",
    "ErrorLimitExceed": "Project full",
    "ErrorTagLimitExceed": "Too many tags",
    "ErrorRegionLimitExceed": "Too many boxes",
    "ErrorNegativeAndRegularTagOnSameImage": "Negative beside a tag",
    "ErrorInvalidTag": "Tag not allowed",
    "ErrorUnknown": "Failed",
}


class WebcamMsg(TypedDict):
    """A burst of webcam frames (JPEG bytes, one buffer each) to add under the tag named
    ``tag`` ("" for none; a new name becomes a tag)."""

    type: Literal["webcam"]
    tag: str


class Uploader(ProjectWidget):
    """Upload images into the project, with tags, a progress bar and a results table."""

    _esm = esm("uploader.js")
    _css = css("uploader.css")
    _handlers = {
        "file": (FileMsg, "_on_file"),
        "upload": (UploadMsg, "_on_upload"),
        "clear_files": (ClearFilesMsg, "_on_clear_files"),
        "webcam": (WebcamMsg, "_on_webcam"),
    }

    staged = t.List(
        t.Dict(), help="Files received from the browser and not yet added: {name, size}."
    ).tag(sync=True)
    progress = t.Dict(
        {"done": 0, "total": 0},
        help="Progress of the running upload: {done, total} images (read-only).",
    ).tag(sync=True)
    busy = t.Bool(False, help="True while images are being added (read-only).").tag(sync=True)
    max_bytes = t.Int(
        0, help="The largest file the project accepts, in bytes (read-only)."
    ).tag(sync=True)
    results = t.List(
        t.Dict(),
        help="One row per source of the last upload: {source, status, label, message, "
        "image_id} (status: Custom Vision's code, OK / OKDuplicate / Error…; label: the same "
        "in words, STATUS_LABELS) (read-only).",
    ).tag(sync=True)

    def __init__(self, project) -> None:
        super().__init__(project)
        self._files: list[tuple[str, bytes]] = []
        self.max_bytes = project.limits.max_image_bytes

    def _follow_change(self) -> None:  # the limits may have changed too (Settings tab)
        super()._follow_change()
        self.max_bytes = self.project.limits.max_image_bytes

    # -- validators --------------------------------------------------------------------------
    @t.validate("staged")
    def _valid_staged(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("name", "size"), "staged")

    @t.validate("max_bytes")
    def _valid_max_bytes(self, proposal: t.Bunch) -> int:
        if proposal["value"] < 0:
            raise t.TraitError(f"max_bytes={proposal['value']} must be 0 or more")
        return proposal["value"]

    @t.validate("progress")
    def _valid_progress(self, proposal: t.Bunch) -> dict:
        value = proposal["value"]
        done, total = value.get("done"), value.get("total")
        if not (isinstance(done, int) and isinstance(total, int) and 0 <= done <= total):
            raise t.TraitError(f"progress={value!r} should be {{done, total}} with 0 <= done <= total")
        return value

    @t.validate("results")
    def _valid_results(self, proposal: t.Bunch) -> list[dict]:
        rows = check_dict_list(
            proposal["value"], ("source", "status", "message", "image_id"), "results"
        )
        for i, row in enumerate(rows):
            if row["status"] not in STATUSES:
                raise t.TraitError(
                    f"results[{i}] has status {row['status']!r}; valid: {sorted(STATUSES)}"
                )
        return rows

    # -- handlers ----------------------------------------------------------------------------
    def _on_file(self, msg: FileMsg, buffers: list[bytes]) -> None:
        if len(buffers) != 1:
            raise ValueError(f"the file {msg['name']!r} came with {len(buffers)} buffers, not 1")
        self.add_file(msg["name"], buffers[0])

    def _on_clear_files(self, _msg: ClearFilesMsg, _buffers: list[bytes]) -> None:
        self.clear_files()

    def _on_upload(self, msg: UploadMsg, _buffers: list[bytes]) -> None:
        self.upload(msg["text"], tags=msg["tags"])

    def _on_webcam(self, msg: WebcamMsg, buffers: list[bytes]) -> None:
        self.add_frames(buffers, tag=msg["tag"])

    # -- the same from Python ------------------------------------------------------------------
    def add_file(self, name: str, data: bytes) -> None:
        """Stage one file (as the browser does for each file dropped or chosen); the first
        file of a new batch clears the results of the last upload."""
        self._files.append((name, bytes(data)))
        with self.hold_sync():
            if not self.staged and not self.busy:
                self.results = []
                self.progress = {"done": 0, "total": 0}
            self.staged = [*self.staged, {"name": name, "size": len(data)}]

    def clear_files(self) -> None:
        """Forget the staged files."""
        self._files = []
        self.staged = []

    def upload(self, text: str = "", *, tags: list[str] | tuple[str, ...] = ()) -> list[dict]:
        """Add the staged files and the paths, folders and URLs in ``text`` (one a line).

        ``tags`` (names; new names become tags) go on every image. Returns the result rows.
        """
        tags = self._check_tags(tags)
        sources: list[str | bytes] = []
        labels: list[str] = []
        names: list[str] = []
        rows: list[dict] = []
        for name, data in self._files:
            sources.append(data)
            labels.append(name)
            names.append(name)
        for line in text.splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.lower().startswith(("http://", "https://")):
                sources.append(entry)
                labels.append(entry)
                names.append(entry.rsplit("/", 1)[-1].split("?", 1)[0])
                continue
            path = Path(os.path.expanduser(entry))
            if path.is_dir():
                found = sorted(
                    p for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
                if not found:
                    rows.append(_row(entry, "ErrorSource",
                                     f"the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})"))
                for p in found:
                    sources.append(str(p))
                    labels.append(str(p))
                    names.append(p.name)
            else:
                sources.append(str(path))
                labels.append(entry)
                names.append(path.name)
        if not sources and not rows:
            raise ValueError(
                "nothing to upload: drop image files, choose them, or type paths, folders or "
                "URLs (one a line)"
            )
        return self._add(sources, labels, names, tags, rows, staged=True)

    def add_frames(self, frames: list[bytes], *, tag: str = "") -> list[dict]:
        """Add a burst of webcam frames (image bytes, JPEG from the browser) under the tag
        named ``tag`` ("" for none; a new name becomes a tag). A frame that is not an image
        is refused in its row of the results; returns the result rows."""
        if not frames:
            raise ValueError("the webcam burst came with no frame; take at least one picture")
        if len(frames) > MAX_FRAMES:
            raise ValueError(f"the webcam burst has {len(frames)} frames; take at most "
                             f"{MAX_FRAMES} at a time")
        tags = self._check_tags([tag] if tag else [])
        stamp = time.strftime("%Y%m%d-%H%M%S")
        names = [f"webcam-{stamp}-{i + 1:02d}.jpg" for i in range(len(frames))]
        sources: list[str | bytes] = [bytes(f) for f in frames]
        return self._add(sources, list(names), names, tags, [], staged=False)

    def _check_tags(self, tags: list[str] | tuple[str, ...]) -> list[str]:
        tags = [name.strip() for name in tags if name.strip()]
        if tags and self.project.kind == "detection":
            where = ("in the Tag tab" if self.host == "workbench"
                     else "with cvbench.ui.BoxEditor(project)")
            raise ValueError(
                "detection images get their tags from their boxes: upload without tags, then "
                f"draw boxes {where}"
            )
        return tags

    def _add(self, sources: list[str | bytes], labels: list[str], names: list[str],
             tags: list[str], rows: list[dict], *, staged: bool) -> list[dict]:
        """Add ``sources`` with ``project.add_images``; show and return the result rows
        (``rows``: problems found before, first). ``staged``: the staged files are among
        the sources (they are forgotten once added)."""
        with self.hold_sync():
            self.busy = True
            self.results = []
            self.progress = {"done": 0, "total": len(sources)}
        try:
            results = self.project.add_images(
                sources, tags=tags or None, names=names, progress=self._progress
            ) if sources else []
        finally:
            self.busy = False
        rows += [
            _row(label, r.status, r.message, r.image_id) for label, r in zip(labels, results, strict=True)
        ]
        if staged:
            self._files = []
        with self.hold_sync():
            if staged:
                self.staged = []
            self.results = rows
            self.refresh_tags()
        added = sum(r["status"] == "OK" for r in rows)
        dup = sum(r["status"] == "OKDuplicate" for r in rows)
        failed = len(rows) - added - dup
        text_out = f"Added {added} image{'s' if added != 1 else ''}"
        if dup:
            text_out += f", {dup} already in the project"
        if failed:
            text_out += f", {failed} refused (see the table)"
        self.say(text_out, "error" if failed and not added else "success")
        return rows

    def _progress(self, done: int, total: int) -> None:
        self.progress = {"done": int(done), "total": int(total)}


def _row(source: str, status: str, message: str = "", image_id: str | None = None) -> dict:
    return {"source": source, "status": status, "label": STATUS_LABELS.get(status, status),
            "message": message or STATUSES.get(status, ""), "image_id": image_id or ""}
