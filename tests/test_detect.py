"""Object detection end to end: store rules on boxes, the detector, training through
``Project.train``, evaluation numbers, prediction shape and limits, ONNX/TorchScript export.

Fast: small images (128 px input), seconds of training; the test that checks real
learning trains a small set for about twenty seconds.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import cvbench
from cvbench.errors import TagError, TrainingError
from cvbench.samples import make_sample
from cvbench.train import get_task
from cvbench.train._detect_model import MAX_DETECTIONS, Detector, DetectorSpec, postprocess

DOMAIN = "General (compact)"
SIZE = 128  # a multiple of 32; small so that the tests run in seconds


def _scene(seed: int, w: int = 160, h: int = 120) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The small 'shapes' sample (30 scenes, 3 tags) plus two box-less images: one put in
    the train split (a negative), one left alone (not yet annotated)."""
    root = tmp_path_factory.mktemp("det")
    project = make_sample("shapes", root / "shapes", small=True)
    res = project.add_images([_scene(1), _scene(2)], names=["negative.png", "unlabeled.png"])
    negative, unlabeled = (r.image_id for r in res)
    project.set_split([negative], "train")
    yield project, negative, unlabeled
    project.close()


@pytest.fixture(scope="module")
def iteration(shapes):
    project, _, _ = shapes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return project.train("quick", size=SIZE, settings={"head_seconds": 4.0},
                             progress_bar=False)


# -- the store's rules on boxes, end to end --------------------------------------------------
def test_boxes_beyond_the_image_are_clipped_and_reported(tmp_path):
    p = cvbench.create_project(tmp_path / "p", kind="detection")
    (res,) = p.add_images([_scene(0)], regions=[[
        ("cat", -0.1, 0.2, 0.5, 0.3),   # reaches past the left border: clipped
        ("cat", 0.5, 0.5, 0.0, 0.2),    # zero width: dropped
        ("cat", 0.5, 0.5, -0.1, 0.2),   # negative width: dropped
        ("cat", 1.2, 0.1, 0.1, 0.1),    # wholly outside: dropped
    ]])
    assert res.status == "OK"
    assert "clipped" in res.message and "dropped" in res.message
    (region,) = p.image(res.image_id).regions
    assert region.left == 0.0 and region.width == pytest.approx(0.4)
    notes = p.set_regions(res.image_id, [("cat", 0.8, 0.8, 0.5, 0.5)])
    assert any("clipped" in n for n in notes)
    (region,) = p.image(res.image_id).regions
    assert region.left + region.width <= 1.0 and region.top + region.height <= 1.0


