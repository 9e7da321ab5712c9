"""Classification (multiclass and multilabel): quick and advanced training, the model.

**The model** is the domain's backbone (pooled features, ``domain.feature_dim`` values)
followed by one linear layer: softmax over the tags (multiclass) or one sigmoid per tag
(multilabel).

**Quick training** (Custom Vision's Regular): the backbone stays frozen; its features are
read from the project's feature cache (:mod:`cvbench.train.features`; only new images run
through the backbone), standardised, and a linear head is fitted to convergence with
L-BFGS — multinomial logistic regression (multiclass) or one logistic regression per tag
(multilabel), with an L2 penalty set like scikit-learn's ``C`` (default 0.1, i.e.
``1 / (C * n_train)`` per image on the mean loss). The standardisation is folded into the
stored layer. With ``settings={"flip": True}`` the features of the mirrored training
images are added as more examples (twice the feature cost; prediction is unchanged).

**Advanced training** (fine-tuning within a wall-clock budget) starts from the quick model
(a linear probe), then fine-tunes with a fastai ``Learner``:

* the stem and the first ``freeze_stages`` (4) stages stay frozen — they are ~85 % of
  the forward pass at 224 px and the least task-specific; the later stages and the head
  are trained with discriminative learning rates (``lr * backbone_lr_ratio`` and ``lr``)
  and Adam;
* by default (``cache_activations``) the frozen stages run once per training image, once
  per mirrored image and once per validation image, and the Learner trains on these
  cached activations, the mirror being the augmentation: an epoch then costs a third of
  a full one, which on a CPU is the difference between a few epochs and enough of them.
  Projects whose activations do not fit in ``ACTIVATION_CACHE_BYTES`` (or
  ``cache_activations=False``) train through a fastai ``DataBlock`` of the image files
  instead, augmented on the batch (``aug_transforms``: flip, small rotation, zoom, warp,
  lighting);
* BatchNorm statistics frozen (every BatchNorm stays in eval mode), as the batches are
  small and the pretrained statistics are better than a few hundred images' worth;
* a schedule over the wall clock: linear warm-up over the first 10 % of the fine-tuning
  time, then cosine decay to (nearly) zero at its end;
* the budget covers the whole run, quick stage included. A training batch starts only
  when it is expected to end early enough to leave time for that epoch's validation pass,
  the in-app check of the best epoch and saving, so the run stops by itself inside the
  budget (only the quick stage, the fallback, is never cut short: computing the features
  of many new images can take longer than a tiny budget);
* the best epoch by validation is kept (accuracy, then loss; multilabel: mAP, then
  loss), and the quick model is kept when fine-tuning does not beat it on the validation
  images (``notes["chosen"]`` says which won): advanced never loses to quick on
  validation.

**Threads**: training runs with ``settings["threads"]`` torch threads; None (the default)
takes one when the machine is busy (load average at least its cores), where several
threads stall each other, and torch's default otherwise (``cvbench.train._threads``).

**Negative tag**: multiclass — the Negative tag is one more class of the softmax, as in
Custom Vision, and predictions include it. Multilabel — an image tagged Negative has all
its regular-tag targets at zero; the model has no output for Negative (its predictions are
the regular tags only), and in evaluation such images are images with no true tag (any
tag predicted on them is a false positive).
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import domains as _domains
from .._types import Tag
from ..errors import TrainingError
from ..store.images import load_rgb
from . import features as _features
from ._progress import Budget, Progress
from ._threads import torch_threads
from .base import TrainedModel, TrainingImage, TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..project import Project

__all__ = [
    "ClassificationTask",
    "ClassificationModel",
    "ClassifierNet",
    "MIN_IMAGES_PER_TAG",
    "FORMAT_VERSION",
]

#: Custom Vision's minimum number of images per tag for classification.
MIN_IMAGES_PER_TAG = 5
#: Version of the stored config/tensor layout (bump on incompatible change).
FORMAT_VERSION = 1

_QUICK_DEFAULTS: dict[str, Any] = {"C": 0.1, "flip": False, "threads": None}
_ADVANCED_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "backbone_lr_ratio": 0.1,
    "freeze_stages": 4,
    "batch_size": 32,
    "augment": True,
    "mirror": True,
    "cache_activations": True,
    "seed": 0,
}


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
    predictions on stored images can come from the feature cache.
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
        self.head = torch.nn.Linear(self.domain.feature_dim, n_out)
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
                net = ClassifierNet(_features.frozen_backbone(self.domain.name),
                                    self.domain.feature_dim, len(self.tag_ids))
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
            logits = self.net(batch) if not self.uses_pretrained_backbone else self.net.head(
                _features.forward(self.net.backbone, batch)
            )
            return self._activate(logits)

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


# --------------------------------------------------------------------------- task


class ClassificationTask:
    """Multiclass and multilabel classification (see the module docstring)."""

    kinds = ("multiclass", "multilabel")
    default_settings: Mapping[str, Any] = {**_QUICK_DEFAULTS, **_ADVANCED_DEFAULTS}

    def import_modules(self, mode: str) -> None:
        """Import what training needs before its clock starts (timm, and fastai for
        advanced training: seconds of one-time imports that are not training time)."""
        import timm  # noqa: F401

        if mode == "advanced":
            import fastai.callback.progress  # noqa: F401
            import fastai.learner  # noqa: F401
            import fastai.vision.augment  # noqa: F401
            import fastai.vision.data  # noqa: F401

    # -- what to learn from -------------------------------------------------------------
    def training_set(self, project: Project, *, tags: Sequence[str | Tag] | None,
                     domain: str, size: int) -> TrainingSet:
        kind = project.kind
        project.ensure_split()
        all_tags = project.tags
        negative = next((t for t in all_tags if t.type == "Negative"), None)
        if tags is None:
            selected = [t for t in all_tags if t.type == "Regular"]
        else:
            selected = []
            for t in (tags if not isinstance(tags, (str, Tag)) else [tags]):
                tag = project.get_tag(t)
                if tag.type == "Negative":
                    continue  # the Negative tag always takes part when it has images
                if tag.id not in {s.id for s in selected}:
                    selected.append(tag)
        selected.sort(key=lambda t: t.name.lower())
        if len(selected) < 2:
            have = [t.name for t in selected]
            raise TrainingError(
                f"a {kind} classifier needs at least 2 tags (not counting the Negative tag); "
                f"{'the selection has' if tags is not None else 'this project has'} "
                f"{len(selected)}: {have}. Add images under more tags"
            )
        counted = [*selected, *([negative] if negative and negative.image_count else [])]
        few = [t for t in counted if t.image_count < MIN_IMAGES_PER_TAG]
        if few:
            listed = ", ".join(f"{t.name!r} has {t.image_count}" for t in few)
            raise TrainingError(
                f"every tag needs at least {MIN_IMAGES_PER_TAG} images to train (Custom "
                f"Vision's rule): {listed}. Tag more images, or leave "
                f"{'that tag' if len(few) == 1 else 'those tags'} out with train(tags=[...])"
            )
        outputs = list(selected)
        if kind == "multiclass" and negative is not None and negative.image_count:
            outputs.append(negative)
        index = {t.id: j for j, t in enumerate(outputs)}
        use_negative = negative is not None and negative.image_count > 0

        rows = project.connection.execute(
            "SELECT i.id, i.sha256, i.ext, COALESCE(i.split_override, i.split) AS split, "
            "it.tag_id FROM images i JOIN image_tags it ON it.image_id = i.id "
            "ORDER BY i.seq"
        ).fetchall()
        per_image: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = per_image.setdefault(
                r["id"], {"sha": r["sha256"], "ext": r["ext"], "split": r["split"], "tags": []}
            )
            entry["tags"].append(r["tag_id"])
        images: list[TrainingImage] = []
        for image_id, e in per_image.items():
            if e["split"] not in ("train", "validation"):
                continue
            is_negative = use_negative and negative.id in e["tags"]
            if kind == "multiclass":
                truth = [t for t in e["tags"] if t in index]
                if len(truth) != 1:
                    continue
            else:
                truth = [t for t in e["tags"] if t in index]
                if not truth and not is_negative:
                    continue  # only unselected tags
            images.append(
                TrainingImage(
                    id=image_id,
                    sha256=e["sha"],
                    path=project.files.image_path(e["sha"], e["ext"]),
                    split=e["split"],
                    truth=tuple(sorted(truth, key=index.__getitem__)),
                )
            )
        data = TrainingSet(kind=kind, domain=domain, size=size, tags=tuple(outputs),
                           images=tuple(images), negative=negative if use_negative else None)
        if not data.validation:
            raise TrainingError(
                f"the validation split is empty ({len(data.train)} training images, 0 "
                "validation images); move some images to validation with "
                "project.set_split(image_ids, 'validation'), or tag more images"
            )
        if not data.train:
            raise TrainingError(
                "the training split is empty; move images to training with "
                "project.set_split(image_ids, 'train')"
            )
        seen = {t for img in data.train for t in img.truth}
        missing = [t.name for t in outputs if t.id not in seen]
        if missing:
            raise TrainingError(
                f"tags {missing} have no image in the training split (all of theirs are in "
                "validation); move some with project.set_split(image_ids, 'train')"
            )
        return data

    # -- training -----------------------------------------------------------------------
    def train(self, project: Project, data: TrainingSet, *, mode: str,
              budget_seconds: float | None, settings: Mapping[str, Any],
              progress: Progress) -> TrainedModel:

        s = {**self.default_settings, **settings}
        if s["threads"] is not None and (isinstance(s["threads"], bool) or not isinstance(
                s["threads"], int) or s["threads"] < 1):
            raise ValueError(f"threads={s['threads']!r} should be None (automatic) or a "
                             "positive int")
        with torch_threads(s["threads"]) as threads:
            trained = self._train(project, data, mode=mode, budget_seconds=budget_seconds,
                                  s=s, progress=progress)
        trained.notes["threads"] = threads
        return trained

    def _train(self, project: Project, data: TrainingSet, *, mode: str,
               budget_seconds: float | None, s: dict[str, Any],
               progress: Progress) -> TrainedModel:
        budget = Budget(budget_seconds, start=progress.start)
        torch.manual_seed(int(s["seed"]))
        y_train, y_val = _targets(data, data.train), _targets(data, data.validation)
        train_imgs, val_imgs = data.train, data.validation
        if mode == "quick":
            progress.plan({"features": 10.0, "head": 1.0, "save": 0.2})
        else:
            progress.plan({"features": 10.0, "head": 1.0, "fine-tune": 60.0, "evaluate": 2.0,
                           "save": 0.5})
        # 1. features (cached), then the linear probe
        progress.stage("features", f"features of {len(data.images)} images")

        def on_batch(done: int, total: int) -> None:
            progress.update(done / total if total else 1.0,
                            message=f"features {done}/{total}")

        items = [(i.sha256, i.path) for i in data.images]
        feats, stats = _features.project_features(project, items, data.domain, data.size,
                                                  on_batch=on_batch)
        flip_stats = None
        by_sha = {i.sha256: k for k, i in enumerate(data.images)}
        f_train = feats[[by_sha[i.sha256] for i in train_imgs]]
        f_val = feats[[by_sha[i.sha256] for i in val_imgs]]
        x_fit, y_fit = f_train, y_train
        if s["flip"]:
            flipped, flip_stats = _features.project_features(
                project, [(i.sha256, i.path) for i in train_imgs], data.domain, data.size,
                flip=True, on_batch=on_batch)
            x_fit = np.concatenate([f_train, flipped])
            y_fit = np.concatenate([y_train, y_train])
        progress.stage("head", "fitting the linear head")
        multilabel = data.kind == "multilabel"
        t_head = time.perf_counter()
        weight, bias = fit_linear_head(x_fit, y_fit, multilabel=multilabel, C=float(s["C"]))
        head_seconds = time.perf_counter() - t_head
        progress.update(1.0, message="linear head fitted")
        config = _config(data, backbone="pretrained")
        tensors = {"head.weight": weight, "head.bias": bias}
        quick_model = ClassificationModel(config, tensors)
        val_probs = quick_model.probabilities_from_features(f_val)
        quick_score = _score(y_val, val_probs, multilabel)
        notes: dict[str, Any] = {
            "features": stats.to_dict(),
            "features_flipped": None if flip_stats is None else flip_stats.to_dict(),
            "head": {"type": "linear", "solver": "lbfgs", "C": float(s["C"]),
                     "seconds": round(head_seconds, 3)},
            "quick_validation": _score_dict(quick_score, multilabel),
            "chosen": "quick",
        }
        if mode == "advanced":
            result = _fine_tune(project, data, quick_model, y_train, y_val, quick_score, s,
                                budget, progress)
            notes["fine_tune"] = result["notes"]
            if result["model"] is not None:
                config, tensors, val_probs = result["config"], result["tensors"], result["probs"]
                notes["chosen"] = "fine-tune"
        model = ClassificationModel(config, tensors) if notes["chosen"] != "quick" else quick_model
        validation = dict(zip([i.id for i in val_imgs], model.to_predictions(val_probs),
                              strict=True))
        return TrainedModel(
            tensors={k: v.detach().contiguous() for k, v in tensors.items()},
            config=config,
            validation=validation,
            metrics=_score_dict(_score(y_val, val_probs, multilabel), multilabel),
            notes=notes,
        )

    # -- model ----------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
             ) -> ClassificationModel:
        return ClassificationModel(config, tensors)

    def predict_stored(self, project: Project, model: ClassificationModel,
                       images: Sequence[tuple[str, Path]]) -> list[list[dict[str, Any]]]:
        if not images:
            return []
        if model.uses_pretrained_backbone:
            feats, _ = _features.project_features(project, list(images), model.domain.name,
                                                  model.size)
            return model.to_predictions(model.probabilities_from_features(feats))
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(images), 32):
            pils = [load_rgb(p) for _, p in images[start:start + 32]]
            out.extend(model.predict_images(pils))
        return out

    def evaluate(self, config: Mapping[str, Any], tags: Sequence[Mapping[str, Any]],
                 rows: Sequence[tuple[str, Any, list[dict[str, Any]]]]) -> Any:
        from ..evaluate import ClassificationEvaluation

        index = {t["id"]: j for j, t in enumerate(tags)}
        n, t = len(rows), len(tags)
        y = np.zeros((n, t), dtype=np.int8)
        scores = np.zeros((n, t), dtype=float)
        for i, (_, truth, preds) in enumerate(rows):
            for tag_id in truth:
                if tag_id in index:
                    y[i, index[tag_id]] = 1
            for p in preds:
                j = index.get(p["tagId"])
                if j is not None:
                    scores[i, j] = min(max(float(p["probability"]), 0.0), 1.0)
        negative = [j for j, tag in enumerate(tags) if tag.get("type") == "Negative"]
        return ClassificationEvaluation.from_scores(
            y, scores, [tag["name"] for tag in tags],
            multilabel=config["kind"] == "multilabel",
            image_ids=[r[0] for r in rows],
            negative_index=negative[0] if negative else None,
        )

    def export_fastai(self, iteration: Any, path: Path) -> None:
        """Write the iteration as a fastai ``Learner.export`` pickle at ``path``: the same
        network, a DataBlock that reads and squashes images as the app does (vocab: the tag
        names in output order), and the loss whose activation gives the probabilities."""
        from fastai.learner import Learner
        from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
        from PIL import Image

        model: ClassificationModel = iteration.model()
        c = model.config
        names = [t["name"] for t in c["tags"]]
        multilabel = c["kind"] == "multilabel"
        net = copy.deepcopy(model.net)
        for p in net.parameters():
            p.requires_grad_(True)
        with tempfile.TemporaryDirectory(prefix="cvbench-export-") as tmp:
            sample = Path(tmp) / "sample.png"
            Image.new("RGB", (model.size, model.size), (255, 255, 255)).save(sample)
            label = [0.0] * len(names) if multilabel else names[0]
            dblock = build_datablock(
                c["kind"], len(names), model.size, model.domain.mean, model.domain.std,
                _Labels({str(sample): label}), valid_idx=[1], augment=False, vocab=names)
            dls = dblock.dataloaders([str(sample), str(sample)], bs=1, num_workers=0,
                                     device=torch.device("cpu"))
            loss = BCEWithLogitsLossFlat(thresh=0.5) if multilabel else CrossEntropyLossFlat()
            learn = Learner(dls, net, loss_func=loss, path=path.parent)
            learn.export(path.name)

    def uncertainty(self, predictions: Sequence[Mapping[str, Any]]) -> float:
        """Multiclass: ``1 - (p1 - p2)``, one minus the margin between the two most probable
        tags. Multilabel: the largest ``1 - |2p - 1|`` over the tags (how close the most
        undecided tag is to 0.5). Both lie in [0, 1]; 1 is most unsure."""
        probs = sorted((float(p["probability"]) for p in predictions), reverse=True)
        if not probs:
            return 0.0
        if math.isclose(sum(probs), 1.0, abs_tol=1e-3) and len(probs) > 1:
            return float(min(1.0, max(0.0, 1.0 - (probs[0] - probs[1]))))
        return float(max(1.0 - abs(2.0 * p - 1.0) for p in probs))


# --------------------------------------------------------------------------- helpers


def _config(data: TrainingSet, *, backbone: str) -> dict[str, Any]:
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
        "head": {"type": "linear", "inputs": d.feature_dim, "outputs": len(data.tags)},
        "tags": [{"id": t.id, "name": t.name, "type": t.type} for t in data.tags],
    }


def _targets(data: TrainingSet, images: Sequence[TrainingImage]) -> np.ndarray:
    index = {t.id: j for j, t in enumerate(data.tags)}
    if data.kind == "multiclass":
        return np.array([index[i.truth[0]] for i in images], dtype=np.int64)
    y = np.zeros((len(images), len(data.tags)), dtype=np.float32)
    for k, img in enumerate(images):
        for t in img.truth:
            y[k, index[t]] = 1.0
    return y


_last_fit: dict[str, int] = {}


def fit_linear_head(x: np.ndarray, y: np.ndarray, *, multilabel: bool, C: float = 0.1,
                    max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear layer on features ``x`` (N, D): multinomial logistic regression (``y`` class
    indices) or one logistic regression per column of ``y`` (multilabel 0/1 targets).

    Features are standardised for the solver (SciPy's L-BFGS-B, full batch, the loss and
    its gradient computed by torch on one thread); the penalty is ``||W||^2 / (2 C N)`` on
    the mean loss, which is scikit-learn's ``LogisticRegression(C=C)`` objective divided
    by ``C N``. Returns ``(weight (T, D), bias (T,))`` acting on the *raw* features (the
    standardisation folded in).
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    if C <= 0:
        raise ValueError(f"C={C!r} must be positive (inverse regularisation strength)")
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    xs = torch.from_numpy(((x - mu) / sd).astype(np.float32))
    n, dim = xs.shape
    n_out = y.shape[1] if multilabel else int(np.max(y)) + 1
    target = torch.from_numpy(np.asarray(y, dtype=np.float32 if multilabel else np.int64))
    b0 = np.zeros(n_out)
    if multilabel:  # start each bias at the tag's log-odds
        p = np.clip(np.asarray(y, dtype=np.float64).mean(axis=0), 1e-3, 1 - 1e-3)
        b0 = np.log(p / (1 - p))
    penalty = 1.0 / (2.0 * C * n)
    loss_fn = (torch.nn.functional.binary_cross_entropy_with_logits if multilabel
               else torch.nn.functional.cross_entropy)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.from_numpy(theta.astype(np.float32)).requires_grad_(True)
        w, b = t[: n_out * dim].view(n_out, dim), t[n_out * dim:]
        loss = loss_fn(xs @ w.T + b, target) + penalty * (w * w).sum()
        loss.backward()
        return float(loss.detach()), t.grad.numpy().astype(np.float64)

    theta0 = np.concatenate([np.zeros(n_out * dim), b0])
    # small matrices: one thread (torch and BLAS) is faster, and far faster when other work
    # shares the CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.enable_grad(), threadpool_limits(limits=1):
            res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                           options={"maxiter": max_iter, "gtol": 1e-5})
    finally:
        torch.set_num_threads(threads)
    _last_fit["iterations"], _last_fit["evaluations"] = int(res.nit), int(res.nfev)
    w = res.x[: n_out * dim].reshape(n_out, dim) / sd
    b = res.x[n_out * dim:] - w @ mu
    return (torch.from_numpy(w.astype(np.float32)).contiguous(),
            torch.from_numpy(b.astype(np.float32)).contiguous())


def _score(y: np.ndarray, probs: np.ndarray, multilabel: bool) -> tuple[float, float]:
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


def _score_dict(score: tuple[float, float], multilabel: bool) -> dict[str, float]:
    return {"map" if multilabel else "accuracy": score[0], "loss": -score[1]}


# --------------------------------------------------------------------------- fine-tuning


class _ImageReader:
    """fastai ``get_x``: a stored image path -> the displayed RGB image squashed to
    ``size`` (the same resize as :func:`cvbench.domains.preprocess`), cached in memory for
    the run. PIL images, bytes and paths given to an exported Learner load the same way."""

    def __init__(self, size: int, cache_limit: int = 3000) -> None:
        self.size = size
        self.cache_limit = cache_limit
        self._cache: dict[str, Any] = {}

    def __call__(self, item: Any) -> Image.Image:
        from PIL import Image

        key = str(item) if isinstance(item, (str, Path)) else None
        if key is not None and key in self._cache:
            return self._cache[key]
        img = load_rgb(item).convert("RGB").resize((self.size, self.size),
                                                   Image.Resampling.BILINEAR)
        if key is not None and len(self._cache) < self.cache_limit:
            self._cache[key] = img
        return img

    def clear(self) -> None:
        self._cache = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size, "cache_limit": self.cache_limit, "_cache": {}}


class _Labels:
    """fastai ``get_y``: path -> label, from a dict (emptied before an export)."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        self.mapping = mapping

    def __call__(self, item: Any) -> Any:
        return self.mapping[str(item)]

    def __getstate__(self) -> dict[str, Any]:
        return {"mapping": {}}


