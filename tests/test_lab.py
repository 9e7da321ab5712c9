"""``cvbench lab``: JupyterLab on 127.0.0.1 with the teaching notebooks, root or not."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from cvbench import lab

CVBENCH = str(Path(sys.executable).parent / "cvbench")
ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_notebooks_are_the_teaching_notebooks():
    shipped = [p.name for p in lab.teaching_notebooks()]
    assert shipped == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_copied_once_and_edits_survive(tmp_path):
    said = []
    folder = lab.prepare_notebooks(tmp_path / "class", say=said.append)
    first = folder / lab.teaching_notebooks()[0].name
    assert first.is_file() and "copied 4 teaching notebooks" in said[0]
    first.write_text("{}")  # a participant's edits
    (folder / lab.teaching_notebooks()[1].name).unlink()  # and one deleted
    said.clear()
    lab.prepare_notebooks(folder, say=said.append)
    assert first.read_text() == "{}"
    assert (folder / lab.teaching_notebooks()[1].name).is_file()
    assert "copied 1 teaching notebooks" in said[0]


def test_as_root_jupyterlab_gets_allow_root(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in lab.lab_command(tmp_path, port=1, token="t")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--allow-root" not in lab.lab_command(tmp_path, port=1, token="t")
    command = lab.lab_command(tmp_path, port=1, token="t")
    assert "--ip=127.0.0.1" in command and f"--ServerApp.root_dir={tmp_path}" in command
    assert "--ContentsManager.pre_save_hook=cvbench.ui.clear_widget_state" in command


def test_cvbench_lab_serves_the_notebooks_and_stops_on_ctrl_c(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([CVBENCH, "lab", str(tmp_path / "nb"), "--port", str(port),
                             "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        out = ""
        while "press Ctrl-C" not in out:
            line = proc.stdout.readline()
            assert line, f"cvbench lab exited:\n{out}"
            out += line
        url = re.search(r"(http://127\.0\.0\.1:\d+/lab\?token=\w+)", out).group(1)
        token = url.rsplit("=", 1)[1]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents",
                                     headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            names = {item["name"] for item in json.load(resp)["content"]}
        assert {p.name for p in lab.teaching_notebooks()} <= names
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert "cvbench: stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