def test_too_many_boxes_on_one_image_are_refused(tmp_path):
    p = cvbench.create_project(tmp_path / "p", kind="detection")
    limit = p.limits.max_regions_per_image
    boxes = [("dot", (k % 20) / 20, (k // 20) / 20, 0.04, 0.04) for k in range(limit + 1)]
    (res,) = p.add_images([_scene(0)], regions=[boxes])
    assert res.status == "ErrorRegionLimitExceed"
    (ok,) = p.add_images([_scene(1)], regions=[boxes[:limit]])
    assert ok.status == "OK"
    with pytest.raises(TagError, match="limit"):
        p.set_regions(ok.image_id, boxes)


def test_a_detection_project_has_no_negative_tag(tmp_path):
    p = cvbench.create_project(tmp_path / "p", kind="detection")
    with pytest.raises(TagError, match="Negative"):
        p.create_tag("nothing", type="Negative")


# -- the network and its post-processing ---------------------------------------------------
@pytest.fixture(scope="module")
def detector():
    torch.manual_seed(0)
    return Detector(DetectorSpec(DOMAIN, 3, image_size=SIZE)).eval()


def test_a_busy_machine_still_gets_the_steps_quick_training_needs(tmp_path):
    """Quick training's time is a target: at least ``min_steps`` steps are taken while the
    hard limit allows, and the hard limit ends the run whatever the steps."""
    from cvbench.train import _detect_fit as fit

    det = Detector(DetectorSpec(DOMAIN, 2, image_size=SIZE))
    items = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        _scene(i).save(path)
        items.append((path, np.array([[10.0, 10.0, 60.0, 50.0]]), np.array([i % 2])))
    samples = fit.load_samples(items, SIZE)
    views = [samples]
    acts = fit.cache_fronts(fit.front_runner(det, fit.FRONT_BLOCKS), views, DOMAIN)

    class Quiet:
        def update(self, *_a, **_k):
            pass

    def steps(**kw):
        report = fit.FitReport()
        fit.train_cached(det, views, acts, progress=Quiet(), report=report, key="head", **kw)
        return report.steps["head"], report.seconds["head"]

    assert steps(seconds=1e-3)[0] <= 1  # time alone: over before it starts
    assert steps(seconds=1e-3, min_steps=5, max_seconds=600.0)[0] == 5
    taken, seconds = steps(seconds=1e-3, min_steps=10**6, max_seconds=1.0)
    # the hard limit ended it: at it, or where one more step would have passed it
    assert 0 < taken < 10**6 and seconds + 2 * seconds / taken >= 1.0


def test_negative_images_train_with_a_finite_loss(detector):
    x = torch.zeros(2, 3, SIZE, SIZE)
    targets = [
        {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)},
        {"boxes": torch.tensor([[10.0, 10.0, 60.0, 50.0]]), "labels": torch.tensor([2])},
    ]
    detector.train()
    try:
        loss = detector.loss(detector(x[:1]), targets[:1])  # only a negative
        assert torch.isfinite(loss) and loss > 0
        loss = detector.loss(detector(x), targets)
        loss.backward()
        assert torch.isfinite(loss)
    finally:
        detector.zero_grad()
        detector.eval()


def test_backbone_batchnorm_stays_frozen_in_training(detector):
    detector.train()
    try:
        bns = [m for m in detector.body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert bns and not any(m.training for m in bns)
        assert detector.det.head.training
    finally:
        detector.eval()


def test_postprocess_keeps_at_most_200_boxes_sorted_per_tag_nms():
    torch.manual_seed(0)
    n_anchors, n_tags = 3000, 3
    xy = torch.rand(1, n_anchors, 2) * 0.9
    boxes = torch.cat([xy, xy + 0.02 + torch.rand(1, n_anchors, 2) * 0.08], dim=-1)
    scores = torch.rand(1, n_anchors, n_tags)
    ((b, s, lab),) = postprocess(boxes, scores, score_threshold=0.05, iou_threshold=0.5,
                                 pre_nms_top_k=5000)
    assert len(b) == MAX_DETECTIONS
    assert torch.all(s[:-1] >= s[1:]) and torch.all(s > 0.05)
    from torchvision.ops import box_iou

    for t in range(n_tags):  # no two kept boxes of one tag overlap above the NMS threshold
        bt = b[lab == t]
        iou = box_iou(bt, bt).fill_diagonal_(0)
        assert iou.max() <= 0.5 + 1e-6
    # identical boxes of two tags do not suppress each other
    same = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5]]])
    sc = torch.tensor([[[0.9, 0.0], [0.0, 0.8]]])
    ((b, s, lab),) = postprocess(same, sc)
    assert lab.tolist() == [0, 1]
    # nothing above the threshold: no box
    ((b, s, lab),) = postprocess(same, sc * 0.01)
    assert b.shape == (0, 4)


def test_degenerate_boxes_get_no_probability(detector):
    with torch.inference_mode():
        out = detector(torch.zeros(1, 3, SIZE, SIZE))
        out["bbox_regression"] = torch.zeros_like(out["bbox_regression"])  # zero-size boxes
        if detector.spec.arch == "fcos":
            boxes, scores = detector.decode(out)
            assert float(scores.max()) == 0.0


# -- training through Project.train -------------------------------------------------------
def test_training_set_negatives_and_unlabeled(shapes):
    project, negative, unlabeled = shapes
    task = get_task("detection")
    data = task.training_set(project.store, kind="detection", tags=None, domain=DOMAIN, size=SIZE)
    ids = {i.id: i for i in data.images}
    assert negative in ids and ids[negative].truth == () and ids[negative].split == "train"
    assert unlabeled not in ids
    assert [t.name for t in data.tags] == ["circle", "square", "triangle"]
    with pytest.raises(TrainingError, match="multiple of 32"):
        task.training_set(project.store, kind="detection", tags=None, domain=DOMAIN, size=100)
    with pytest.raises(TrainingError, match="does not serve"):
        task.training_set(project.store, kind="detection", tags=None, domain="General [A2]", size=SIZE)


def test_few_boxes_warn_naming_the_tag(tmp_path):
    project = make_sample("quokka", tmp_path / "q", small=True)  # 15 images, one box each
    project.delete_images([i.id for i in project.images()[:4]])  # 11 boxes: below 15
    with pytest.warns(UserWarning, match="'quokka' has"):
        it = project.train("quick", size=SIZE, settings={"head_seconds": 1.0},
                           progress_bar=False)
    assert it.settings["notes"]["warnings"]


