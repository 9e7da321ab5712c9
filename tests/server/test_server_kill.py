"""``kill -9`` of the server during a batch upload and during training: after a restart
the project opens, passes ``Project.check()``, holds whole batches only, and the run that
was interrupted is Failed, not stuck in Training."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
import requests
from _server_helpers import ServerProcess, clients
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
)
from conftest import upload_trees, wait_trained
from PIL import Image

import cvbench


def _noise(seed: int, side: int = 256) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def root(tmp_path):
    return tmp_path / "root"


def _folder(root, project_id: str):
    for child in root.iterdir():
        if (child / "cvbench.db").is_file() and cvbench.open_project(child).id == project_id:
            return child
    raise AssertionError(f"no folder for project {project_id}")


def test_kill_during_a_batch_upload(root):
    server = ServerProcess(root).start()
    try:
        trainer = clients(server.url)[0]
        project = trainer.create_project("uploads")
        tag = trainer.create_tag(project.id, "noise")
        sent = threading.Event()
        errors: list[BaseException] = []

        def batch(b: int) -> list[ImageFileCreateEntry]:
            return [ImageFileCreateEntry(name=f"{b}-{k}", contents=_noise(1000 * b + k),
                                         tag_ids=[tag.id]) for k in range(64)]

        def upload() -> None:  # batch after batch, until the server is gone
            for b in range(1000):
                try:
                    entries = batch(b)
                    sent.set()
                    trainer.create_images_from_files(project.id,
                                                     ImageFileCreateBatch(images=entries))
                except BaseException as exc:  # the server is killed under it
                    errors.append(exc)
                    return

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        sent.wait(30)
        time.sleep(3.0)
        server.kill()
        thread.join(60)
        assert errors
    finally:
        server.kill()
        server.stop()
    folder = _folder(root, project.id)
    with cvbench.open_project(folder) as p:
        assert p.check() == []
        count = p.count_images()
    assert count % 64 == 0  # whole batches or nothing
    again = ServerProcess(root).start()
    try:
        trainer = clients(again.url)[0]
        assert trainer.get_image_count(project.id) == count
        result = trainer.create_images_from_files(project.id, ImageFileCreateBatch(
            images=batch(0)[:2]))
        assert {i.status for i in result.images} <= {"OK", "OKDuplicate"}
    finally:
        again.stop()


def test_kill_during_training(root):
    server = ServerProcess(root).start()
    try:
        trainer = clients(server.url)[0]
        project = trainer.create_project("interrupted")
        tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
        assert upload_trees(trainer, project.id, tags, per_tag=6).is_batch_successful
        started = trainer.train_project(project.id, training_type="Advanced",
                                        reserved_budget_in_hours=1)
        assert started.status == "Training"
        server.kill()
    finally:
        server.kill()
        server.stop()
    folder = _folder(root, project.id)
    with cvbench.open_project(folder) as p:
        assert p.check() == []
        assert p.iterations == []  # nothing of the run was kept
    again = ServerProcess(root).start()
    try:
        trainer = clients(again.url)[0]
        failed = trainer.get_iteration(project.id, started.id)
        assert failed.status == "Failed"
        assert "stopped" in failed.training_error_details
        assert [i.status for i in trainer.get_iterations(project.id)] == ["Failed"]
        done = wait_trained(trainer, project.id, trainer.train_project(project.id))
        assert done.status == "Completed"
        r = requests.get(again.url, timeout=10)
        assert r.status_code == 404 and r.json()["code"] == "NotFound"
    finally:
        again.stop()
