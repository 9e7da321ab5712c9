"""Detection metrics: matching, AP against slow references and pycocotools, edge cases."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cvbench.boxes import Box
from cvbench.evaluate import COCO_IOU_THRESHOLDS, DetectionEvaluation

# COCO's recall points, as pycocotools builds them (k * 0.01, not k / 100)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1).tolist()


# -- slow, obvious references -----------------------------------------------------------


def match_slow(gt, preds, overlap):
    """COCO's evaluateImg loop, per image and tag: predictions by decreasing probability
    (stable), each takes the unmatched true box of its tag with the highest IoU >= overlap
    (a later box wins a tie). Returns one bool per prediction."""
    hit = [False] * len(preds)
    for tag in {t for t, _ in gt} | {t for t, _, _ in preds}:
        g_idx = [k for k, (t, _) in enumerate(gt) if t == tag]
        p_idx = sorted(
            (k for k, (t, _, _) in enumerate(preds) if t == tag), key=lambda k: -preds[k][1]
        )
        taken = set()
        for k in p_idx:
            best, m = min(overlap, 1 - 1e-10), None
            for g in g_idx:
                if g in taken:
                    continue
                iou = Box(*preds[k][2]).iou(Box(*gt[g][1]))
                if iou < best:
                    continue
                best, m = iou, g
            if m is not None:
                taken.add(m)
                hit[k] = True
    return hit


def records_slow(ground_truth, predictions, overlap, tag):
    """(probability, image, position, hit) of every prediction of ``tag``."""
    out = []
    for i, (gt, preds) in enumerate(zip(ground_truth, predictions, strict=True)):
        hits = match_slow(gt, preds, overlap)
        out += [(p[1], i, k, hits[k]) for k, p in enumerate(preds) if p[0] == tag]
    return out


def coco_ap_slow(records, n_gt):
    """101-point interpolated AP, the long way (COCOeval.accumulate)."""
    if n_gt == 0:
        return math.nan
    records = sorted(records, key=lambda r: (-r[0], r[1], r[2]))
    tp = fp = 0
    prec, rec = [], []
    for r in records:
        tp, fp = tp + r[3], fp + (not r[3])
        prec.append(tp / (tp + fp))
        rec.append(tp / n_gt)
    total = 0.0
    for r in REC_THRS:
        at = [p for p, rc in zip(prec, rec, strict=True) if rc >= r]
        total += max(at) if at else 0.0
    return total / len(REC_THRS)


def all_point_ap_slow(records, n_gt):
    """VOC's all-point interpolated AP: the area under the precision envelope."""
    records = sorted(records, key=lambda r: (-r[0], r[1], r[2]))
    tp = fp = 0
    pts = []
    for r in records:
        tp, fp = tp + r[3], fp + (not r[3])
        pts.append((tp / n_gt, tp / (tp + fp)))
    area, prev = 0.0, 0.0
    for rc, _ in pts:
        if rc > prev:
            area += (rc - prev) * max(p for r2, p in pts if r2 >= rc)
            prev = rc
    return area


def counts_slow(ground_truth, predictions, threshold, overlap, n_tags):
    """(predicted, correct, true) per tag, matching only predictions >= threshold."""
    pred, corr, true = [0] * n_tags, [0] * n_tags, [0] * n_tags
    for gt, preds in zip(ground_truth, predictions, strict=True):
        kept = [p for p in preds if p[1] >= threshold]
        for p, hit in zip(kept, match_slow(gt, kept, overlap), strict=True):
            pred[p[0]] += 1
            corr[p[0]] += hit
        for t, _ in gt:
            true[t] += 1
    return pred, corr, true


# -- strategies: boxes on a 1/16 grid, so every IoU is computed exactly everywhere --------


@st.composite
def grid_box(draw):
    w = draw(st.integers(1, 16))
    h = draw(st.integers(1, 16))
    left = draw(st.integers(0, 16 - w))
    top = draw(st.integers(0, 16 - h))
    return (left / 16, top / 16, w / 16, h / 16)


def nudge(box, dx, dy):
    left = min(max(box[0] + dx / 16, 0.0), 1 - box[2])
    top = min(max(box[1] + dy / 16, 0.0), 1 - box[3])
    return (left, top, box[2], box[3])


prob = st.one_of(st.sampled_from([0.2, 0.5, 0.5, 0.8, 1.0]), st.floats(0, 1))


