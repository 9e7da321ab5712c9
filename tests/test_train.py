"""Training classifiers: quick and advanced, Negative, the feature cache, progress, cancel,
budgets and bad input. Small images (64 px inputs) and the small samples keep it fast."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

import cvbench
from cvbench.errors import CancelledError, TrainingError
from cvbench.samples import get_sample, make_sample
from cvbench.train import features as _features
from cvbench.train.classify import fit_linear_head

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _noise_png(seed: int, side: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The small digits sample (10 tags x 8 images), trained once (quick, 64 px)."""
    project = make_sample("digits", tmp_path_factory.mktemp("train") / "digits", small=True)
    iteration = project.train("quick", size=SIZE, progress_bar=False)
    return project, iteration


@pytest.fixture
def fresh_digits(tmp_path):
    return make_sample("digits", tmp_path / "digits", small=True)


def _iteration_dirs(project):
    root = project.path / "iterations"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# --------------------------------------------------------------------------- quick


def test_quick_multiclass(digits):
    project, it = digits
    assert it.mode == "quick" and it.kind == "multiclass" and it.status == "Completed"
    assert it.name == "Iteration 1"
    assert [t.name for t in it.tags] == [str(d) for d in range(10)]  # output order
    assert it.settings["size"] == SIZE and it.settings["domain"] == project.domain
    notes = it.settings["notes"]
    assert notes["chosen"] == "quick"
    assert notes["features"]["computed"] == 80 and notes["features"]["reused"] == 0
    # the validation predictions of every validation image are stored
    split = it.split()
    assert sorted(split.values()).count("validation") == 20 and len(split) == 80
    val = it.validation_predictions()
    assert len(val) == 20 and all(len(v["predictions"]) == 10 for v in val)
    assert it.metrics["accuracy"] >= 0.5  # 64 px digits, 6 training images per tag
    perf = it.performance()
    assert 0 <= perf.precision <= 1 and 0 <= perf.recall <= 1
    assert perf.average_precision == pytest.approx(perf.map)
    assert list(perf.per_tag["tag"]) == [str(d) for d in range(10)]
    # stored files: safetensors + JSON config, no pickle
    files = sorted(p.name for p in it.weights_path.parent.iterdir())
    assert files == ["config.json", "model.safetensors"]


def test_quick_head_is_chosen_by_validation_and_says_why(digits):
    _, it = digits
    head = it.settings["notes"]["head"]
    names = [c["name"] for c in head["candidates"]]
    assert {"final", "final+stages", "pixels", "final (logistic)", "pixels (logistic)"} <= set(
        names)
    assert head["chosen"] in names and head["why"].startswith(head["chosen"])
    best = {c["name"]: c["validation"]["accuracy"] for c in head["candidates"]}
    # never below any candidate on validation, the raw-pixel logistic regression included
    assert it.metrics["accuracy"] == pytest.approx(max(best.values()), abs=1e-4)
    assert it.metrics["accuracy"] >= best["pixels (logistic)"]
    for c in head["candidates"]:
        if c["head"] == "ridge":  # its penalty was chosen by leave-one-out on training
            assert 0 <= c["leave_one_out"] <= 1 and c["alpha"] > 0
    assert it.config()["head"]["features"] == "taps"


def test_quick_probabilities_are_calibrated_on_validation(digits):
    project, it = digits
    cal = it.settings["notes"]["calibration"]
    assert cal["images"] == 20 and cal["temperature"] > 0
    assert set(cal) >= {"applied", "why", "ece_before", "ece_after_cross_fitted", "nll_after"}
    if cal["applied"]:
        assert cal["nll_after"] < cal["nll_before"]
    # the stored validation predictions are the (scaled) stored model's
    row = it.validation_predictions()[0]
    fresh = {p.tag_id: p.probability for p in it.predict(project.image(row["image_id"]).path)}
    for p in row["predictions"]:
        assert fresh[p["tagId"]] == pytest.approx(p["probability"], abs=1e-4)
    off = project.train("quick", size=SIZE, progress_bar=False, settings={"calibrate": False})
    try:
        assert "calibration" not in off.settings["notes"]
        assert off.metrics["accuracy"] == pytest.approx(it.metrics["accuracy"])  # same order
    finally:
        off.delete()