def _groups(model: Any, early_stages: int) -> list[list[Any]]:
    """Three parameter groups: stem + the first ``early_stages`` stages, later stages +
    conv head, linear head."""
    backbone = model.backbone
    blocks = getattr(backbone, "blocks", None)
    if blocks is None:  # a backbone without timm EfficientNet stages: whole backbone, head
        early: list[Any] = []
        late = list(backbone.parameters())
    else:
        early_mods = [m for name, m in backbone.named_children() if name in ("conv_stem", "bn1")]
        early_mods += list(blocks[:early_stages])
        early_ids = {id(p) for m in early_mods for p in m.parameters()}
        early = [p for m in early_mods for p in m.parameters()]
        late = [p for p in backbone.parameters() if id(p) not in early_ids]
    return [early, late, list(model.head.parameters())]


def build_datablock(data_kind: str, n_out: int, size: int, mean: Sequence[float],
                    std: Sequence[float], get_y: Any, *, train_idx: Sequence[int] | None = None,
                    valid_idx: Sequence[int] | None = None, augment: bool = False,
                    mirror: bool = True, vocab: Sequence[Any] | None = None):
    """The fastai ``DataBlock`` of a classification project: images read with
    :func:`~cvbench.store.images.load_rgb` and squashed to ``size``, normalised with the
    domain's statistics, optionally augmented on the batch."""
    from fastai.data.block import CategoryBlock, DataBlock, MultiCategoryBlock
    from fastai.data.transforms import IndexSplitter, Normalize
    from fastai.vision.augment import Resize, ResizeMethod, aug_transforms
    from fastai.vision.data import ImageBlock

    vocab = list(range(n_out)) if vocab is None else list(vocab)
    y_block = (MultiCategoryBlock(encoded=True, vocab=vocab) if data_kind == "multilabel"
               else CategoryBlock(vocab=vocab, sort=False))
    batch_tfms: list[Any] = []
    if augment:
        batch_tfms += aug_transforms(do_flip=mirror, max_rotate=10.0, max_zoom=1.1,
                                     max_lighting=0.2, max_warp=0.1, p_affine=0.75,
                                     p_lighting=0.75)
    batch_tfms.append(Normalize.from_stats(list(mean), list(std), cuda=False))
    return DataBlock(
        blocks=(ImageBlock, y_block),
        get_x=_ImageReader(size),
        get_y=get_y,
        splitter=IndexSplitter(list(valid_idx or [])),
        item_tfms=Resize(size, method=ResizeMethod.Squish),
        batch_tfms=batch_tfms,
        n_inp=1,
    )


