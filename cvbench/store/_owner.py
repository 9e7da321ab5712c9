"""Which process owns a training run, and whether that process is still running.

A training run's row (status ``Training``) records its owner: the host, the process id and
a token of the process's start (on Linux the boot id and the start time in clock ticks,
from ``/proc``), so that a process id reused by another program after a crash or a reboot
is not mistaken for the trainer. Readers that find a ``Training`` row whose owner is gone
mark it ``Failed`` (see :meth:`cvbench.store.repo_iterations.IterationRepository.fail`).
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "this_process", "is_alive"]


@dataclass(frozen=True)
class Owner:
    """A process: its host, pid and start token (``""`` where the system gives none)."""

    host: str
    pid: int
    started: str


def _start_token(pid: int) -> str:
    """A token that differs between two processes that had the same pid (``""`` when the
    system does not say)."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            return ""
        # the command name (field 2) may hold spaces and parentheses: fields after the
        # last ')' are plain: the state (field 3; Z and X: exited, not yet reaped) and the
        # start time (field 22)
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
            return ""
        return f"{boot}:{fields[19]}"
    try:
        import psutil  # optional: macOS, Windows
    except ImportError:
        return ""
    try:
        return repr(psutil.Process(pid).create_time())
    except Exception:  # psutil.NoSuchProcess, AccessDenied: no token to compare
        return ""


@functools.lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def this_process() -> Owner:
    """The current process as an :class:`Owner`."""
    pid = os.getpid()
    return Owner(_host(), pid, _start_token(pid))


def is_alive(owner: Owner) -> bool:
    """Whether ``owner`` still runs. A process on another host cannot be checked from
    here: it counts as alive (a project database is only ever shared by one machine's
    processes: SQLite's WAL mode needs shared memory)."""
    if owner.host != _host():
        return True
    if owner.pid <= 0:
        return False
    if sys.platform.startswith("linux"):
        token = _start_token(owner.pid)
        if not token:
            return False  # no such process (or one that has exited)
        return not owner.started or token == owner.started
    if os.name == "posix":
        try:
            os.kill(owner.pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists, under another user
        token = _start_token(owner.pid)
        return not (owner.started and token) or token == owner.started
    token = _start_token(owner.pid)  # Windows: only psutil can tell
    return not (owner.started and token) or token == owner.started
