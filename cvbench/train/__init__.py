"""Training: one :class:`~cvbench.train.base.Task` per project kind, the feature cache,
progress events, cancellation and budgets.

``TASKS`` is the registry: an explicit dict from project kind to the module and class that
implement it. Modules are imported only when a kind is first used (torch and fastai are
heavy). Adding a kind is one line here and one module that implements
:class:`~cvbench.train.base.Task`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import TrainingError
from ._preview import preview_augmentations
from ._progress import STAGES, Budget, Progress, ProgressEvent, is_cancelled
from .base import MODES

if TYPE_CHECKING:  # pragma: no cover
    from .base import Task

__all__ = [
    "TASKS",
    "get_task",
    "MODES",
    "STAGES",
    "Progress",
    "ProgressEvent",
    "Budget",
    "is_cancelled",
    "preview_augmentations",
]

#: Project kind -> (module, class) implementing :class:`~cvbench.train.base.Task`.
TASKS: dict[str, tuple[str, str]] = {
    "multiclass": ("cvbench.train.classify", "ClassificationTask"),
    "multilabel": ("cvbench.train.classify", "ClassificationTask"),
    "detection": ("cvbench.train.detect", "DetectionTask"),
}


def get_task(kind: str) -> Task:
    """The implementation of project ``kind`` (an instance of its Task class)."""
    try:
        module, name = TASKS[kind]
    except KeyError:
        raise TrainingError(
            f"training {kind!r} projects is not available in this version of cvbench; "
            f"the kinds that train are {sorted(TASKS)}"
        ) from None
    return getattr(importlib.import_module(module), name)()
