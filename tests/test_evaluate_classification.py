"""Classification metrics: Custom Vision's definitions, slow references, edge cases."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_curve

from cvbench.evaluate import NONE_LABEL, ClassificationEvaluation, ThresholdMetrics

# -- slow, obvious references -----------------------------------------------------------


def ap_slow(y: list[int], s: list[float]) -> float:
    """scikit-learn's AP, the long way: step down through the distinct scores; at each,
    add precision (of everything scored >= it) times the recall it adds."""
    n_pos = sum(y)
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s), reverse=True):
        tp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi)
        k = sum(1 for si in s if si >= t)
        recall = tp / n_pos
        ap += (recall - prev_recall) * tp / k
        prev_recall = recall
    return ap


def counts_slow(y, s, t):
    """Per tag (predicted, correct, true) by looping over every image and tag."""
    n, k = len(y), len(y[0])
    pred, corr, true = [0] * k, [0] * k, [0] * k
    for i in range(n):
        for j in range(k):
            if s[i][j] >= t:
                pred[j] += 1
                if y[i][j]:
                    corr[j] += 1
            if y[i][j]:
                true[j] += 1
    return pred, corr, true


# -- strategies -------------------------------------------------------------------------

# a coarse grid makes ties (and exact-threshold hits) common
score = st.one_of(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]),
    st.floats(0, 1, allow_nan=False),
)


@st.composite
def multilabel_case(draw):
    n = draw(st.integers(1, 12))
    t = draw(st.integers(1, 4))
    y = draw(st.lists(st.lists(st.integers(0, 1), min_size=t, max_size=t), min_size=n, max_size=n))
    s = draw(st.lists(st.lists(score, min_size=t, max_size=t), min_size=n, max_size=n))
    return np.array(y), np.array(s, dtype=float)


@st.composite
def multiclass_case(draw):
    n = draw(st.integers(1, 12))
    t = draw(st.integers(2, 4))
    labels = draw(st.lists(st.integers(0, t - 1), min_size=n, max_size=n))
    raw = np.array(
        draw(st.lists(st.lists(st.floats(0.01, 1), min_size=t, max_size=t), min_size=n, max_size=n))
    )
    return np.eye(t, dtype=int)[labels], raw / raw.sum(axis=1, keepdims=True)


def names(t):
    return [f"tag{j}" for j in range(t)]


# -- Custom Vision's definitions on a hand-made example ---------------------------------

# tags a, b, c; c has no true image
Y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
S = np.array(
    [
        [0.90, 0.45, 0.10],  # true {a}: a predicted (correct)
        [0.60, 0.40, 0.70],  # true {a, b}: a correct, c false positive, b missed at 0.5
        [0.30, 0.80, 0.20],  # true {b}: b correct
        [0.55, 0.10, 0.05],  # true {}: a false positive
    ]
)


def test_hand_made_example_matches_the_definitions():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    m = ev.at(0.5)
    assert isinstance(m, ThresholdMetrics)
    # predictions >= 0.5: a,a,c,b,a -> 5; correct: a (img0), a (img1), b (img2) -> 3
    assert (m.n_predicted, m.n_correct, m.n_true) == (5, 3, 4)
    assert m.precision == pytest.approx(3 / 5)
    assert m.recall == pytest.approx(3 / 4)
    assert m.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    np.testing.assert_allclose(m.tag_precision, [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(m.tag_recall, [1.0, 0.5, np.nan])
    # AP: a ranks its two positives first -> 1; b: + - + - -> (1 + 2/3) / 2
    np.testing.assert_allclose(m.tag_ap, [1.0, 5 / 6, np.nan])
    assert m.map == pytest.approx((1 + 5 / 6) / 2)  # c has no true image: not in mAP
    assert list(m.tag_in_map) == [True, True, False]

    m = ev.at(0.4)  # now b@0.45 (wrong) and b@0.40 (right) count too
    assert (m.n_predicted, m.n_correct) == (7, 4)
    assert m.precision == pytest.approx(4 / 7)
    assert m.recall == 1.0
    assert m.map == pytest.approx((1 + 5 / 6) / 2)  # AP does not depend on the threshold


def test_per_tag_frame():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    df = ev.per_tag(0.5)
    assert list(df.columns) == [
        "tag",
        "precision",
        "recall",
        "f1",
        "ap",
        "n_true",
        "n_predicted",
        "n_correct",
        "in_map",
    ]
    assert df["tag"].tolist() == ["a", "b", "c"]
    assert df["n_true"].tolist() == [2, 2, 0]
    assert df["n_predicted"].tolist() == [3, 1, 1]
    assert math.isnan(df.loc[2, "ap"]) and math.isnan(df.loc[2, "recall"])
    assert df.loc[2, "precision"] == 0.0  # predicted once, wrongly
    assert df.loc[1, "f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)


# -- references -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(multilabel_case())
def test_ap_matches_slow_reference(case):
    y, s = case
    ev = ClassificationEvaluation.from_scores(y, s, names(y.shape[1]), multilabel=True)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            assert math.isnan(ev.ap[j])
        else:
            assert ev.ap[j] == pytest.approx(ap_slow(y[:, j].tolist(), s[:, j].tolist()), abs=1e-12)
    in_map = [ev.ap[j] for j in range(y.shape[1]) if y[:, j].sum() > 0]
    if in_map:
        assert ev.map == pytest.approx(sum(in_map) / len(in_map))
    else:
        assert math.isnan(ev.map)


@settings(max_examples=150, deadline=None)
@given(multilabel_case(), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 0.333]))
def test_precision_recall_at_threshold_brute_force(case, t):
    y, s = case
    ev = ClassificationEvaluation.from_scores(y, s, names(y.shape[1]), multilabel=True)
    m = ev.at(t)
    pred, corr, true = counts_slow(y.tolist(), s.tolist(), t)
    assert m.tag_n_predicted.tolist() == pred
    assert m.tag_n_correct.tolist() == corr
    assert m.tag_n_true.tolist() == true
    for j in range(len(pred)):
        assert m.tag_precision[j] == (corr[j] / pred[j] if pred[j] else 0.0)
        if true[j]:
            assert m.tag_recall[j] == corr[j] / true[j]
        else:
            assert math.isnan(m.tag_recall[j])
    assert m.precision == (sum(corr) / sum(pred) if sum(pred) else 0.0)
    if sum(true):
        assert m.recall == sum(corr) / sum(true)
    else:
        assert math.isnan(m.recall)


@settings(max_examples=80, deadline=None)
@given(multiclass_case(), st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
def test_multiclass_counts_every_tag_at_or_above_threshold(case, t):
    y, s = case
    ev = ClassificationEvaluation.from_scores(y, s, names(y.shape[1]), multilabel=False)
    pred, corr, _ = counts_slow(y.tolist(), s.tolist(), t)
    m = ev.at(t)
    assert m.n_predicted == sum(pred) and m.n_correct == sum(corr)
    cm = ev.confusion_matrix(t)
    assert cm.matrix.sum() == len(y)  # one cell per image
    assert cm.matrix.sum(axis=1).tolist() == y.sum(axis=0).tolist()


@settings(max_examples=80, deadline=None)
@given(multilabel_case())
def test_suggested_thresholds_maximise_f1(case):
    y, s = case
    ev = ClassificationEvaluation.from_scores(y, s, names(y.shape[1]), multilabel=True)
    sug = ev.suggested_thresholds()

    def f1_at(j, t):
        m = ev.at(t)
        return m.f1 if j is None else m.tag_f1[j]

    candidates = sorted(set(s.ravel().tolist()))
    for j, name in enumerate(names(y.shape[1])):
        if y[:, j].sum() == 0:
            assert math.isnan(sug.per_tag[name])
            continue
        best = max(f1_at(j, t) for t in candidates)
        assert sug.per_tag_f1[name] == pytest.approx(best)
        assert f1_at(j, sug.per_tag[name]) == pytest.approx(best)
    if y.sum():
        best = max(f1_at(None, t) for t in candidates)
        assert sug.overall_f1 == pytest.approx(best)
        assert f1_at(None, sug.overall) == pytest.approx(best)


def test_pr_curves_are_sklearns():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    curves = ev.pr_curves()
    p, r, t = precision_recall_curve(Y[:, 1], S[:, 1])
    np.testing.assert_array_equal(curves["b"].precision, p)
    np.testing.assert_array_equal(curves["b"].recall, r)
    np.testing.assert_array_equal(curves["b"].thresholds, t)
    assert curves["b"].ap == pytest.approx(5 / 6)
    assert curves["c"].thresholds.size == 0 and math.isnan(curves["c"].ap)


# -- Negative tag -----------------------------------------------------------------------


def test_negative_tag_has_its_row_but_stays_out_of_map():
    tags = ["Negative", "cat", "dog"]
    y = np.eye(3, dtype=int)[[0, 0, 1, 1, 2, 2]]
    s = np.array(
        [
            [0.8, 0.1, 0.1],  # Negative, right
            [0.2, 0.7, 0.1],  # Negative, called cat
            [0.1, 0.8, 0.1],  # cat, right
            [0.1, 0.6, 0.3],  # cat, right
            [0.1, 0.2, 0.7],  # dog, right
            [0.3, 0.3, 0.4],  # dog, below threshold
        ]
    )
    ev = ClassificationEvaluation.from_scores(y, s, tags, multilabel=False, negative_index=0)
    m = ev.at(0.5)
    assert list(m.tag_in_map) == [False, True, True]
    assert not math.isnan(m.tag_ap[0])  # Negative's AP is shown ...
    assert m.map == pytest.approx(np.mean(m.tag_ap[1:]))  # ... but left out of mAP
    # Negative's predictions count like any tag: 5 predictions, 4 correct (Negative's too)
    assert (m.n_predicted, m.n_correct, m.n_true) == (5, 4, 6)
    assert m.precision == pytest.approx(4 / 5) and m.recall == pytest.approx(4 / 6)
    assert ev.to_dict(0.5)["negative_tag"] == "Negative"
    cm = ev.confusion_matrix(0.5).to_frame()
    assert cm.loc["Negative", "cat"] == 1 and cm.loc["dog", NONE_LABEL] == 1
    wrong = ev.mistakes(0.5)
    assert sorted(wrong["true_tags"].map(tuple)) == [("Negative",), ("dog",)]

    without = ClassificationEvaluation.from_scores(y, s, tags, multilabel=False)
    assert without.map == pytest.approx(np.mean(m.tag_ap))


# -- confusion matrix -------------------------------------------------------------------


def test_multiclass_confusion_matrix_layout():
    y = np.array([0, 0, 1, 2])
    s = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.8, 0.1], [0.6, 0.1, 0.3]])
    ev = ClassificationEvaluation.from_scores(y, s, ["a", "b", "c"], multilabel=False)
    cm = ev.confusion_matrix(0.5)
    assert cm.column_labels == ("a", "b", "c", NONE_LABEL)
    assert cm.matrix.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0]]
    assert ev.confusion_matrix(0.0).matrix[:, 3].sum() == 0  # everything has a top tag
    assert ev.confusion_matrix(1.0).matrix[:, 3].sum() == 4
    df = cm.to_frame()
    assert df.index.name == "true" and df.columns.name == "predicted"


def test_multilabel_confusion_matrix_per_tag():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    cm = ev.confusion_matrix(0.5)
    assert cm.matrix.shape == (3, 2, 2)
    df = cm.to_frame()
    m = ev.at(0.5)
    assert df["tp"].tolist() == m.tag_n_correct.tolist()
    assert (df["tp"] + df["fp"]).tolist() == m.tag_n_predicted.tolist()
    assert (df["tp"] + df["fn"]).tolist() == m.tag_n_true.tolist()
    assert (df[["tp", "fp", "fn", "tn"]].sum(axis=1) == 4).all()


# -- mistakes ---------------------------------------------------------------------------


def test_mistakes_are_the_images_with_false_positives_or_misses():
    ev = ClassificationEvaluation.from_scores(
        Y, S, ["a", "b", "c"], multilabel=True, image_ids=["i0", "i1", "i2", "i3"]
    )
    df = ev.mistakes(0.5)
    assert list(df.columns) == [
        "image_id",
        "true_tags",
        "predicted_tags",
        "false_positives",
        "misses",
        "scores",
        "how_wrong",
    ]
    assert set(df["image_id"]) == {"i1", "i3"}
    row = df.set_index("image_id").loc["i1"]
    assert row["false_positives"] == ["c"] and row["misses"] == ["b"]
    assert row["how_wrong"] == pytest.approx(0.7 + (1 - 0.4))
    assert df["how_wrong"].is_monotonic_decreasing
    assert df.iloc[0]["image_id"] == "i1"
    assert len(ev.mistakes(0.5, top=1)) == 1
    assert ev.mistakes(0.5, top=0).empty


@settings(max_examples=60, deadline=None)
@given(multilabel_case(), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_mistakes_count_matches_errors(case, t):
    y, s = case
    ev = ClassificationEvaluation.from_scores(y, s, names(y.shape[1]), multilabel=True)
    df = ev.mistakes(t)
    expect = {i for i in range(len(y)) if ((s[i] >= t) != y[i].astype(bool)).any()}
    assert set(df["image_id"]) == expect
    m = ev.at(t)
    assert sum(len(v) for v in df["false_positives"]) == m.n_predicted - m.n_correct
    assert sum(len(v) for v in df["misses"]) == m.n_true - m.n_correct


# -- edge cases -------------------------------------------------------------------------


def test_no_predictions_above_threshold_gives_precision_zero():
    y = np.array([[1, 0], [0, 1]])
    s = np.array([[0.4, 0.3], [0.2, 0.45]])
    ev = ClassificationEvaluation.from_scores(y, s, ["a", "b"], multilabel=True)
    m = ev.at(0.5)
    assert m.n_predicted == 0
    assert m.precision == 0.0 and m.recall == 0.0 and m.f1 == 0.0
    assert m.tag_precision.tolist() == [0.0, 0.0]
    assert m.map == 1.0  # the ranking is still perfect


def test_single_image():
    ev = ClassificationEvaluation.from_scores([[0, 1]], [[0.3, 0.7]], ["a", "b"], multilabel=False)
    m = ev.at(0.5)
    assert (m.precision, m.recall) == (1.0, 1.0)
    assert math.isnan(m.tag_ap[0]) and m.tag_ap[1] == 1.0 and m.map == 1.0
    assert ev.mistakes().empty


def test_all_correct():
    y = np.eye(3, dtype=int)
    s = 0.1 + 0.7 * y
    ev = ClassificationEvaluation.from_scores(y, s, ["a", "b", "c"], multilabel=False)
    m = ev.at(0.5)
    assert (m.precision, m.recall, m.f1, m.map) == (1.0, 1.0, 1.0, 1.0)
    assert np.all(m.tag_f1 == 1.0)
    assert ev.mistakes(0.5).empty
    assert np.trace(ev.confusion_matrix(0.5).matrix) == 3


def test_threshold_zero_and_one():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    m0 = ev.at(0.0)
    assert m0.n_predicted == Y.size and m0.recall == 1.0
    assert m0.precision == pytest.approx(Y.sum() / Y.size)
    m1 = ev.at(1.0)
    assert m1.n_predicted == 0 and m1.precision == 0.0 and m1.recall == 0.0
    s = S.copy()
    s[0, 0] = 1.0  # a probability of exactly 1 still counts at threshold 1
    assert (
        ClassificationEvaluation.from_scores(Y, s, "a b c".split(), multilabel=True)
        .at(1.0)
        .n_correct
        == 1
    )


def test_no_true_tag_at_all():
    ev = ClassificationEvaluation.from_scores(
        np.zeros((2, 2), int), [[0.6, 0.1], [0.2, 0.3]], ["a", "b"], multilabel=True
    )
    m = ev.at(0.5)
    assert math.isnan(m.recall) and math.isnan(m.f1) and math.isnan(m.map)
    assert m.precision == 0.0
    sug = ev.suggested_thresholds()
    assert math.isnan(sug.overall)
    json.dumps(ev.to_dict(0.5), allow_nan=False)


def test_to_dict_is_plain_json():
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    d = ev.to_dict(0.5)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["precision"] == pytest.approx(0.6)
    assert back["per_tag"][2]["ap"] is None  # NaN -> None
    assert back["kind"] == "multilabel" and back["negative_tag"] is None
    assert isinstance(back["suggested_threshold"], float)


def test_one_dimensional_labels_for_multiclass():
    s = np.array([[0.7, 0.3], [0.4, 0.6]])
    a = ClassificationEvaluation.from_scores([0, 1], s, ["a", "b"], multilabel=False)
    b = ClassificationEvaluation.from_scores([[1, 0], [0, 1]], s, ["a", "b"], multilabel=False)
    assert a.at(0.5).to_dict() == b.at(0.5).to_dict()


def test_results_are_not_mutated_through_returned_arrays():
    s = S.copy()
    ev = ClassificationEvaluation.from_scores(Y, s, ["a", "b", "c"], multilabel=True)
    s[:] = 0  # the caller's array is copied
    assert ev.at(0.5).n_predicted == 5
    with pytest.raises(ValueError):
        ev.at(0.5).tag_ap[0] = 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y_true": [[1, 0]], "scores": [[0.5, 0.5], [0.5, 0.5]]}, "shape"),
        ({"y_true": [[1, 1]], "scores": [[0.5, 0.5]]}, "exactly one"),
        ({"y_true": [[2, 0]], "scores": [[0.5, 0.5]]}, "only 0 and 1"),
        ({"y_true": [[1, 0]], "scores": [[1.5, 0.5]]}, "not a probability"),
        ({"y_true": [[1, 0]], "scores": [[np.nan, 0.5]]}, "not a probability"),
        ({"y_true": [[1, 0]], "scores": [[0.5, 0.5]], "tag_names": ["a"]}, "one name per column"),
        ({"y_true": [[1, 0]], "scores": [[0.5, 0.5]], "tag_names": ["a", "a"]}, "unique"),
        ({"y_true": [[1, 0]], "scores": [[0.5, 0.5]], "negative_index": 2}, "negative_index"),
        ({"y_true": [[1, 0]], "scores": [[0.5, 0.5]], "image_ids": [1, 2]}, "one per image"),
        ({"y_true": np.zeros((0, 2)), "scores": np.zeros((0, 2))}, "no validation images"),
        ({"y_true": [1], "scores": [0.5]}, "2-d"),
    ],
)
def test_bad_input_says_how_to_fix_it(kwargs, match):
    args = {"tag_names": ["a", "b"], "multilabel": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        ClassificationEvaluation.from_scores(
            args.pop("y_true"), args.pop("scores"), args.pop("tag_names"), **args
        )


@pytest.mark.parametrize("bad", [-0.1, 1.5, "high", None, float("nan")])
def test_bad_threshold(bad):
    ev = ClassificationEvaluation.from_scores(Y, S, ["a", "b", "c"], multilabel=True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ev.at(bad)
    with pytest.raises(ValueError, match="top="):
        ev.mistakes(0.5, top=-1)


def test_threshold_move_is_fast():
    rng = np.random.default_rng(0)
    n, t = 1000, 50
    y = np.eye(t, dtype=int)[rng.integers(0, t, n)]
    logits = rng.normal(size=(n, t)) + 3 * y
    s = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    start = time.perf_counter()
    ev = ClassificationEvaluation.from_scores(y, s, names(t), multilabel=False)
    ev.at(0.5)
    build = time.perf_counter() - start
    start = time.perf_counter()
    for th in np.linspace(0, 1, 50):
        ev.per_tag(th)
    per_call = (time.perf_counter() - start) / 50
    # a move reuses the sorted scores: a fraction of building the evaluation (measured
    # ~0.5 ms against ~40 ms; benchmarks/bench_ui.py measures the absolute figures)
    assert per_call < build / 3, (per_call, build)
