"""Training runs in progress (part of the facade: :mod:`cvbench.iteration` trains).

A run is an iteration row in status ``Training`` from its start (see
:mod:`cvbench.store.repo_iterations`), owned by the process that trains it. This module
keeps the runs that *this* process is training (``register`` … ``unregister``: an event set
when the run ends, and one that cancels it) and :func:`sweep`, which every listing and
every read of a running iteration calls: a ``Training`` row whose process is gone — killed,
its kernel or server shut down — is marked ``Failed``, so no face ever shows a dead run as
training. A row of this very process counts as running only while it is registered here
(a project copied while it trained holds such rows, and nothing here runs them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .store import Owner, Store, is_alive, this_process

__all__ = ["Active", "register", "unregister", "active", "sweep", "wait", "STOPPED"]

#: Why a run whose process is gone is Failed.
STOPPED = ("the process that ran this training (pid {pid}) stopped before it ended (it was "
           "killed, or its notebook kernel or server shut down); nothing of the run was "
           "kept: train again")


@dataclass
class Active:
    """A run of this process: ``done`` is set when it ends; setting ``cancel`` stops it."""

    done: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)


_LOCK = threading.Lock()
_ACTIVE: dict[str, Active] = {}


def register(iteration_id: str) -> Active:
    """Record that this process trains ``iteration_id`` (before its row is written, so
    that a sweep in another thread never takes it for an orphan)."""
    with _LOCK:
        return _ACTIVE.setdefault(iteration_id, Active())


def unregister(iteration_id: str) -> None:
    """The run ended (its row says how)."""
    with _LOCK:
        run = _ACTIVE.pop(iteration_id, None)
    if run is not None:
        run.done.set()


def active(iteration_id: str) -> Active | None:
    """The run, when this process trains it."""
    with _LOCK:
        return _ACTIVE.get(iteration_id)


def _same(a: Owner, b: Owner) -> bool:
    return (a.host, a.pid, a.started) == (b.host, b.pid, b.started)


def sweep(store: Store) -> int:
    """Mark ``Failed`` every run in ``Training`` whose process is gone; returns how many.
    A read when there is none (one indexed query)."""
    running = store.iterations.running()
    if not running:
        return 0
    me = this_process()
    failed = 0
    for iteration_id, owner in running:
        alive = active(iteration_id) is not None if _same(owner, me) else is_alive(owner)
        if not alive:
            when = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            failed += store.iterations.fail(iteration_id, STOPPED.format(pid=owner.pid), when)
    return failed


def wait(iteration_id: str, seconds: float) -> None:
    """Wait up to ``seconds`` for a run to end: on its event when this process trains it,
    else by sleeping (the caller reads the row again)."""
    run = active(iteration_id)
    if run is not None:
        run.done.wait(seconds)
    else:
        threading.Event().wait(seconds)
