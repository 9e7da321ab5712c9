"""Widgets that follow their project: when any face changes it, they show the change.

Every project keeps a revision number that moves with each change, whichever process makes
it (``Project.revision``, one row of its database). One daemon thread per open project polls
it every :data:`POLL_SECONDS` while widgets of that project are alive, and on a change
calls :meth:`ProjectWidget.on_project_changed` on each of them: a Python cell that tags
images, another notebook, the workbench in Voila or ``cvbench serve`` all show up in a
widget within about a second, in a notebook and in Voila alike.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..project import Project

__all__ = ["POLL_SECONDS", "watch"]

#: How often a project's revision is read while widgets show it.
POLL_SECONDS = 1.0
_log = logging.getLogger("cvbench.ui")
_LOCK = threading.Lock()
_WATCHERS: dict[int, _Watcher] = {}


class _Watcher:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self.revision = project.revision
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="cvbench-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            try:
                revision = self.project.revision
            except Exception:  # the project was closed or its folder went away: stop
                break
            if revision == self.revision:
                continue
            self.revision = revision
            for widget in list(self.widgets):
                try:
                    widget.on_project_changed()
                except Exception:  # one widget's failure must not stop the others
                    _log.exception("cvbench: %s could not follow a change of its project",
                                   type(widget).__name__)
            with _LOCK:
                if not self.widgets:
                    break
        with _LOCK:
            self.stop.set()
            if _WATCHERS.get(id(self.project)) is self:
                del _WATCHERS[id(self.project)]


def watch(widget: Any) -> None:
    """Keep ``widget`` (a ProjectWidget) following changes of its project."""
    project = widget.project
    with _LOCK:
        watcher = _WATCHERS.get(id(project))
        if watcher is None or watcher.project is not project or watcher.stop.is_set():
            watcher = _WATCHERS[id(project)] = _Watcher(project)
        watcher.widgets.add(widget)
