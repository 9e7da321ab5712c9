"""Iterations: immutable records, listing, lookup, publishing, deleting, performance from
stored predictions, and a reference check of the stored validation numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cvbench
from cvbench.errors import ProjectError
from cvbench.samples import make_sample

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    p = make_sample("digits", tmp_path_factory.mktemp("iter") / "digits", small=True)
    p.train("quick", size=SIZE, progress_bar=False)
    return p


def test_listing_and_lookup(project):
    first = project.iteration("Iteration 1")
    second = project.train("quick", size=SIZE, progress_bar=False)
    assert second.name == "Iteration 2"
    assert [it.name for it in project.iterations][:2] == ["Iteration 2", "Iteration 1"]
    assert project.iteration() == second  # the newest
    assert project.iteration(first.id) == first
    assert isinstance(first, cvbench.Iteration)
    with pytest.raises(ProjectError, match="no iteration 'Iteration 99'"):
        project.iteration("Iteration 99")
    d = first.to_dict()
    assert d["name"] == "Iteration 1" and d["kind"] == "multiclass" and len(d["tags"]) == 10
    json.dumps(d)  # JSON-able


def test_iteration_is_immutable(project):
    it = project.iteration("Iteration 1")
    tags_before = [(t.id, t.name) for t in it.tags]
    split_before = it.split()
    perf_before = it.performance().to_dict()
    with pytest.raises(AttributeError):
        it.name = "renamed"
    settings = it.settings
    settings["mode"] = "hacked"
    assert it.settings["mode"] == "quick"
    # change the project: rename a tag, retag and delete images, add images
    project.rename_tag("3", "three")
    images = project.images(tag="7")
    project.tag_images([images[0].id], ["1"])
    data = images[1].path.read_bytes()
    project.delete_images([images[1].id])
    (res,) = project.add_images([data], tags=["1"])
    assert res.status == "OK"
    again = project.iteration(it.id)
    assert [(t.id, t.name) for t in again.tags] == tags_before  # names as at training time
    assert again.split() == split_before
    assert again.performance().to_dict() == perf_before
    project.rename_tag("three", "3")


def test_performance_against_a_slow_reference(project):
    it = project.iteration("Iteration 1")
    rows = it.validation_predictions()
    names = [t.id for t in it.tags]
    for threshold in (0.1, 0.5, 0.9):
        predicted = correct = n_true = 0
        for row in rows:
            truth = set(row["truth"])
            n_true += len(truth)
            for p in row["predictions"]:
                if p["probability"] >= threshold:
                    predicted += 1
                    correct += p["tagId"] in truth
        perf = it.performance(threshold)
        assert perf.precision == pytest.approx(correct / predicted if predicted else 0.0)
        assert perf.recall == pytest.approx(correct / n_true)
    # accuracy in the row = top-1 on the stored predictions
    top1 = np.mean([row["predictions"][0]["tagId"] in row["truth"] for row in rows])
    assert it.metrics["accuracy"] == pytest.approx(top1)
    perf = it.performance()
    assert set(perf.per_tag.columns) >= {"tag", "precision", "recall", "ap"}
    assert len(perf.per_tag) == len(names)
    assert perf.at(0.9).threshold == 0.9
    assert isinstance(perf.mistakes(), type(perf.per_tag))
    assert perf.confusion_matrix() is not None and perf.suggested_thresholds() is not None


def test_publish_unpublish_delete(project, tmp_path):
    it = project.train("quick", size=SIZE, progress_bar=False)
    other = project.iteration("Iteration 1")
    it.publish("production")
    assert project.iteration("production") == it
    assert it.published_name == "production"
    with pytest.raises(ProjectError, match="already published"):
        other.publish("production")
    with pytest.raises(ProjectError, match="unpublish it first"):
        it.delete()
    # project.predict uses the published iteration by default
    image = project.images(split="validation")[0]
    assert project.predict(image.path).iteration == it.id
    it.unpublish()
    assert project.iteration(it.id).published_name is None
    folder = it.weights_path.parent
    it.delete()
    assert not folder.exists() and not it.exists
    assert it.id not in {i.id for i in project.iterations}
    assert it.split() == {}  # its iteration_images rows went with it
    with pytest.raises(ProjectError, match="was deleted"):
        it.predict(image.path)
    with pytest.raises(ProjectError, match="was deleted"):
        it.delete()
    with pytest.raises(ProjectError):
        project.iteration(it.id)


def test_reopened_project_loads_the_model_from_safetensors(project):
    it = project.iteration("Iteration 1")
    image = project.images(split="validation")[0]
    before = it.predict(image.path)
    reopened = cvbench.open_project(project.path)
    again = reopened.iteration(it.id).predict(image.path)
    assert [p.tag_id for p in again] == [p.tag_id for p in before]
    assert [p.probability for p in again] == pytest.approx([p.probability for p in before],
                                                           abs=1e-6)
    config = json.loads((it.weights_path.parent / "config.json").read_text())
    assert config["backbone"] == "pretrained" and config["size"] == SIZE
    from safetensors import safe_open

    with safe_open(str(it.weights_path), "pt") as f:
        assert sorted(f.keys()) == ["head.bias", "head.weight"]
        assert json.loads(f.metadata()["cvbench"]) == config


def test_no_iteration_yet(tmp_path):
    p = cvbench.create_project(tmp_path / "empty")
    assert p.iterations == []
    with pytest.raises(ProjectError, match="no iteration yet"):
        p.iteration()
    with pytest.raises(ProjectError, match="no iteration yet"):
        p.suggest_tags()


# -- training runs: one id from Training to Completed, visible to every face ----------------
def test_start_training_keeps_one_id_from_start_to_end(project):
    assert project.check_training("quick") == []
    run = project.start_training("quick", size=SIZE)
    assert run.status in ("Training", "Completed")
    other = cvbench.open_project(project.path)  # another face: another connection
    try:
        seen = other.iteration(run.id)
        assert seen.name == run.name and seen.status in ("Training", "Completed")
        assert run.id in {it.id for it in other.all_iterations()}
        assert run.wait(timeout=300) is run and run.status == "Completed" and run.error is None
        assert seen.status == "Completed" and seen.finished is not None
        assert project.iterations[0].id == run.id == other.iteration().id
        assert run.performance().n_images > 0 and run.tags
    finally:
        other.close()


def test_a_failing_run_is_failed_with_its_error_and_a_cancelled_one_leaves_nothing(project):
    before = {it.id for it in project.all_iterations()}
    with pytest.raises(ValueError, match="threads"):
        project.train("quick", size=SIZE, settings={"threads": 0}, progress_bar=False)
    (failed,) = [it for it in project.all_iterations() if it.id not in before]
    assert failed.status == "Failed" and "threads" in failed.error
    assert failed.id not in {it.id for it in project.iterations}
    with pytest.raises(ProjectError, match="Failed"):
        failed.predict(project.images(take=1)[0].path)
    failed.delete()
    run = project.start_training("quick", size=SIZE)
    run.cancel()
    assert run.wait(timeout=120).status == "Failed" and not run.exists
    assert {it.id for it in project.all_iterations()} == before


def test_refusals_and_changes_since_an_iteration(project):
    with pytest.raises(ValueError, match="not a training mode"):
        project.start_training("slow")
    assert project.check_training("quick", tags=["0"]) and \
        "at least 2 tags" in project.check_training("quick", tags=["0"])[0]
    assert "unknown training setting" in project.check_training("quick", settings={"x": 1})[0]
    it = project.iteration()
    assert not project.training_changed_since(it)
    assert project.training_changed_since(it, mode="advanced")
    assert project.training_changed_since(it, tags=["0", "1"])
    image = project.images(tag="5", split="train")[0]
    project.set_split([image.id], "validation")
    assert project.training_changed_since(it)
    project.set_split([image.id], None)
    assert not project.training_changed_since(it)
    project.rename_tag("5", "five")
    assert project.training_changed_since(it)  # the model's tag names differ
    project.rename_tag("five", "5")
    assert not project.training_changed_since(it)


def test_rename_an_iteration_and_label_stored_predictions(project):
    it = project.iteration("Iteration 1")
    try:
        assert it.rename("first") is it and it.name == "first"
        assert project.iteration("first").id == it.id
        second = project.iterations[0] if project.iterations[0].id != it.id else \
            project.iterations[1]
        with pytest.raises(ProjectError, match="already named"):
            second.rename("first")
        image = project.images(take=1)[0]
        it.predict(image.path, store=True, application="kiosk")
        it.predict(image.path, store=True)
        kiosk = project.stored_predictions(application="kiosk")
        assert len(kiosk) == 1 and kiosk[0].application == "kiosk"
        with pytest.raises(ValueError, match="application"):
            it.predict(image.path, store=True, application="")
    finally:
        it.rename("Iteration 1")


def test_images_of_an_iteration(project):
    it = project.iteration("Iteration 1")
    learnt = set(it.split()) & {i.id for i in project.images()}  # those still here
    assert {i.id for i in project.images(iteration=it)} == learnt
    assert project.count_images(iteration=it.id) == len(learnt)
    assert project.count_images(iteration=it, split="validation") == \
        sum(1 for i in project.images(split="validation") if i.id in learnt)