@pytest.mark.parametrize("informative", ["pixels", "stages"])
def test_select_head_finds_the_informative_block(informative):
    from cvbench.train._classify_model import validation_score
    from cvbench.train._classify_select import select_head

    rng = np.random.default_rng(0)
    layout = {"final": (0, 40), "stages": (40, 60), "pixels": (60, 100)}
    n, nv = 120, 60
    y, yv = rng.integers(0, 3, n), rng.integers(0, 3, nv)
    x, xv = rng.normal(size=(n, 100)), rng.normal(size=(nv, 100))
    lo, hi = layout[informative]
    centres = rng.normal(size=(3, hi - lo)) * 1.5
    x[:, lo:hi] += centres[y]
    xv[:, lo:hi] += centres[yv]
    sel = select_head(x, y, xv, yv, layout, multilabel=False, n_out=3,
                      score=validation_score, fit_logistic=fit_linear_head)
    assert informative in sel.name
    assert (sel.val_probs.argmax(1) == yv).mean() > 0.8
    # the weights act on the raw vector: they give the reported probabilities
    logits = xv @ sel.weight.T + sel.bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(p / p.sum(1, keepdims=True), sel.val_probs, atol=1e-4)
    w, b = sel.final_head
    assert w.shape == (3, 40) and b.shape == (3,)


def test_select_head_multilabel():
    from cvbench.train._classify_model import validation_score
    from cvbench.train._classify_select import select_head

    rng = np.random.default_rng(1)
    layout = {"final": (0, 30), "pixels": (30, 50)}
    x, xv = rng.normal(size=(80, 50)), rng.normal(size=(40, 50))
    y = (x[:, :2] > 0).astype(np.float32)
    yv = (xv[:, :2] > 0).astype(np.float32)
    sel = select_head(x, y, xv, yv, layout, multilabel=True, n_out=2,
                      score=validation_score, fit_logistic=fit_linear_head)
    assert sel.val_probs.shape == (40, 2)
    assert validation_score(yv, sel.val_probs, True)[0] > 0.9
    assert "final" in sel.name


def test_stored_predictions_match_the_model(digits):
    project, it = digits
    rows = it.validation_predictions()[:4]
    images = {img.id: img for img in project.images(ids=[r["image_id"] for r in rows])}
    for row in rows:
        fresh = it.predict(images[row["image_id"]].path)
        stored = {p["tagId"]: p["probability"] for p in row["predictions"]}
        for p in fresh:
            assert p.probability == pytest.approx(stored[p.tag_id], abs=1e-5)


def test_linear_head_matches_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    w, b = fit_linear_head(x, y, multilabel=False, C=1.0, max_iter=500)
    ours = (x @ w.numpy().T + b.numpy()).argmax(1)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    ref = LogisticRegression(C=1.0, max_iter=2000).fit((x - mu) / sd, y)
    theirs = ref.predict((x - mu) / sd)
    assert (ours == theirs).mean() >= 0.97


def test_feature_cache_computes_only_new_images(fresh_digits, monkeypatch):
    project = fresh_digits
    seen = {"images": 0, "calls": 0}
    real = _features.forward

    def counting(model, batch):
        seen["images"] += len(batch)
        seen["calls"] += 1
        return real(model, batch)

    monkeypatch.setattr(_features, "forward", counting)
    first = project.train("quick", size=SIZE, progress_bar=False)
    assert seen["images"] == 80
    assert first.settings["notes"]["features"] == pytest.approx(
        {"reused": 0, "computed": 80, "seconds": first.settings["notes"]["features"]["seconds"]})
    # ten new images, tagged with existing tags
    added = []
    for item in get_sample("digits").items(small=True, seed=1):
        if len(added) == 10:
            break
        (res,) = project.add_images([item.data], tags=list(item.tags))
        if res.status == "OK":
            added.append(res.image_id)
    assert len(added) == 10
    seen["images"] = 0
    second = project.train("quick", size=SIZE, progress_bar=False)
    assert seen["images"] == 10
    assert second.settings["notes"]["features"]["computed"] == 10
    assert second.settings["notes"]["features"]["reused"] == 80
    # another size is another cache key
    assert project.store.features.count() == 90


def test_progress_events_and_bar(digits, capsys):
    project, _ = digits
    events = []
    it = project.train("quick", size=SIZE, on_progress=events.append, progress_bar=True)
    assert it.name != "Iteration 1"
    assert events[0]["stage"] == "prepare" and events[-1]["stage"] == "done"
    assert events[-1]["fraction"] == 1.0
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions)
    assert {"stage", "fraction", "loss", "eta_seconds", "elapsed_seconds", "message"} <= set(
        events[0])
    assert {e["stage"] for e in events} >= {"prepare", "features", "head", "save", "done"}


# --------------------------------------------------------------------------- Negative


