"""Dataset health: near-duplicates (and train/validation leaks), likely mislabelled images,
outliers, class balance, and images far too small or too dark.

Everything is computed from one vector per image, the frozen backbone's *taps*
(:mod:`cvbench.train.features`), read from the project's feature cache (quick training
caches them; missing ones are computed once and cached): their pooled features for
similarity, centres and the label model, their 16x16 thumbnail pixels for brightness. No
image is read again when the features are cached.

* **Near-duplicates**: pairs whose 16x16 thumbnails correlate at :data:`PIXEL_THRESHOLD`
  or more (Pearson's correlation of the pixels: resized and recompressed copies score
  0.99 and above, distinct images under 0.98 on the sample sets), or whose pooled
  features have a cosine similarity of at least ``duplicate_threshold`` (slightly cropped
  copies score 0.95 to 0.99; distinct images of one tag under 0.96), joined into groups. A group across tags
  is a labelling conflict; across train and validation, a leak that flatters the
  validation numbers. Each group suggests one image to keep: the one with the most
  pixels (then the oldest).
* **Likely mislabelled** (classification): confident learning,
  :func:`cleanlab.filter.find_label_issues`, on out-of-fold probabilities of a logistic
  regression on the standardised pooled features (reduced by PCA to at most 64
  dimensions, fitted once on every image: no tag is read), cross-validated in up to 5
  stratified folds, so no image is judged by a
  model that learnt its own tag. Ranked by the probability of the given tag, lowest
  first, each with the tag the model suggests.
* **Outliers**: per tag, the cosine distance of each image to the tag's centre, as a
  robust z-score (median and MAD of the tag's distances); above ``outlier_score``.
* **Balance**: images per tag, their share and their ratio to the largest tag.
* **Problems**: images whose shorter side is under ``min_side`` pixels (default: a quarter
  of the model's input side) or whose mean brightness is under ``dark`` (0 to 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._similar import groups_of, similar_pairs, unit_rows

__all__ = ["HealthImage", "HealthReport", "DuplicateGroup", "Mislabel", "analyse",
           "check_settings", "DUPLICATE_THRESHOLD", "PIXEL_THRESHOLD", "OUTLIER_SCORE", "DARK"]

DUPLICATE_THRESHOLD = 0.97
PIXEL_THRESHOLD = 0.99
OUTLIER_SCORE = 3.5
DARK = 0.1
#: Tags with fewer images than this have no centre to be an outlier of.
_MIN_FOR_OUTLIERS = 5
_PCA_DIMS = 64


@dataclass(frozen=True)
class HealthImage:
    """One image as health sees it: its id, tags (names), split and size in pixels."""

    id: str
    tags: tuple[str, ...]
    split: str | None
    width: int
    height: int


@dataclass(frozen=True)
class DuplicateGroup:
    """Near-duplicate images: ``image_ids`` (``keep`` first), the one suggested to keep,
    whether they carry different tags or lie in both splits, and the lowest similarity."""

    group: int
    image_ids: tuple[str, ...]
    keep: str
    across_tags: bool
    across_splits: bool
    similarity: float

    @property
    def others(self) -> tuple[str, ...]:
        """The images that keeping ``keep`` deletes."""
        return tuple(i for i in self.image_ids if i != self.keep)


@dataclass(frozen=True)
class Mislabel:
    """A likely mislabelled image: its ``tags``, the ``suggested`` ones and how sure."""

    image_id: str
    tags: tuple[str, ...]
    suggested: tuple[str, ...]
    given_probability: float
    suggested_probability: float
    rank: int


@dataclass(frozen=True, eq=False)
class HealthReport:
    """What :func:`analyse` found; the lists are DataFrames (see the module docstring).

    ``duplicates``: ``group, image_id, keep, tags, split, width, height, similarity,
    across_tags, across_splits`` (``similarity`` to the image kept: the larger of the
    features' cosine and the thumbnails' correlation). ``mislabels``:
    ``rank, image_id, tags, suggested, given_probability, suggested_probability``.
    ``outliers``: ``image_id, tag, distance, score``, most unusual first. ``balance``:
    ``tag, images, train, validation, share, ratio_to_largest``. ``problems``:
    ``image_id, problem, value, detail`` (``problem`` is ``"too small"`` or ``"too dark"``).
    ``notes`` say what could not be checked and why.
    """

    kind: str
    n_images: int
    duplicates: pd.DataFrame
    mislabels: pd.DataFrame
    outliers: pd.DataFrame
    balance: pd.DataFrame
    problems: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def groups(self) -> list[DuplicateGroup]:
        """The duplicate groups, as :class:`DuplicateGroup`."""
        out = []
        for g, rows in self.duplicates.groupby("group", sort=True):
            keep = str(rows.loc[rows["keep"], "image_id"].iloc[0])
            ids = [keep, *[str(i) for i in rows["image_id"] if i != keep]]
            out.append(DuplicateGroup(
                group=int(g), image_ids=tuple(ids), keep=keep,
                across_tags=bool(rows["across_tags"].iloc[0]),
                across_splits=bool(rows["across_splits"].iloc[0]),
                similarity=float(rows.loc[~rows["keep"], "similarity"].min())))
        return out

    def group(self, number: int) -> DuplicateGroup:
        """Duplicate group ``number`` (the ``group`` column)."""
        for g in self.groups():
            if g.group == number:
                return g
        raise ValueError(f"there is no duplicate group {number!r}; the groups are "
                         f"{sorted(set(self.duplicates['group'].tolist()))}")

    def mislabel(self, image_id: str) -> Mislabel:
        """The mislabel row of ``image_id``."""
        rows = self.mislabels[self.mislabels["image_id"] == image_id]
        if rows.empty:
            raise ValueError(f"image {image_id!r} is not among the likely mislabelled images")
        r = rows.iloc[0]
        return Mislabel(image_id=image_id, tags=tuple(r["tags"]), suggested=tuple(r["suggested"]),
                        given_probability=float(r["given_probability"]),
                        suggested_probability=float(r["suggested_probability"]),
                        rank=int(r["rank"]))

    @property
    def leaks(self) -> list[DuplicateGroup]:
        """Duplicate groups with images in both training and validation."""
        return [g for g in self.groups() if g.across_splits]

    def summary(self) -> str:
        """A few lines for people: what was found, worst first."""
        groups = self.groups()
        lines = [f"{self.n_images} images checked"]
        if groups:
            extra = sum(len(g.image_ids) - 1 for g in groups)
            leaks = sum(g.across_splits for g in groups)
            conflicts = sum(g.across_tags for g in groups)
            lines.append(f"{len(groups)} groups of near-duplicates ({extra} images to delete)"
                         f"; {conflicts} with different tags, {leaks} across train and "
                         "validation")
        else:
            lines.append("no near-duplicates")
        if len(self.mislabels):
            top = self.mislabels.iloc[0]
            lines.append(f"{len(self.mislabels)} images look mislabelled (first: "
                         f"{top['image_id']} tagged {list(top['tags'])}, suggested "
                         f"{list(top['suggested'])})")
        else:
            lines.append("no likely mislabelled image")
        lines.append(f"{len(self.outliers)} outliers" if len(self.outliers) else "no outlier")
        if len(self.balance) >= 2:
            big, small = self.balance.iloc[0], self.balance.iloc[-1]
            lines.append(f"balance: {big['tag']!r} {int(big['images'])} images, "
                         f"{small['tag']!r} {int(small['images'])}")
        for problem, n in self.problems["problem"].value_counts().items():
            lines.append(f"{n} images {problem}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the lists as records."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()}
                    for r in df.to_dict(orient="records")]

        return {"kind": self.kind, "n_images": self.n_images,
                "duplicates": records(self.duplicates), "mislabels": records(self.mislabels),
                "outliers": records(self.outliers), "balance": records(self.balance),
                "problems": records(self.problems), "settings": dict(self.settings),
                "features": dict(self.features), "notes": list(self.notes),
                "summary": self.summary()}


# --------------------------------------------------------------------------- analysis


def analyse(images: Sequence[HealthImage], pooled: np.ndarray, pixels: np.ndarray,
            brightness: np.ndarray, *,
            kind: str, tag_names: Sequence[str], input_side: int,
            duplicate_threshold: float = DUPLICATE_THRESHOLD,
            outlier_score: float = OUTLIER_SCORE, min_side: int | None = None,
            dark: float = DARK, seed: int = 0,
            check: Callable[[float], None] | None = None) -> HealthReport:
    """The health report of ``images`` from their ``pooled`` features ``(N, D)``, thumbnail
    ``pixels`` ``(N, P)`` and mean ``brightness`` ``(N,)`` in [0, 1]. ``tag_names`` lists the tags in display order;
    ``check(fraction)`` is called between steps (it may raise to cancel)."""
    check_settings(duplicate_threshold=duplicate_threshold, outlier_score=outlier_score,
                   min_side=min_side, dark=dark)
    if min_side is None:
        min_side = max(1, input_side // 4)
    if not len(images) == len(pooled) == len(pixels) == len(brightness):
        raise ValueError(f"{len(images)} images but {len(pooled)} feature vectors, "
                         f"{len(pixels)} thumbnails and {len(brightness)} brightness values")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # BLAS threads only stall each other on these sizes
        return _analyse(images, pooled, pixels, brightness, kind=kind, tag_names=tag_names,
                        duplicate_threshold=duplicate_threshold, outlier_score=outlier_score,
                        min_side=int(min_side), dark=dark, seed=seed,
                        step=check or (lambda _f: None))


def _analyse(images: Sequence[HealthImage], pooled: np.ndarray, pixels: np.ndarray,
             brightness: np.ndarray, *, kind: str, tag_names: Sequence[str],
             duplicate_threshold: float, outlier_score: float, min_side: int, dark: float,
             seed: int, step: Callable[[float], None]) -> HealthReport:
    unit = unit_rows(pooled)
    notes: list[str] = []
    centred = np.asarray(pixels, dtype=np.float32)
    centred = unit_rows(centred - centred.mean(axis=1, keepdims=True))
    duplicates = _duplicates(images, unit, centred, duplicate_threshold)
    step(0.3)
    if kind == "detection":
        mislabels = _empty_mislabels()
        notes.append("mislabels are checked for classification projects only")
    else:
        mislabels, note = _mislabels(images, pooled, kind, tag_names, seed)
        if note:
            notes.append(note)
    step(0.8)
    outliers = _outliers(images, unit, tag_names, outlier_score)
    settings = {"duplicate_threshold": duplicate_threshold, "outlier_score": outlier_score,
                "min_side": int(min_side), "dark": dark, "seed": seed}
    return HealthReport(
        kind=kind, n_images=len(images), duplicates=duplicates, mislabels=mislabels,
        outliers=outliers, balance=_balance(images, tag_names),
        problems=_problems(images, brightness, int(min_side), dark), settings=settings,
        notes=tuple(notes))


def check_settings(*, duplicate_threshold: float, outlier_score: float,
                   min_side: int | None, dark: float) -> None:
    """Refuse settings outside their bounds, naming them."""
    if not 0.0 < duplicate_threshold <= 1.0:
        raise ValueError(f"duplicate_threshold={duplicate_threshold!r} should lie in (0, 1]")
    if not outlier_score > 0:
        raise ValueError(f"outlier_score={outlier_score!r} should be a positive z-score")
    if min_side is not None and (isinstance(min_side, bool) or not isinstance(min_side, int)
                                 or min_side < 1):
        raise ValueError(f"min_side={min_side!r} should be None or a positive number of pixels")
    if not 0.0 <= dark <= 1.0:
        raise ValueError(f"dark={dark!r} should lie between 0 and 1 (mean brightness)")


def _duplicates(images: Sequence[HealthImage], unit: np.ndarray, pixels: np.ndarray,
                threshold: float) -> pd.DataFrame:
    columns = ["group", "image_id", "keep", "tags", "split", "width", "height",
               "similarity", "across_tags", "across_splits"]
    fi, fj, _ = similar_pairs(unit, threshold)
    pi, pj, _ = similar_pairs(pixels, PIXEL_THRESHOLD)
    i, j = np.concatenate([fi, pi]), np.concatenate([fj, pj])
    records = []
    for number, members in enumerate(groups_of(len(images), i, j), start=1):
        # most pixels first, then the oldest (images come oldest first)
        keep = min(members, key=lambda k: (-images[k].width * images[k].height, k))
        tagsets = {images[k].tags for k in members}
        splits = {images[k].split for k in members} & {"train", "validation"}
        for k in [keep, *[m for m in members if m != keep]]:
            img = images[k]
            records.append({
                "group": number, "image_id": img.id, "keep": k == keep, "tags": img.tags,
                "split": img.split, "width": img.width, "height": img.height,
                "similarity": float(max(unit[k] @ unit[keep], pixels[k] @ pixels[keep])),
                "across_tags": len(tagsets) > 1,
                "across_splits": len(splits) > 1})
    return pd.DataFrame.from_records(records, columns=columns)


def _empty_mislabels() -> pd.DataFrame:
    return pd.DataFrame(columns=["rank", "image_id", "tags", "suggested",
                                 "given_probability", "suggested_probability"])


def _mislabels(images: Sequence[HealthImage], pooled: np.ndarray, kind: str,
               tag_names: Sequence[str], seed: int) -> tuple[pd.DataFrame, str]:
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier

    multilabel = kind == "multilabel"
    counts = {t: sum(t in img.tags for img in images) for t in tag_names}
    usable = [t for t in tag_names if counts[t] >= 2]
    index = {t: k for k, t in enumerate(usable)}
    rows = [k for k, img in enumerate(images)
            if img.tags and all(t in index for t in img.tags)
            and (multilabel or len(img.tags) == 1)]
    if len(usable) < 2 or len(rows) < 4:
        return _empty_mislabels(), ("mislabels need at least 2 tags with 2 images each; "
                                    "tag more images")
    folds = min(5, min(counts[t] for t in usable)) if not multilabel else min(5, len(rows))
    x = _components(pooled[rows], max(1, min(_PCA_DIMS, len(rows) - len(rows) // folds - 1)))
    logistic = LogisticRegression(C=0.5, max_iter=300, tol=1e-3)
    if multilabel:
        y = np.zeros((len(rows), len(usable)), dtype=np.int64)
        for r, k in enumerate(rows):
            for t in images[k].tags:
                y[r, index[t]] = 1
        if (y.sum(axis=0) == len(rows)).any():
            return _empty_mislabels(), "mislabels need every tag to be absent from some image"
        model: Any = OneVsRestClassifier(logistic)
        cv: Any = KFold(folds, shuffle=True, random_state=seed)
        probs = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        labels: Any = [list(np.flatnonzero(row)) for row in y]
        issues = find_label_issues(labels, probs, multi_label=True,
                                   return_indices_ranked_by="self_confidence", n_jobs=1)
    else:
        y = np.array([index[images[k].tags[0]] for k in rows], dtype=np.int64)
        model = logistic
        cv = StratifiedKFold(max(2, folds), shuffle=True, random_state=seed)
        probs = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
        labels = y
        issues = find_label_issues(y, probs, return_indices_ranked_by="self_confidence",
                                   n_jobs=1)
    records = []
    for rank, r in enumerate(np.asarray(issues, dtype=np.int64).tolist(), start=1):
        p = probs[r]
        if multilabel:
            suggested = tuple(usable[t] for t in np.flatnonzero(p >= 0.5))
            given = float(np.mean([p[t] if y[r, t] else 1 - p[t] for t in range(len(usable))]))
            sure = float(np.mean([p[t] if p[t] >= 0.5 else 1 - p[t]
                                  for t in range(len(usable))]))
        else:
            suggested = (usable[int(np.argmax(p))],)
            given, sure = float(p[labels[r]]), float(np.max(p))
        records.append({"rank": rank, "image_id": images[rows[r]].id,
                        "tags": images[rows[r]].tags, "suggested": suggested,
                        "given_probability": given, "suggested_probability": sure})
    return pd.DataFrame.from_records(records, columns=list(_empty_mislabels().columns)), ""


def _components(x: np.ndarray, dims: int) -> np.ndarray:
    """The standardised rows of ``x`` on their first ``dims`` principal components (one
    eigen-decomposition of the covariance; no labels are
    read, so no fold learns from another's tags)."""
    x = np.asarray(x, dtype=np.float32)
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    values, vectors = np.linalg.eigh((z.T @ z / max(len(z) - 1, 1)).astype(np.float64))
    top = np.argsort(values)[::-1][:min(dims, z.shape[1])]
    return z.astype(np.float64) @ vectors[:, top]


def _outliers(images: Sequence[HealthImage], unit: np.ndarray, tag_names: Sequence[str],
              limit: float) -> pd.DataFrame:
    records = []
    for tag in tag_names:
        rows = [k for k, img in enumerate(images) if tag in img.tags]
        if len(rows) < _MIN_FOR_OUTLIERS:
            continue
        centre = unit[rows].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        distance = 1.0 - unit[rows] @ centre
        median = float(np.median(distance))
        mad = 1.4826 * float(np.median(np.abs(distance - median)))
        score = (distance - median) / max(mad, 1e-6)
        for k, d, s in zip(rows, distance.tolist(), score.tolist(), strict=True):
            if s > limit:
                records.append({"image_id": images[k].id, "tag": tag, "distance": float(d),
                                "score": float(s)})
    out = pd.DataFrame.from_records(records, columns=["image_id", "tag", "distance", "score"])
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def _balance(images: Sequence[HealthImage], tag_names: Sequence[str]) -> pd.DataFrame:
    records = []
    for tag in tag_names:
        of = [img for img in images if tag in img.tags]
        records.append({"tag": tag, "images": len(of),
                        "train": sum(img.split == "train" for img in of),
                        "validation": sum(img.split == "validation" for img in of)})
    out = pd.DataFrame.from_records(records, columns=["tag", "images", "train", "validation"])
    total = max(int(out["images"].sum()), 1)
    largest = max(int(out["images"].max()) if len(out) else 0, 1)
    out["share"] = out["images"] / total
    out["ratio_to_largest"] = out["images"] / largest
    return out.sort_values("images", ascending=False, kind="stable").reset_index(drop=True)


def _problems(images: Sequence[HealthImage], brightness: np.ndarray, min_side: int,
              dark: float) -> pd.DataFrame:
    records = []
    for img, light in zip(images, brightness.tolist(), strict=True):
        side = min(img.width, img.height)
        if side < min_side:
            records.append({"image_id": img.id, "problem": "too small", "value": float(side),
                            "detail": f"{img.width}x{img.height} px; the shorter side should "
                                      f"be at least {min_side} px"})
        if light < dark:
            records.append({"image_id": img.id, "problem": "too dark", "value": float(light),
                            "detail": f"mean brightness {light:.2f} (0 black, 1 white); "
                                      f"under {dark:.2f}"})
    return pd.DataFrame.from_records(records, columns=["image_id", "problem", "value", "detail"])