@st.composite
def detection_case(draw, max_images=4):
    n_tags = draw(st.integers(1, 3))
    gts, preds = [], []
    for _ in range(draw(st.integers(1, max_images))):
        gt = [
            (draw(st.integers(0, n_tags - 1)), draw(grid_box()))
            for _ in range(draw(st.integers(0, 4)))
        ]
        pr = []
        for _ in range(draw(st.integers(0, 6))):
            if gt and draw(st.booleans()):  # near a true box: duplicates, shifts, wrong tags
                tag, box = gt[draw(st.integers(0, len(gt) - 1))]
                box = nudge(box, draw(st.integers(-2, 2)), draw(st.integers(-2, 2)))
                if draw(st.integers(0, 4)) == 0:
                    tag = draw(st.integers(0, n_tags - 1))
            else:
                tag, box = draw(st.integers(0, n_tags - 1)), draw(grid_box())
            pr.append((tag, draw(prob), box))
        gts.append(gt)
        preds.append(pr)
    return gts, preds, [f"tag{j}" for j in range(n_tags)]


# -- a hand-made example with known numbers ---------------------------------------------

A = (0.0, 0.0, 0.5, 0.5)
B = (0.5, 0.5, 0.5, 0.5)
C = (0.25, 0.25, 0.5, 0.5)
GT = [[(0, A), (1, B)], [(0, C)]]
PRED = [
    [(0, 0.9, A), (0, 0.8, (0.0, 0.0, 0.5, 0.4375)), (1, 0.3, B)],  # hit, duplicate, low hit
    [(0, 0.6, (0.25, 0.25, 0.5, 0.25)), (1, 0.7, (0.0, 0.0, 0.25, 0.25))],  # IoU 0.5, false
]


def hand():
    return DetectionEvaluation.from_predictions(GT, PRED, ["cat", "dog"], image_ids=["x", "y"])


def test_hand_made_example_matches_the_definitions():
    ev = hand()
    m = ev.at(0.5, 0.5)
    # >= 0.5: cat .9 (hit A), cat .8 (duplicate of A), cat .6 (IoU exactly 0.5 with C), dog .7
    assert (m.n_predicted, m.n_correct, m.n_true) == (4, 2, 3)
    assert m.precision == 0.5 and m.recall == pytest.approx(2 / 3)
    np.testing.assert_allclose(m.tag_precision, [2 / 3, 0.0])
    np.testing.assert_allclose(m.tag_recall, [1.0, 0.0])
    # cat: hit, miss, hit over 2 boxes -> envelope 1 up to recall .5, then 2/3
    cat_ap = (51 * 1.0 + 50 * (2 / 3)) / 101
    # dog: false (.7) then hit (.3) over 1 box -> envelope .5 up to recall 1
    dog_ap = 101 * 0.5 / 101
    np.testing.assert_allclose(m.tag_ap, [cat_ap, dog_ap], rtol=1e-12)
    assert m.map == pytest.approx((cat_ap + dog_ap) / 2)
    assert m.overlap == 0.5 and 0 <= m.coco_map <= m.map

    m = ev.at(0.5, 0.6)  # the 0.5-IoU box no longer counts
    assert (m.n_predicted, m.n_correct) == (4, 1)
    m = ev.at(0.25, 0.5)  # the dog at .3 now counts
    assert (m.n_predicted, m.n_correct) == (5, 3) and m.recall == 1.0

    df = ev.per_tag(0.5, 0.5)
    assert df["n_true"].tolist() == [2, 1] and df["n_predicted"].tolist() == [3, 1]


def test_hand_made_example_per_image_and_mistakes():
    ev = hand()
    x, y = ev.per_image(0.5, 0.5)
    assert x.image_id == "x" and y.index == 1
    assert [(r.tag, r.probability) for r in x.true_positives] == [("cat", 0.9)]
    assert x.true_positives[0].true_box == Box(*A) and x.true_positives[0].iou == 1.0
    assert [(r.tag, r.probability) for r in x.false_positives] == [("cat", 0.8)]
    assert x.false_positives[0].iou == pytest.approx(0.875)  # a duplicate, well placed
    assert [(r.tag, r.box, r.probability) for r in x.misses] == [("dog", Box(*B), 0.3)]
    assert len(x.true_boxes) == 2
    assert y.true_positives[0].iou == 0.5
    assert [r.tag for r in y.false_positives] == ["dog"] and y.misses == []

    df = ev.mistakes(0.5, 0.5)
    assert df["image_id"].tolist() == ["x", "y"]  # .8 + (1 - .3) before .7
    assert df["how_wrong"].tolist() == pytest.approx([0.8 + 0.7, 0.7])
    assert df.iloc[0]["false_positives"] == ["cat"] and df.iloc[0]["misses"] == ["dog"]
    assert ev.mistakes(0.25, 0.5)["image_id"].tolist() == ["x", "y"]
    assert len(ev.mistakes(0.5, 0.5, top=1)) == 1


