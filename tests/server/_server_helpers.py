"""Helpers of the server tests: the real ``cvbench serve`` in a subprocess, small images,
and the official SDK's clients."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from PIL import Image, ImageDraw

TRAINING_KEY = "0123456789abcdef0123456789abcdef"
PREDICTION_KEY = "fedcba9876543210fedcba9876543210"
TRAINING_BASE = "/customvision/v3.4-preview/training"
PREDICTION_BASE = "/customvision/v3.1/prediction"
#: Quick runs at 112 px (classification) and 128 px with a 3 s head (detection); Advanced
#: runs capped at 6 seconds: the whole suite stays within a few minutes on 2 cores.
TRAINING_OPTIONS = {"*": {"size": 112, "max_budget_minutes": 0.1},
                    "detection": {"size": 128, "settings": {"head_seconds": 3}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``cvbench serve ROOT`` on a free loopback port, with the test keys."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = Path(root)
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None
        self.log = self.root.parent / f"{self.root.name}-serve-{self.port}.log"

    def start(self, timeout: float = 90.0) -> ServerProcess:
        env = {**os.environ, "CVBENCH_TRAINING_KEY": TRAINING_KEY,
               "CVBENCH_PREDICTION_KEY": PREDICTION_KEY}
        cmd = [sys.executable, "-m", "cvbench", "serve", str(self.root), "--port",
               str(self.port), "--training-options", json.dumps(TRAINING_OPTIONS), *self.args]
        self._log = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root.parent, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cvbench serve exited with {self.proc.returncode}:\n"
                                   + self.output())
            try:
                r = requests.get(self.url + TRAINING_BASE.lstrip("/") + "/domains",
                                 headers={"Training-Key": TRAINING_KEY}, timeout=2)
                if r.status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("cvbench serve did not answer in time:\n" + self.output())

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- plain HTTP, for what the SDK would not send ---------------------------------------
    def training(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Training-Key": TRAINING_KEY, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + TRAINING_BASE.lstrip("/") + path,
                                headers=headers, timeout=60, **kwargs)

    def prediction(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Prediction-Key": PREDICTION_KEY, **kwargs.pop("headers", {})}
        return requests.request(method, self.url + PREDICTION_BASE.lstrip("/") + path,
                                headers=headers, timeout=60, **kwargs)


def clients(url: str) -> tuple[Any, Any]:
    from azure.cognitiveservices.vision.customvision.prediction import (
        CustomVisionPredictionClient,
    )
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials

    trainer = CustomVisionTrainingClient(
        url, ApiKeyCredentials(in_headers={"Training-key": TRAINING_KEY}))
    predictor = CustomVisionPredictionClient(
        url, ApiKeyCredentials(in_headers={"Prediction-key": PREDICTION_KEY}))
    return trainer, predictor


# -- images -----------------------------------------------------------------------------------
def _encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


COLORS = {"Hemlock": (30, 110, 40), "Japanese Cherry": (235, 150, 190)}


def tree_image(tag: str, k: int) -> bytes:
    """A 64-px picture in the colour of ``tag`` (the classification quickstart's tags)."""
    base = COLORS[tag]
    img = Image.new("RGB", (64, 64), base)
    d = ImageDraw.Draw(img)
    off = (k * 7) % 20
    d.ellipse((off, off // 2, 36 + off, 30 + off), fill=(255 - base[0], 255 - base[1], 120))
    d.rectangle((k % 60, 60, k % 60 + 3, 63), fill=(k % 251, (3 * k) % 251, 0))  # k's own bytes
    return _encode(img)


def shape_image(tag: str, seed: int) -> tuple[bytes, tuple[float, float, float, float]]:
    """A 128-px picture with one square ("fork") or disc ("scissors") and its box."""
    rng = random.Random(seed)
    img = Image.new("RGB", (128, 128), (205, 205, 205))
    d = ImageDraw.Draw(img)
    s = rng.randint(34, 60)
    x, y = rng.randint(0, 128 - s), rng.randint(0, 128 - s)
    if tag == "fork":
        d.rectangle((x, y, x + s, y + s), fill=(200, 30, 30))
    else:
        d.ellipse((x, y, x + s, y + s), fill=(30, 30, 200))
    return _encode(img, "PNG"), (x / 128, y / 128, s / 128, s / 128)
