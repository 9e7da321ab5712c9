"""The embedding map: every image as a point in 2-D, near points looking alike to the
backbone (its pooled features), coloured by tag or by whether an iteration got it right.

``method="pca"`` projects the standardised features on their two principal components
(scikit-learn, deterministic); ``method="umap"`` uses UMAP (``umap-learn``, optional:
``pip install umap-learn``) with a fixed seed. Coordinates are scaled to [0, 1] with one
scale for both axes (the longer one spans [0, 1], the shorter one is centred), so that
distances on the map keep their meaning.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EmbeddingMap", "METHODS", "COLOR_BY", "embed"]

METHODS = ("pca", "umap")
COLOR_BY = ("tag", "correct")


@dataclass(frozen=True, eq=False)
class EmbeddingMap:
    """Points of images: ``frame`` has one row per image, ``image_id, x, y, tag, tags,
    split, correct`` (``x``, ``y`` in [0, 1]; ``tag`` the first of ``tags``, ``""`` when
    untagged; ``correct`` True/False on the images the iteration was validated on, None
    elsewhere or without an iteration). ``color_by`` says which column colours the map."""

    method: str
    color_by: str
    frame: pd.DataFrame
    iteration_id: str | None = None

    @property
    def image_ids(self) -> list[str]:
        return [str(i) for i in self.frame["image_id"]]

    @property
    def coordinates(self) -> np.ndarray:
        """``(N, 2)`` float array of ``x, y``."""
        return self.frame[["x", "y"]].to_numpy(dtype=np.float64)

    @property
    def colors(self) -> list[Any]:
        """The value that colours each point: its tag, or whether it was right."""
        return list(self.frame["tag" if self.color_by == "tag" else "correct"])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "color_by": self.color_by,
                "iteration_id": self.iteration_id,
                "points": [{**r, "tags": list(r["tags"])}
                           for r in self.frame.to_dict(orient="records")]}

    def plot(self, ax: Any = None) -> Any:
        """Draw the map with matplotlib (a scatter per colour); returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 6))
        colours = pd.Series(self.colors, dtype=object).fillna("not validated").astype(str)
        for value in sorted(set(colours)):
            mask = (colours == value).to_numpy()
            ax.scatter(self.frame["x"][mask], self.frame["y"][mask], s=12, label=value)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"Images by {self.method.upper()} of their features, "
                     f"coloured by {self.color_by}")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
        return ax


def embed(pooled: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """``(N, 2)`` coordinates in [0, 1] of feature rows ``pooled`` (see the module
    docstring)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} should be one of {list(METHODS)}")
    x = np.asarray(pooled, dtype=np.float64)
    n = x.shape[0]
    if method == "umap" and importlib.util.find_spec("umap") is None:
        raise ImportError("method='umap' needs the umap-learn package: pip install umap-learn "
                          "(or use method='pca')")
    if n < 3:
        return np.full((n, 2), 0.5)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    if method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(2, svd_solver="full").fit_transform(x)
        # the sign of a component is arbitrary: fix it (largest loading positive)
        xy *= np.where(np.abs(xy.max(axis=0)) >= np.abs(xy.min(axis=0)), 1.0, -1.0)
    else:
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
        xy = np.asarray(reducer.fit_transform(x), dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max())
    if span <= 0:
        return np.full((n, 2), 0.5)
    # one scale for both axes (distances keep their meaning), the shorter axis centred
    return (xy - lo) / span + (1.0 - (hi - lo) / span) / 2.0