#: Cached activations of the frozen stages kept in memory at most (bytes).
ACTIVATION_CACHE_BYTES = 1_500_000_000


class _Front(torch.nn.Module):
    """The frozen part of a timm EfficientNet: stem and the first ``k`` stages."""

    def __init__(self, backbone: torch.nn.Module, k: int) -> None:
        super().__init__()
        self.conv_stem, self.bn1 = backbone.conv_stem, backbone.bn1
        self.blocks = torch.nn.Sequential(*backbone.blocks[:k])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))


class _Back(torch.nn.Module):
    """The trained part on cached activations: the later stages, the conv head, pooling,
    and the linear head. Shares its modules with the whole network."""

    def __init__(self, net: ClassifierNet, k: int) -> None:
        super().__init__()
        b = net.backbone
        self.blocks = torch.nn.Sequential(*b.blocks[k:])
        self.conv_head, self.bn2, self.global_pool = b.conv_head, b.bn2, b.global_pool
        self.head = net.head

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.head(self.global_pool(self.bn2(self.conv_head(self.blocks(a)))))


class _Activations(torch.utils.data.Dataset):
    """Cached activations and targets; with ``mirrored``, each item is the activation of
    the image or of its mirror, at random (the flip augmentation of the cached path)."""

    def __init__(self, acts: torch.Tensor, mirrored: torch.Tensor | None,
                 targets: np.ndarray) -> None:
        self.acts, self.mirrored = acts, mirrored
        self.targets = torch.from_numpy(np.asarray(targets))

    def __len__(self) -> int:
        return len(self.acts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        use_mirror = self.mirrored is not None and bool(torch.rand(()) < 0.5)
        return (self.mirrored if use_mirror else self.acts)[i], self.targets[i]


def _fine_tune(project: Project, data: TrainingSet, quick: ClassificationModel,
               y_train: np.ndarray, y_val: np.ndarray, quick_score: tuple[float, float],
               s: Mapping[str, Any], budget: Budget, progress: Progress) -> dict[str, Any]:
    """Fine-tune from the quick model within ``budget``; see the module docstring.

    Two ways, the same recipe and the same fastai callbacks:

    * **cached** (default when they fit in memory, ``ACTIVATION_CACHE_BYTES``): the frozen
      stem and first stages run once per training image, once per mirrored one, and once
      per validation image; the Learner trains the later stages and the head on these
      activations (the flip is the augmentation). Measured on 500 digits at 224 px: an
      epoch costs under half of a full one, and validation accuracy rose from 0.89 (quick)
      to 0.94 in four epochs, where the full path had reached three epochs and not passed
      the quick model.
    * **images**: a fastai DataBlock over the image files with batch augmentation (flip,
      rotation, zoom, warp, lighting), every batch through the whole network; for larger
      projects, or ``settings={"cache_activations": False}``.

    Timing: a training batch starts only when it is expected to end (moving average of the
    batches so far) early enough to leave time for the epoch's validation pass, the check
    of the best epoch and saving. The learning-rate schedule runs over that window.
    """
    import fastai.callback.progress  # noqa: F401 - Learner.no_bar / no_logging
    from fastai.callback.core import Callback, CancelFitException, CancelTrainException
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
    from fastai.optimizer import Adam

    multilabel = data.kind == "multilabel"
    d = _domains.get_domain(data.domain)
    notes: dict[str, Any] = {"stopped_by": None, "epochs": 0, "best_epoch": None}
    none = {"model": None, "notes": notes}
    progress.stage("fine-tune", "building the model")
    train_imgs, val_imgs = data.train, data.validation
    backbone = _domains.build_backbone(d)
    net = ClassifierNet(backbone, d.feature_dim, len(data.tags))
    with torch.no_grad():
        net.head.weight.copy_(quick.head.weight)
        net.head.bias.copy_(quick.head.bias)
    k = int(s["freeze_stages"])
    bs = max(1, min(int(s["batch_size"]), len(train_imgs)))
    mirror = bool(s["mirror"])
    # the speed of a forward pass, to plan before anything was measured
    probe = _domains.preprocess(d, [load_rgb(val_imgs[0].path)] * min(8, len(val_imgs)),
                                data.size)
    cached = bool(s["cache_activations"]) and hasattr(backbone, "blocks") and k > 0
    runs, act_shape = [], None
    with torch.inference_mode():
        net.eval()(probe)  # warm-up: the first call allocates
        for _ in range(2):
            t0 = time.perf_counter()
            net(probe)
            runs.append(time.perf_counter() - t0)
        if cached:
            act_shape = tuple(_Front(backbone, k)(probe[:1]).shape[1:])
    per_image = min(runs) / len(probe)
    n_acts = len(train_imgs) * (1 + mirror) + len(val_imgs)
    if cached and 4 * n_acts * int(np.prod(act_shape)) > ACTIVATION_CACHE_BYTES:
        cached = False
    notes["path"] = "cached" if cached else "images"
    # cached: an epoch runs the later stages only (about a third of a full forward pass)
    step = (0.35 if cached else 1.0) * per_image
    timing = {
        "val_pass": step * len(val_imgs),          # one validation pass (updated)
        "batch": 3.0 * step * bs,                  # forward + backward of a batch (updated)
        "margin": 1.0 + 0.02 * (budget.seconds or 0.0),
        "prepare": (per_image * n_acts) if cached else 0.0,
    }

    def tail() -> float:
        """Seconds needed after the last training batch: validation, check, saving."""
        return 2.0 * timing["val_pass"] + timing["margin"]

    window = budget.remaining - tail() - timing["prepare"]
    notes["seconds_planned"] = round(max(window, 0.0), 2)
    if window < 2.0 * timing["batch"]:
        notes["stopped_by"] = "budget"
        notes["skipped"] = (
            f"{max(budget.remaining, 0):.1f} s of the budget were left after the quick "
            f"stage, too little to prepare, train a step and validate "
            f"({timing['prepare'] + 2.0 * timing['batch'] + tail():.1f} s): the quick "
            "model was kept"
        )
        return none

    if cached:
        front = _Front(backbone, k).eval()
        acts: dict[str, torch.Tensor] = {}
        jobs = [("train", train_imgs, False), ("val", val_imgs, False)]
        if mirror:
            jobs.insert(1, ("mirror", train_imgs, True))
        done, t_prep = 0, time.monotonic()
        for name, imgs, flip in jobs:
            parts = []
            for start in range(0, len(imgs), 32):
                x = _domains.preprocess(d, [load_rgb(i.path) for i in imgs[start:start + 32]],
                                        data.size)
                with torch.no_grad():  # not inference_mode: these tensors feed training
                    parts.append(front(torch.flip(x, dims=(3,)) if flip else x))
                done += len(x)
                progress.update(0.0, message=f"caching activations {done}/{n_acts}",
                                eta_seconds=max(0.0, budget.remaining))
                if done < n_acts and budget.remaining - tail() < (
                        (time.monotonic() - t_prep) / done * (n_acts - done)
                        + 2.0 * timing["batch"]):
                    notes["stopped_by"] = "budget"
                    notes["skipped"] = ("the budget ran out while caching the frozen "
                                        "stages' activations: the quick model was kept")
                    return none
            acts[name] = torch.cat(parts)
        notes["seconds_caching"] = round(time.monotonic() - t_prep, 2)
        train_ds = _Activations(acts["train"], acts.get("mirror"), y_train)
        valid_ds = _Activations(acts["val"], None, y_val)
        dls = DataLoaders(DataLoader(train_ds, bs=bs, shuffle=True, drop_last=False),
                          DataLoader(valid_ds, bs=max(bs, 64)), device=torch.device("cpu"))
        model: torch.nn.Module = _Back(net, k)
        splitter = lambda m: [  # noqa: E731
            [p for mod in (m.blocks, m.conv_head, m.bn2) for p in mod.parameters()],
            list(m.head.parameters())]
    else:
        paths = [str(i.path) for i in train_imgs] + [str(i.path) for i in val_imgs]
        labels: dict[str, Any] = {}
        for img, y in zip([*train_imgs, *val_imgs], [*y_train, *y_val], strict=True):
            labels[str(img.path)] = y.tolist() if multilabel else int(y)
        dblock = build_datablock(
            data.kind, len(data.tags), data.size, d.mean, d.std, _Labels(labels),
            valid_idx=list(range(len(train_imgs), len(paths))), augment=bool(s["augment"]),
            mirror=mirror)
        dls = dblock.dataloaders(paths, bs=bs, val_bs=max(bs, 32), device=torch.device("cpu"),
                                 num_workers=0, drop_last=False, seed=int(s["seed"]))
        model = net

        def splitter(m: Any) -> list[list[Any]]:
            return _groups(m, k)

    loss_func = BCEWithLogitsLossFlat() if multilabel else CrossEntropyLossFlat()
    lr = float(s["lr"])
    ratio = float(s["backbone_lr_ratio"])
    lrs = [lr * ratio, lr] if cached else [lr * ratio * 0.1, lr * ratio, lr]
    bn_layers = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    state: dict[str, Any] = {"best": quick_score, "best_state": None, "epoch_scores": []}
    ft_start = time.monotonic()
    horizon = max(budget.remaining - tail(), 1e-3)  # the learning-rate schedule's window

    def must_stop(next_cost: float) -> bool:
        return time.monotonic() + next_cost + tail() > budget.start + (budget.seconds or 0.0)

    class FrozenBatchNorm(Callback):
        """Keep every BatchNorm in eval mode: running statistics never change."""

        order = 1  # after TrainEvalCallback's model.train()

        def before_train(self) -> None:
            for m in bn_layers:
                m.eval()

    class WallClockSchedule(Callback):
        """Warm-up (10 %) then cosine decay of the learning rates, over the wall clock."""

        order = 55

        def before_batch(self) -> None:
            if not self.training:
                return
            pos = min(1.0, (time.monotonic() - ft_start) / horizon)
            warm = 0.1
            mult = pos / warm if pos < warm else 0.5 * (
                1 + math.cos(math.pi * (pos - warm) / (1 - warm)))
            self.opt.set_hyper("lr", [x * max(mult, 0.02) for x in lrs])

    class BudgetAndProgress(Callback):
        """Stops by itself before the budget runs out (after validating that epoch),
        reports progress, honours cancellation, and keeps the best epoch by validation."""

        order = 90

        def before_batch(self) -> None:
            self._t = time.monotonic()
            if self.training and must_stop(timing["batch"]):
                notes["stopped_by"] = "budget"
                raise CancelTrainException

        def before_validate(self) -> None:
            self._preds: list[torch.Tensor] = []
            self._t_val = time.monotonic()

        def after_batch(self) -> None:
            if not self.training:
                self._preds.append(self.pred.detach().float())
                progress.check()
                return
            spent = time.monotonic() - self._t
            if notes["epochs"] == 0 and self.iter == 0:  # the first batch also warms up
                timing["batch"] = min(timing["batch"], spent)
            else:
                timing["batch"] = 0.7 * timing["batch"] + 0.3 * spent
            loss = float(self.learn.smooth_loss) if self.learn.smooth_loss is not None else None
            progress.update(min(1.0, (time.monotonic() - ft_start) / horizon), loss=loss,
                            message=f"fine-tuning, epoch {self.epoch + 1}",
                            eta_seconds=max(0.0, budget.remaining))

        def after_validate(self) -> None:
            timing["val_pass"] = max(timing["val_pass"], time.monotonic() - self._t_val)

        def after_epoch(self) -> None:
            notes["epochs"] = self.epoch + 1
            logits = torch.cat(self._preds) if self._preds else None
            if logits is not None and len(logits) == len(y_val):
                probs = (torch.sigmoid(logits) if multilabel
                         else torch.softmax(logits, dim=1)).numpy()
                score = _score(y_val, probs, multilabel)
                state["epoch_scores"].append(_score_dict(score, multilabel))
                if score > state["best"]:
                    state["best"] = score
                    state["best_state"] = {k: v.detach().clone()
                                           for k, v in net.state_dict().items()}
                    state["best_probs"] = probs
                    notes["best_epoch"] = self.epoch + 1
            if notes["stopped_by"] == "budget" or must_stop(timing["batch"]):
                notes["stopped_by"] = "budget"
                raise CancelFitException

    with tempfile.TemporaryDirectory(prefix="cvbench-fit-") as tmp:
        learn = Learner(dls, model, loss_func=loss_func, opt_func=Adam, lr=lr, wd=0.01,
                        splitter=splitter, train_bn=False, path=Path(tmp), model_dir=".",
                        cbs=[FrozenBatchNorm(), WallClockSchedule(), BudgetAndProgress()])
        if cached:
            learn.unfreeze()
        elif k > 0:
            learn.freeze_to(1)
        else:
            learn.unfreeze()
        with learn.no_bar(), learn.no_logging():
            learn.fit(10_000, lr=lrs)
    notes["validation_by_epoch"] = state["epoch_scores"][-200:]
    notes["seconds"] = round(time.monotonic() - ft_start, 2)
    if state["best_state"] is None:
        notes["kept"] = "quick: no fine-tuned epoch beat the quick model on validation"
        return none
    tensors = {k: v.contiguous() for k, v in state["best_state"].items()}
    config = _config(data, backbone="stored")
    model_out = ClassificationModel(config, tensors)
    net.load_state_dict(tensors, strict=True)  # the trained network serves the check
    net.head = model_out.head
    model_out._net = net.requires_grad_(False).eval()
    if cached:
        # the frozen stages are the pretrained ones: their cached activations give the
        # stored network's validation predictions (the same operations as in the app)
        val_probs = state["best_probs"]
    else:  # the in-app check: the best epoch's predictions as the stored model gives them
        progress.stage("evaluate", "checking the fine-tuned model on validation")
        parts = []
        for start in range(0, len(val_imgs), 32):
            pils = [load_rgb(i.path) for i in val_imgs[start:start + 32]]
            parts.append(model_out.probabilities(_domains.preprocess(d, pils, data.size)))
            progress.update(min(1.0, (start + 32) / len(val_imgs)))
        val_probs = np.concatenate(parts)
    score = _score(y_val, val_probs, multilabel)
    notes["fine_tune_validation"] = _score_dict(score, multilabel)
    if not score > quick_score:
        notes["kept"] = "quick: the fine-tuned model did not beat it on validation"
        return none
    return {"model": model_out, "config": config, "tensors": tensors, "probs": val_probs,
            "notes": notes}
