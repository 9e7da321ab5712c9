"""The public quick-test page (``cvbench app --app quicktest``): it predicts uploads and
public URLs, refuses server paths and private addresses with one neutral message, and can
change nothing in the project whatever a browser sends."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

import cvbench
from cvbench.apps.quicktest_server import REFUSED_URL, create_app
from cvbench.samples import make_sample

CVBENCH = str(Path(sys.executable).parent / "cvbench")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread) -> Path:
    path = tmp_path_factory.mktemp("qt") / "faces"
    with make_sample("faces", path, small=True) as project:
        project.train("quick", size=112, progress_bar=False).publish("production")
    return path


@pytest.fixture(scope="module")
def face(trained) -> tuple[bytes, str]:
    with cvbench.open_project(trained) as project:
        image = next(i for i in project.images() if i.tags)
        return image.path.read_bytes(), image.tags[0]


@pytest.fixture(scope="module")
def client(trained) -> Iterator[TestClient]:
    with TestClient(create_app(trained)) as c:
        yield c


@pytest.fixture
def image_server(face) -> Iterator[str]:
    """A loopback HTTP server with a real image at /face.png (a private address)."""
    data = face[0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/face.png"
    httpd.shutdown()
    httpd.server_close()


def state(path: Path) -> dict:
    """Everything a write could change: counts, tags, iterations, stored predictions, and
    every file of the project folder but SQLite's own WAL bookkeeping."""
    with cvbench.open_project(path) as p:
        summary = {
            "images": p.count_images(),
            "tags": sorted((t.name, t.image_count) for t in p.tags),
            "iterations": sorted((it.id, it.name, it.published_name) for it in p.iterations),
            "stored": len(p.stored_predictions()),
        }
    files = {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file() and not f.name.endswith(("-wal", "-shm")) and f.name != "cvbench.db"
    }
    return {"summary": summary, "files": files}


