"""QuickTest, driven as its front end drives it: a file, a URL, a webcam picture."""

from __future__ import annotations

import http.server
import threading

import pytest
import traitlets
from _ui_trained import trained_copy, trained_detection

from cvbench.ui import QuickTest


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "quick-test")


@pytest.fixture(scope="module")
def digit(project) -> bytes:
    img = next(i for i in project.images() if i.tags == ("3",))
    return img.path.read_bytes()


@pytest.fixture
def server(tmp_path, digit):
    """An HTTP server on 127.0.0.1 serving ``digit.png`` (and 404 for anything else)."""
    (tmp_path / "digit.png").write_bytes(digit)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_an_uploaded_file_is_predicted_drawn_and_stored(project, digit):
    qt = QuickTest(project)
    it = project.iteration()
    assert qt.iteration == it.id and qt.store
    before = len(project.stored_predictions())
    qt.handle_message({"type": "file", "name": "three.png", "size": len(digit)}, [digit])
    assert qt.notice == {}, qt.notice
    assert qt.image["name"] == "three.png" and qt.image["src"].startswith("data:image/jpeg")
    assert (qt.image["width"], qt.image["height"]) == (64, 64)
    assert qt.image["iteration"] == it.name
    probs = [p["probability"] for p in qt.predictions]
    assert probs == sorted(probs, reverse=True) and len(probs) == 10
    want = it.predict(digit)
    assert [p["name"] for p in qt.predictions] == [p.tag_name for p in want]
    assert all(p["box"] is None for p in qt.predictions)
    assert len(project.stored_predictions()) == before + 1


def test_the_threshold_filters_what_is_shown(project, digit):
    qt = QuickTest(project, store=False)
    before = len(project.stored_predictions())
    qt.test(digit, name="three.png")
    assert len(project.stored_predictions()) == before
    qt.set_state({"threshold": 0.0})
    assert qt.visible_predictions == qt.predictions
    qt.set_state({"threshold": 1.0})
    assert qt.visible_predictions == [p for p in qt.predictions if p["probability"] >= 1.0]
    top = qt.predictions[0]["probability"]
    qt.set_state({"threshold": top})
    assert qt.visible_predictions[0] == qt.predictions[0]
    with pytest.raises(traitlets.TraitError):
        qt.threshold = -0.1


def test_a_url_is_downloaded_and_predicted(project, server):
    qt = QuickTest(project, store=False)
    qt.handle_message({"type": "url", "url": f"{server}/digit.png"})
    assert qt.notice == {}, qt.notice
    assert qt.image["name"] == "digit.png" and qt.predictions
    qt.handle_message({"type": "url", "url": f"{server}/missing.png"})
    assert qt.notice["level"] == "error" and "404" in qt.notice["text"]
    assert qt.image == {} and qt.predictions == []
    qt.handle_message({"type": "url", "url": "ftp://example.com/a.png"})
    assert qt.notice["level"] == "error" and "http(s)" in qt.notice["text"]


def test_a_webcam_capture_and_a_broken_file(project, digit):
    qt = QuickTest(project, store=False)
    qt.handle_message({"type": "capture"}, [digit])
    assert qt.image["name"] == "webcam picture" and qt.predictions
    qt.handle_message({"type": "file", "name": "broken.jpg", "size": 9}, [b"not a jpg"])
    assert qt.notice["level"] == "error" and qt.notice["text"].startswith("broken.jpg: ")
    assert qt.image == {}
    qt.handle_message({"type": "capture"}, [])
    assert qt.notice["level"] == "error" and "buffers" in qt.notice["text"]


def test_the_published_iteration_is_the_default(project):
    first = project.iterations[-1]
    first.publish("qt-production")
    try:
        assert QuickTest(project).iteration == first.id
    finally:
        first.unpublish()


def test_without_an_iteration_it_says_to_train_first(make_project, png):
    qt = QuickTest(make_project(n=1))
    assert qt.iteration == "" and qt.iterations == []
    qt.handle_message({"type": "file", "name": "a.png", "size": 3}, [png(1)])
    assert qt.notice["level"] == "error"
    assert qt.notice["text"].endswith("train one first (project.train())")
    qt.host = "workbench"  # the Workbench names its tab
    qt.handle_message({"type": "file", "name": "a.png", "size": 3}, [png(1)])
    assert qt.notice["text"].endswith("train one first (the Train tab)")


def test_detection_predictions_come_with_their_boxes(tmp_path_factory):
    project = trained_detection(tmp_path_factory, "quick-test-detection")
    qt = QuickTest(project, threshold=0.2)
    image = project.images()[0]
    result = qt.test(image.path)
    assert qt.image["width"] == image.width and qt.image["height"] == image.height
    assert len(qt.predictions) == len(result) > 0
    for shown, p in zip(qt.predictions, result, strict=True):
        box = shown["box"]
        assert (box["left"], box["top"], box["width"], box["height"]) == pytest.approx(
            (p.bounding_box.left, p.bounding_box.top, p.bounding_box.width,
             p.bounding_box.height))
    assert all(p["probability"] >= 0.2 for p in qt.visible_predictions)