def test_negative_tag_multiclass(tmp_path):
    project = make_sample("digits", tmp_path / "neg", small=True)
    project.create_tag("nothing", type="Negative")
    res = project.add_images([_noise_png(i) for i in range(8)], tags=["nothing"])
    assert all(r.ok for r in res)
    it = project.train("quick", size=SIZE, progress_bar=False)
    names = [t.name for t in it.tags]
    assert names[-1] == "nothing" and len(names) == 11  # Negative is a class (last)
    assert it.tags[-1].type == "Negative"
    pred = it.predict(_noise_png(999))
    assert len(pred) == 11 and "nothing" in [p.tag_name for p in pred]
    assert sum(p.probability for p in pred) == pytest.approx(1.0, abs=1e-5)
    per_tag = it.performance().per_tag.set_index("tag")
    assert not per_tag.loc["nothing", "in_map"] and per_tag.loc["3", "in_map"]


def test_multilabel_and_negative(tmp_path):
    project = make_sample("photos", tmp_path / "photos", small=True)
    assert project.kind == "multilabel"
    project.create_tag("empty", type="Negative")
    project.add_images([_noise_png(i) for i in range(6)], tags=["empty"])
    it = project.train("quick", size=SIZE, progress_bar=False)
    assert "empty" not in it.tag_names  # no output for Negative in multilabel
    regular = sorted((t.name for t in project.tags if t.type == "Regular"), key=str.lower)
    assert it.tag_names == regular
    negative_ids = {img.id for img in project.images(tag="empty")}
    rows = project.store.sql.rows(
        "SELECT image_id, truth FROM iteration_images WHERE iteration_id = ?", (it.id,))
    truths = {r[0]: r[1] for r in rows}
    assert negative_ids <= set(truths) and all(truths[i] == "[]" for i in negative_ids)
    pred = it.predict(_noise_png(1234))
    assert len(pred) == len(regular)
    probs = [p.probability for p in pred]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    assert sum(probs) != pytest.approx(1.0)  # sigmoids, not a softmax
    perf = it.performance(threshold=0.5)
    assert perf.evaluation.multilabel and 0 <= perf.average_precision <= 1
    assert it.metrics["map"] == pytest.approx(perf.average_precision, abs=1e-6)


# --------------------------------------------------------------------------- bad input


def test_needs_two_tags(tmp_path):
    project = cvbench.create_project(tmp_path / "one")
    project.add_images([_noise_png(i) for i in range(6)], tags=["only"])
    with pytest.raises(TrainingError, match="at least 2 tags"):
        project.train("quick", size=SIZE, progress_bar=False)
    assert project.iterations == []


def test_needs_five_images_per_tag(tmp_path):
    project = cvbench.create_project(tmp_path / "few")
    project.add_images([_noise_png(i) for i in range(6)], tags=["plenty"])
    project.add_images([_noise_png(100 + i) for i in range(3)], tags=["scarce"])
    with pytest.raises(TrainingError, match=r"at least 5 images.*'scarce' has 3"):
        project.train("quick", size=SIZE, progress_bar=False)


def test_empty_validation_split(fresh_digits):
    project = fresh_digits
    project.set_split([img.id for img in project.images()], "train")
    with pytest.raises(TrainingError, match="validation split is empty"):
        project.train("quick", size=SIZE, progress_bar=False)


def test_bad_arguments(digits):
    project, _ = digits
    with pytest.raises(ValueError, match="mode="):
        project.train("slow", progress_bar=False)
    with pytest.raises(ValueError, match="budget_minutes applies to mode='advanced'"):
        project.train("quick", budget_minutes=1, progress_bar=False)
    with pytest.raises(ValueError, match="budget_minutes"):
        project.train("advanced", budget_minutes=-1, progress_bar=False)
    with pytest.raises(ValueError, match="unknown training setting"):
        project.train("quick", settings={"epochs": 3}, progress_bar=False)
    with pytest.raises(ValueError, match="domain="):
        project.train("quick", domain="Nope", progress_bar=False)
    with pytest.raises(TypeError, match="cancel="):
        project.train("quick", cancel=42, progress_bar=False)


def test_unknown_kind_is_refused():
    from cvbench.train import get_task

    with pytest.raises(TrainingError, match="the kinds that train are"):
        get_task("segmentation")


def test_tag_selection(digits):
    project, _ = digits
    it = project.train("quick", tags=["1", "7", "3"], size=SIZE, progress_bar=False)
    assert it.tag_names == ["1", "3", "7"]
    assert len(it.split()) == 24
    with pytest.raises(TrainingError, match="at least 2 tags"):
        project.train("quick", tags=["1"], size=SIZE, progress_bar=False)


# --------------------------------------------------------------------------- cancel, budget