def test_hand_made_example_against_pycocotools():
    ev = hand()
    coco05 = ev._coco_precision([0.5])
    np.testing.assert_allclose(coco05[0].mean(axis=0), ev.ap(0.5), rtol=0, atol=1e-12)


# -- references, on generated cases -----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(detection_case(), st.sampled_from([0.1, 0.3, 0.5, 0.75, 1.0]))
def test_ap_matches_slow_reference(case, overlap):
    gts, preds, names = case
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    ap = ev.ap(overlap)
    for j in range(len(names)):
        n_gt = sum(t == j for gt in gts for t, _ in gt)
        recs = records_slow(gts, preds, overlap, j)
        expect = coco_ap_slow(recs, n_gt)
        if n_gt == 0:
            assert math.isnan(ap[j])
            continue
        assert ap[j] == pytest.approx(expect, abs=1e-12)
        # all-point (VOC) AP differs from 101-point AP by at most 1/100
        assert abs(all_point_ap_slow(recs, n_gt) - ap[j]) <= 0.01 + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    detection_case(),
    st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]),
    st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]),
)
def test_precision_recall_at_thresholds_brute_force(case, threshold, overlap):
    gts, preds, names = case
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    m = ev.at(threshold, overlap)
    pred, corr, true = counts_slow(gts, preds, threshold, overlap, len(names))
    assert m.tag_n_predicted.tolist() == pred
    assert m.tag_n_correct.tolist() == corr
    assert m.tag_n_true.tolist() == true
    assert m.precision == (sum(corr) / sum(pred) if sum(pred) else 0.0)
    if sum(true):
        assert m.recall == sum(corr) / sum(true)
    else:
        assert math.isnan(m.recall)
    # per_image and mistakes tell the same story
    per = ev.per_image(threshold, overlap)
    assert sum(len(r.true_positives) for r in per) == sum(corr)
    assert sum(len(r.false_positives) for r in per) == sum(pred) - sum(corr)
    assert sum(len(r.misses) for r in per) == sum(true) - sum(corr)
    wrong = ev.mistakes(threshold, overlap)
    assert set(wrong["image_id"]) == {r.index for r in per if r.false_positives or r.misses}