def test_quick_training_makes_an_iteration(iteration, shapes):
    project, negative, _ = shapes
    assert iteration.kind == "detection" and iteration.mode == "quick"
    notes = iteration.settings["notes"]
    assert notes["images"]["train_negatives"] == 1
    assert notes["fit"]["steps"]["head"] > 0
    assert set(iteration.metrics) >= {"map", "coco_map", "precision", "recall"}
    perf = iteration.performance(threshold=0.5, overlap=0.5)
    assert perf.overlap == 0.5 and 0.0 <= perf.map <= 1.0
    assert list(perf.per_tag["tag"]) == ["circle", "square", "triangle"]
    assert 0.0 <= iteration.evaluation().coco_map <= 1.0
    strict = iteration.performance(threshold=0.3, overlap=0.75)
    assert 0.0 <= strict.map <= 1.0 and strict.overlap == 0.75
    assert set(strict.pr_curves()) == {"circle", "square", "triangle"}
    assert "how_wrong" in strict.mistakes(top=3).columns
    rows = iteration.validation_predictions()
    assert rows and all(len(r["predictions"]) <= MAX_DETECTIONS for r in rows)
    # a quick iteration stores no frozen backbone weights (they are the domain's): only
    # the blocks it trained on the cached activations of the frozen ones
    from safetensors.torch import load_file

    from cvbench.train._detect_model import frozen_key

    config = iteration.config()
    assert config["backbone"] == "partial" and config["frozen_blocks"] == 3
    stored = load_file(str(iteration.weights_path))
    assert not any(frozen_key(k, 3) for k in stored)
    assert any(k.startswith("det.backbone.body.blocks.3.") for k in stored)
    assert notes["frozen_backbone"]["engine"] in ("onnxruntime", "torch")


@pytest.mark.parametrize("how", ["views", "end-to-end"])
def test_advanced_training_keeps_the_better_of_quick_and_fine_tuned(shapes, how):
    project, _, _ = shapes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = project.train("advanced", budget_minutes=0.15, size=SIZE, progress_bar=False,
                           settings={"advanced": how, "views": 2})
    notes = it.settings["notes"]
    assert it.mode == "advanced" and notes["fit"]["steps"]["fine-tune"] > 0
    val = notes["fit"]["validation"]
    assert notes["chosen"] in ("quick", "advanced")
    best = max(val["quick_map"], val["fine_tuned_map"])
    assert it.metrics["map"] == pytest.approx(best)
    tuned = "tuned" if how == "end-to-end" else "partial"
    assert it.config()["backbone"] == (tuned if notes["chosen"] == "advanced" else "partial")
    if how == "views":
        assert notes["fit"]["seconds"]["views"] > 0
    assert len(it.predict(_scene(5)).to_dict()["predictions"]) <= MAX_DETECTIONS


def test_progress_events_and_cancel(shapes):
    import threading

    project, _, _ = shapes
    events = []
    cancel = threading.Event()

    def on_progress(e):
        events.append(e)
        if e["stage"] == "head":
            cancel.set()

    before = len(project.iterations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(cvbench.CancelledError):
            project.train("quick", size=SIZE, settings={"head_seconds": 30.0},
                          on_progress=on_progress, cancel=cancel, progress_bar=False)
    assert len(project.iterations) == before
    stages = [e["stage"] for e in events]
    assert "features" in stages and "head" in stages
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions)


def test_predictions_have_custom_vision_shape(iteration, shapes):
    project, _, unlabeled = shapes
    result = iteration.predict(project.image(unlabeled).path)
    d = result.to_dict()
    assert len(d["predictions"]) <= MAX_DETECTIONS
    probs = [p["probability"] for p in d["predictions"]]
    assert probs == sorted(probs, reverse=True)
    for p in d["predictions"]:
        assert set(p) >= {"tagId", "tagName", "probability", "boundingBox"}
        b = p["boundingBox"]
        assert 0 <= b["left"] and 0 <= b["top"] and b["width"] > 0 and b["height"] > 0
        assert b["left"] + b["width"] <= 1 + 1e-6 and b["top"] + b["height"] <= 1 + 1e-6
    json.dumps(d)


