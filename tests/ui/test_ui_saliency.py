""""Why?": Quick test, Performance and Predictions answer a "why" message with the saliency
overlay of a prediction, computed once per image, iteration and tag, and an error a person
can read when the iteration cannot be explained."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from _ui_trained import trained_copy
from PIL import Image

import cvbench
from cvbench.insight import last_conv_stage
from cvbench.ui import Performance, Predictions, QuickTest
from cvbench.ui._saliency import OverlayCache


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "saliency")


@pytest.fixture(scope="module")
def digit(project) -> bytes:
    img = next(i for i in project.images() if i.tags == ("3",))
    return img.path.read_bytes()


def _answers(widget, monkeypatch) -> list[dict]:
    sent: list[dict] = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    return sent


def _picture(src: str) -> Image.Image:
    head, data = src.split(",", 1)
    assert head == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def _why(source: str, id: str, tag: str = "", iteration: str = "") -> dict:
    return {"type": "why", "source": source, "id": id, "tag": tag, "iteration": iteration}


def test_quick_test_explains_the_top_prediction_and_a_row(project, digit, monkeypatch):
    qt = QuickTest(project, store=False)
    sent = _answers(qt, monkeypatch)
    qt.test(digit, name="three.png")
    key = qt.image["key"]
    qt.handle_message(_why("tested", key))
    assert qt.notice == {}, qt.notice
    (answer,) = sent
    assert answer["type"] == "why" and answer["error"] == ""
    assert (answer["source"], answer["id"], answer["tag"]) == ("tested", key, "")
    top = qt.predictions[0]
    assert answer["tag_id"] == top["tag"] and answer["probability"] == pytest.approx(
        top["probability"], abs=1e-4)
    over = _picture(answer["src"])
    assert over.size == (64, 64) and over.mode == "RGB"
    # the overlay is the API's, for the same image: what a notebook user gets
    want = project.iteration(qt.iteration).saliency(digit).overlay()
    assert np.array_equal(np.asarray(over), np.asarray(want))
    # a row clicked: the heat of that tag
    other = qt.predictions[3]
    qt.handle_message(_why("tested", key, tag=other["tag"]))
    assert sent[-1]["tag_id"] == other["tag"] and sent[-1]["tag"] == other["tag"]
    assert sent[-1]["src"] != answer["src"]


def test_the_same_request_is_computed_once(project, digit, monkeypatch):
    qt = QuickTest(project, store=False)
    sent = _answers(qt, monkeypatch)
    qt.test(digit)
    calls = []
    real = cvbench.Iteration.saliency

    def counting(self, image, tag=None):
        calls.append(tag)
        return real(self, image, tag)

    monkeypatch.setattr(cvbench.Iteration, "saliency", counting)
    for _ in range(3):
        qt.handle_message(_why("tested", qt.image["key"]))
    assert len(calls) == 1 and len(sent) == 3
    assert sent[0]["src"] == sent[1]["src"] == sent[2]["src"]
    assert (qt.why_cache.misses, qt.why_cache.hits) == (1, 2)
    # the same bytes tested again (another upload of the image) hit the cache too
    qt.test(digit, name="again.png")
    qt.handle_message(_why("tested", qt.image["key"]))
    assert len(calls) == 1


def test_the_cache_keeps_the_most_recent():
    cache = OverlayCache(2)
    cache.put(("a",), {"n": 1})
    cache.put(("b",), {"n": 2})
    assert cache.get(("a",)) == {"n": 1}  # a is now the most recent
    cache.put(("c",), {"n": 3})
    assert cache.get(("b",)) is None and cache.get(("a",)) == {"n": 1} and len(cache) == 2
    with pytest.raises(ValueError, match="at least 1"):
        OverlayCache(0)


def test_a_stale_tested_image_is_refused_readably(project, digit, monkeypatch):
    qt = QuickTest(project, store=False)
    sent = _answers(qt, monkeypatch)
    qt.handle_message(_why("tested", "0" * 64))
    assert sent[-1]["src"] == "" and "test it again" in sent[-1]["error"]
    assert qt.notice["level"] == "error" and "test it again" in qt.notice["text"]


def test_performance_explains_the_predicted_tag_of_a_wrong_image(project, monkeypatch):
    perf = Performance(project, plot_delay=0, threshold=0.9)
    sent = _answers(perf, monkeypatch)
    assert perf.mistakes, "the small digits iteration makes mistakes at 0.9"
    wrong = next((m for m in perf.mistakes if m["predicted_tags"]), perf.mistakes[0])
    tag = wrong["predicted_tags"][0] if wrong["predicted_tags"] else ""
    perf.handle_message(_why("image", wrong["image_id"], tag=tag))
    answer = sent[-1]
    assert answer["error"] == "", answer["error"]
    if tag:
        assert answer["tag_id"] == tag
    img = project.image(wrong["image_id"])
    assert _picture(answer["src"]).size == (img.width, img.height)
    assert answer["iteration_name"] == project.iteration(perf.iteration).name


def test_predictions_explain_a_stored_prediction_with_its_own_iteration(project, digit,
                                                                         monkeypatch):
    project.iteration().predict(digit, store=True)
    view = Predictions(project)
    sent = _answers(view, monkeypatch)
    item = view.items[0]
    view.handle_message(_why("prediction", item["id"], tag=item["predictions"][0]["tag"]))
    answer = sent[-1]
    assert answer["error"] == "" and answer["tag_id"] == item["predictions"][0]["tag"]
    assert answer["src"].startswith("data:image/png;base64,")
    view.handle_message(_why("prediction", "no-such-id"))
    assert "gone" in sent[-1]["error"] and view.notice["level"] == "error"
    view.handle_message(_why("gallery", item["id"]))
    assert "should be one of" in sent[-1]["error"]


def test_a_large_image_comes_back_small(project, monkeypatch):
    big = Image.new("RGB", (1600, 900), (120, 130, 140))
    buf = io.BytesIO()
    big.save(buf, "JPEG")
    qt = QuickTest(project, store=False)
    sent = _answers(qt, monkeypatch)
    qt.test(buf.getvalue())
    qt.handle_message(_why("tested", qt.image["key"]))
    assert _picture(sent[-1]["src"]).size == (QuickTest.WHY_SIDE, 360)


def test_a_network_without_convolution_is_shown_as_a_notice(project, digit, monkeypatch):
    def no_conv(self, image, tag=None):
        last_conv_stage(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)))

    qt = QuickTest(project, store=False)
    sent = _answers(qt, monkeypatch)
    qt.test(digit)
    monkeypatch.setattr(cvbench.Iteration, "saliency", no_conv)
    qt.handle_message(_why("tested", qt.image["key"]))
    assert sent[-1]["src"] == "" and "no convolutional layer" in sent[-1]["error"]
    assert qt.notice["level"] == "error" and "no convolutional layer" in qt.notice["text"]
    assert len(qt.why_cache) == 0  # an error is not kept: a later iteration may explain it
