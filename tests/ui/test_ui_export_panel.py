"""ExportPanel driven as its front end drives it: the chunked download protocol (the chunks
put together are the file, byte for byte), its failures, the dataset download, the export
targets offered, and publishing with the snippets that call the published iteration."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest
import traitlets

from cvbench.samples import make_sample
from cvbench.ui import ExportPanel
from cvbench.ui.export_panel import CHUNK_BYTES, publish_snippets


class Browser:
    """What export_panel.js does with the messages: ask for a window of chunks, put them
    together, end the transfer."""

    def __init__(self, panel: ExportPanel) -> None:
        self.panel = panel
        self.sent: list[tuple[dict, list[bytes]]] = []
        panel.send = lambda content, buffers=None: self.sent.append(  # type: ignore[method-assign]
            (content, [bytes(b) for b in buffers or []]))

    def last(self, kind: str) -> dict:
        return next(c for c, _ in reversed(self.sent) if c["type"] == kind)

    def download(self, offer: str) -> bytes:
        self.sent.clear()
        self.panel.handle_message({"type": "download", "id": offer})
        start = self.last("download_start")
        parts: dict[int, bytes] = {}
        asked = 0
        while len(parts) < start["chunks"]:
            while asked < start["chunks"] and asked - len(parts) < start["window"]:
                self.panel.handle_message({"type": "download_chunk",
                                           "transfer": start["transfer"], "index": asked})
                asked += 1
            for content, buffers in self.sent:
                if content["type"] == "download_data":
                    assert len(buffers) == 1 and content["offset"] == \
                        content["index"] * start["chunk_bytes"]
                    parts[content["index"]] = buffers[0]
                elif content["type"] == "download_failed":
                    raise AssertionError(content["text"])
            self.sent.clear()
        data = b"".join(parts[i] for i in range(start["chunks"]))
        assert len(data) == start["size"]
        self.panel.handle_message({"type": "download_end", "transfer": start["transfer"],
                                   "status": "done", "text": ""})
        return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    project = make_sample("digits", tmp_path_factory.mktemp("export-panel") / "digits",
                          small=True)
    project.train("quick", size=64, progress_bar=False)
    return project


def test_a_large_file_comes_back_byte_for_byte_in_chunks(make_project, tmp_path):
    panel = ExportPanel(make_project(n=1))
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(2 * CHUNK_BYTES + 12345))  # three chunks, the last short
    offer = panel._offer_path(big)
    browser = Browser(panel)
    assert browser.download(offer) == big.read_bytes()
    assert panel._transfers == {}  # the transfer is forgotten once it has ended
    small = tmp_path / "empty.json"
    small.write_bytes(b"")
    assert browser.download(panel._offer_path(small)) == b""


def test_only_offers_are_sent_and_failures_say_so(make_project, tmp_path):
    panel = ExportPanel(make_project(n=1))
    panel.chunk_bytes = 1000
    browser = Browser(panel)
    panel.handle_message({"type": "download", "id": str(tmp_path / "anything")})  # a path
    failed = browser.last("download_failed")
    assert "no longer offered" in failed["text"]
    assert not any(c["type"] == "download_data" for c, _ in browser.sent)
    # a file that changes while it downloads is refused, not sent half old, half new
    f = tmp_path / "model.onnx"
    f.write_bytes(b"a" * 2500)
    panel.handle_message({"type": "download", "id": panel._offer_path(f)})
    transfer = browser.last("download_start")["transfer"]
    panel.handle_message({"type": "download_chunk", "transfer": transfer, "index": 0})
    assert browser.last("download_data")["index"] == 0
    time.sleep(0.01)
    f.write_bytes(b"b" * 2600)
    panel.handle_message({"type": "download_chunk", "transfer": transfer, "index": 1})
    assert "changed or went away" in browser.last("download_failed")["text"]
    panel.handle_message({"type": "download_chunk", "transfer": transfer, "index": 2})
    assert "has ended" in browser.last("download_failed")["text"]
    # past the end, and a cancel from the browser
    offer = panel._offer_path(f)
    panel.handle_message({"type": "download", "id": offer})
    transfer = browser.last("download_start")["transfer"]
    panel.handle_message({"type": "download_chunk", "transfer": transfer, "index": 9})
    assert "past the end" in browser.last("download_failed")["text"]
    panel.handle_message({"type": "download", "id": offer})
    transfer = browser.last("download_start")["transfer"]
    panel.handle_message({"type": "download_end", "transfer": transfer, "status": "cancelled",
                          "text": "cancelled"})
    assert "cancelled" in panel.notice["text"] and transfer not in panel._transfers
    f.unlink()
    panel.handle_message({"type": "download", "id": offer})
    assert "is gone" in browser.last("download_failed")["text"]
    panel.handle_message({"type": "download_chunk", "transfer": "x", "index": "0"})
    assert panel.notice["level"] == "error"  # a malformed message is refused


def test_a_dataset_export_downloads_as_a_zip(make_project):
    project = make_project(n=4)
    project.tag_images([i.id for i in project.images()][:2], project.tags[0].id)
    panel = ExportPanel(project)
    assert [f["name"] for f in panel.dataset_formats] == [
        "imagefolder", "csv", "coco", "voc", "yolo", "archive"]
    panel.handle_message({"type": "export_dataset", "format": "coco"})
    assert panel.wait(timeout=120)
    r = panel.dataset_result
    assert r["status"] == "done", r["text"]
    data = Browser(panel).download(r["download"]["id"])
    assert len(data) == r["download"]["size"]
    zipped = Path(panel._offers[r["download"]["id"]])
    assert data == zipped.read_bytes()
    with zipfile.ZipFile(zipped) as zf:
        names = zf.namelist()
    assert any(n.endswith("annotations.json") for n in names)
    assert sum(n.endswith(".png") for n in names) == 4
    panel.export_dataset("archive", wait=True)
    assert panel.dataset_result["download"]["name"].endswith(".cvbench.zip")
    with pytest.raises(ValueError, match="not a dataset format"):
        panel.export_dataset("parquet")


def test_the_model_files_download_and_the_targets_say_what_they_are(trained, tmp_path):
    panel = ExportPanel(trained)
    formats = {f["name"]: f for f in panel.formats}
    assert list(formats)[:3] == ["onnx", "torchscript", "fastai"]
    assert formats["onnx"]["available"] and formats["onnx"]["checked"]
    assert not formats["fastai"]["checked"]
    assert not formats["tflite"]["available"] and "TFLite" in formats["tflite"]["reason"]
    assert formats["coreml"]["checked"] is False
    with pytest.raises(traitlets.TraitError, match="should be one of"):
        panel.format = "tflite"
    panel.export(format="onnx", folder=tmp_path / "m", wait=True)
    r = panel.result
    assert r["status"] == "done", r["text"]
    assert [f["name"] for f in r["files"]] == ["model.onnx", "model.onnx.json"]
    browser = Browser(panel)
    for f in r["files"]:
        assert browser.download(f["download"]) == (tmp_path / "m" / f["name"]).read_bytes()


def test_publishing_shows_the_url_the_key_and_working_snippets(trained, tmp_path,
                                                               monkeypatch):
    panel = ExportPanel(trained, prediction_key="k" * 32)
    it = trained.iteration(panel.iteration)
    if it.published_name:
        it.unpublish()
        panel.refresh()
    assert panel.published["name"] == "" and "curl" not in panel.published
    panel.handle_message({"type": "publish", "id": panel.iteration, "name": "prod"})
    assert trained.iteration(panel.iteration).published_name == "prod"
    p = panel.published
    url = (f"http://127.0.0.1:8000/customvision/v3.0/prediction/{trained.id}/classify/"
           "iterations/prod/image")
    assert p["prediction_url"] == url
    assert p["serve"] == f"CVBENCH_PREDICTION_KEY={'k' * 32} cvbench serve {trained.path.parent}"
    assert f'"{url}"' in p["curl"] and f"Prediction-Key: {'k' * 32}" in p["curl"]
    assert "CustomVisionPredictionClient" in p["python"] and trained.id in p["python"]
    with pytest.raises(traitlets.TraitError, match="prediction key"):
        panel.prediction_key = "has spaces in it"
    with pytest.raises(traitlets.TraitError, match="endpoint"):
        panel.endpoint = "file:///etc/passwd"
    # the snippets run: a real server with that key, the SDK snippet as it is shown
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    panel.endpoint = f"http://127.0.0.1:{port}"
    assert f"--port {port}" in panel.published["serve"]
    server = _serve(trained.path.parent, "k" * 32, port)
    try:
        image = trained.images(order="oldest")[0]
        monkeypatch.chdir(tmp_path)
        (tmp_path / "image.jpg").write_bytes(image.path.read_bytes())
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(panel.published["python"], "snippet", "exec"), {})
        lines = out.getvalue().strip().splitlines()
        assert len(lines) == len(it.tag_names)
        assert lines[0].split()[0] == it.predict(image.path.read_bytes())[0].tag_name
        # the curl snippet's request, sent as curl sends it
        import httpx

        curl = panel.published["curl"]
        (target,) = re.findall(r'"(http[^"]+)"', curl)
        headers = dict(h.split(": ", 1) for h in re.findall(r'-H "([^"]+)"', curl))
        answer = httpx.post(target, headers=headers, content=image.path.read_bytes())
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["tagName"] == lines[0].split()[0]
    finally:
        server.should_exit = True
    panel.handle_message({"type": "unpublish", "id": panel.iteration})
    assert panel.published["name"] == "" and trained.iteration(panel.iteration).published_name \
        is None


def test_snippets_for_a_detector_call_detect_image():
    s = publish_snippets(project_id="p1", kind="detection", published_name="v1",
                         endpoint="https://example.org:9000", key="abcdefgh", root="/a b")
    assert s["prediction_url"] == ("https://example.org:9000/customvision/v3.0/prediction/p1/"
                                   "detect/iterations/v1/image")
    assert "detect_image(\"p1\", \"v1\"" in s["python"] and "bounding_box" in s["python"]
    assert s["serve"] == "CVBENCH_PREDICTION_KEY=abcdefgh cvbench serve '/a b' --port 9000"


def _serve(root: Path, key: str, port: int):
    import uvicorn

    from cvbench.server import ServerConfig
    from cvbench.server._app import create_app

    config = ServerConfig(root=str(root), training_key="t" * 32, prediction_key=key)
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            return server
        time.sleep(0.05)
    raise RuntimeError("the server did not start")
