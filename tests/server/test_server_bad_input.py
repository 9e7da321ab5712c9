"""Bad input: each answer with its status and Custom Vision's error code, a JSON body, no
5xx, nothing half-written, and the server still serving afterwards."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from _server_helpers import (
    TRAINING_BASE,
    TRAINING_KEY,
    clients,
    free_port,
    tree_image,
)
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
)

from cvbench.server import PREDICTION_OPS, TRAINING_OPS


def _error(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code and body["message"], body
    return body


@pytest.fixture(autouse=True)
def still_serving(server):
    yield
    r = server.training("GET", "/domains")
    assert r.status_code == 200 and r.json()


def test_unknown_ids(server, trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    nobody = str(uuid.uuid4())
    _error(server.training("GET", f"/projects/{nobody}"), 404, "NotFoundProject")
    _error(server.training("GET", f"/projects/{nobody}/tags"), 404, "NotFoundProject")
    _error(server.training("GET", "/projects/not-a-uuid/images"), 404, "NotFoundProject")
    _error(server.training("GET", f"/projects/{project_id}/iterations/{nobody}"), 404,
           "NotFoundIteration")
    _error(server.training("GET", f"/projects/{project_id}/iterations/{nobody}/performance"),
           404, "NotFoundIteration")
    _error(server.training("GET", f"/projects/{project_id}/tags/{nobody}"), 404, "NotFoundTag")
    _error(server.training("DELETE", f"/projects/{project_id}/tags/{nobody}"), 404,
           "NotFoundTag")
    _error(server.training("POST", f"/projects/{project_id}/images/{nobody}/regionproposals"),
           404, "NotFoundImage")
    _error(server.training("POST", f"/projects/{project_id}/tagsandregions/suggestions",
                           params={"iterationId": iteration.id, "imageIds": nobody}),
           404, "NotFoundImage")
    _error(server.training("GET", f"/domains/{nobody}"), 404, "NotFoundDomain")
    with pytest.raises(CustomVisionErrorException) as err:  # the SDK reads the code
        trainer.get_iteration(project_id, nobody)
    assert err.value.error.code == "NotFoundIteration"
    # an unknown tag inside a batch: that image is refused, the others are added
    before = trainer.get_image_count(project_id)
    result = trainer.create_images_from_files(project_id, ImageFileCreateBatch(images=[
        ImageFileCreateEntry(name="x", contents=tree_image("Hemlock", 300), tag_ids=[nobody])]))
    assert result.images[0].status == "ErrorInvalidTag" and not result.is_batch_successful
    assert trainer.get_image_count(project_id) == before


def test_unpublished_name(server, classifier):
    project_id = classifier["project"].id
    r = server.prediction("POST", f"/{project_id}/classify/iterations/nobody/image",
                          files={"imageData": tree_image("Hemlock", 1)})
    assert _error(r, 404, "NotFoundIteration")["message"] == "Invalid iteration"
    r = server.prediction("POST", f"/{project_id}/classify/iterations/Iteration%201/url",
                          json={"url": "https://example.com/x.jpg"})
    _error(r, 404, "NotFoundIteration")  # an iteration's name is not a published name


def test_wrong_key(server):
    r = requests.get(server.url + TRAINING_BASE.lstrip("/") + "/projects",
                     headers={"Training-Key": "wrong"}, timeout=30)
    assert r.status_code == 401 and r.json()["code"] == "401"
    r = requests.get(server.url + TRAINING_BASE.lstrip("/") + "/projects", timeout=30)
    assert r.status_code == 401 and r.json()["message"]


def test_oversized_bodies_are_refused_unread(server, classifier):
    project_id = classifier["project"].id
    big = b"\xff\xd8" + b"0" * (4 * 1024 * 1024 + 100_000)  # above 4 MB + framing
    r = server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/image",
                          data=big, headers={"Content-Type": "application/octet-stream"})
    _error(r, 413, "BadRequestImageSizeBytes")
    # a multipart part above its own limit (4 MB), inside the body's limit
    part = b"\xff\xd8" + b"0" * (4 * 1024 * 1024 + 10)
    r = server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/image",
                          files={"imageData": part})
    _error(r, 400, "BadRequestImageSizeBytes")
    before = server.training("GET", f"/projects/{project_id}/images/count").json()
    huge = b"0" * (64 * (6 * 1024 * 1024 + 70_000))
    r = server.training("POST", f"/projects/{project_id}/images", data=huge,
                        headers={"Content-Type": "application/octet-stream"})
    _error(r, 413, "BadRequestImageSizeBytes")
    seven = b"\xff\xd8" + b"0" * (6 * 1024 * 1024 + 1)
    r = server.training("POST", f"/projects/{project_id}/images", files={"imageData": seven})
    assert r.status_code == 207
    assert r.json()["images"][0]["status"] == "ErrorImageSize"
    assert server.training("GET", f"/projects/{project_id}/images/count").json() == before


def test_bodies_that_are_not_images(server, classifier):
    project_id = classifier["project"].id
    r = server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/image",
                          files={"imageData": b"GIF89a but not really"})
    _error(r, 400, "BadRequestImageFormat")
    r = server.training("POST", f"/projects/{project_id}/quicktest/image",
                        files={"imageData": b"hello"})
    _error(r, 400, "BadRequestImageFormat")
    r = server.training("POST", f"/projects/{project_id}/images",
                        files={"imageData": b"<svg xmlns='http://www.w3.org/2000/svg'/>"})
    assert r.status_code == 207 and r.json()["images"][0]["status"] == "ErrorImageFormat"
    r = server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/image")
    _error(r, 400, "BadRequestImageStream")


def test_malformed_json(server, classifier):
    project_id = classifier["project"].id
    headers = {"Content-Type": "application/json; charset=utf-8"}
    for method, path in (("POST", f"/projects/{project_id}/images/files"),
                         ("POST", f"/projects/{project_id}/images/tags"),
                         ("PATCH", f"/projects/{project_id}"),
                         ("POST", f"/projects/{project_id}/predictions/query")):
        _error(server.training(method, path, data=b'{"images": [', headers=headers), 400,
               "BadRequest")
    _error(server.training("POST", f"/projects/{project_id}/images/files", data=b"[1, 2]",
                           headers=headers), 400, "BadRequest")
    _error(server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/url",
                             data=b"nope", headers=headers), 400, "BadRequest")


def test_a_batch_over_64_writes_nothing(server, trainer, classifier):
    project_id = classifier["project"].id
    tag = classifier["tags"]["Hemlock"]
    before = trainer.get_image_count(project_id)
    entries = [ImageFileCreateEntry(name=f"{k}", contents=tree_image("Hemlock", 400 + k),
                                    tag_ids=[tag.id]) for k in range(65)]
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_images_from_files(project_id, ImageFileCreateBatch(images=entries))
    assert err.value.error.code == "BadRequestImageBatch"
    assert err.value.response.status_code == 400
    assert trainer.get_image_count(project_id) == before
    too_many_tags = [str(uuid.uuid4()) for _ in range(21)]
    r = server.training("POST", f"/projects/{project_id}/images/files", json={
        "images": [{"name": "a", "contents": ""}], "tagIds": too_many_tags})
    _error(r, 400, "BadRequestImageTags")


def test_urls_that_are_refused(server, open_server, classifier, image_host):
    project_id = classifier["project"].id
    trainer = clients(server.url)[0]
    silent = f"http://127.0.0.1:{free_port()}/nothing.jpg"  # nobody listens there
    cases = {"file:///etc/passwd": "ErrorSource",
             f"{image_host}/hemlock.jpg": "ErrorSource",  # loopback, no --allow-private-urls
             "http://169.254.169.254/latest/meta-data/": "ErrorSource",
             silent: "ErrorSource"}
    before = trainer.get_image_count(project_id)
    result = trainer.create_images_from_urls(project_id, ImageUrlCreateBatch(
        images=[ImageUrlCreateEntry(url=u) for u in cases]))
    assert [i.status for i in result.images] == list(cases.values())
    assert trainer.get_image_count(project_id) == before
    for url in cases:
        r = server.training("POST", f"/projects/{project_id}/quicktest/url", json={"url": url})
        _error(r, 400, "BadRequestImageUrl")
        r = server.prediction("POST", f"/{project_id}/classify/iterations/classifyModel/url",
                              json={"url": url})
        _error(r, 400, "BadRequestImageUrl")
    # the server with --allow-private-urls fetches loopback, but not a port that is silent
    # and never a file:// URL
    open_trainer = clients(open_server.url)[0]
    p = open_trainer.create_project(f"u-{uuid.uuid4().hex[:6]}")
    result = open_trainer.create_images_from_urls(p.id, ImageUrlCreateBatch(images=[
        ImageUrlCreateEntry(url=u) for u in (silent, "file:///etc/passwd",
                                             f"{image_host}/hemlock.jpg")]))
    assert [i.status for i in result.images] == ["ErrorSource", "ErrorSource", "OK"]
    open_trainer.delete_project(p.id)


def test_no_operation_answers_garbage_with_a_5xx(server):
    """Every one of the 60 operations, given unknown ids and a broken body, answers a 4xx
    with Custom Vision's JSON error (or, needing neither, its answer)."""
    nobody = str(uuid.uuid4())
    refused = 0
    for api, ops in (("training", TRAINING_OPS), ("prediction", PREDICTION_OPS)):
        for op in ops:
            path = op.path
            for name in ("projectId", "iterationId", "tagId", "imageId", "domainId",
                         "publishedName"):
                path = path.replace("{" + name + "}", nobody)
            send = server.training if api == "training" else server.prediction
            r = send(op.method, path, data=b'{"broken', params={"token": "x" * 20},
                     headers={"Content-Type": "application/json"})
            assert r.status_code < 500, (op.sdk, r.status_code, r.text[:200])
            if r.status_code >= 400:
                refused += 1
                body = r.json()
                assert body["code"] and body["message"], (op.sdk, body)
    assert refused >= 57  # all but get_domains, get_projects and export-free listings


def test_unknown_paths_and_methods(server):
    r = server.training("GET", "/nothing/here")
    _error(r, 404, "NotFound")
    r = server.training("PUT", "/projects")
    assert r.status_code == 405 and json.loads(r.text)["code"]
    r = requests.get(server.url + "customvision/v9.9/training/projects",
                     headers={"Training-Key": TRAINING_KEY}, timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
