"""Classification (multiclass and multilabel): quick and advanced training, the model.

**The model** is the domain's backbone (pooled features, ``domain.feature_dim`` values)
followed by one linear layer: softmax over the tags (multiclass) or one sigmoid per tag
(multilabel) — :mod:`cvbench.train._classify_model`.

**Quick training** (Custom Vision's Regular): the backbone stays frozen; one forward pass
per image gives its *taps* (:mod:`cvbench.train.features`: pooled features, the averaged
maps of earlier stages, the raw pixels of a 16x16 thumbnail), on the fastest engine that
gives the same numbers (ONNX Runtime), cached in the project's feature cache (only new
images run through the backbone). The head is chosen by validation among cheap
candidates on those taps (:mod:`cvbench.train._classify_select`): ridge heads on every
combination of the blocks, their penalty chosen by leave-one-out cross-validation on the
training split, and logistic heads (L-BFGS, an L2 penalty set like scikit-learn's ``C``,
default 0.1) on the pooled features and on the raw pixels, so that quick training never
loses on validation to either. ``notes["head"]`` records every candidate's validation
score, the winner and why. With ``settings={"flip": True}`` the taps of the mirrored
training images are added as more examples (twice the feature cost).

**Advanced training** (fine-tuning within a wall-clock budget,
:mod:`cvbench.train._classify_advanced`) starts from the best quick head on the pooled
features (a linear probe), then fine-tunes with a fastai ``Learner``:

* the stem and the first ``freeze_stages`` (4) stages stay frozen — they are ~85 % of
  the forward pass at 224 px and the least task-specific; the later stages and the head
  are trained with discriminative learning rates (``lr * backbone_lr_ratio`` and ``lr``)
  and Adam;
* by default (``cache_activations``) the frozen stages run once per training image, once
  per mirrored image, once per augmented view (``views``, default 4: a random crop of
  60-100 % of the area, colour jitter, a mirror half of the time) and once per
  validation image, on the fastest engine (ONNX Runtime, :mod:`cvbench.train._frozen`),
  and the Learner trains on these cached activations (float16), each step seeing each
  image as one of its views at random: an epoch then costs a third of a full one, which
  on a CPU is the difference between a few epochs and enough of them;
  ``label_smoothing`` (default 0) smooths the multiclass targets.
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

**Calibration** (both modes; ``settings={"calibrate": False}`` to skip): the chosen
model's logits are divided by a temperature fitted on the validation images
(:mod:`cvbench.train._calibrate`), folded into the linear head, so a probability of 90 %
is right about 90 % of the time; the order of the tags, hence accuracy and average
precision, do not change. ``notes["calibration"]`` has the temperature and the expected
calibration error before and after (the latter cross-fitted on halves of the validation).

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

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._types import Tag
from ..errors import TrainingError
from ..store import Store
from ..store.images import load_rgb
from . import features as _features
from ._calibrate import apply_temperature, calibrate

# fastai exports pickle _ImageReader and _Labels by name, and older ones named this module:
# they load through it
from ._classify_advanced import (  # noqa: F401
    ACTIVATION_CACHE_BYTES,
    Labels,
    _ImageReader,
    _Labels,
    build_datablock,
    fine_tune,
)
from ._classify_model import (
    FORMAT_VERSION,
    ClassificationModel,
    ClassifierNet,
    Probabilities,
    model_config,
    score_dict,
    targets,
    validation_score,
)
from ._classify_select import select_head
from ._progress import Budget, Progress
from ._threads import torch_threads
from .base import LoadedModel, Task, TrainedModel, TrainingImage, TrainingSet

if TYPE_CHECKING:  # pragma: no cover
    from ..evaluate import ClassificationEvaluation

__all__ = [
    "ClassificationTask",
    "ClassificationModel",
    "ClassifierNet",
    "Probabilities",
    "Labels",
    "build_datablock",
    "fit_linear_head",
    "MIN_IMAGES_PER_TAG",
    "FORMAT_VERSION",
    "ACTIVATION_CACHE_BYTES",
]

#: Custom Vision's minimum number of images per tag for classification.
MIN_IMAGES_PER_TAG = 5

_QUICK_DEFAULTS: dict[str, Any] = {"C": 0.1, "flip": False, "threads": None, "calibrate": True}
_ADVANCED_DEFAULTS: dict[str, Any] = {
    "lr": 1e-3,
    "backbone_lr_ratio": 0.1,
    "freeze_stages": 4,
    "batch_size": 32,
    "augment": True,
    "mirror": True,
    "cache_activations": True,
    "views": 4,
    "label_smoothing": 0.0,
    "seed": 0,
}


# --------------------------------------------------------------------------- task


class ClassificationTask:
    """Multiclass and multilabel classification (see the module docstring)."""

    kinds: tuple[str, ...] = ("multiclass", "multilabel")
    default_settings: Mapping[str, Any] = {**_QUICK_DEFAULTS, **_ADVANCED_DEFAULTS}
    #: classifiers take the domain's input side
    default_size: Mapping[str, int] = {}

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
    def training_set(self, store: Store, *, kind: str, tags: Sequence[Tag] | None,
                     domain: str, size: int) -> TrainingSet:
        store.split.ensure()
        all_tags = store.tags.all()
        negative = next((t for t in all_tags if t.type == "Negative"), None)
        if tags is None:
            selected = [t for t in all_tags if t.type == "Regular"]
        else:
            selected = []
            for tag in tags:
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

        per_image: dict[str, dict[str, Any]] = {}
        for r in store.images.labelled():
            entry = per_image.setdefault(
                r.id, {"sha": r.sha256, "ext": r.ext, "split": r.split, "tags": []}
            )
            entry["tags"].append(r.tag_id)
        images: list[TrainingImage] = []
        for image_id, e in per_image.items():
            if e["split"] not in ("train", "validation"):
                continue
            is_negative = negative is not None and use_negative and negative.id in e["tags"]
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
                    path=store.files.image_path(e["sha"], e["ext"]),
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
    def train(self, store: Store, data: TrainingSet, *, mode: str,
              budget_seconds: float | None, settings: Mapping[str, Any],
              progress: Progress) -> TrainedModel:

        s = {**self.default_settings, **settings}
        if s["threads"] is not None and (isinstance(s["threads"], bool) or not isinstance(
                s["threads"], int) or s["threads"] < 1):
            raise ValueError(f"threads={s['threads']!r} should be None (automatic) or a "
                             "positive int")
        with torch_threads(s["threads"]) as threads:
            trained = self._train(store, data, mode=mode, budget_seconds=budget_seconds,
                                  s=s, progress=progress)
        trained.notes["threads"] = threads
        return trained

    def _train(self, store: Store, data: TrainingSet, *, mode: str,
               budget_seconds: float | None, s: dict[str, Any],
               progress: Progress) -> TrainedModel:
        budget = Budget(budget_seconds, start=progress.start)
        torch.manual_seed(int(s["seed"]))
        y_train, y_val = targets(data, data.train), targets(data, data.validation)
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
        feats, stats = _features.project_features(store.features, items, data.domain, data.size,
                                                  on_batch=on_batch, part="taps")
        flip_stats = None
        by_sha = {i.sha256: k for k, i in enumerate(data.images)}
        f_train = feats[[by_sha[i.sha256] for i in train_imgs]]
        f_val = feats[[by_sha[i.sha256] for i in val_imgs]]
        x_fit, y_fit = f_train, y_train
        if s["flip"]:
            flipped, flip_stats = _features.project_features(
                store.features, [(i.sha256, i.path) for i in train_imgs], data.domain, data.size,
                flip=True, on_batch=on_batch, part="taps")
            x_fit = np.concatenate([f_train, flipped])
            y_fit = np.concatenate([y_train, y_train])
        progress.stage("head", "choosing the head by validation")
        multilabel = data.kind == "multilabel"
        t_head = time.perf_counter()
        layout = _features.taps_layout(data.domain)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # small matrices: threads only contend
            selection = select_head(
                x_fit, y_fit, f_val, y_val, layout, multilabel=multilabel,
                n_out=len(data.tags), score=validation_score, fit_logistic=fit_linear_head,
                seed=int(s["seed"]), C=float(s["C"]))
        head_seconds = time.perf_counter() - t_head
        progress.update(1.0, message=f"head chosen: {selection.name}")
        config = model_config(data, backbone="pretrained", features="taps",
                              inputs=int(f_train.shape[1]))
        tensors = {"head.weight": torch.from_numpy(selection.weight),
                   "head.bias": torch.from_numpy(selection.bias)}
        quick_model = ClassificationModel(config, tensors)
        val_probs = quick_model.probabilities_from_features(f_val)
        quick_score = validation_score(y_val, val_probs, multilabel)
        runner = _features.frozen_runner_for(data.domain, data.size, "taps")
        notes: dict[str, Any] = {
            "features": stats.to_dict(),
            "features_flipped": None if flip_stats is None else flip_stats.to_dict(),
            "frozen_backbone": runner.note(),
            "head": {"type": "linear", **selection.notes(), "C": float(s["C"]),
                     "seconds": round(head_seconds, 3)},
            "quick_validation": score_dict(quick_score, multilabel),
            "chosen": "quick",
        }
        if mode == "advanced":
            # fine-tuning starts from the best head on the pooled features (a linear probe)
            probe = ClassificationModel(model_config(data, backbone="pretrained"), {
                "head.weight": torch.from_numpy(selection.final_head[0]),
                "head.bias": torch.from_numpy(selection.final_head[1])})
            result = fine_tune(data, probe, y_train, y_val, quick_score, s, budget, progress)
            notes["fine_tune"] = result["notes"]
            if result["model"] is not None:
                config, tensors, val_probs = result["config"], result["tensors"], result["probs"]
                notes["chosen"] = "fine-tune"
        calibrated = False
        if s["calibrate"]:
            cal = calibrate(val_probs, y_val, multilabel, seed=int(s["seed"]))
            notes["calibration"] = cal.to_dict()
            if cal.applied:  # the last layer is linear: dividing it is the scaled model
                calibrated = True
                tensors = {**tensors, "head.weight": tensors["head.weight"] / cal.temperature,
                           "head.bias": tensors["head.bias"] / cal.temperature}
        if notes["chosen"] == "quick" and not calibrated:
            model = quick_model
        else:
            model = ClassificationModel(config, tensors)
        if calibrated:
            val_probs = (model.probabilities_from_features(f_val) if notes["chosen"] == "quick"
                         else apply_temperature(val_probs, cal.temperature, multilabel
                                                ).astype(np.float32))
        validation = dict(zip([i.id for i in val_imgs], model.to_predictions(val_probs),
                              strict=True))
        return TrainedModel(
            tensors={k: v.detach().contiguous() for k, v in tensors.items()},
            config=config,
            validation=validation,
            metrics=score_dict(validation_score(y_val, val_probs, multilabel), multilabel),
            notes=notes,
        )

    # -- model ----------------------------------------------------------------------------
    def load(self, config: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
             ) -> ClassificationModel:
        return ClassificationModel(config, tensors)

    def predict_stored(self, store: Store, model: LoadedModel,
                       images: Sequence[tuple[str, Path]]) -> list[list[dict[str, Any]]]:
        if not isinstance(model, ClassificationModel):
            raise TypeError(f"a classification task predicts with a ClassificationModel, "
                            f"not {type(model).__name__}")
        if not images:
            return []
        if model.uses_pretrained_backbone:
            feats, _ = _features.project_features(store.features, list(images),
                                                  model.domain.name, model.size,
                                                  part=model.feature_part)
            return model.to_predictions(model.probabilities_from_features(feats))
        out: list[list[dict[str, Any]]] = []
        for start in range(0, len(images), 32):
            pils = [load_rgb(p) for _, p in images[start:start + 32]]
            out.extend(model.predict_images(pils))
        return out

    def evaluate(self, config: Mapping[str, Any], tags: Sequence[Mapping[str, Any]],
                 rows: Sequence[tuple[str, Any, list[dict[str, Any]]]]
                 ) -> ClassificationEvaluation:
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


if TYPE_CHECKING:  # pragma: no cover - mypy checks that the task is a Task
    _IS_A_TASK: Task = ClassificationTask()


# --------------------------------------------------------------------------- the linear head


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
        grad = t.grad
        assert grad is not None  # backward() filled it
        return float(loss.detach()), grad.numpy().astype(np.float64)

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
