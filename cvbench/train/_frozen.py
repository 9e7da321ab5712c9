"""The frozen parts of a backbone on their fastest path: an ONNX Runtime session.

The pretrained backbone never changes, so whatever is computed from its frozen part alone
(cached pooled features, the activations of frozen early stages that advanced training
and quick detection train on) can run on a faster engine than torch's eager mode, as long
as it gives the same numbers. Measured on a 2-core CPU (EfficientNet-Lite0, 224 px,
batch 32, two threads): torch eager 10-43 images/s, ONNX Runtime 90-190 images/s, largest
difference 7e-6.

:func:`frozen_runner` exports the frozen module once per domain, input size and part to
an ONNX file in the user's cache folder (:func:`cache_dir`: ``$CVBENCH_CACHE``, else
``$XDG_CACHE_HOME/cvbench``, else ``~/.cache/cvbench``), under a name made of the domain,
the size, the part, a hash of the weights and the versions of torch, timm, ONNX Runtime and
of this recipe. The file is written to a temporary name and renamed (atomic), and checked
once against torch on a probe batch (largest difference at most :data:`PARITY_ATOL`,
relative to the outputs' scale) before it is used; a sidecar JSON records the check.

Where the export, the check or ONNX Runtime fail (not installed, an operator it lacks, a
read-only cache), the runner falls back to the torch module and says why in
:attr:`FrozenRunner.reason`, which training copies into the iteration's notes.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["FrozenRunner", "frozen_runner", "cache_dir", "weights_hash", "PARITY_ATOL",
           "RECIPE_VERSION"]

#: Bump when what the exported graphs compute changes (old files are then ignored).
RECIPE_VERSION = 1
#: Largest difference from torch allowed, relative to the largest output magnitude.
PARITY_ATOL = 1e-4


def cache_dir() -> Path:
    """Where exported frozen parts are kept (created on first use)."""
    env = os.environ.get("CVBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "cvbench"


def weights_hash(domain: str) -> str:
    """A short hash of the domain's pretrained tensors (:func:`cvbench.domains.weights_hash`)."""
    from .. import domains as _domains

    return _domains.weights_hash(domain)


def _versions() -> str:
    import onnxruntime
    import timm
    import torch

    return f"torch{torch.__version__}-timm{timm.__version__}-ort{onnxruntime.__version__}" \
           f"-r{RECIPE_VERSION}"


class FrozenRunner:
    """Runs a frozen module on a float32 batch ``(N, 3, S, S)``; returns its outputs as
    float32 numpy arrays (a list: one per output of the module).

    ``engine`` is ``"onnxruntime"`` or ``"torch"``; ``reason`` says why torch was used
    (None on the fast path); ``path`` is the ONNX file (None with torch).
    """

    def __init__(self, module: torch.nn.Module, *, session: Any = None, path: Path | None = None,
                 reason: str | None = None) -> None:
        self.module = module
        self.session = session
        self.path = path
        self.reason = reason
        self.engine = "onnxruntime" if session is not None else "torch"
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor | np.ndarray) -> list[np.ndarray]:
        import torch

        with self._lock:
            if self.session is not None:
                arr = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
                outs = self.session.run(None, {"input": np.ascontiguousarray(arr, np.float32)})
                return [np.asarray(o, dtype=np.float32) for o in outs]
            t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, np.float32))
            with torch.inference_mode():
                out = self.module(t)
            outs_t = list(out) if isinstance(out, (list, tuple)) else [out]
            return [o.float().numpy() for o in outs_t]

    def note(self) -> dict[str, Any]:
        """What the iteration's notes say about it."""
        return {"engine": self.engine, **({"fallback": self.reason} if self.reason else {})}


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # no spinning between runs: on a shared machine the spinning threads take the cores
    # from the work that follows (measured: as fast or faster without, 2 cores)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _export(module: torch.nn.Module, probe: torch.Tensor, path: Path, n_outputs: int) -> None:
    """Export ``module`` to ``path`` atomically (temporary name in the same folder)."""
    import warnings

    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"output{i}" for i in range(n_outputs)]
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (probe,), tmp, opset_version=18, dynamo=False,
                input_names=["input"], output_names=names,
                dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}},
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as fp:
        json.dump(data, fp)
    os.replace(tmp, path)


