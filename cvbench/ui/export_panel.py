"""``ExportPanel``: the Export tab of the workbench (also a widget of its own).

    from cvbench.ui import ExportPanel
    ExportPanel(project)

Three cards:

* **Model**: export an iteration (ONNX, TorchScript, fastai, OpenVINO IR, Core ML) into a
  folder the person names, in the background; the files, the parity check (ONNX,
  TorchScript and OpenVINO are checked against the in-app numbers; fastai and Core ML
  say why they are not), and a Download button for each file. Targets that cannot be
  built here (TFLite) are shown with the reason, not offered.
* **Dataset**: the images, tags and boxes as COCO, Pascal VOC, YOLO, CSV or ImageFolder
  (a zip), or the whole project as a cvbench archive, prepared and downloaded.
* **Publish**: publish an iteration as Custom Vision does; the prediction URL of
  ``cvbench serve``, its prediction key, the command that starts the server with that key,
  and ``curl`` and Python SDK snippets to copy.

Downloads go through the widget's own channel, never through a URL of the server: the
browser asks for an offer by its id (offers are the files this panel wrote, and nothing
else: no path from the browser is ever opened), then pulls it in chunks of
:data:`CHUNK_BYTES` (``download_chunk`` -> ``download_data`` with the bytes as a buffer),
a few at a time, assembles a Blob and saves it. A file that changes meanwhile, an
unknown offer, a cancel: each ends the transfer with a message that says so.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import uuid
import weakref
import zipfile
from pathlib import Path
from typing import Any, ClassVar, Literal, TypedDict

import traitlets as t

from ..errors import CvbenchError
from ..export import FORMATS as EXPORT_FORMATS
from ..export import UNAVAILABLE as UNAVAILABLE_EXPORTS
from ..export import missing_requirement, writer_for
from ..formats import FORMATS as DATASET_FORMATS
from ..project import Project
from ._app_messages import ExportMsg, PublishMsg, UnpublishMsg
from ._assets import app_css, esm
from ._messages import RefreshMsg
from ._mixins import IterationPicker

__all__ = ["ExportPanel", "CHUNK_BYTES", "publish_snippets", "DEFAULT_ENDPOINT"]

#: Bytes per chunk of a download (one comm message each).
CHUNK_BYTES = 4 * 1024 * 1024
#: Where ``cvbench serve`` listens by default.
DEFAULT_ENDPOINT = "http://127.0.0.1:8000/"
#: The environment variable ``cvbench serve`` reads its prediction key from.
PREDICTION_KEY_ENV = "CVBENCH_PREDICTION_KEY"
_KEY = re.compile(r"[A-Za-z0-9._~-]{8,128}")
_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d+)?/?")
_STORED = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".zip", ".bin"}
_DATASET_TEXT = {"archive": "The whole project (images, tags, boxes, iterations): "
                            "cvbench.import_project or Import opens it again"}


# -- messages from the browser ----------------------------------------------------------------
class DownloadMsg(TypedDict):
    """Start downloading the offer ``id`` (an id this panel gave, never a path)."""

    type: Literal["download"]
    id: str


class DownloadChunkMsg(TypedDict):
    """Send chunk ``index`` (from 0) of the transfer ``transfer``."""

    type: Literal["download_chunk"]
    transfer: str
    index: int


class DownloadEndMsg(TypedDict):
    """The browser ends a transfer: saved (``done``), ``cancelled`` or ``failed``."""

    type: Literal["download_end"]
    transfer: str
    status: Literal["done", "cancelled", "failed"]
    text: str


class ExportDatasetMsg(TypedDict):
    """Prepare the dataset in ``format`` (a dataset format, or ``archive``) for download."""

    type: Literal["export_dataset"]
    format: str


# -- publish snippets -----------------------------------------------------------------------
def publish_snippets(*, project_id: str, kind: str, published_name: str, endpoint: str,
                     key: str, root: str | os.PathLike) -> dict[str, str]:
    """What a client needs to call the published iteration through ``cvbench serve``: the
    prediction URL, the command that starts the server with ``key``, and ``curl`` and
    Python SDK (``CustomVisionPredictionClient``) snippets."""
    base = endpoint if endpoint.endswith("/") else endpoint + "/"
    verb = "detect" if kind == "detection" else "classify"
    url = (f"{base}customvision/v3.0/prediction/{project_id}/{verb}/iterations/"
           f"{published_name}/image")
    port = re.search(r":(\d+)/?$", base.split("//", 1)[1].split("/", 1)[0] + "/")
    port_arg = f" --port {port.group(1)}" if port and port.group(1) != "8000" else ""
    serve = f"{PREDICTION_KEY_ENV}={key} cvbench serve {_shell(str(root))}{port_arg}"
    curl = (f'curl -X POST "{url}" \\\n'
            f'  -H "Prediction-Key: {key}" \\\n'
            '  -H "Content-Type: application/octet-stream" \\\n'
            "  --data-binary @image.jpg")
    call = "detect_image" if kind == "detection" else "classify_image"
    show = ("    box = p.bounding_box\n"
            "    print(p.tag_name, round(p.probability, 3), box.left, box.top, box.width, "
            "box.height)\n") if kind == "detection" else \
        "    print(p.tag_name, round(p.probability, 3))\n"
    python = (
        "from azure.cognitiveservices.vision.customvision.prediction import "
        "CustomVisionPredictionClient\n"
        "from msrest.authentication import ApiKeyCredentials\n\n"
        f'ENDPOINT = "{base}"\n'
        f'predictor = CustomVisionPredictionClient(\n'
        f'    ENDPOINT, ApiKeyCredentials(in_headers={{"Prediction-key": "{key}"}}))\n\n'
        'with open("image.jpg", "rb") as f:\n'
        f'    result = predictor.{call}("{project_id}", "{published_name}", f.read())\n'
        "for p in result.predictions:\n" + show)
    return {"prediction_url": url, "serve": serve, "curl": curl, "python": python}


def _shell(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_./~:+-]+", text) else "'" + text.replace(
        "'", "'\"'\"'") + "'"


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _zip_folder(folder: Path, dest: Path, *, inside: str | None = None) -> Path:
    """Zip ``folder`` into ``dest`` (images and weights stored, text compressed); entries
    are under ``inside/`` when given."""
    tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    with zipfile.ZipFile(tmp, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder).as_posix()
                zf.write(path, f"{inside}/{name}" if inside else name,
                         zipfile.ZIP_STORED if path.suffix.lower() in _STORED
                         else zipfile.ZIP_DEFLATED)
    os.replace(tmp, dest)
    return dest


class ExportPanel(IterationPicker):
    """Export an iteration (with its parity check), download it or the dataset, and
    publish it with the snippets that call it (see the module docstring)."""

    _esm = esm("export_panel.js")
    _css = app_css("export_panel.css")
    _handlers: ClassVar[dict[str, tuple[type, str]]] = {
        "export": (ExportMsg, "_on_export"),
        "refresh": (RefreshMsg, "_on_refresh"),
        "download": (DownloadMsg, "_on_download"),
        "download_chunk": (DownloadChunkMsg, "_on_download_chunk"),
        "download_end": (DownloadEndMsg, "_on_download_end"),
        "export_dataset": (ExportDatasetMsg, "_on_export_dataset"),
        "publish": (PublishMsg, "_on_publish"),
        "unpublish": (UnpublishMsg, "_on_unpublish"),
    }
    #: Chunks the browser asks for ahead of the one it waits for.
    WINDOW: ClassVar[int] = 3

    iteration = t.Unicode("", help="Id of the iteration to export.").tag(sync=True)
    formats = t.List(
        t.Dict(), help="The export formats: {name, text, available, reason ('' or why it "
        "cannot be exported here), checked (whether its parity is checked)} (read-only)."
    ).tag(sync=True)
    format = t.Unicode("onnx", help=f"The format: one of {list(EXPORT_FORMATS)}.").tag(sync=True)
    folder = t.Unicode(
        "", help="The folder to export into (created if missing); relative paths are taken "
        "from the working folder of the kernel."
    ).tag(sync=True)
    busy = t.Bool(False, help="True while an export runs (read-only).").tag(sync=True)
    result = t.Dict(
        help="The last export: {status: 'done'|'failed', text, iteration, format, folder, "
        "files ([{name, size, download}]: what the export wrote, each with the id of its "
        "download offer), report (what the export returned, as JSON)}; {} before any "
        "(read-only)."
    ).tag(sync=True)
    dataset_formats = t.List(
        t.Dict(), help="The dataset formats to download: {name, text} (read-only)."
    ).tag(sync=True)
    dataset_busy = t.Bool(False, help="True while a dataset is prepared (read-only).").tag(
        sync=True)
    dataset_result = t.Dict(
        help="The last dataset prepared: {status: 'done'|'failed', text, format, download "
        "({id, name, size}) when done}; {} before any (read-only)."
    ).tag(sync=True)
    chunk_bytes = t.Int(CHUNK_BYTES, help="Bytes per download chunk (read-only).").tag(
        sync=True)
    endpoint = t.Unicode(
        DEFAULT_ENDPOINT, help="Where cvbench serve listens (http(s)://host:port/): the "
        "snippets use it."
    ).tag(sync=True)
    prediction_key = t.Unicode(
        help=f"The prediction key the snippets use: {PREDICTION_KEY_ENV} of the kernel, else "
        "a new one (cvbench serve takes it from the same variable; 8 to 128 letters, digits, "
        "'.', '_', '~' or '-')."
    ).tag(sync=True)
    publish_name = t.Unicode("production", help="The name to publish under.").tag(sync=True)
    published = t.Dict(
        help="The picked iteration's publication: {iteration, name (its published name or "
        "''), prediction_url, serve, curl, python} ({} when there is no iteration; the "
        "snippets only when it is published) (read-only)."
    ).tag(sync=True)

    def __init__(self, project: Project, *, folder: str | os.PathLike | None = None,
                 endpoint: str = DEFAULT_ENDPOINT, prediction_key: str | None = None) -> None:
        self._offers: dict[str, Path] = {}
        self._transfers: dict[str, tuple[Path, int, int]] = {}
        self._thread: threading.Thread | None = None
        self._dataset_thread: threading.Thread | None = None
        self._scratch = Path(tempfile.mkdtemp(prefix="cvbench-downloads-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._scratch), True)
        super().__init__(project)
        key = prediction_key or os.environ.get(PREDICTION_KEY_ENV) or secrets.token_hex(16)
        with self.hold_sync():
            self.formats = self._format_options()
            self.dataset_formats = [
                {"name": k, "text": _DATASET_TEXT.get(k, f.description)}
                for k, f in DATASET_FORMATS.items()]
            self.folder = str(folder) if folder is not None else str(project.path / "exports")
            self.endpoint = endpoint
            self.prediction_key = key
        self.observe(self._follow_publish, ["iteration", "endpoint", "prediction_key"])
        self.refresh()

    # -- validators ------------------------------------------------------------------------
    @t.validate("format")
    def _valid_format(self, proposal: t.Bunch) -> str:
        if proposal["value"] not in EXPORT_FORMATS:
            raise t.TraitError(
                f"format={proposal['value']!r} should be one of {list(EXPORT_FORMATS)}"
            )
        return proposal["value"]

    @t.validate("endpoint")
    def _valid_endpoint(self, proposal: t.Bunch) -> str:
        value = str(proposal["value"]).strip()
        if not _ENDPOINT.fullmatch(value):
            raise t.TraitError(f"endpoint={value!r} should be an http(s)://host:port/ address "
                               f"such as {DEFAULT_ENDPOINT}")
        return value if value.endswith("/") else value + "/"

    @t.validate("prediction_key")
    def _valid_key(self, proposal: t.Bunch) -> str:
        value = str(proposal["value"]).strip()
        if not _KEY.fullmatch(value):
            raise t.TraitError("the prediction key should be 8 to 128 letters, digits, '.', "
                               "'_', '~' or '-' (cvbench serve prints the one it uses)")
        return value

    def _format_options(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, fmt in EXPORT_FORMATS.items():
            try:
                writer_for(self.project.kind, name)
                reason = missing_requirement(name)
            except CvbenchError as exc:
                reason = str(exc)
            out.append({"name": name, "text": fmt.description, "available": not reason,
                        "reason": reason, "checked": not fmt.unchecked})
        for name, why in UNAVAILABLE_EXPORTS.items():
            out.append({"name": name, "text": "", "available": False, "reason": why,
                        "checked": False})
        return out

    def _follow_change(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the iterations again."""
        self._pick_iteration(tags=False)
        self._follow_publish()

    # -- model export ----------------------------------------------------------------------
    def export(self, iteration: Any = None, format: str | None = None,
               folder: str | os.PathLike | None = None, *, wait: bool = False
               ) -> threading.Thread:
        """Export in a background thread (``wait=True``: return when it has ended)."""
        if self.busy:
            raise ValueError("an export is running; wait for it to end")
        with self.hold_sync():
            if iteration is not None:
                self.iteration = self.project.iteration(iteration).id
            if format is not None:
                self.format = format
            if folder is not None:
                self.folder = str(folder)
        if not self.iteration:
            raise ValueError("this project has no iteration to export; train one first")
        if not self.folder.strip():
            raise ValueError("name the folder to export into")
        dest = Path(os.path.expanduser(self.folder.strip())).resolve()
        self.busy = True
        self._thread = threading.Thread(
            target=self._run, args=(self.iteration, self.format, dest), daemon=True,
            name="cvbench-export")
        self._thread.start()
        if wait:
            self._thread.join()
        return self._thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running export and dataset (True when both have ended)."""
        for thread in (self._thread, self._dataset_thread):
            if thread is not None:
                thread.join(timeout)
                if thread.is_alive():
                    return False
        return True

    def _run(self, iteration_id: str, fmt: str, dest: Path) -> None:
        it = self.project.iteration(iteration_id)
        base = {"iteration": it.name, "format": fmt, "folder": str(dest)}
        try:
            exported = it.export(fmt, dest)
            files = [{"name": str(p.relative_to(dest)) if p.is_relative_to(dest) else p.name,
                      "size": _size(p), "download": self._offer_path(p)}
                     for p in exported.files]
        except (CvbenchError, ValueError, OSError, ImportError) as exc:
            self._done({**base, "status": "failed", "files": [], "report": {},
                        "text": f"The export failed: {exc}"})
            return
        except Exception as exc:  # a bug: show it rather than fail silently in a thread
            self._done({**base, "status": "failed", "files": [], "report": {},
                        "text": f"The export failed ({type(exc).__name__}): {exc}"})
            return
        report = _jsonable(exported.to_dict())
        self._done({**base, "status": "done", "files": files, "report": report,
                    "text": f"{it.name} exported as {fmt} to {dest}"})

    def _done(self, result: dict[str, Any]) -> None:
        with self.hold_sync():
            self.result = result
            self.busy = False

    def _on_export(self, msg: ExportMsg, _buffers: list[bytes]) -> None:
        try:
            with self.hold_sync():
                self.iteration = msg["iteration"]
                self.format = msg["format"]
                self.folder = msg["folder"]
        except t.TraitError as exc:
            raise ValueError(str(exc)) from None
        self.export()

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()

    # -- dataset ---------------------------------------------------------------------------
    def export_dataset(self, format: str, *, wait: bool = False) -> threading.Thread:
        """Prepare the dataset in ``format`` (one of ``cvbench.formats.FORMATS``; ``archive``
        is the whole project) as a download, in a background thread."""
        if format not in DATASET_FORMATS:
            raise ValueError(f"format={format!r} is not a dataset format; it should be one of "
                             f"{list(DATASET_FORMATS)}")
        if self.dataset_busy:
            raise ValueError("a dataset is being prepared; wait for it to end")
        self.dataset_busy = True
        self._dataset_thread = threading.Thread(target=self._run_dataset, args=(format,),
                                                daemon=True, name="cvbench-dataset")
        self._dataset_thread.start()
        if wait:
            self._dataset_thread.join()
        return self._dataset_thread

    def _run_dataset(self, fmt: str) -> None:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", self.project.name).strip("-.") or "project"
        work = self._scratch / f"dataset-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        try:
            if fmt == "archive":
                final = work / f"{stem}.cvbench.zip"
                report = self.project.export_dataset(final, "archive")
            else:
                folder = work / f"{stem}-{fmt}"
                report = self.project.export_dataset(folder, fmt)
                final = _zip_folder(folder, work / f"{stem}-{fmt}.zip", inside=folder.name)
                shutil.rmtree(folder, ignore_errors=True)
        except (CvbenchError, ValueError, OSError) as exc:
            shutil.rmtree(work, ignore_errors=True)
            self._dataset_done({"status": "failed", "format": fmt,
                                "text": f"The dataset export failed: {exc}"})
            return
        except Exception as exc:  # a bug: show it rather than fail silently in a thread
            shutil.rmtree(work, ignore_errors=True)
            self._dataset_done({"status": "failed", "format": fmt, "text":
                                f"The dataset export failed ({type(exc).__name__}): {exc}"})
            return
        size = final.stat().st_size
        problems = len(getattr(report, "problems", []) or [])
        note = f" ({problems} images skipped: see project.export_dataset)" if problems else ""
        self._dataset_done({
            "status": "done", "format": fmt,
            "text": f"{final.name} is ready{note}",
            "download": {"id": self._offer_path(final), "name": final.name, "size": size}})

    def _dataset_done(self, result: dict[str, Any]) -> None:
        with self.hold_sync():
            self.dataset_result = result
            self.dataset_busy = False

    def _on_export_dataset(self, msg: ExportDatasetMsg, _buffers: list[bytes]) -> None:
        self.export_dataset(msg["format"])

    # -- downloads -------------------------------------------------------------------------
    def _offer_path(self, path: Path) -> str:
        """Offer ``path`` (a file this panel wrote) for download; a folder is zipped."""
        if path.is_dir():
            zipped = self._scratch / f"{uuid.uuid4().hex[:8]}" / f"{path.name}.zip"
            zipped.parent.mkdir()
            path = _zip_folder(path, zipped, inside=path.name)
        offer = secrets.token_hex(12)
        self._offers[offer] = path
        return offer

    def _fail_transfer(self, transfer: str, text: str) -> None:
        self._transfers.pop(transfer, None)
        self.send({"type": "download_failed", "transfer": transfer, "text": text})

    def _on_download(self, msg: DownloadMsg, _buffers: list[bytes]) -> None:
        path = self._offers.get(msg["id"])
        if path is None:
            self.send({"type": "download_failed", "id": msg["id"], "transfer": "",
                       "text": "this download is no longer offered; export again"})
            return
        try:
            st = path.stat()
        except OSError:
            self._offers.pop(msg["id"], None)
            self.send({"type": "download_failed", "id": msg["id"], "transfer": "",
                       "text": f"{path.name} is gone (moved or deleted); export again"})
            return
        transfer = uuid.uuid4().hex
        self._transfers[transfer] = (path, st.st_size, st.st_mtime_ns)
        chunks = max(1, -(-st.st_size // self.chunk_bytes))
        self.send({"type": "download_start", "id": msg["id"], "transfer": transfer,
                   "name": path.name, "size": st.st_size, "chunks": chunks,
                   "chunk_bytes": self.chunk_bytes, "window": self.WINDOW,
                   "mime": "application/zip" if path.suffix == ".zip"
                   else "application/octet-stream"})

    def _on_download_chunk(self, msg: DownloadChunkMsg, _buffers: list[bytes]) -> None:
        transfer, index = msg["transfer"], msg["index"]
        entry = self._transfers.get(transfer)
        if entry is None:
            self.send({"type": "download_failed", "transfer": transfer,
                       "text": "this download has ended; start it again"})
            return
        path, size, mtime = entry
        offset = index * self.chunk_bytes
        if index < 0 or (offset >= size and not (index == 0 and size == 0)):
            self._fail_transfer(transfer, f"chunk {index} is past the end of {path.name}")
            return
        try:
            st = path.stat()
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                raise ValueError
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read(min(self.chunk_bytes, size - offset))
        except (OSError, ValueError):
            self._fail_transfer(transfer, f"{path.name} changed or went away while it was "
                                "downloading; export it again and download it again")
            return
        self.send({"type": "download_data", "transfer": transfer, "index": index,
                   "offset": offset}, buffers=[data])

    def _on_download_end(self, msg: DownloadEndMsg, _buffers: list[bytes]) -> None:
        entry = self._transfers.pop(msg["transfer"], None)
        name = entry[0].name if entry else "the download"
        if msg["status"] == "cancelled":
            self.say(f"The download of {name} was cancelled.")
        elif msg["status"] == "failed":
            self.say(f"The download of {name} failed: {msg['text']}", "error")

    # -- publish ---------------------------------------------------------------------------
    def _follow_publish(self, _change: Any = None) -> None:
        if not self.iteration:
            self.published = {}
            return
        it = self.project.iteration(self.iteration)
        info: dict[str, Any] = {"iteration": it.id, "iteration_name": it.name,
                                "name": it.published_name or ""}
        if it.published_name:
            info.update(publish_snippets(
                project_id=self.project.id, kind=self.project.kind,
                published_name=it.published_name, endpoint=self.endpoint,
                key=self.prediction_key, root=self.project.path.parent))
        self.published = info

    def publish(self, name: str | None = None, iteration: Any = None) -> None:
        """Publish the picked iteration (or ``iteration``) under ``name`` (default:
        ``publish_name``), as Custom Vision does; ``published`` then has the snippets."""
        it = self.project.iteration(iteration or self.iteration or None)
        name = (name if name is not None else self.publish_name).strip()
        it.publish(name)
        with self.hold_sync():
            self.publish_name = name
            self._pick_iteration(it.id, tags=False)
            self._follow_publish()
        self.say(f"{it.name} is published as {name!r}.", "success")

    def _on_publish(self, msg: PublishMsg, _buffers: list[bytes]) -> None:
        self.publish(msg["name"], msg["id"])

    def _on_unpublish(self, msg: UnpublishMsg, _buffers: list[bytes]) -> None:
        it = self.project.iteration(msg["id"])
        it.unpublish()
        with self.hold_sync():
            self._pick_iteration(it.id, tags=False)
            self._follow_publish()
        self.say(f"{it.name} is no longer published.")


def _jsonable(value: Any) -> Any:
    """Plain JSON values: dicts, lists, str, finite numbers, bool, None; the rest as str."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value if value == value and abs(value) != float("inf") else None
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return _jsonable(value.item())
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return str(value)
