"""The frozen backbone on ONNX Runtime: same numbers as torch (1e-4), exported once into the
user's cache folder (atomically), and a clear fallback to torch when that path fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvbench import domains
from cvbench.train import _frozen
from cvbench.train import features as _features

DOMAIN = "General (compact)"
SIZE = 64


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVBENCH_CACHE", str(tmp_path / "cache"))
    _frozen.clear_runners()
    yield tmp_path / "cache"
    _frozen.clear_runners()


def _batch(n: int = 3, size: int = SIZE) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


@pytest.mark.parametrize("part", ["pooled", "taps"])
def test_onnx_runtime_gives_torch_numbers(cache, part):
    runner = _features.frozen_runner_for(DOMAIN, SIZE, part)
    assert runner.engine == "onnxruntime", runner.reason
    assert runner.path is not None and runner.path.is_relative_to(cache)
    x = _batch()
    module = _features.frozen_backbone(DOMAIN)
    if part == "taps":
        module = _features.taps_module(module)
    with torch.inference_mode():
        ref = module(x).numpy()
    (out,) = runner(x)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    if part == "taps":  # the slices: pooled features first, the thumbnail last
        layout = _features.taps_layout(DOMAIN)
        lo, hi = layout["final"]
        with torch.inference_mode():
            pooled = _features.frozen_backbone(DOMAIN)(x).numpy()
        assert np.allclose(out[:, lo:hi], pooled, atol=1e-4)
        lo, hi = layout["pixels"]
        thumb = torch.nn.functional.adaptive_avg_pool2d(x, _features.THUMBNAIL).flatten(1)
        assert np.allclose(out[:, lo:hi], thumb.numpy(), atol=1e-5)
        assert out.shape[1] == hi


def test_the_export_is_kept_and_reused(cache):
    runner = _features.frozen_runner_for(DOMAIN, SIZE, "pooled")
    path = runner.path
    assert path is not None
    stamp = path.stat().st_mtime_ns
    files = sorted(p.name for p in path.parent.iterdir())
    assert not any(f.endswith(".tmp") for f in files)  # written under a temporary name
    assert path.with_suffix(".json").is_file()  # the parity check, recorded
    name = path.name
    assert domains.get_domain(DOMAIN).arch in name and f"-{SIZE}-" in name
    assert _frozen.weights_hash(DOMAIN) in name
    _frozen.clear_runners()  # a new process, as it were
    again = _features.frozen_runner_for(DOMAIN, SIZE, "pooled")
    assert again.path == path and path.stat().st_mtime_ns == stamp


def test_falls_back_to_torch_and_says_why(cache, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no exporter today")

    monkeypatch.setattr(_frozen, "_export", broken)
    runner = _features.frozen_runner_for(DOMAIN, SIZE, "pooled")
    assert runner.engine == "torch"
    assert "no exporter today" in runner.reason
    assert runner.note() == {"engine": "torch", "fallback": runner.reason}
    x = _batch(2)
    with torch.inference_mode():
        ref = _features.frozen_backbone(DOMAIN)(x).numpy()
    assert np.allclose(runner(x)[0], ref, atol=1e-6)


def test_a_failed_parity_check_is_not_used(cache, monkeypatch):
    monkeypatch.setattr(_frozen, "_parity", lambda *a: 1.0)
    runner = _features.frozen_runner_for(DOMAIN, SIZE, "pooled")
    assert runner.engine == "torch" and "differed" in runner.reason


def test_detection_front_matches_torch(cache):
    from cvbench.train import _detect_fit
    from cvbench.train._detect_model import Detector, DetectorSpec

    det = Detector(DetectorSpec(DOMAIN, 2, image_size=128)).eval()
    runner = _detect_fit.front_runner(det, 3)
    assert runner.engine == "onnxruntime", runner.reason
    x = _batch(2, 128)
    with torch.inference_mode():
        ref = det.front(3)(x)
        full = det(x)
        from_front = det.from_front(ref, 3)
    (out,) = runner(x)
    assert np.abs(out - ref.numpy()).max() <= 1e-4 * max(1.0, float(ref.abs().max()))
    # the later blocks on the front's output give the whole network's outputs
    for key in full:
        assert torch.allclose(full[key], from_front[key], atol=1e-5)