# -- evaluation numbers make sense --------------------------------------------------------
def test_perfect_predictions_give_map_1(iteration):
    task = get_task("detection")
    config = iteration.config()
    rows = []
    for r in iteration.validation_predictions():
        preds = [{"tagId": b["tagId"], "tagName": "", "probability": 0.9,
                  "boundingBox": {k: b[k] for k in ("left", "top", "width", "height")}}
                 for b in r["truth"]]
        rows.append((r["image_id"], r["truth"], preds))
    ev = task.evaluate(config, config["tags"], rows)
    m = ev.at(0.5, 0.5)
    assert m.map == pytest.approx(1.0) and ev.coco_map == pytest.approx(1.0)
    assert m.precision == 1.0 and m.recall == 1.0
    # shifting every box by half its width: no match at IoU 0.5
    shifted = [(i, t, [{**p, "boundingBox": {**p["boundingBox"], "left": min(
        1 - p["boundingBox"]["width"], p["boundingBox"]["left"] + p["boundingBox"]["width"] / 2
        + 0.01)}} for p in preds]) for i, t, preds in rows]
    assert task.evaluate(config, config["tags"], shifted).at(0.5, 0.9).map < 0.5


# -- export -------------------------------------------------------------------------------
def test_onnx_export_matches_in_app_predictions(iteration, shapes, tmp_path):
    from cvbench.export import onnx_runtime
    from cvbench.export.detect import check_parity

    project, _, unlabeled = shapes
    exported = iteration.export("onnx", tmp_path)  # checked against the app on validation
    assert exported.parity.ok and exported.parity.tolerance == 1e-3
    sidecar = json.loads(exported.sidecar.read_text())
    assert sidecar["kind"] == "detection" and sidecar["output"]["postprocess"]["in_graph"]
    model = iteration.model()
    images = [Image.open(i.path) for i in project.images(split="validation")[:3]]
    images.append(_scene(7))  # noise: many low boxes, ties
    report = check_parity(model, exported.path, images, atol=1e-3)
    assert report["ok"], report
    # the shipped runtime (no torch) gives the app's predictions
    path = project.image(unlabeled).path
    theirs = onnx_runtime.predict(exported.path, path)
    mine = iteration.predict(path).to_dict()["predictions"]
    assert len(theirs) == len(mine) <= MAX_DETECTIONS
    # pair each box with one of the same tag and probability: a weak model on noise gives
    # many boxes whose probabilities tie, and tied boxes may come in either order; at the
    # cut-off of MAX_DETECTIONS a tie may also keep one box here and its twin there
    floor = min((a["probability"] for a in mine), default=0.0) + 1e-3
    free = list(theirs)
    for a in mine:
        near = [b for b in free if b["tagId"] == a["tagId"]
                and abs(a["probability"] - b["probability"]) < 1e-3]
        twin = min(near, key=lambda b: _box_gap(a, b), default=None)
        if twin is None or _box_gap(a, twin) >= 1e-3:
            assert a["probability"] < floor, (a, near[:3])  # only a tie at the cut-off
            continue
        free.remove(twin)
    assert all(b["probability"] < floor for b in free)


def _box_gap(a: dict, b: dict) -> float:
    return max(abs(a["boundingBox"][k] - b["boundingBox"][k])
               for k in ("left", "top", "width", "height"))


def test_torchscript_export_matches(iteration, tmp_path):
    from cvbench import domains

    exported = iteration.export("torchscript", tmp_path)
    assert exported.parity.ok
    model = iteration.model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(exported.path))
    x = domains.preprocess(DOMAIN, [_scene(3)], model.size)
    with torch.inference_mode():
        b, s, c = loaded(x)
    ((b2, s2, c2),) = model.detections(x)
    assert b.shape[0] == 1 and np.allclose(b[0].numpy(), b2, atol=1e-4)
    assert np.array_equal(c[0].numpy(), c2)


# -- learning ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """The full 'shapes' sample (120 scenes) at 192 px, quick-trained for 20 s."""
    project = make_sample("shapes", tmp_path_factory.mktemp("learn") / "shapes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = project.train("quick", size=192, settings={"head_seconds": 20.0},
                           progress_bar=False)
    yield project, it
    project.close()


def test_a_little_training_beats_chance(learned):
    _, it = learned
    perf = it.performance(0.5, 0.5)
    # chance: boxes at random places hardly ever overlap a shape at IoU 0.5
    assert perf.map > 0.3, it.metrics
    assert not math.isnan(it.evaluation().coco_map)


