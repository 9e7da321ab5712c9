"""One project, many faces: what the SDK writes, a notebook reads (and the reverse) on the
same project folder at the same time; training never blocks the server's answers."""

from __future__ import annotations

import threading
import time
import uuid

import requests
from _server_helpers import PREDICTION_BASE, PREDICTION_KEY, tree_image
from conftest import upload_trees, wait_trained

import cvbench


def _folder(server, project_id: str):
    for child in server.root.iterdir():
        if (child / "cvbench.db").is_file():
            with cvbench.open_project(child) as p:
                if p.id == project_id:
                    return child
    raise AssertionError(project_id)


def test_the_sdk_and_a_notebook_share_a_project(trainer, server):
    project = trainer.create_project(f"shared-{uuid.uuid4().hex[:6]}")
    tag = trainer.create_tag(project.id, "Hemlock")
    notebook = cvbench.open_project(_folder(server, project.id))  # open while serving
    try:
        uploaded = trainer.create_images_from_data(project.id, tree_image("Hemlock", 60),
                                                   tag_ids=[tag.id]).images[0].image
        gallery = notebook.images()  # what the workbench's gallery shows
        assert [i.id for i in gallery] == [uploaded.id]
        assert gallery[0].tags == ("Hemlock",)
        made = notebook.create_tag("Japanese Cherry")
        notebook.add_images([tree_image("Japanese Cherry", 61)], tags=[made.id])
        assert {t.name: t.image_count for t in trainer.get_tags(project.id)} == \
            {"Hemlock": 1, "Japanese Cherry": 1}
        assert trainer.get_image_count(project.id) == 2
    finally:
        notebook.close()
    trainer.delete_project(project.id)


def test_training_never_blocks_the_answers(trainer, server, classifier):
    project = trainer.create_project(f"busy-{uuid.uuid4().hex[:6]}")
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    upload_trees(trainer, project.id, tags, per_tag=6, start=100)
    url = (f"{server.url}{PREDICTION_BASE.lstrip('/')}/{classifier['project'].id}/classify/"
           "iterations/classifyModel/image/nostore")
    image = tree_image("Hemlock", 62)
    started = trainer.train_project(project.id, training_type="Advanced",
                                    reserved_budget_in_hours=1)
    began = time.monotonic()
    slowest = 0.0
    answered = 0
    while trainer.get_iteration(project.id, started.id).status == "Training":
        t0 = time.monotonic()
        r = requests.post(url, headers={"Prediction-Key": PREDICTION_KEY},
                          files={"imageData": image}, timeout=30)
        assert r.status_code == 200
        assert trainer.get_image_count(project.id) == 12
        slowest = max(slowest, time.monotonic() - t0)
        answered += 1
    training = time.monotonic() - began
    # blocked, an answer would wait for the training to end: one answer, as long as it
    assert answered >= 3 and slowest < training / 3, (answered, slowest, training)
    wait_trained(trainer, project.id, started)
    trainer.delete_project(project.id)


def test_requests_in_parallel(server, classifier):
    url = (f"{server.url}{PREDICTION_BASE.lstrip('/')}/{classifier['project'].id}/classify/"
           "iterations/classifyModel/image/nostore")
    image = tree_image("Japanese Cherry", 63)
    codes: list[int] = []

    def worker() -> None:
        with requests.Session() as s:  # keep-alive, as the SDK's session does
            for _ in range(5):
                codes.append(s.post(url, headers={"Prediction-Key": PREDICTION_KEY},
                                    files={"imageData": image}, timeout=60).status_code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 20
