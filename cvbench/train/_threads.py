"""How many torch threads training uses: fewer when the machine is busy.

On a shared machine running other work, intra-op threads that wait for each other at every
operator are several times *slower* than one thread (measured on a 2-core VM at load
average ~8: a 10-image forward pass of EfficientNet-Lite0 at 64 px took 4-10 s with two
threads and 0.6-0.8 s with one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["busy_threads", "torch_threads"]


def busy_threads() -> int:
    """1 when the machine is busy (1-minute load average at least its number of cores),
    else torch's default."""
    import torch

    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - platforms without a load average
        return torch.get_num_threads()
    return 1 if load >= cores else torch.get_num_threads()


@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with ``n`` torch threads (None: :func:`busy_threads`), then restore."""
    import torch

    before = torch.get_num_threads()
    n = busy_threads() if n is None else max(1, int(n))
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)