def test_cancel_leaves_no_iteration(fresh_digits):
    project = fresh_digits
    cancel = threading.Event()

    def on_progress(event):
        if event["stage"] == "features" and event["fraction"] > 0:
            cancel.set()

    with pytest.raises(CancelledError):
        project.train("quick", size=SIZE, on_progress=on_progress, cancel=cancel,
                      progress_bar=False)
    assert project.iterations == []
    assert _iteration_dirs(project) == []
    assert project.store.iterations.image_count() == 0
    # the feature cache is not an iteration: what was computed before the cancel is kept
    cached = project.store.features.count()
    assert 0 < cached < 80
    # a cancel at the last moment (while saving) leaves nothing either
    cancel.clear()

    def late(event):
        if event["stage"] == "save":
            cancel.set()

    with pytest.raises(CancelledError):
        project.train("quick", size=SIZE, on_progress=late, cancel=cancel, progress_bar=False)
    assert project.iterations == [] and _iteration_dirs(project) == []
    # and the project trains normally afterwards
    it = project.train("quick", size=SIZE, progress_bar=False)
    assert _iteration_dirs(project) == [it.id]


@pytest.mark.parametrize("cached", [True, False], ids=["cached-activations", "images"])
def test_cancel_during_fine_tuning(digits, cached):
    project, _ = digits
    before = {it.id for it in project.iterations}
    cancel = threading.Event()
    messages = []

    def on_progress(event):
        messages.append(event["message"])
        if event["stage"] == "fine-tune" and event["loss"] is not None:
            cancel.set()

    with pytest.raises(CancelledError):
        project.train("advanced", budget_minutes=2, size=SIZE, on_progress=on_progress,
                      cancel=cancel, progress_bar=False,
                      settings={"cache_activations": cached})
    assert any(m.startswith("fine-tuning, epoch 1") for m in messages)
    assert any(m.startswith("caching activations") for m in messages) == cached
    assert {it.id for it in project.iterations} == before
    assert set(_iteration_dirs(project)) == before


def test_tiny_budget_stops_by_itself(digits):
    project, _ = digits  # features are cached: the budget goes to the head and fine-tuning
    it = project.train("advanced", budget_minutes=0.05, size=SIZE, progress_bar=False)
    assert it.mode == "advanced"
    ft = it.settings["notes"]["fine_tune"]
    assert ft["stopped_by"] == "budget"
    assert it.settings["budget_minutes"] == pytest.approx(0.05)
    # whatever fine-tuning ran, it ran inside the 3 s budget (it plans, then stops itself)
    assert ft.get("seconds", 0.0) <= 3.0
    assert it.settings["notes"]["chosen"] in ("quick", "fine-tune")


@pytest.mark.parametrize("cached", [True, False], ids=["cached-activations", "images"])
def test_advanced_respects_budget_and_never_loses_to_quick(digits, cached, tmp_path):
    project, quick = digits
    budget = 0.3
    it = project.train("advanced", budget_minutes=budget, size=SIZE, progress_bar=False,
                       settings={"cache_activations": cached})
    notes = it.settings["notes"]
    assert notes["fine_tune"]["path"] == ("cached" if cached else "images")
    assert notes["fine_tune"]["seconds"] <= budget * 60  # it stops itself inside the budget
    assert notes["fine_tune"]["stopped_by"] == "budget"
    assert notes["fine_tune"]["epochs"] >= 1
    assert it.metrics["accuracy"] >= notes["quick_validation"]["accuracy"]
    if notes["chosen"] == "fine-tune":
        assert it.settings["notes"]["fine_tune"]["best_epoch"] >= 1
        assert (it.weights_path.stat().st_size > 1_000_000)  # the whole network is stored
        # the stored validation predictions are the stored model's (the cached path
        # computed its frozen stages on ONNX Runtime, the app on torch: ~1e-4 apart)
        row = it.validation_predictions()[0]
        image = project.image(row["image_id"])
        fresh = {p.tag_id: p.probability for p in it.predict(image.path)}
        for p in row["predictions"]:
            assert fresh[p["tagId"]] == pytest.approx(p["probability"], abs=1e-3)
        exported = it.export("onnx", tmp_path)
        assert exported.parity.ok


def test_busy_threads_leaves_out_this_process_own_load(monkeypatch):
    import os

    import torch

    from cvbench.train import _threads

    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cores), 0.0, 0.0))
    monkeypatch.setattr(_threads, "own_load", lambda: 0.0)
    assert _threads.busy_threads() == 1  # others keep every core busy
    monkeypatch.setattr(_threads, "own_load", lambda: float(cores))
    assert _threads.busy_threads() == torch.get_num_threads()  # that load was ours
    monkeypatch.undo()
    assert _threads.own_load() >= 0.0
