"""Every operation of the official SDK (found by introspection of its clients' operation
mixins) is served, at the SDK's own path and method, and called by a server test."""

from __future__ import annotations

import re
from pathlib import Path

from azure.cognitiveservices.vision.customvision.prediction.operations import (
    CustomVisionPredictionClientOperationsMixin,
)
from azure.cognitiveservices.vision.customvision.training.operations import (
    CustomVisionTrainingClientOperationsMixin,
)

from cvbench.server import PREDICTION_OPS, TRAINING_OPS

HERE = Path(__file__).resolve().parent


def _sdk_operations(mixin: type) -> dict[str, str]:
    """Method name -> URL template, for every public method of the mixin with metadata."""
    out = {}
    for name in dir(mixin):
        method = getattr(mixin, name)
        if not name.startswith("_") and callable(method) and hasattr(method, "metadata"):
            out[name] = method.metadata["url"]
    return out


def _method_of(mixin: type, name: str) -> str:
    source = Path(__import__("inspect").getsourcefile(mixin)).read_text()
    body = source.split(f"    def {name}(", 1)[1].split("\n    def ", 1)[0]
    return re.search(r"self\._client\.(get|post|patch|delete|put)\(", body).group(1).upper()


def test_the_sdk_has_60_operations_and_the_server_serves_each():
    training = _sdk_operations(CustomVisionTrainingClientOperationsMixin)
    prediction = _sdk_operations(CustomVisionPredictionClientOperationsMixin)
    assert (len(training), len(prediction)) == (52, 8)
    for mixin, sdk, ops in ((CustomVisionTrainingClientOperationsMixin, training, TRAINING_OPS),
                            (CustomVisionPredictionClientOperationsMixin, prediction,
                             PREDICTION_OPS)):
        served = {op.sdk: op for op in ops}
        assert set(served) == set(sdk)
        for name, url in sdk.items():
            assert served[name].path == url, name
            assert served[name].method == _method_of(mixin, name), name


def test_every_operation_is_called_by_a_test():
    sources = "\n".join(p.read_text() for p in HERE.glob("test_*.py")
                        if p.name != Path(__file__).name)
    sources += (HERE / "conftest.py").read_text()
    names = [*_sdk_operations(CustomVisionTrainingClientOperationsMixin),
             *_sdk_operations(CustomVisionPredictionClientOperationsMixin)]
    uncalled = [n for n in names if not re.search(rf"\.{n}\(", sources)]
    assert uncalled == []
