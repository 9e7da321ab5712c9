"""The frozen backbone's throughput on each engine, and the fast path's parity with torch.

    .venv/bin/python benchmarks/bench_frozen.py [--threads 2] [--size 224] [--batch 32]

One batch of random inputs (the preprocessed range, [-1, 1]) through EfficientNet-Lite0's
pooled features: torch eager, torch channels_last, and the ONNX Runtime session that
training uses (``cvbench.train.features.frozen_runner_for``, exported once into the cache
folder). Images per second are the best of ``--reps`` runs after a warm-up, all in the
same process, interleaved (so that a change of the machine's load hits every engine);
the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="General (compact)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    from cvbench.train import features as _features

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1
    model = _features.frozen_backbone(args.domain)
    t0 = time.perf_counter()
    runner = _features.frozen_runner_for(args.domain, args.size, "pooled")
    setup = time.perf_counter() - t0
    model_cl = __import__("copy").deepcopy(model).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    engines = {
        "torch eager": lambda: model(x),
        "torch channels_last": lambda: model_cl(x_cl),
        f"{runner.engine} (cvbench's frozen path)": lambda: runner(x),
    }
    best = {k: 0.0 for k in engines}
    with torch.inference_mode():
        for fn in engines.values():
            fn()
        for _ in range(args.reps):
            for name, fn in engines.items():
                t = time.perf_counter()
                fn()
                best[name] = max(best[name], args.batch / (time.perf_counter() - t))
        ref = model(x).numpy()
    diff = float(np.abs(runner(x)[0] - ref).max())
    out = {"images_per_second": {k: round(v, 1) for k, v in best.items()},
           "max_difference_from_torch": diff, "fallback": runner.reason,
           "runner_setup_seconds": round(setup, 2), "threads": args.threads,
           "size": args.size, "batch": args.batch,
           "load_average": [round(v, 2) for v in os.getloadavg()]}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
