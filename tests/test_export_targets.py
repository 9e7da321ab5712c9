"""Export targets beyond ONNX: OpenVINO IR (checked with OpenVINO Runtime against the app),
Core ML (built, its parity unchecked), TFLite (refused, with the reason), and the clear
errors when a target's package is missing or the kind has no such export."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from cvbench.export import FORMATS, UNAVAILABLE, ExportError, missing_requirement
from cvbench.samples import make_sample

SIZE = 64

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = make_sample("digits", tmp_path_factory.mktemp("targets") / "digits", small=True)
    return p, p.train("quick", size=SIZE, progress_bar=False)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    p = make_sample("shapes", tmp_path_factory.mktemp("targets-det") / "shapes", small=True)
    return p, p.train("quick", size=128, settings={"head_seconds": 6}, progress_bar=False)


def test_openvino_ir_gives_the_in_app_probabilities(trained, tmp_path):
    ov = pytest.importorskip("openvino")
    _, it = trained
    exported = it.export("openvino", tmp_path)
    assert exported.path == tmp_path / "model.xml"
    assert [p.name for p in exported.files] == ["model.xml", "model.bin", "model.xml.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model.xml",
                                                          "model.xml.json"]  # no temp left
    report = exported.parity
    assert report is not None and report.ok and report.images == 20
    assert report.format == "openvino" and report.max_abs_diff <= 1e-4
    assert exported.unchecked == ""
    side = json.loads(exported.sidecar.read_text())
    assert side["format"] == "openvino" and side["labels"] == it.tag_names
    # independently of the writer's own check: run the IR on new images, compare with the app
    from cvbench.export.onnx_runtime import preprocess, read_image

    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (40 + 7 * k, 52, 3), dtype=np.uint8) for k in range(3)]
    from PIL import Image

    pil = [Image.fromarray(a) for a in images]
    compiled = ov.Core().compile_model(str(exported.path), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    probs = compiled(preprocess([read_image(p) for p in pil], side["input"]))[0]
    assert probs.shape == (3, len(it.tag_names))
    for row, image in zip(probs, pil, strict=True):
        app = {p.tag_id: p.probability for p in it.predict(image)}
        got = {t["id"]: float(v) for t, v in zip(side["tags"], row, strict=True)}
        assert max(abs(app[k] - got[k]) for k in app) <= 1e-4


def test_openvino_export_of_a_detector_gives_the_in_app_boxes(detector, tmp_path):
    pytest.importorskip("openvino")
    _, it = detector
    exported = it.export("openvino", tmp_path / "det")
    assert exported.parity is not None and exported.parity.ok
    assert exported.parity.format == "openvino"
    assert (tmp_path / "det" / "model.bin").is_file()


def test_a_second_export_replaces_the_first_whole(trained, tmp_path):
    pytest.importorskip("openvino")
    _, it = trained
    first = it.export("openvino", tmp_path, check=False)
    assert first.parity is None
    bin_before = (tmp_path / "model.bin").read_bytes()
    it.export("openvino", tmp_path)
    assert (tmp_path / "model.bin").read_bytes() == bin_before  # same model, same weights
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin", "model.xml",
                                                          "model.xml.json"]


def test_coreml_builds_and_says_its_parity_is_unchecked(trained, tmp_path):
    ct = pytest.importorskip("coremltools")
    _, it = trained
    exported = it.export("coreml", tmp_path)
    assert exported.path == tmp_path / "model.mlpackage" and exported.path.is_dir()
    assert exported.parity is None
    assert "unchecked" in exported.unchecked and "Apple" in exported.unchecked
    assert exported.to_dict()["unchecked"] == exported.unchecked
    spec = ct.models.MLModel(str(exported.path), skip_model_load=True).get_spec()
    assert [i.name for i in spec.description.input] == ["input"]
    assert [o.name for o in spec.description.output] == ["probabilities"]
    labels = json.loads(spec.description.metadata.userDefined["labels"])
    assert labels == it.tag_names
    again = it.export("coreml", tmp_path)  # a folder replaces the old folder
    assert again.path.is_dir() and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_coreml_is_refused_for_detectors_with_the_reason(detector, tmp_path):
    _, it = detector
    with pytest.raises(ExportError, match="not available for detection projects.*Core ML"):
        it.export("coreml", tmp_path)
    assert not any(tmp_path.iterdir())


def test_tflite_is_not_offered_and_says_why(trained, tmp_path):
    _, it = trained
    assert "tflite" in UNAVAILABLE and "tflite" not in FORMATS
    with pytest.raises(ExportError, match="TFLite export is not available.*onnx"):
        it.export("tflite", tmp_path)
    with pytest.raises(ValueError, match="should be one of"):
        it.export("tensorflow", tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_missing_package_names_the_extra_to_install(trained, tmp_path, monkeypatch):
    _, it = trained
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openvino" else real(name, *a))
    assert "pip install cvbench[openvino]" in missing_requirement("openvino")
    with pytest.raises(ExportError, match=r"pip install cvbench\[openvino\]"):
        it.export("openvino", tmp_path)
    assert not any(tmp_path.iterdir())
    assert missing_requirement("onnx") == ""
