"""``cvbench serve``: its help, the keys it makes and prints, the warning off loopback,
one server per ROOT, and limits set on the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import requests
from _server_helpers import TRAINING_BASE, ServerProcess, free_port, tree_image

from cvbench.cli import main


def test_help(capsys):
    assert main(["serve", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--host", "--port", "--allow-private-urls", "--training-options",
                   "--max-batch-images", "--max-prediction-image-mb"):
        assert option in text


def test_generated_keys_are_printed_and_work(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CVBENCH_TRAINING_KEY", "CVBENCH_PREDICTION_KEY")}
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cvbench", "serve",
                                 str(tmp_path / "root"), "--host", "0.0.0.0", "--port",
                                 str(port), "--max-batch-images", "2"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}{TRAINING_BASE}"
        deadline = time.monotonic() + 90
        keys: dict[str, str] = {}
        while time.monotonic() < deadline and len(keys) < 2:
            keys = dict(re.findall(r"(Training|Prediction)-Key: ([0-9a-f]{32})",
                                   log.read_text()))
            time.sleep(0.2)
        assert set(keys) == {"Training", "Prediction"} and keys["Training"] != keys["Prediction"]
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"{url}/projects", headers={"Training-Key": keys["Training"]},
                                 timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert r.status_code == 200 and r.json() == []
        text = log.read_text()
        assert "warning" in text and "not on loopback" in text
        assert requests.get(f"{url}/projects", headers={"Training-Key": keys["Prediction"]},
                            timeout=5).status_code == 401
        # --max-batch-images 2: a batch of 3 is refused
        project = requests.post(f"{url}/projects", params={"name": "p"},
                                headers={"Training-Key": keys["Training"]}, timeout=30).json()
        import base64

        images = [{"name": str(k), "contents": base64.b64encode(tree_image("Hemlock", k)).decode()}
                  for k in range(3)]
        r = requests.post(f"{url}/projects/{project['id']}/images/files", json={"images": images},
                          headers={"Training-Key": keys["Training"]}, timeout=30)
        assert r.status_code == 400 and r.json()["code"] == "BadRequestImageBatch"
    finally:
        proc.terminate()
        proc.wait(30)


def test_one_server_per_root(tmp_path):
    first = ServerProcess(tmp_path / "root").start()
    try:
        second = ServerProcess(tmp_path / "root")
        try:
            second.start(timeout=60)
            raise AssertionError("a second server started on the same ROOT")
        except RuntimeError as exc:
            assert "already served" in str(exc)
        assert first.training("GET", "/projects").status_code == 200
    finally:
        first.stop()