def test_page_is_self_contained_and_names_the_iteration(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    page = resp.text
    assert "<script src" not in page and "<link" not in page  # nothing from elsewhere
    info = client.get("/api/info").json()
    assert info["publishedName"] == "production" and info["kind"] == "multiclass"
    assert "face" in info["tags"]
    assert json.loads(page.split('data-info="', 1)[1].split('"', 1)[0]
                      .replace("&quot;", '"').replace("&amp;", "&")) == info


def test_an_upload_is_predicted(client, face):
    data, tag = face
    resp = client.post("/api/predict", files={"image": ("face.png", data, "image/png")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    probs = {p["tagName"]: p["probability"] for p in body["predictions"]}
    assert set(probs) >= {tag} and abs(sum(probs.values()) - 1) < 1e-4  # multiclass
    assert body["predictions"][0]["tagName"] == tag  # a training image: learned
    assert "image" not in body  # the page shows its own upload


def test_junk_and_oversized_uploads_are_refused_in_words(client):
    resp = client.post("/api/predict", files={"image": ("notes.png", b"not a picture", "image/png")})
    assert resp.status_code == 400 and resp.json()["code"] == "BadRequestImageFormat"
    assert "Traceback" not in resp.text and resp.json()["message"]
    big = b"\x89PNG" + b"\0" * (7 * 10**6)
    resp = client.post("/api/predict", files={"image": ("big.png", big, "image/png")})
    assert resp.status_code == 413 and resp.json()["code"] == "BadRequestImageSizeBytes"
    resp = client.post("/api/predict", data={})
    assert resp.status_code == 400 and "Upload an image" in resp.json()["message"]


def test_a_size_limit_changed_while_the_page_runs_applies_at_once(client, trained, face):
    data, _ = face
    with cvbench.open_project(trained) as project:  # as the Settings tab would
        default = project.limits.max_image_bytes
        project.set_limits(max_image_bytes=len(data) - 1)
    try:
        assert client.get("/api/info").json()["maxImageBytes"] == len(data) - 1
        resp = client.post("/api/predict", files={"image": ("face.png", data, "image/png")})
        assert resp.status_code == 413 and resp.json()["code"] == "BadRequestImageSizeBytes"
    finally:
        with cvbench.open_project(trained) as project:
            project.set_limits(max_image_bytes=default)
    resp = client.post("/api/predict", files={"image": ("face.png", data, "image/png")})
    assert resp.status_code == 200, resp.text


def test_server_files_and_private_addresses_get_one_neutral_message(client, trained,
                                                                    image_server):
    refused = [
        str(trained / "cvbench.db"),  # a file that exists
        "/no/such/file.png",  # one that does not
        "file:///etc/passwd",
        "file://" + str(trained / "cvbench.db"),
        image_server,  # loopback, serving a real image
        image_server.replace("127.0.0.1", "localhost"),
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8888/api/kernels",
        "http://10.0.0.1/x.jpg",
        "ftp://127.0.0.1/x.jpg",
        "http://no-such-host.invalid/x.jpg",
    ]
    answers = [client.post("/api/predict", data={"url": u}) for u in refused]
    assert {(r.status_code, r.text) for r in answers} == {
        (400, json.dumps({"code": "BadRequestImageUrl", "message": REFUSED_URL},
                         separators=(",", ":")))}


def test_a_private_page_may_fetch_loopback(trained, image_server, face):
    with TestClient(create_app(trained, allow_private_urls=True)) as c:
        resp = c.post("/api/predict", data={"url": image_server})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["predictions"][0]["tagName"] == face[1]
    assert body["image"].startswith("data:image/png;base64,")


def test_nothing_a_browser_sends_changes_the_project(client, trained, face):
    before = state(trained)
    data = face[0]
    attempts = [
        ("POST", "/api/predict?store=true", {"files": {"image": ("a.png", data, "image/png")},
                                             "data": {"store": "true"}}),
        ("POST", "/api/tags", {"json": {"name": "evil"}}),
        ("DELETE", "/api/images", {}),
        ("PUT", "/api/predict", {}),
        ("DELETE", "/api/predict", {}),
        ("PATCH", "/", {}),
        ("POST", "/", {"data": {"train": "quick"}}),
        ("POST", "/api/train", {}),
        ("POST", "/customvision/v3.3/training/projects/x/train", {}),
        ("GET", "/../cvbench.db", {}),
        ("GET", "/images/", {}),
        ("GET", "/api/kernels", {}),
        ("POST", "/api/kernels", {}),
    ]
    for method, url, kwargs in attempts:
        resp = client.request(method, url, **kwargs)
        assert resp.status_code in (200, 404, 405), (method, url, resp.status_code)
        if resp.status_code != 200:
            assert resp.json()["code"] in ("NotFound", "MethodNotAllowed")
        else:  # only the prediction itself answers, and stores nothing
            assert url.startswith("/api/predict") and "predictions" in resp.json()
    assert state(trained) == before


def test_cvbench_app_serves_the_quicktest_page_and_stops_on_ctrl_c(trained, face, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [CVBENCH, "app", str(trained), "--app", "quicktest", "--port", str(port),
         "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=tmp_path)
    try:
        out = ""
        while "press Ctrl-C" not in out:
            line = proc.stdout.readline()
            assert line, f"cvbench app exited:\n{out}"
            out += line
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200 and "quick test" in resp.read().decode().lower()
        boundary = "cvbenchboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"f.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + face[0] \
            + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(url + "api/predict", data=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert json.load(resp)["predictions"][0]["tagName"] == face[1]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        rest = proc.stdout.read()
        assert "cvbench: stopped" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cvbench_app_quicktest_without_iteration_says_so(tmp_path):
    make_sample("faces", tmp_path / "untrained", small=True).close()
    proc = subprocess.run(
        [CVBENCH, "app", str(tmp_path / "untrained"), "--app", "quicktest", "--no-browser"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert "has no trained iteration yet" in err and "Traceback" not in err


def test_draws_nothing_it_was_not_given():
    # the page's preview of a URL is the downloaded image itself, typed by its header
    from cvbench.apps.quicktest_server import _mime

    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG")
    assert _mime(buf.getvalue()) == "image/jpeg"
