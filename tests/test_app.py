"""``cvbench app`` and the app pages, without a browser: the launcher's choices, a real Voila
subprocess started and stopped with Ctrl-C, and the pages driven from Python."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

import cvbench
from cvbench import app as launcher
from cvbench.apps import Message, ProjectPicker, QuickTestPage, WorkbenchPage, draw_predictions
from cvbench.cli import main
from cvbench.errors import ProjectError
from cvbench.predict import Prediction
from cvbench.samples import make_sample

CVBENCH = str(Path(sys.executable).parent / "cvbench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- launcher


def test_app_notebooks_and_config_ship_in_the_package():
    for app in launcher.APPS:
        assert launcher.app_notebook(app).is_file()
    config = json.loads((launcher.apps_dir() / "voila.json").read_text())
    assert config["VoilaConfiguration"]["show_tracebacks"] is False
    template = launcher.apps_dir() / "jupyter" / "voila" / "templates" / "cvbench"
    assert json.loads((template / "conf.json").read_text()) == {"base_template": "lab"}
    assert "cdn.jsdelivr.net" in (template / "index.html.j2").read_text()  # what it removes


def test_unknown_app_names_the_apps():
    with pytest.raises(ValueError, match=r"'workbench', 'quicktest'"):
        launcher.app_notebook("dashboard")


def test_no_folder_builds_the_sample_once_then_reuses_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    first = launcher.prepare_project(None, sample="faces", say=said.append)
    assert first == tmp_path / launcher.DEFAULT_PROJECT_DIR
    assert "building" in said[-1]
    with cvbench.open_project(first) as project:
        assert project.count_images() > 0
        project_id = project.id
    again = launcher.prepare_project(None, sample="faces", say=said.append)
    assert again == first and "opening" in said[-1]
    with cvbench.open_project(again) as project:
        assert project.id == project_id


def test_default_folder_that_is_not_a_project_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / launcher.DEFAULT_PROJECT_DIR).mkdir()
    (tmp_path / launcher.DEFAULT_PROJECT_DIR / "notes.txt").write_text("mine")
    with pytest.raises(ProjectError, match="holds no cvbench project; move it away"):
        launcher.prepare_project(None)


def test_a_folder_without_project_says_how_to_make_one(tmp_path):
    with pytest.raises(ProjectError, match="cvbench sample digits"):
        launcher.prepare_project(tmp_path / "nothing-here")


def test_a_given_project_is_served_by_absolute_path(tmp_path, monkeypatch):
    cvbench.create_project(tmp_path / "mine").close()
    monkeypatch.chdir(tmp_path)
    assert launcher.prepare_project("mine") == (tmp_path / "mine").resolve()


def test_ports():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(OSError, match=f"port {taken} on 127.0.0.1 is in use"):
            launcher.pick_port(taken)
    with pytest.raises(ValueError, match="not a TCP port"):
        launcher.pick_port(70000)
    port = launcher.pick_port(None)
    assert launcher._port_free(port)


def test_voila_command_and_environment(tmp_path):
    cmd = launcher.voila_command(tmp_path / "x.ipynb", port=8123)
    assert cmd[1:3] == ["-m", "voila"]
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8123" in cmd and "--no-browser" in cmd
    assert "--template=cvbench" in cmd
    assert f"--Voila.config_file_paths={launcher.apps_dir()}" in cmd
    env = launcher.voila_env({"JUPYTER_PATH": "/elsewhere"})
    assert env["JUPYTER_PATH"] == f"{launcher.apps_dir() / 'jupyter'}{os.pathsep}/elsewhere"


# --------------------------------------------------------------------------- command line


def test_cli_app_help_and_usage_errors(capsys, tmp_path):
    assert main(["app", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("PROJECT_DIR", "--port", "--no-browser", "--app", "--iteration"):
        assert option in out
    assert main(["app", str(tmp_path), "--iteration", "production"]) == 2
    assert "--iteration goes with --app quicktest" in capsys.readouterr().err
    assert main(["app", str(tmp_path / "none"), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cvbench: error: ") and "holds no cvbench project" in err
    assert "Traceback" not in err


def _read_until(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """Lines of ``proc``'s stdout until one holds ``needle``."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"no {needle!r} in the output of cvbench app:\n{''.join(seen)}")


@pytest.fixture
def small_project(tmp_path) -> Path:
    make_sample("faces", tmp_path / "faces", small=True).close()
    return tmp_path / "faces"