@settings(max_examples=40, deadline=None)
@given(detection_case(max_images=3))
def test_map_matches_pycocotools(case):
    gts, preds, names = case
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    coco = ev._coco_precision(COCO_IOU_THRESHOLDS)  # (iou, recall point, tag); -1: no box
    for k, iou in enumerate(COCO_IOU_THRESHOLDS):
        ours = ev.ap(iou)
        theirs = np.where(coco[k, 0] > -1, coco[k].mean(axis=0), np.nan)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    if not any(gts):
        assert math.isnan(ev.coco_map)
    else:
        per_iou = [ev.at(0.5, o).map for o in COCO_IOU_THRESHOLDS]
        assert ev.coco_map == pytest.approx(np.mean(per_iou), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(detection_case(), st.sampled_from([0.3, 0.5, 0.9]))
def test_suggested_thresholds_maximise_f1(case, overlap):
    gts, preds, names = case
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    sug = ev.suggested_thresholds(overlap)
    candidates = sorted({p[1] for pr in preds for p in pr})
    if not candidates or not any(gts):
        assert math.isnan(sug.overall)
        return
    best = max(ev.at(t, overlap).f1 for t in candidates)
    assert sug.overall_f1 == pytest.approx(best)
    if best == 0:  # nothing right at any threshold: none is suggested
        assert math.isnan(sug.overall)
    else:
        assert ev.at(sug.overall, overlap).f1 == pytest.approx(best)
    for j, name in enumerate(names):
        if not math.isnan(sug.per_tag[name]):
            best = max(ev.at(t, overlap).tag_f1[j] for t in candidates)
            assert best > 0
            assert ev.at(sug.per_tag[name], overlap).tag_f1[j] == pytest.approx(best)


def test_no_threshold_is_suggested_where_nothing_is_right():
    # a box found where a shape is, but shifted: right at overlap 0.1, wrong at 0.96
    shifted = (0.05, 0.05, 0.5, 0.5)
    ev = DetectionEvaluation.from_predictions([[(0, A)]], [[(0, 0.9, shifted)]], ["cat"])
    assert ev.suggested_thresholds(0.1).overall == 0.9
    assert ev.at(0.5, 0.96).f1 == 0
    sug = ev.suggested_thresholds(0.96)
    assert math.isnan(sug.overall) and sug.overall_f1 == 0
    assert math.isnan(sug.per_tag["cat"])


@settings(max_examples=60, deadline=None)
@given(detection_case())
def test_pr_curve_points_are_the_numbers_at_each_threshold(case):
    gts, preds, names = case
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    for j, (name, c) in enumerate(ev.pr_curves(0.5).items()):
        assert c.tag == name
        if c.thresholds.size == 0:
            continue
        assert (c.precision[-1], c.recall[-1]) == (1.0, 0.0)
        assert np.all(np.diff(c.thresholds) > 0)
        for t, p, r in zip(c.thresholds, c.precision[:-1], c.recall[:-1], strict=True):
            m = ev.at(t, 0.5)
            assert (m.tag_precision[j], m.tag_recall[j]) == pytest.approx((p, r))


# -- edge cases -------------------------------------------------------------------------


def test_images_without_boxes_and_without_predictions():
    ev = DetectionEvaluation.from_predictions([[], [(0, A)], []], [[], [(0, 0.9, A)], []], ["cat"])
    m = ev.at()
    assert (m.precision, m.recall, m.map) == (1.0, 1.0, 1.0)
    assert m.coco_map == pytest.approx(1.0)
    assert ev.mistakes().empty
    assert [len(r.true_positives) for r in ev.per_image()] == [0, 1, 0]


def test_no_predictions_at_all():
    ev = DetectionEvaluation.from_predictions([[(0, A)], [(1, B)]], [[], []], ["cat", "dog"])
    m = ev.at()
    assert (m.precision, m.recall, m.map, m.coco_map) == (0.0, 0.0, 0.0, 0.0)
    assert math.isnan(ev.suggested_thresholds().overall)
    assert ev.mistakes()["misses"].tolist() == [["cat"], ["dog"]]


def test_no_true_box_at_all():
    ev = DetectionEvaluation.from_predictions([[], []], [[(0, 0.9, A)], []], ["cat", "dog"])
    m = ev.at()
    assert m.precision == 0.0
    assert math.isnan(m.recall) and math.isnan(m.map) and math.isnan(m.coco_map)
    assert list(m.tag_in_map) == [False, False]
    d = ev.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["map"] is None and d["coco_map"] is None


def test_tag_without_true_boxes_is_left_out_of_map():
    ev = DetectionEvaluation.from_predictions(
        [[(0, A)]], [[(0, 0.9, A), (1, 0.8, B)]], ["cat", "dog"]
    )
    m = ev.at()
    assert m.tag_ap[0] == 1.0 and math.isnan(m.tag_ap[1]) and m.map == 1.0
    assert m.tag_precision[1] == 0.0 and math.isnan(m.tag_recall[1])


def test_threshold_and_overlap_limits():
    ev = hand()
    m0 = ev.at(0.0, 0.5)
    assert m0.n_predicted == 5
    m1 = ev.at(1.0, 0.5)
    assert (m1.n_predicted, m1.precision, m1.recall) == (0, 0.0, 0.0)
    # overlap 1: only exact boxes match (A, B); overlap 0: any box of the tag in the image
    assert ev.at(0.0, 1.0).n_correct == 2
    assert ev.at(0.0, 0.0).n_correct == 3


def test_single_image_single_box():
    ev = DetectionEvaluation.from_predictions([[(0, A)]], [[(0, 0.4, A)]], ["cat"])
    assert ev.at(0.5).recall == 0.0 and ev.at(0.4).recall == 1.0
    assert ev.at().map == 1.0
    assert ev.suggested_thresholds().overall == 0.4


def test_boxes_as_box_objects_or_tuples():
    a = DetectionEvaluation.from_predictions(GT, PRED, ["cat", "dog"])
    gt = [[(t, Box(*b)) for t, b in img] for img in GT]
    pr = [[(t, p, Box(*b)) for t, p, b in img] for img in PRED]
    b = DetectionEvaluation.from_predictions(gt, pr, ["cat", "dog"])
    assert a.to_dict() == b.to_dict()
    # numpy inputs too
    pr = [[(np.int64(t), np.float32(p), np.array(b)) for t, p, b in img] for img in PRED]
    c = DetectionEvaluation.from_predictions(GT, pr, ["cat", "dog"])
    assert c.at().n_correct == a.at().n_correct


def test_to_dict_is_plain_json():
    d = hand().to_dict(0.5, 0.5)
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back["kind"] == "detection" and back["overlap"] == 0.5
    assert back["precision"] == 0.5
    assert {r["tag"] for r in back["per_tag"]} == {"cat", "dog"}
    assert isinstance(back["coco_map"], float)


@pytest.mark.parametrize(
    ("gt", "pred", "match"),
    [
        ([[(0, A)]], [], "one list"),
        ([[(0, A)]], [[(2, 0.5, A)]], r"predictions\[0\]\[0\]: tag index 2"),
        ([[(0, A)]], [[(0, 1.5, A)]], "probability 1.5"),
        ([[(0, (0.8, 0.0, 0.5, 0.5))]], [[]], r"ground_truth\[0\]\[0\]: box .* outside the image"),
        ([[(0, (0.1, 0.1, 0.0, 0.5))]], [[]], "zero or negative size"),
        ([[(0, (0.1, 0.1, 0.5))]], [[]], "3 numbers"),
        ([[(0,)]], [[]], r"is not \(tag_index, box\)"),
        ([[(0, A)]], [[(0, A)]], r"is not \(tag_index, probability, box\)"),
        ([[(True, A)]], [[]], "tag index True"),
        ([], [], "no validation images"),
    ],
)
def test_bad_input_says_how_to_fix_it(gt, pred, match):
    with pytest.raises(ValueError, match=match):
        DetectionEvaluation.from_predictions(gt, pred, ["cat", "dog"])


def test_bad_thresholds_and_positions():
    ev = hand()
    with pytest.raises(ValueError, match="overlap=1.5"):
        ev.at(0.5, 1.5)
    with pytest.raises(ValueError, match="threshold=-1"):
        ev.at(-1)
    with pytest.raises(ValueError, match="image position 5"):
        ev.per_image(images=[5])


def make_benchmark_set(n_images=500, n_tags=10, seed=0):
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for _ in range(n_images):
        gt, pr = [], []
        for _ in range(rng.integers(1, 6)):
            w, h = rng.uniform(0.05, 0.4, 2)
            left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            tag = int(rng.integers(0, n_tags))
            gt.append((tag, (left, top, w, h)))
            for _ in range(rng.integers(0, 3)):
                dl, dt = rng.normal(0, 0.03, 2)
                box = (
                    float(np.clip(left + dl, 0, 1 - w)),
                    float(np.clip(top + dt, 0, 1 - h)),
                    w,
                    h,
                )
                pr.append((tag, float(rng.uniform(0.3, 1)), box))
        for _ in range(7):
            w, h = rng.uniform(0.05, 0.4, 2)
            box = (rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h)
            pr.append((int(rng.integers(0, n_tags)), float(rng.uniform(0, 0.7)), box))
        gts.append(gt)
        preds.append(pr)
    return gts, preds, [f"tag{j}" for j in range(n_tags)]


def test_threshold_and_overlap_moves_are_fast():
    """Moving the threshold reuses the matching, moving the overlap reuses the parsed
    predictions: both cost a fraction of building the evaluation (relative timings, so
    that a slow or busy machine does not fail it; absolute figures are benchmarks)."""
    gts, preds, names = make_benchmark_set()
    start = time.perf_counter()
    ev = DetectionEvaluation.from_predictions(gts, preds, names)
    ev.at()  # pays for the COCO mAP once
    build = time.perf_counter() - start
    start = time.perf_counter()
    for t in np.linspace(0, 1, 20):
        ev.per_tag(t, 0.5)
    per_threshold = (time.perf_counter() - start) / 20
    start = time.perf_counter()
    for o in np.linspace(0.05, 0.95, 19):  # new overlap values: matching runs again
        ev.per_tag(0.5, o)
    per_overlap = (time.perf_counter() - start) / 19
    assert per_threshold < build / 3
    assert per_overlap < build
    assert ev.at(0.5, 0.05).to_dict() == ev.at(0.5, 0.05).to_dict()  # cached
