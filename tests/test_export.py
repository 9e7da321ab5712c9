"""Export: ONNX (parity with the app through the torch-free runtime), TorchScript, fastai,
sidecars, atomic writes, and the errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import cvbench
from cvbench.export import ExportError, check_onnx_parity, onnx_runtime
from cvbench.samples import make_sample

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = make_sample("digits", tmp_path_factory.mktemp("export") / "digits", small=True)
    it = p.train("quick", size=SIZE, progress_bar=False)
    return p, it


@pytest.fixture(scope="module")
def onnx_export(trained, tmp_path_factory):
    _, it = trained
    return it.export("onnx", tmp_path_factory.mktemp("onnx"))


def test_onnx_export_and_parity(trained, onnx_export):
    import onnx

    project, it = trained
    assert onnx_export.path.name == "model.onnx" and onnx_export.path.exists()
    assert onnx_export.sidecar == onnx_export.path.with_name("model.onnx.json")
    report = onnx_export.parity
    assert report.ok and report.images == 20 and report.source == "validation"
    assert report.max_abs_diff <= 1e-4 and report.same_top
    model = onnx.load(str(onnx_export.path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, SIZE, SIZE]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    # no external data file: the .onnx is the whole model
    assert sorted(p.name for p in onnx_export.path.parent.iterdir()) == [
        "model.onnx", "model.onnx.json"]


def test_sidecar(trained, onnx_export):
    project, it = trained
    side = json.loads(onnx_export.sidecar.read_text())
    assert side["labels"] == it.tag_names
    assert [t["id"] for t in side["tags"]] == [t.id for t in it.tags]
    assert side["kind"] == "multiclass" and side["task"] == "classification"
    assert side["iteration"]["id"] == it.id and side["project"]["id"] == project.id
    spec = side["input"]
    assert spec["size"] == SIZE and spec["resize"] == "squash" and spec["layout"] == "NCHW"
    assert spec["mean"] == [0.5, 0.5, 0.5] and spec["std"] == [0.5, 0.5, 0.5]
    assert side["output"] == {"name": "probabilities", "shape": ["batch", 10],
                              "activation": "softmax"}
    assert side["opset"] >= 17


def test_runtime_matches_the_app_on_new_images(trained, onnx_export):
    _, it = trained
    rng = np.random.default_rng(0)
    images = []
    for k in range(3):
        arr = rng.integers(0, 256, (30 + 10 * k, 50, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        images.append(buf.getvalue())
    rgba = Image.fromarray(rng.integers(0, 256, (40, 40, 4), dtype=np.uint8), "RGBA")
    images.append(rgba)
    for img in images:
        mine = it.predict(img)
        theirs = onnx_runtime.predict(onnx_export.path, img)
        assert theirs[0]["tagId"] == mine[0].tag_id
        a = {p.tag_id: p.probability for p in mine}
        for p in theirs:
            assert p["probability"] == pytest.approx(a[p["tagId"]], abs=1e-4)
    # a batch through one session, dynamic batch axis
    model = onnx_runtime.load(onnx_export.path)
    probs = model.probabilities(images)
    assert probs.shape == (len(images), 10)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_runtime_runs_without_torch_or_cvbench(trained, onnx_export, tmp_path):
    import subprocess
    import sys

    project, it = trained
    img = project.images(split="validation")[0]
    script = (
        "import sys, json, importlib.util\n"
        "sys.modules['torch'] = None\n"  # any import of torch or cvbench now fails
        "sys.modules['cvbench'] = None\n"
        f"spec = importlib.util.spec_from_file_location('rt', {onnx_runtime.__file__!r})\n"
        "rt = importlib.util.module_from_spec(spec); spec.loader.exec_module(rt)\n"
        f"print(json.dumps(rt.predict({str(onnx_export.path)!r}, {str(img.path)!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120)
    predictions = json.loads(out.stdout)
    assert predictions[0]["tagId"] == it.predict(img.path)[0].tag_id


def test_parity_failure_is_loud_and_writes_nothing(trained, tmp_path, monkeypatch):
    _, it = trained
    real = onnx_runtime.predict

    def off_by_a_little(model_path, image):
        out = real(model_path, image)
        out[0]["probability"] += 1e-3
        return out

    monkeypatch.setattr(onnx_runtime, "predict", off_by_a_little)
    with pytest.raises(ExportError, match="does not reproduce the in-app predictions"):
        it.export("onnx", tmp_path / "bad")
    assert list((tmp_path / "bad").iterdir()) == []


def test_check_parity_on_given_images(trained, onnx_export):
    project, it = trained
    images = [img.path for img in project.images(split="train")[:3]]
    report = check_onnx_parity(it.model(), onnx_export.path, images)
    assert report.ok and report.images == 3 and report.source == "given"


def test_torchscript(trained, tmp_path):
    import torch

    project, it = trained
    exported = it.export("torchscript", tmp_path / "ts" / "classifier.pt")
    assert exported.path == tmp_path / "ts" / "classifier.pt"
    assert exported.parity.ok and exported.parity.max_abs_diff <= 1e-4
    module = torch.jit.load(str(exported.path))
    from cvbench.domains import preprocess
    from cvbench.store.images import load_rgb

    img = project.images(split="validation")[0]
    probs = module(preprocess(it.domain, [load_rgb(img.path)], SIZE))[0]
    assert it.tag_names[int(probs.argmax())] == it.predict(img.path)[0].tag_name


def test_fastai_export(trained, tmp_path):
    project, it = trained
    exported = it.export("fastai", tmp_path / "fa")
    assert exported.path.name == "model.pkl" and exported.parity is None
    side = json.loads(exported.sidecar.read_text())
    assert side["format"] == "fastai"
    # the test plays the user who trusts this file (a pickle): fastai loads and predicts
    from fastai.learner import load_learner

    learn = load_learner(exported.path)
    img = project.images(split="validation")[0]
    label, _, probs = learn.predict(str(img.path))
    mine = it.predict(img.path)
    assert str(label) == mine[0].tag_name
    assert float(probs.max()) == pytest.approx(mine[0].probability, abs=1e-4)
    assert list(learn.dls.vocab) == it.tag_names


def test_bad_format_and_destination(trained, tmp_path):
    _, it = trained
    with pytest.raises(ValueError, match="should be one of"):
        it.export("tflite", tmp_path)
    with pytest.raises(ValueError, match="does not end with '.onnx'"):
        it.export("onnx", tmp_path / "model.pt")


def test_export_of_a_deleted_iteration(trained, tmp_path):
    project, _ = trained
    it = project.train("quick", size=SIZE, progress_bar=False)
    it.delete()
    with pytest.raises(Exception, match="was deleted") as err:
        it.export("onnx", tmp_path / "gone")
    assert isinstance(err.value, (ExportError, cvbench.CvbenchError))
    assert not (tmp_path / "gone").exists()


def test_writers_are_registered_per_kind(trained, tmp_path):
    from cvbench.export import FORMATS, WRITERS, ExportSource, export_model
    from cvbench.export import classify as classify_writers
    from cvbench.export import detect as detect_writers

    assert set(WRITERS) == {"multiclass", "multilabel", "detection"}
    assert WRITERS["multiclass"] is classify_writers.WRITERS
    assert set(WRITERS["detection"]) == {"onnx", "torchscript", "openvino"} < set(FORMATS)
    assert WRITERS["detection"]["onnx"] is detect_writers.write_onnx
    # the engine exports plain data: what Iteration.export hands it
    _, it = trained
    source = it.export_source(check=False)
    assert isinstance(source, ExportSource) and source.model is it.model()
    assert source.parity_images == () and source.iteration_id == it.id
    exported = export_model(source, "torchscript", tmp_path / "plain", check=False)
    assert exported.path.exists() and exported.parity is None
    detection = ExportSource(**{**source.__dict__, "kind": "detection"})
    with pytest.raises(ExportError, match="fastai export is not available for detection"):
        export_model(detection, "fastai", tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
