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


#: (wall, process CPU seconds) samples of this process, the last minute's
_SAMPLES: list[tuple[float, float]] = []


def own_load() -> float:
    """About how many cores this process kept busy over the last minute (its share of
    the load average: a run that just used both cores must not read as "busy")."""
    import time

    now, cpu = time.monotonic(), time.process_time()
    _SAMPLES.append((now, cpu))
    while len(_SAMPLES) > 2 and now - _SAMPLES[1][0] > 60.0:
        _SAMPLES.pop(0)
    then, cpu_then = _SAMPLES[0]
    if now - then < 1.0:  # no history yet: the process's whole life, if it is known
        age = _process_age()
        return 0.0 if age is None else cpu / max(age, 60.0)
    return max(0.0, (cpu - cpu_then) / (now - then))


def _process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``), None elsewhere."""
    try:
        with open("/proc/self/stat") as fp:
            start_ticks = float(fp.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fp:
            uptime = float(fp.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None


def busy_threads() -> int:
    """1 when the machine is busy with *other* work (1-minute load average, less this
    process's own share, at least its number of cores), else torch's default."""
    import torch

    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - platforms without a load average
        return torch.get_num_threads()
    return 1 if load - own_load() >= cores else torch.get_num_threads()


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
