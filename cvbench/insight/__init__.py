"""Seeing why: saliency heatmaps, dataset health, the embedding map, iteration comparison.

Engine code (it reads the store and uses the training code's models and feature cache,
never the facade); ``cvbench.Project`` and ``cvbench.Iteration`` call it:

- :func:`saliency` / :class:`Saliency` — where a model looks when it gives a tag
  (Grad-CAM, :mod:`cvbench.insight.saliency`).
- :func:`analyse` / :class:`HealthReport` — near-duplicates and leaks, likely mislabelled
  images (confident learning), outliers, balance, too small or too dark images
  (:mod:`cvbench.insight.health`).
- :func:`embed` / :class:`EmbeddingMap` — images as points in 2-D (PCA, or UMAP where
  ``umap-learn`` is installed).
- :func:`compare` / :class:`Comparison` — two iterations' metrics, changed images and PR
  curves.
"""

from ._data import ImageVectors, cancelled_as, image_vectors, progress_of
from .compare import Comparison, compare
from .embedding import COLOR_BY, METHODS, EmbeddingMap, embed
from .health import (
    DARK,
    DUPLICATE_THRESHOLD,
    OUTLIER_SCORE,
    PIXEL_THRESHOLD,
    DuplicateGroup,
    HealthImage,
    HealthReport,
    Mislabel,
    analyse,
)
from .saliency import NoConvolutionError, Saliency, last_conv_stage, saliency

__all__ = [
    "Saliency",
    "saliency",
    "last_conv_stage",
    "NoConvolutionError",
    "HealthReport",
    "HealthImage",
    "DuplicateGroup",
    "Mislabel",
    "analyse",
    "DUPLICATE_THRESHOLD",
    "PIXEL_THRESHOLD",
    "OUTLIER_SCORE",
    "DARK",
    "EmbeddingMap",
    "embed",
    "METHODS",
    "COLOR_BY",
    "Comparison",
    "compare",
    "ImageVectors",
    "image_vectors",
    "progress_of",
    "cancelled_as",
]
