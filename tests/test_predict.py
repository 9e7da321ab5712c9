"""Prediction: sources (path, bytes, PIL, URL), the same checks as import, batching,
Custom Vision's JSON, stored predictions and the smart labeler."""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

import cvbench
from cvbench.errors import ImageError
from cvbench.predict import Prediction, PredictionResult
from cvbench.samples import make_sample

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = make_sample("digits", tmp_path_factory.mktemp("predict") / "digits", small=True)
    it = p.train("quick", size=SIZE, progress_bar=False)
    return p, it


@pytest.fixture(scope="module")
def image(trained):
    project, _ = trained
    return project.images(split="validation")[0]


def test_one_image_all_sources(trained, image):
    _, it = trained
    by_path = it.predict(image.path)
    assert isinstance(by_path, PredictionResult) and isinstance(by_path[0], Prediction)
    assert len(by_path) == 10
    probs = [p.probability for p in by_path]
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) == pytest.approx(1.0, abs=1e-5)
    assert by_path.top is by_path[0] and by_path[0].bounding_box is None
    data = image.path.read_bytes()
    for source in (str(image.path), data, Image.open(io.BytesIO(data))):
        other = it.predict(source)
        assert [p.tag_id for p in other] == [p.tag_id for p in by_path]
        assert [p.probability for p in other] == pytest.approx(probs, abs=1e-6)


def test_url_source(trained, image):
    _, it = trained
    folder = image.path.parent
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{image.path.name}"
        by_url = it.predict(url)
        assert by_url[0].tag_id == it.predict(image.path)[0].tag_id
        with pytest.raises(ImageError) as err:
            it.predict(f"http://127.0.0.1:{server.server_address[1]}/missing.png")
        assert err.value.status == "ErrorSource"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_batch_is_a_list_of_results(trained):
    project, it = trained
    images = project.images(split="validation")[:5]
    results = it.predict([img.path for img in images])
    assert isinstance(results, list) and len(results) == 5
    for img, res in zip(images, results, strict=True):
        single = it.predict(img.path)
        assert [p.tag_id for p in res] == [p.tag_id for p in single]
        assert [p.probability for p in res] == pytest.approx(
            [p.probability for p in single], abs=1e-5)
    assert it.predict([]) == []


def test_custom_vision_json(trained, image):
    project, it = trained
    result = it.predict(image.path)
    d = json.loads(result.to_json())
    assert set(d) == {"id", "project", "iteration", "created", "predictions"}
    assert d["project"] == project.id and d["iteration"] == it.id
    first = d["predictions"][0]
    assert set(first) == {"probability", "tagId", "tagName"}
    assert first["tagName"] == result[0].tag_name
    box = Prediction("t", "name", 0.5, cvbench.Box(0.1, 0.2, 0.3, 0.4)).to_dict()
    assert box["boundingBox"] == {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}
    assert Prediction.from_dict(box) == Prediction("t", "name", 0.5,
                                                   cvbench.Box(0.1, 0.2, 0.3, 0.4))


@pytest.mark.parametrize(
    ("source", "status"),
    [
        (b"", "ErrorImageFormat"),
        (b"this is not an image", "ErrorImageFormat"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "ErrorImageFormat"),
        ("/no/such/file.png", "ErrorSource"),
    ],
)
def test_refused_like_an_import(trained, source, status):
    project, it = trained
    with pytest.raises(ImageError) as err:
        it.predict(source)
    assert err.value.status == status
    (added,) = project.add_images([source])
    assert added.status == status  # the import refuses it the same way


