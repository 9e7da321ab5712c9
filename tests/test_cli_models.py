"""`cvbench train`, `evaluate`, `predict` and `export-model`: thin layers over the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from cvbench import open_project
from cvbench.cli import main
from cvbench.samples import make_sample


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-models") / "faces"
    make_sample("faces", path, small=True).close()
    return path


def test_train_evaluate_predict_export(faces, capsys, tmp_path):
    code, out, err = run(capsys, "train", faces, "--publish", "prod", "--json")
    assert code == 0, err
    trained = json.loads(out)
    with open_project(faces) as project:
        assert [it.id for it in project.iterations] == [trained["id"]]
        assert project.iteration("prod").id == trained["id"]
        validation = project.images(split="validation")
    perf = trained["performance"]
    assert 0.0 <= perf["precision"] <= 1.0 and 0.0 <= perf["recall"] <= 1.0

    code, out, err = run(capsys, "evaluate", faces, "--threshold", "0.3", "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["iteration"] == trained["name"] and ev["threshold"] == pytest.approx(0.3)
    code, out, err = run(capsys, "evaluate", faces)
    assert code == 0 and "precision" in out and "face" in out

    image = validation[0]
    code, out, err = run(capsys, "predict", faces, image.path, "--json")
    assert code == 0, err
    (pred,) = json.loads(out)
    probs = [p["probability"] for p in pred["predictions"]]
    assert probs == sorted(probs, reverse=True)
    assert {p["tagName"] for p in pred["predictions"]} == {"face", "not face"}
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)

    dest = tmp_path / "onnx"
    code, out, err = run(capsys, "export-model", faces, dest, "--json")
    assert code == 0, err
    exported = json.loads(out)
    assert exported["parity"] is not None
    assert Path(exported["path"]).exists() and Path(exported["sidecar"]).exists()
    session = ort.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] in (None, "batch", "N") or isinstance(
        session.get_inputs()[0].shape[0], str)
    sidecar = json.loads(Path(exported["sidecar"]).read_text())
    assert np.asarray(sidecar.get("labels", sidecar.get("tags", []))).size == 2


def test_model_commands_errors_are_one_line(faces, capsys, tmp_path):
    empty = tmp_path / "empty"
    assert main(["create", str(empty)]) == 0
    capsys.readouterr()
    for args in (("evaluate", empty), ("predict", empty, "x.png"),
                 ("export-model", empty, tmp_path / "out")):
        code, out, err = run(capsys, *args)
        assert code != 0 and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and "no trained iteration" in err
    code, out, err = run(capsys, "train", empty)
    # the progress bar may stand before the error line; the error is one line, the last
    assert code != 0 and "Traceback" not in err
    last = err.strip().splitlines()[-1].split("\r")[-1]
    assert last.startswith("cvbench: error: ") and "at least 2 tags" in last
    code, out, err = run(capsys, "evaluate", faces, "--iteration", "nope")
    assert code != 0 and "Traceback" not in err
    code, out, err = run(capsys, "predict", faces, tmp_path / "missing.png")
    assert code != 0 and "Traceback" not in err
