"""Iterations, training (Regular and Advanced, selected tags), performance, publishing,
exports."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from _server_helpers import tree_image
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
)
from conftest import upload_trees, wait_trained


def test_iterations(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    listed = trainer.get_iterations(project_id)
    assert [i.id for i in listed] == [iteration.id]
    got = trainer.get_iteration(project_id, iteration.id)
    assert got.status == "Completed" and got.name == "Iteration 1"
    assert got.training_type == "Regular" and got.classification_type == "Multiclass"
    assert got.publish_name == "classifyModel" and got.original_publish_resource_id == "/sub/x"
    assert got.project_id == project_id and got.exportable and "ONNX" in got.exportable_to
    assert got.created.tzinfo is not None


def test_advanced_training_selected_tags_and_delete(trainer):
    project = trainer.create_project(f"adv-{uuid.uuid4().hex[:6]}",
                                     classification_type="Multilabel")
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    upload_trees(trainer, project.id, tags, per_tag=6)
    extra = trainer.create_tag(project.id, "empty")  # no images: selecting it would fail
    started = trainer.train_project(project.id, training_type="Advanced",
                                    reserved_budget_in_hours=1, force_train=True,
                                    selected_tags=[t.id for t in tags.values()])
    assert started.status == "Training" and started.training_type == "Advanced"
    assert started.reserved_budget_in_hours == 1
    with pytest.raises(CustomVisionErrorException) as err:  # one run at a time
        trainer.train_project(project.id)
    assert err.value.error.code == "BadRequestTrainingAlreadyInProgress"
    done = wait_trained(trainer, project.id, started)
    assert done.training_type == "Advanced"
    assert {t.name for t in trainer.get_tags(project.id, iteration_id=done.id)} == set(tags)
    assert extra.name not in {t.name for t in trainer.get_tags(project.id, iteration_id=done.id)}
    trainer.delete_iteration(project.id, done.id)
    assert trainer.get_iterations(project.id) == []
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.get_iteration(project.id, done.id)
    assert err.value.error.code == "NotFoundIteration"
    trainer.delete_project(project.id)


def test_training_that_cannot_start_is_refused(trainer):
    project = trainer.create_project(f"few-{uuid.uuid4().hex[:6]}")
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    upload_trees(trainer, project.id, tags, per_tag=2)  # fewer than 5 per tag
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.train_project(project.id)
    assert err.value.error.code == "BadRequestTrainingValidationFailed"
    assert trainer.get_iterations(project.id) == []
    trainer.delete_project(project.id)


def test_rename_an_iteration(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    renamed = trainer.update_iteration(project_id, iteration.id, "first")
    assert renamed.name == "first" and renamed.id == iteration.id


def test_the_iteration_keeps_its_id(trainer):
    project = trainer.create_project(f"id-{uuid.uuid4().hex[:6]}")
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    upload_trees(trainer, project.id, tags, per_tag=6)
    started = trainer.train_project(project.id)
    done = wait_trained(trainer, project.id, started)
    try:
        assert done.id == started.id
    finally:
        trainer.delete_project(project.id)


def test_classification_performance(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    perf = trainer.get_iteration_performance(project_id, iteration.id)
    assert 0 <= perf.precision <= 1 and 0 <= perf.recall <= 1
    assert {t.name for t in perf.per_tag_performance} == {"Hemlock", "Japanese Cherry"}
    strict = trainer.get_iteration_performance(project_id, iteration.id, threshold=0.999999)
    assert strict.recall <= perf.recall
    images = trainer.get_image_performances(project_id, iteration.id)
    count = trainer.get_image_performance_count(project_id, iteration.id)
    assert len(images) == count > 0
    assert images[0].predictions and images[0].tags
    hemlock = classifier["tags"]["Hemlock"]
    only = trainer.get_image_performances(project_id, iteration.id, tag_ids=[hemlock.id])
    assert only and all(i.tags[0].tag_name == "Hemlock" for i in only)
    assert trainer.get_image_performance_count(project_id, iteration.id,
                                               tag_ids=[hemlock.id]) == len(only)


def test_detection_performance_with_overlap(trainer, detector):
    project_id, iteration = detector["project"].id, detector["iteration"]
    loose = trainer.get_iteration_performance(project_id, iteration.id, threshold=0.3,
                                              overlap_threshold=0.1)
    tight = trainer.get_iteration_performance(project_id, iteration.id, threshold=0.3,
                                              overlap_threshold=0.95)
    assert tight.precision <= loose.precision and tight.recall <= loose.recall
    assert loose.average_precision is not None
    images = trainer.get_image_performances(project_id, iteration.id, take=2)
    assert images and images[0].regions and images[0].predictions[0].bounding_box


def test_publish_and_unpublish(trainer, predictor, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    assert trainer.publish_iteration(project_id, iteration.id, "second name", "/sub/y")
    result = predictor.classify_image_with_no_store(project_id, "second name",
                                                    tree_image("Hemlock", 3))
    assert result.iteration == iteration.id
    with pytest.raises(PredictionError) as err:  # the old name is gone
        predictor.classify_image(project_id, "classifyModel", tree_image("Hemlock", 3))
    assert err.value.error.code == "NotFoundIteration"
    assert err.value.error.message == "Invalid iteration"
    trainer.unpublish_iteration(project_id, iteration.id)
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.unpublish_iteration(project_id, iteration.id)
    assert err.value.error.code == "BadRequestIterationNotPublished"
    assert trainer.publish_iteration(project_id, iteration.id, "classifyModel", "/sub/x")
    assert trainer.publish_iteration(project_id, iteration.id, "classifyModel", "/sub/x")


def test_export_to_onnx(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    started = trainer.export_iteration(project_id, iteration.id, "ONNX")
    assert started.platform == "ONNX" and started.status in ("Exporting", "Done")
    deadline = time.monotonic() + 120
    while True:
        (export,) = trainer.get_exports(project_id, iteration.id)
        if export.status != "Exporting" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert export.status == "Done", export.as_dict()
    model = requests.get(export.download_uri, timeout=60)
    assert model.status_code == 200 and len(model.content) > 1000
    import onnx

    onnx.checker.check_model(onnx.load_from_string(model.content))
    via_artifact = b"".join(trainer.get_artifact(project_id, f"exports/{iteration.id}/ONNX"))
    assert via_artifact == model.content
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.export_iteration(project_id, iteration.id, "CoreML")
    assert err.value.error.code == "BadRequestNotSupported"