def test_truncated_and_oversized(trained, image, monkeypatch):
    from cvbench.store.images import Limits

    project, it = trained
    data = image.path.read_bytes()
    with pytest.raises(ImageError) as err:
        it.predict(data[: len(data) // 2])
    assert err.value.status == "ErrorImageFormat"
    # the project's limits apply to predictions as to imports
    monkeypatch.setattr(project, "limits", Limits(max_image_pixels=100, max_image_bytes=10_000))
    big = io.BytesIO()
    Image.new("RGB", (20, 20)).save(big, "PNG")
    for source, status in ((big.getvalue(), "ErrorImageDimensions"),
                           (b"\x89PNG" + bytes(20_000), "ErrorImageSize")):
        with pytest.raises(ImageError) as err:
            it.predict(source)
        assert err.value.status == status
        (added,) = project.add_images([source])
        assert added.status == status


def test_store_and_stored_predictions(trained):
    project, it = trained
    rng = np.random.default_rng(0)
    sources = []
    for _ in range(4):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, "PNG")
        sources.append(buf.getvalue())
    results = it.predict(sources, store=True)
    stored = project.stored_predictions()
    assert len(stored) == 4
    u = [s.uncertainty for s in stored]
    assert u == sorted(u, reverse=True) and all(0 <= x <= 1 for x in u)
    assert {s.id for s in stored} == {r.id for r in results}
    for s in stored:
        assert s.path.exists() and s.thumbnail_path.exists()
        assert s.path.is_relative_to(project.path / "predictions")
        assert s.predictions[0].tag_id == next(r for r in results if r.id == s.id)[0].tag_id
    newest = project.stored_predictions(order="newest", take=2)
    assert len(newest) == 2
    assert [s.id for s in project.stored_predictions(skip=1, take=2)] == [
        s.id for s in stored[1:3]]
    assert project.stored_predictions(iteration=it.id)[0].iteration_id == it.id
    with pytest.raises(ValueError, match="order="):
        project.stored_predictions(order="random")
    # confirm one into the training set
    target = stored[0]
    n_before = project.count_images()
    added = project.add_stored_prediction(target.id, tags=["4"])
    assert added.ok and project.count_images() == n_before + 1
    assert project.image(added.image_id).tags == ("4",)
    assert target.id not in {s.id for s in project.stored_predictions()}
    assert not target.path.exists()
    assert project.delete_stored_predictions([s.id for s in stored[1:]]) == 3
    assert project.stored_predictions() == []


def test_uncertainty_definitions(trained):
    _, it = trained
    task = it.task
    sure = [{"probability": 0.98}, {"probability": 0.01}, {"probability": 0.01}]
    torn = [{"probability": 0.5}, {"probability": 0.49}, {"probability": 0.01}]
    assert task.uncertainty(sure) == pytest.approx(0.03)
    assert task.uncertainty(torn) == pytest.approx(0.99)
    multilabel = [{"probability": 0.9}, {"probability": 0.45}, {"probability": 0.8}]
    assert task.uncertainty(multilabel) == pytest.approx(0.9)


def test_suggest_tags(trained):
    project, it = trained
    assert project.suggest_tags() == [] or all(
        s.image_id for s in project.suggest_tags())
    rng = np.random.default_rng(1)
    untagged = []
    for img in project.images(tag="8")[:3]:
        arr = np.asarray(Image.open(img.path).convert("RGB")).copy()
        arr[0, 0] = rng.integers(0, 256, 3)  # a new image, close to an "8"
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        untagged.append(buf.getvalue())
    results = project.add_images(untagged)
    ids = {r.image_id for r in results}
    suggestions = project.suggest_tags(it)
    assert {s.image_id for s in suggestions} >= ids
    mine = [s for s in suggestions if s.image_id in ids]
    assert all(len(s.tags) == 1 and s.tags[0] == s.predictions[0].tag_name for s in mine)
    u = [s.uncertainty for s in suggestions]
    assert u == sorted(u, reverse=True)
    confident = project.suggest_tags(it, order="confidence")
    assert [s.uncertainty for s in confident] == sorted(u)
    assert len(project.suggest_tags(it, take=1)) == 1
    json.dumps([s.to_dict() for s in suggestions])
    # confirming a suggestion is plain tagging
    s = mine[0]
    project.tag_images([s.image_id], list(s.tags))
    assert s.image_id not in {x.image_id for x in project.suggest_tags(it)}


def test_reading_a_source_takes_the_project_or_its_limits(trained, image):
    from cvbench.predict import read_image

    project, _ = trained
    by_project = read_image(project, image.path)  # the call the widgets make
    by_limits = read_image(project.limits, image.path)
    facade = project.read_image(str(image.path))
    assert by_project.data == by_limits.data == facade.data == image.path.read_bytes()
    assert (facade.width, facade.height) == (image.width, image.height)
    with pytest.raises(ImageError) as err:
        project.read_image(b"not an image")
    assert err.value.status == "ErrorImageFormat"