def test_cvbench_app_serves_then_stops_cleanly_on_ctrl_c(small_project, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [CVBENCH, "app", str(small_project), "--port", str(port), "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        out = _read_until(proc, "press Ctrl-C", 120)
        url = f"http://127.0.0.1:{port}/"
        assert url in out and str(small_project) in out
        with urllib.request.urlopen(url, timeout=60) as resp:  # renders the page (a kernel)
            page = resp.read().decode()
        assert resp.status == 200 and "voila" in page.lower()
        assert "cdn.jsdelivr.net" not in page, "the cvbench template was not used"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        rest = proc.stdout.read()
        assert "cvbench: stopped" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not listening(port), f"something still listens on port {port} after Ctrl-C"
    assert launcher._port_free(port)


def test_cvbench_app_json_prints_one_document(small_project, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [CVBENCH, "app", str(small_project), "--port", str(port), "--no-browser", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        out = _read_until(proc, "}", 120)
        doc = json.loads(out)
        assert doc == {"url": f"http://127.0.0.1:{port}/", "project": str(small_project),
                       "app": "workbench"}
        proc.terminate()  # SIGTERM stops it like Ctrl-C
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_start_app_reports_a_voila_that_dies(small_project, tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "voila_command",
                        lambda nb, port: [sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(ProjectError, match="exit status 3"):
        launcher.start_app(small_project, log=tmp_path / "voila.log", say=lambda _: None)


# --------------------------------------------------------------------------- pages


def test_message_shows_expected_errors_and_hides_none():
    message = Message()
    with message.reporting("working …"):
        raise cvbench.ProjectError("no project in /x; create one")
    assert message.level == "error" and "no project in /x" in message.value
    with message.reporting("working …"):
        raise KeyError("boom")
    assert "unexpected error (KeyError)" in message.value
    with message.reporting("working …"):
        pass
    assert message.value == "" and message.level == ""
    with pytest.raises(ValueError, match="level="):
        message.show("x", "loud")


def test_workbench_page_without_project_offers_the_picker(monkeypatch):
    monkeypatch.delenv(launcher.PROJECT_ENV, raising=False)
    page = WorkbenchPage()
    assert isinstance(page.children[0], ProjectPicker)


def test_picker_shows_a_readable_error_for_a_folder_without_project(tmp_path):
    opened = []
    picker = ProjectPicker(opened.append)
    picker.open_folder()
    assert "give a folder first" in picker.message.value
    picker.path.value = str(tmp_path / "empty")
    picker.open_folder()
    assert picker.message.level == "error" and "holds no cvbench project" in picker.message.value
    assert opened == []


def test_picker_creates_and_opens_projects(tmp_path):
    opened = []
    picker = ProjectPicker(opened.append)
    picker.path.value = str(tmp_path / "new")
    picker.kind.value = "detection"
    picker.create_in_folder()
    assert [p.kind for p in opened] == ["detection"]
    picker.open_folder()
    assert len(opened) == 2 and opened[1].id == opened[0].id
    picker.create_in_folder()  # a second time: the folder holds a project already
    assert "already holds a cvbench project" in picker.message.value


def test_workbench_page_with_a_bad_project_shows_the_error_and_the_picker(tmp_path, monkeypatch):
    monkeypatch.setenv(launcher.PROJECT_ENV, str(tmp_path / "gone"))
    page = WorkbenchPage()
    assert page.message.level == "error"
    assert page.children[1] is page.picker and page.picker.path.value == str(tmp_path / "gone")


def test_quicktest_page_without_iteration_says_so(small_project, monkeypatch):
    monkeypatch.setenv(launcher.PROJECT_ENV, str(small_project))
    page = QuickTestPage()
    assert page.iteration is None
    assert "has no trained iteration yet" in page.message.value


def test_draw_predictions_draws_boxes_above_the_threshold():
    image = Image.new("RGB", (200, 100), "white")
    box = cvbench.Box(0.1, 0.2, 0.5, 0.6)
    hit = Prediction("t1", "circle", 0.9, box)
    low = Prediction("t2", "square", 0.2, cvbench.Box(0.7, 0.1, 0.2, 0.2))
    out = Image.open(io.BytesIO(draw_predictions(image, [hit, low], threshold=0.5)))
    assert out.size == (200, 100)
    assert out.getpixel((20, 60)) != (255, 255, 255)  # the circle's left edge
    assert out.getpixel((180, 20)) == (255, 255, 255)  # the square is below the threshold
    plain = Image.open(io.BytesIO(draw_predictions(image, [Prediction("t", "cat", 0.9)])))
    assert set(plain.getdata()) == {(255, 255, 255)}  # classification: nothing to draw


def test_quicktest_page_predicts_uploads_and_refuses_junk(small_project):
    with cvbench.open_project(small_project) as project:
        iteration = project.train("quick", size=112, progress_bar=False)
        iteration.publish("production")
        image = project.images(take=1)[0]
        data = image.path.read_bytes()
    page = QuickTestPage(small_project)
    assert page.iteration.published_name == "production"
    page.upload.value = ({"name": "face.png", "type": "image/png", "size": len(data),
                          "content": memoryview(data),
                          "last_modified": datetime.now(timezone.utc)},)
    assert page.message.level == "success" and "face.png" in page.message.value
    assert page.picture.value[:4] == b"\x89PNG" and page.picture.layout.display == ""
    assert "<table" in page.table.value and image.tags[0] in page.table.value
    page.test(b"not an image", name="junk.txt")
    assert page.message.level == "error" and "junk.txt" not in page.message.value
    assert page.picture.layout.display == "none" and page.table.value == ""
    page.test("")
    assert "give an image URL first" in page.message.value


def test_quicktest_page_reads_no_server_file_and_no_private_address(small_project, tmp_path):
    with cvbench.open_project(small_project) as project:
        project.train("quick", size=112, progress_bar=False)
    page = QuickTestPage(small_project)
    real = tmp_path / "face.png"
    with cvbench.open_project(small_project) as project:
        real.write_bytes(project.images(take=1)[0].path.read_bytes())
    messages = []
    for source in (str(real), str(tmp_path / "missing.png"), f"file://{real}",
                   "http://127.0.0.1:9/face.png", "http://localhost/face.png",
                   "http://169.254.169.254/latest"):
        page.test(source)
        assert page.message.level == "error" and page.result is None, source
        messages.append(page.message.value)
    assert len(set(messages)) == 1 and "public internet" in messages[0]
    assert str(tmp_path) not in messages[0]
