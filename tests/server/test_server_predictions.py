"""Quick tests, stored predictions, suggested tags and regions, and the prediction API."""

from __future__ import annotations

import pytest
from _server_helpers import clients, shape_image, tree_image
from azure.cognitiveservices.vision.customvision.training.models import (
    PredictionQueryTag,
    PredictionQueryToken,
    SuggestedTagAndRegionQueryToken,
)


def test_quick_test_and_stored_predictions(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    hemlock = classifier["tags"]["Hemlock"]
    kept = trainer.quick_test_image(project_id, tree_image("Hemlock", 21))  # store=True
    assert kept.iteration == iteration.id and kept.project == project_id
    assert kept.predictions[0].tag_name == "Hemlock" and kept.created.tzinfo is not None
    not_kept = trainer.quick_test_image(project_id, tree_image("Japanese Cherry", 22),
                                        iteration_id=iteration.id, store=False)
    assert not_kept.predictions[0].tag_name == "Japanese Cherry"
    trainer.quick_test_image(project_id, tree_image("Japanese Cherry", 23))
    everything = trainer.query_predictions(project_id, PredictionQueryToken(order_by="Newest"))
    ids = [r.id for r in everything.results]
    assert kept.id in ids and not_kept.id not in ids
    assert everything.results[0].created >= everything.results[-1].created
    oldest = trainer.query_predictions(project_id, PredictionQueryToken(order_by="Oldest"))
    assert [r.id for r in oldest.results] == ids[::-1]
    sure = trainer.query_predictions(project_id, PredictionQueryToken(
        tags=[PredictionQueryTag(id=hemlock.id, min_threshold=0.5, max_threshold=1.0)]))
    assert kept.id in [r.id for r in sure.results]
    assert all(any(p.tag_id == hemlock.id and p.probability >= 0.5 for p in r.predictions)
               for r in sure.results)
    first = trainer.query_predictions(project_id, PredictionQueryToken(max_count=1))
    assert len(first.results) == 1 and first.token.continuation
    second = trainer.query_predictions(project_id, first.token)
    assert second.results[0].id != first.results[0].id
    trainer.delete_prediction(project_id, [kept.id])
    left = trainer.query_predictions(project_id, PredictionQueryToken())
    assert kept.id not in [r.id for r in left.results]


def test_suggested_tags_and_regions(trainer, classifier):
    project_id, iteration = classifier["project"].id, classifier["iteration"]
    untagged = classifier["untagged"]
    suggested = trainer.suggest_tags_and_regions(project_id, iteration.id,
                                                 [i.id for i in untagged])
    assert [s.id for s in suggested] == [i.id for i in untagged]
    assert suggested[0].predictions and 0 <= suggested[0].prediction_uncertainty <= 1
    query = trainer.query_suggested_images(project_id, iteration.id,
                                           SuggestedTagAndRegionQueryToken(threshold=0.0))
    assert {r.id for r in query.results} == {i.id for i in untagged}
    assert query.results[0].width == 64 and query.results[0].predictions
    ascending = trainer.query_suggested_images(
        project_id, iteration.id,
        SuggestedTagAndRegionQueryToken(threshold=0.0, sort_by="UncertaintyAscending"))
    uncertainty = [r.prediction_uncertainty for r in ascending.results]
    assert uncertainty == sorted(uncertainty)
    tags = classifier["tags"]
    counts = trainer.query_suggested_image_count(project_id, iteration.id,
                                                 tag_ids=[t.id for t in tags.values()],
                                                 threshold=0.5)
    assert set(counts) == {t.id for t in tags.values()}
    assert sum(counts.values()) == len(untagged)  # multiclass: one suggestion each


def test_prediction_api_classify(predictor, trainer, classifier):
    project_id = classifier["project"].id
    result = predictor.classify_image(project_id, "classifyModel", tree_image("Hemlock", 31),
                                      application="tests")
    assert result.predictions[0].tag_name == "Hemlock"
    assert result.predictions[0].tag_type == "Regular"
    assert result.predictions[0].bounding_box is None
    stored = [r.id for r in trainer.query_predictions(project_id, PredictionQueryToken()).results]
    assert result.id in stored
    nostore = predictor.classify_image_with_no_store(project_id, "classifyModel",
                                                     tree_image("Japanese Cherry", 32))
    assert nostore.predictions[0].tag_name == "Japanese Cherry"
    stored = [r.id for r in trainer.query_predictions(project_id, PredictionQueryToken()).results]
    assert nostore.id not in stored


def test_prediction_api_detect(predictor, detector):
    project_id = detector["project"].id
    data, _ = shape_image("fork", 5)
    result = predictor.detect_image(project_id, "detectModel", data)
    assert result.predictions and result.predictions[0].bounding_box is not None
    nostore = predictor.detect_image_with_no_store(project_id, "detectModel", data)
    assert [p.tag_name for p in nostore.predictions] == [p.tag_name for p in result.predictions]


def test_urls_fetched_for_the_client(open_server, open_models, image_host):
    trainer, predictor = clients(open_server.url)
    classifier, detector = open_models["classifier"], open_models["detector"]
    cp, dp = classifier["project"].id, detector["project"].id
    quick = trainer.quick_test_image_url(cp, url=f"{image_host}/hemlock.jpg")
    assert quick.predictions[0].tag_name == "Hemlock"
    assert predictor.classify_image_url(cp, "classifyModel", url=f"{image_host}/cherry.jpg"
                                        ).predictions[0].tag_name == "Japanese Cherry"
    assert predictor.classify_image_url_with_no_store(
        cp, "classifyModel", url=f"{image_host}/hemlock.jpg").predictions[0].tag_name == "Hemlock"
    boxes = predictor.detect_image_url(dp, "detectModel", url=f"{image_host}/fork.png")
    assert boxes.predictions and boxes.predictions[0].bounding_box is not None
    again = predictor.detect_image_url_with_no_store(dp, "detectModel",
                                                     url=f"{image_host}/fork.png")
    assert len(again.predictions) == len(boxes.predictions)


def test_detect_on_a_classifier_is_refused(predictor, classifier):
    from azure.cognitiveservices.vision.customvision.prediction.models import (
        CustomVisionErrorException,
    )

    with pytest.raises(CustomVisionErrorException) as err:
        predictor.detect_image(classifier["project"].id, "classifyModel", tree_image("Hemlock", 1))
    assert err.value.error.code == "BadRequestNotSupported"
