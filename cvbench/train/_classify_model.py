"""The classification model: the network (backbone + linear head), the model rebuilt from
an iteration's config and tensors, its stored config, and the validation score that
chooses between models (see :mod:`cvbench.train.classify`)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import domains as _domains
from ..errors import TrainingError
from . import features as _features
from .base import TrainingImage, TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["ClassifierNet", "Probabilities", "ClassificationModel", "FORMAT_VERSION",
           "model_config", "targets", "validation_score", "score_dict"]

#: Version of the stored config/tensor layout (bump on incompatible change).
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- the network


class ClassifierNet(torch.nn.Module):
    """Backbone (pooled features) + ``Linear(feature_dim, n_out)``; returns logits."""

    def __init__(self, backbone: torch.nn.Module, feature_dim: int, n_out: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = torch.nn.Linear(feature_dim, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class Probabilities(torch.nn.Module):
    """A classifier's probabilities: softmax (multiclass) or sigmoid (multilabel)."""

    def __init__(self, net: torch.nn.Module, activation: str) -> None:
        super().__init__()
        self.net = net
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        if self.activation == "softmax":
            return torch.softmax(logits, dim=1)
        return torch.sigmoid(logits)


# --------------------------------------------------------------------------- loaded model


class ClassificationModel:
    """A classifier rebuilt from an iteration's config and tensors (in-app predictions).

    Quick iterations store only the head; their backbone is the domain's pretrained one,
    shared in the process (:func:`cvbench.train.features.frozen_backbone`), and their
    predictions on stored images can come from the feature cache. The head reads the
    pooled features, or (``config["head"]["features"] == "taps"``, quick iterations since
    the head is chosen among candidates) the taps vector of
    :func:`cvbench.train.features.taps_module`.
    """

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:

        self.config = dict(config)
        c = self.config
        if c.get("format_version") != FORMAT_VERSION:
            raise TrainingError(
                f"this iteration was stored in model format {c.get('format_version')!r}; this "
                f"cvbench reads format {FORMAT_VERSION}. Train a new iteration."
            )
        self.domain = _domains.get_domain(c["domain"])
        self.size = int(c["size"])
        self.activation = c["activation"]
        self.tag_ids: list[str] = [t["id"] for t in c["tags"]]
        self.tag_names: list[str] = [t["name"] for t in c["tags"]]
        n_out = len(self.tag_ids)
        #: what the head reads: "pooled" features or the "taps" vector
        self.feature_part: str = c["head"].get("features", "pooled")
        self.in_features = int(c["head"].get("inputs", self.domain.feature_dim))
        self.head = torch.nn.Linear(self.in_features, n_out)
        self.head.load_state_dict(
            {"weight": tensors["head.weight"], "bias": tensors["head.bias"]}, strict=True)
        self.head.requires_grad_(False).eval()
        self._tensors = dict(tensors)
        self._net: ClassifierNet | None = None

    @property
    def net(self) -> ClassifierNet:
        """The whole network (built at first use: a quick model predicting from cached
        features never needs its backbone)."""
        if self._net is None:
            if self.uses_pretrained_backbone:
                backbone = _features.frozen_backbone(self.domain.name)
                if self.feature_part == "taps":
                    backbone = _features.taps_module(backbone)
                net = ClassifierNet(backbone, self.in_features, len(self.tag_ids))
                net.head = self.head
            else:
                backbone = _domains.build_backbone(self.domain, pretrained=False)
                net = ClassifierNet(backbone, self.domain.feature_dim, len(self.tag_ids))
                net.load_state_dict(self._tensors, strict=True)
                net.head = self.head
            net.requires_grad_(False)
            self._net = net.eval()
        return self._net

    @property
    def uses_pretrained_backbone(self) -> bool:
        return self.config["backbone"] == "pretrained"

    # -- probabilities ------------------------------------------------------------------
    def _activate(self, logits: torch.Tensor) -> np.ndarray:
        if self.activation == "softmax":
            return torch.softmax(logits, dim=1).numpy()
        return torch.sigmoid(logits).numpy()

    def probabilities(self, batch: torch.Tensor) -> np.ndarray:
        """Probabilities ``(N, T)`` of a preprocessed batch."""
        with torch.inference_mode():
            if not self.uses_pretrained_backbone:
                return self._activate(self.net(batch))
            runner = _features.frozen_runner_for(self.domain.name, self.size, self.feature_part)
            feats = torch.from_numpy(_features.forward(runner, batch))
            return self._activate(self.head(feats))

    def probabilities_from_features(self, feats: np.ndarray) -> np.ndarray:
        """Probabilities from pooled features (quick iterations only)."""
        with torch.inference_mode():
            return self._activate(self.head(torch.from_numpy(np.asarray(feats, "f4"))))

    def predict_images(self, images: Sequence[Image.Image], batch_size: int = 32
                       ) -> list[list[dict[str, Any]]]:
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(images), batch_size):
            x = _domains.preprocess(self.domain, list(images[start:start + batch_size]),
                                    self.size)
            out.extend(self.to_predictions(self.probabilities(x)))
        return out

    def to_predictions(self, probs: np.ndarray) -> list[list[dict[str, Any]]]:
        """Rows of probabilities -> Custom Vision prediction dicts, most probable first."""
        result = []
        for row in np.asarray(probs):
            order = np.argsort(-row, kind="stable")
            result.append([
                {"tagId": self.tag_ids[j], "tagName": self.tag_names[j],
                 "probability": float(row[j])}
                for j in order
            ])
        return result

    # -- export -------------------------------------------------------------------------
    def export_module(self) -> torch.nn.Module:
        net = self.net
        if self.uses_pretrained_backbone:  # a private copy: export must not touch the shared one
            net = copy.deepcopy(net)
        return Probabilities(net, self.activation).eval()

    def export_spec(self) -> dict[str, Any]:
        d = self.domain
        return {
            "input": _domains.input_spec(d, self.size),
            "output": {
                "name": "probabilities",
                "shape": ["batch", len(self.tag_ids)],
                "activation": self.activation,
            },
        }