def test_smart_labeler_suggests_boxes_for_untagged_images(learned, tmp_path):
    project, it = learned
    # a new scene, not yet annotated: the trained detector must find its shapes
    test = make_sample("shapes", tmp_path / "more", seed=5, small=True)
    scene = test.images(order="oldest")[0]
    truth = {r.tag_name for r in scene.regions}
    (res,) = project.add_images([scene.path], names=["new.jpg"])
    try:
        suggestions = project.suggest_tags(it, threshold=0.3)
        by_id = {s.image_id: s for s in suggestions}
        assert res.image_id in by_id, "no box suggested for an unlabeled scene"
        s = by_id[res.image_id]
        assert 0 < len(s.tag_ids) and len(s.predictions) <= MAX_DETECTIONS
        assert all(p.bounding_box is not None for p in s.predictions)
        names = set(s.tags)
        assert names & truth, (names, truth)
    finally:
        project.delete_images([res.image_id])
        test.close()


def test_box_suggestions_for_unlabeled_images(learned, tmp_path):
    from cvbench.train.detect import box_suggester

    project, it = learned
    suggest = box_suggester(it, threshold=0.3)
    test = make_sample("shapes", tmp_path / "more", seed=6, small=True)
    scene = test.images(order="oldest")[0]
    (res,) = project.add_images([scene.path], names=["unlabeled.jpg"])
    try:
        found = suggest(project, project.image(res.image_id))
        assert found, "the trained detector suggested no box on a new scene"
        tags = {t.id: t.name for t in project.tags}
        for s in found:
            assert s["tag"] in tags and 0.3 <= s["probability"] <= 1
            assert set(s) == {"tag", "left", "top", "width", "height", "probability"}
        assert [s["probability"] for s in found] == sorted(
            (s["probability"] for s in found), reverse=True)
        assert {tags[s["tag"]] for s in found} & {r.tag_name for r in scene.regions}
        labeled = next(i for i in project.images() if i.regions)
        assert suggest(project, labeled) == []  # the person's boxes win
    finally:
        project.delete_images([res.image_id])
        test.close()


# -- bad input: training completes or says what to add -----------------------------------------
def _smooth(seed: int, w: int, h: int) -> Image.Image:
    """A smooth image of any size (small as a file, unlike noise)."""
    return _scene(seed, 16, 8).resize((w, h), Image.Resampling.BILINEAR)


def _bad_project(tmp_path, regions_per_image, sizes=None):
    p = cvbench.create_project(tmp_path / "bad", kind="detection")
    images = [_smooth(k, *(sizes[k] if sizes else (160, 120)))
              for k in range(len(regions_per_image))]
    res = p.add_images(images, regions=regions_per_image)
    return p, [r.image_id for r in res]


def test_bad_input_trains_or_says_what_to_add(tmp_path):
    box = ("a", 0.2, 0.2, 0.3, 0.3)
    # a tag with one box, 2 px boxes, a 10,000 x 300 image, box-less images in a split
    regions = [[box, ("tiny", 0.5, 0.5, 2 / 160, 2 / 120)] for _ in range(8)]
    regions[0].append(("one", 0.6, 0.1, 0.2, 0.2))
    regions += [[box], [], []]
    sizes = [(160, 120)] * 8 + [(10_000, 300), (160, 120), (160, 120)]
    p, ids = _bad_project(tmp_path, regions, sizes)
    p.set_split(ids[:7] + ids[8:10], "train")
    p.set_split([ids[7], ids[10]], "validation")
    with pytest.warns(UserWarning, match="'one' has 1 box;"):
        it = p.train("quick", size=SIZE, settings={"head_seconds": 2.0}, progress_bar=False)
    assert it.settings["notes"]["images"]["train_negatives"] == 1
    assert math.isfinite(it.settings["notes"]["fit"]["loss"]["head"])
    assert len(it.predict(_smooth(9, 10_000, 300)).to_dict()["predictions"]) <= MAX_DETECTIONS


def test_a_tag_whose_only_box_is_in_validation_is_named(tmp_path):
    box = ("a", 0.2, 0.2, 0.3, 0.3)
    p, ids = _bad_project(tmp_path, [[box], [box], [box, ("one", 0.6, 0.1, 0.2, 0.2)]])
    p.set_split(ids[:2], "train")
    p.set_split(ids[2:], "validation")
    with pytest.raises(TrainingError, match=r"\['one'\] have no box in the training split"):
        p.train("quick", size=SIZE, settings={"head_seconds": 1.0}, progress_bar=False)


def test_only_box_less_images_say_what_to_add(tmp_path):
    p, ids = _bad_project(tmp_path, [[], []])
    p.set_split(ids, "train")
    with pytest.raises(TrainingError, match="at least one tag with boxes"):
        p.train("quick", size=SIZE, progress_bar=False)
