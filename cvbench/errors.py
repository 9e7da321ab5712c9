"""Errors raised by cvbench. Each message names the problem and how to fix it."""

from __future__ import annotations

__all__ = [
    "CvbenchError",
    "ProjectError",
    "ImageError",
    "TagError",
    "TrainingError",
    "OfflineWeightsError",
    "CancelledError",
]


class CvbenchError(Exception):
    """Base class of every error cvbench raises on purpose."""


class ProjectError(CvbenchError):
    """The project folder or its settings are not usable as asked."""


class ImageError(CvbenchError):
    """An image was refused. ``status`` is Custom Vision's status word for it."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TagError(CvbenchError):
    """A tag is unknown, duplicated, or breaks a tagging rule."""


class TrainingError(CvbenchError):
    """Training cannot start or did not produce an iteration."""


class OfflineWeightsError(CvbenchError):
    """Pretrained weights for a domain cannot be loaded without a network."""


class CancelledError(CvbenchError):
    """Long work was cancelled by the user; nothing half-done was kept."""