def _parity(module: torch.nn.Module, session: Any, probe: torch.Tensor) -> float:
    """Largest difference between torch and the session on ``probe``, relative to the
    largest output magnitude (at least 1)."""
    import torch

    with torch.inference_mode():
        ref = module(probe)
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    outs = session.run(None, {"input": probe.numpy()})
    worst = 0.0
    for r, o in zip(refs, outs, strict=True):
        r_np = r.float().numpy()
        if r_np.shape != o.shape:
            return float("inf")
        scale = max(1.0, float(np.abs(r_np).max(initial=0.0)))
        worst = max(worst, float(np.abs(r_np - o).max(initial=0.0)) / scale)
    return worst


_RUNNERS: dict[tuple[Any, ...], FrozenRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def frozen_runner(domain: str, size: int, part: str, build: Callable[[], torch.nn.Module], *,
                  n_outputs: int = 1, threads: int | None = None, engine: str = "auto"
                  ) -> FrozenRunner:
    """The runner of a frozen part of ``domain``'s backbone at input ``size``.

    ``part`` names what ``build()`` returns (e.g. ``"taps"``, ``"blocks:2"``): it is part of
    the cache key, so two different modules must never share a name. ``threads`` is the
    number of intra-op threads (None: torch's current number). ``engine="torch"`` skips
    ONNX Runtime. Runners are kept for the process (one per key and thread count).
    """
    import torch

    threads = torch.get_num_threads() if threads is None else max(1, int(threads))
    key = (domain, size, part, threads, engine)
    with _RUNNERS_LOCK:
        if key in _RUNNERS:
            return _RUNNERS[key]
        module = build().eval()
        for p in module.parameters():
            p.requires_grad_(False)
        runner = _make(module, domain, size, part, n_outputs, threads, engine)
        _RUNNERS[key] = runner
        return runner


def _make(module: torch.nn.Module, domain: str, size: int, part: str, n_outputs: int,
          threads: int, engine: str) -> FrozenRunner:
    import torch

    if engine == "torch":
        return FrozenRunner(module, reason="engine='torch' was asked for")
    try:
        import onnxruntime as ort
    except ImportError:
        return FrozenRunner(module, reason="onnxruntime is not installed")
    from .. import domains as _domains

    arch = _domains.get_domain(domain).arch
    safe_part = "".join(c if c.isalnum() else "-" for c in part)
    try:
        name = f"{arch}-{size}-{safe_part}-{weights_hash(domain)}-{_versions()}"
        path = cache_dir() / "frozen" / f"{name}.onnx"
        check = path.with_suffix(".json")
        g = torch.Generator().manual_seed(0)
        probe = torch.rand(2, 3, size, size, generator=g) * 2 - 1
        fresh = not (path.is_file() and check.is_file())
        if fresh:
            _export(module, probe, path, n_outputs)
        session = ort.InferenceSession(str(path), _session_options(threads),
                                       providers=["CPUExecutionProvider"])
        if fresh:
            diff = _parity(module, session, probe)
            _write_json(check, {"max_relative_difference": diff, "ok": diff <= PARITY_ATOL})
        info = json.loads(check.read_text())
        if not info.get("ok"):
            return FrozenRunner(module, reason=(
                f"the ONNX Runtime graph differed from torch by "
                f"{info.get('max_relative_difference')!r} (> {PARITY_ATOL}); torch is used"))
        return FrozenRunner(module, session=session, path=path)
    except Exception as exc:  # any failure of the fast path: the slow one gives the numbers
        return FrozenRunner(module, reason=f"ONNX Runtime path failed ({type(exc).__name__}: "
                                           f"{str(exc)[:200]}); torch is used")


def clear_runners() -> None:
    """Forget the runners of this process (tests; a changed cache folder)."""
    with _RUNNERS_LOCK:
        _RUNNERS.clear()