# --------------------------------------------------------------------------- config and scores


def model_config(data: TrainingSet, *, backbone: str, features: str = "pooled",
                 inputs: int | None = None) -> dict[str, Any]:
    d = _domains.get_domain(data.domain)
    return {
        "format_version": FORMAT_VERSION,
        "task": "classification",
        "kind": data.kind,
        "domain": d.name,
        "arch": d.arch,
        "size": data.size,
        "preprocessing_key": _domains.preprocessing_key(d, data.size),
        "feature_dim": d.feature_dim,
        "activation": "sigmoid" if data.kind == "multilabel" else "softmax",
        "backbone": backbone,
        "head": {"type": "linear", "inputs": d.feature_dim if inputs is None else int(inputs),
                 "outputs": len(data.tags), "features": features},
        "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in data.tags],
    }


def targets(data: TrainingSet, images: Sequence[TrainingImage]) -> np.ndarray:
    index = {t.id: j for j, t in enumerate(data.tags)}
    if data.kind == "multiclass":
        return np.array([index[i.truth[0]] for i in images], dtype=np.int64)
    y = np.zeros((len(images), len(data.tags)), dtype=np.float32)
    for k, img in enumerate(images):
        for t in img.truth:
            y[k, index[t]] = 1.0
    return y


def validation_score(y: np.ndarray, probs: np.ndarray, multilabel: bool) -> tuple[float, float]:
    """(primary, -loss) on validation: accuracy (multiclass) or mAP (multilabel), then
    the mean log loss; higher is better."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    if multilabel:
        from sklearn.metrics import average_precision_score

        aps = [average_precision_score(y[:, j], probs[:, j])
               for j in range(y.shape[1]) if y[:, j].any()]
        primary = float(np.mean(aps)) if aps else 0.0
        loss = float(-(y * np.log(probs) + (1 - y) * np.log(1 - probs)).mean())
    else:
        primary = float((probs.argmax(axis=1) == y).mean())
        loss = float(-np.log(probs[np.arange(len(y)), y]).mean())
    return round(primary, 6), round(-loss, 6)


def score_dict(score: tuple[float, float], multilabel: bool) -> dict[str, float]:
    return {"map" if multilabel else "accuracy": score[0], "loss": -score[1]}
