"""Quick classification's head: the best of several cheap candidates, chosen by validation.

All candidates read the same single forward pass of the frozen backbone, the *taps*
(:mod:`cvbench.train.features`): the pooled features (``final``), the averaged maps of
earlier stages (``stages``), the raw pixels of a 16x16 thumbnail (``pixels``). A candidate
is a combination of these blocks (each column standardised on the training images, each
block scaled to the same total variance) and a linear head on it:

* **ridge** heads (least squares on one-hot targets), whose penalty is chosen by exact
  leave-one-out cross-validation on the training split (closed form: one eigen-
  decomposition of the images' kernel per combination serves every penalty), then turned
  into probabilities by a softmax temperature (multiclass) or a sigmoid per tag
  (multilabel) fitted on the leave-one-out scores;
* **logistic** heads (L-BFGS, :func:`cvbench.train.classify.fit_linear_head`, ``C``) on the
  pooled features (the previous quick model) and on the raw pixels (the simple baseline),
  so that quick training never loses to either of them on validation.

Every candidate is scored on the validation images (accuracy, then log loss; multilabel:
mAP, then loss) and the best one wins; ties go to the cheaper (earlier) candidate. The
winner's weights act on the whole taps vector (zeros for the blocks it does not use), the
standardisation folded in. :func:`select_head` returns them with a table of what every
candidate scored, which training records in the iteration's notes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["COMBINATIONS", "select_head", "Selection"]

#: Block combinations the ridge candidates use, cheapest first.
COMBINATIONS: tuple[tuple[str, ...], ...] = (
    ("final",), ("final", "stages"), ("pixels",), ("final", "pixels"),
    ("stages", "pixels"), ("final", "stages", "pixels"),
)
#: Penalties tried, relative to the kernel's mean diagonal.
_ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))
#: At most this many training images take part in the leave-one-out choice (a sample).
_MAX_CHOOSE = 1500


@dataclass
class Selection:
    """The chosen head on the whole taps vector, and why it was chosen."""

    weight: np.ndarray  # (T, D)
    bias: np.ndarray  # (T,)
    name: str
    val_probs: np.ndarray
    candidates: list[dict[str, Any]]
    final_head: tuple[np.ndarray, np.ndarray]  # the best head on "final" alone (T, F), (T,)

    def notes(self) -> dict[str, Any]:
        best = next(c for c in self.candidates if c["name"] == self.name)
        metric = "map" if "map" in best["validation"] else "accuracy"
        others = sorted((c for c in self.candidates if c["name"] != self.name),
                        key=lambda c: (-c["validation"][metric], c["validation"]["loss"]))
        why = (f"{self.name}: validation {metric} {best['validation'][metric]:.3f}, loss "
               f"{best['validation']['loss']:.3f}")
        if others:
            o = others[0]
            why += (f"; next best {o['name']}: {o['validation'][metric]:.3f}, loss "
                    f"{o['validation']['loss']:.3f}")
        return {"chosen": self.name, "why": why, "candidates": self.candidates}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _loo_metric(y: np.ndarray, scores: np.ndarray, multilabel: bool) -> float:
    if multilabel:
        from sklearn.metrics import average_precision_score

        aps = [average_precision_score(y[:, j], scores[:, j])
               for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        return float(np.mean(aps)) if aps else 0.0
    return float((scores.argmax(axis=1) == y).mean())


def _calibrate(y: np.ndarray, scores: np.ndarray, multilabel: bool
               ) -> tuple[np.ndarray, np.ndarray]:
    """Scale (and, per tag, shift) for the scores: multiclass one temperature for a
    softmax, multilabel a Platt sigmoid per tag; fitted on leave-one-out scores."""
    from scipy.optimize import minimize, minimize_scalar

    if not multilabel:
        idx = np.arange(len(y))

        def nll(log_t: float) -> float:
            p = _softmax(scores * np.exp(log_t))
            return float(-np.log(np.clip(p[idx, y], 1e-12, None)).mean())

        res = minimize_scalar(nll, bounds=(-3.0, 6.0), method="bounded",
                              options={"xatol": 1e-3})
        t = float(np.exp(res.x))
        return np.full(scores.shape[1], t), np.zeros(scores.shape[1])
    a = np.ones(scores.shape[1])
    b = np.zeros(scores.shape[1])
    for j in range(scores.shape[1]):
        sj, tj = scores[:, j], y[:, j]
        if not 0 < tj.sum() < len(tj):
            continue

        def loss(theta: np.ndarray, sj: np.ndarray = sj, tj: np.ndarray = tj
                 ) -> tuple[float, np.ndarray]:
            p = _sigmoid(theta[0] * sj + theta[1])
            eps = 1e-12
            val = -(tj * np.log(p + eps) + (1 - tj) * np.log(1 - p + eps)).mean()
            g = p - tj
            return float(val), np.array([(g * sj).mean(), g.mean()])

        res = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
        a[j], b[j] = res.x
    return a, b


def select_head(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    layout: Mapping[str, tuple[int, int]], *, multilabel: bool, n_out: int,
    score: Callable[[np.ndarray, np.ndarray, bool], tuple[float, float]],
    fit_logistic: Callable[..., tuple[Any, Any]], seed: int = 0, C: float = 0.1,
    combinations: Sequence[tuple[str, ...]] = COMBINATIONS,
) -> Selection:
    """Choose quick classification's head (see the module docstring).

    ``x_*`` are taps vectors ``(N, D)``; ``y_*`` class indices (multiclass) or 0/1 rows
    (multilabel); ``layout`` the taps' slices; ``score(y, probs, multilabel)`` the
    validation score (higher is better); ``fit_logistic(x, y, multilabel=..., C=...)`` the
    logistic head's fit, returning ``(weight (T, d), bias (T,))`` on raw features.
    """
    x = np.asarray(x_train, dtype=np.float64)
    xv = np.asarray(x_val, dtype=np.float64)
    n, dim = x.shape
    blocks = {k: v for k, v in layout.items() if v[1] > v[0]}
    combos = [c for c in combinations if all(b in blocks for b in c)]
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 1e-6 * max(1.0, float(sd.max(initial=0.0))), sd, np.inf)  # constant: off
    scale = np.zeros(dim)
    for lo, hi in blocks.values():
        live = np.isfinite(sd[lo:hi]).sum()
        scale[lo:hi] = 1.0 / np.sqrt(max(1, live))
    z = (x - mu) / sd * scale
    if multilabel:
        y_mat = np.asarray(y_train, dtype=np.float64)
    else:
        y_mat = np.eye(n_out)[np.asarray(y_train, dtype=np.int64)]
    y_mean = y_mat.mean(axis=0)
    yc = y_mat - y_mean
    # the leave-one-out choice runs on a sample of at most _MAX_CHOOSE images
    rng = np.random.default_rng(seed)
    sel = np.arange(n) if n <= _MAX_CHOOSE else np.sort(rng.choice(n, _MAX_CHOOSE, False))
    kern = {k: z[sel, lo:hi] @ z[sel, lo:hi].T for k, (lo, hi) in blocks.items()}
    y_sel = (np.asarray(y_train)[sel])
    candidates: list[dict[str, Any]] = []
    heads: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(name: str, kind: str, w: np.ndarray, b: np.ndarray, extra: dict[str, Any]) -> None:
        """A candidate with weights ``w (T, D)`` and bias ``b`` on the raw taps."""
        logits = xv @ w.T + b
        probs = _sigmoid(logits) if multilabel else _softmax(logits)
        s = score(np.asarray(y_val), probs, multilabel)
        key = "map" if multilabel else "accuracy"
        candidates.append({"name": name, "head": kind, **extra,
                           "validation": {key: s[0], "loss": -s[1]}})
        heads[name] = (w, b, probs)

    for combo in combos:
        cols = np.concatenate([np.arange(*blocks[b]) for b in combo])
        k = sum(kern[b] for b in combo)
        evals, evecs = np.linalg.eigh(k)
        evals = np.clip(evals, 0.0, None)
        base = float(np.trace(k)) / len(sel)
        u2 = evecs * evecs
        uty = evecs.T @ yc[sel]
        best: tuple[float, float] | None = None
        chosen, chosen_scores = _ALPHAS[0], yc[sel]
        for rel in _ALPHAS:
            alpha = rel * base
            shrink = evals / (evals + alpha)
            fitted = evecs @ (shrink[:, None] * uty)
            h_diag = u2 @ shrink
            loo = yc[sel] - (yc[sel] - fitted) / np.clip(1.0 - h_diag, 1e-9, None)[:, None]
            loo_scores = loo + y_mean
            loo_m = _loo_metric(y_sel, loo_scores, multilabel)
            sq = float(((loo - yc[sel]) ** 2).mean())
            if best is None or (loo_m, -sq) > (best[0], -best[1]):
                best, chosen, chosen_scores = (loo_m, sq), rel, loo_scores
        assert best is not None
        alpha = chosen * base * (n / len(sel))
        zc = z[:, cols]
        if n <= len(cols):  # dual: (K + aI)^-1 Y
            kk = zc @ zc.T
            coef = zc.T @ np.linalg.solve(kk + alpha * np.eye(n), yc)
        else:  # primal: (Z'Z + aI)^-1 Z'Y
            coef = np.linalg.solve(zc.T @ zc + alpha * np.eye(len(cols)), zc.T @ yc)
        a, c = _calibrate(y_sel, chosen_scores, multilabel)
        w = np.zeros((n_out, dim))
        w[:, cols] = (coef * (scale[cols] / sd[cols])[:, None]).T
        b = y_mean - w @ mu
        w, b = w * a[:, None], b * a + c
        add("+".join(combo), "ridge", w, b,
            {"alpha": round(chosen, 4), "leave_one_out": round(best[0], 4)})

    for block in ("final", "pixels"):
        if block not in blocks:
            continue
        lo, hi = blocks[block]
        wt, bt = fit_logistic(x[:, lo:hi], np.asarray(y_train), multilabel=multilabel, C=C)
        w = np.zeros((n_out, dim))
        w[:, lo:hi] = np.asarray(wt, dtype=np.float64)
        add(f"{block} (logistic)", "logistic", w, np.asarray(bt, dtype=np.float64), {"C": C})

    metric = "map" if multilabel else "accuracy"
    order = sorted(range(len(candidates)), key=lambda i: (
        -candidates[i]["validation"][metric], candidates[i]["validation"]["loss"], i))
    name = str(candidates[order[0]]["name"])
    w, b, probs = heads[name]
    for cand in candidates:
        cand["validation"] = {key: round(float(v), 4) for key, v in cand["validation"].items()}
    # advanced training starts from a head on the pooled features alone
    lo, hi = blocks["final"]
    finals = [c for c in candidates if c["name"] in ("final", "final (logistic)")]
    best_final = min(finals, key=lambda c: (-c["validation"][metric], c["validation"]["loss"]))
    fw, fb, _ = heads[best_final["name"]]
    return Selection(weight=w.astype(np.float32), bias=b.astype(np.float32), name=name,
                     val_probs=probs, candidates=candidates,
                     final_head=(fw[:, lo:hi].astype(np.float32), fb.astype(np.float32)))
