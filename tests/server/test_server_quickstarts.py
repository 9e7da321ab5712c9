"""The two official Python quickstarts (Custom Vision's docs), call for call, against
``cvbench serve`` with the official SDK unchanged; images are small pictures made here."""

from __future__ import annotations

import time
import uuid

from _server_helpers import clients, shape_image, tree_image
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)

PREDICTION_RESOURCE_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
                          "rg/providers/Microsoft.CognitiveServices/accounts/prediction")


def test_image_classification_quickstart(server, tmp_path):
    trainer = clients(server.url)[0]
    trainer = clients(server.url)[0]  # the script builds the training client twice
    predictor = clients(server.url)[1]

    project = trainer.create_project(uuid.uuid4())  # a UUID object, as the script passes
    hemlock_tag = trainer.create_tag(project.id, "Hemlock")
    cherry_tag = trainer.create_tag(project.id, "Japanese Cherry")

    image_list = []
    for k in range(1, 11):
        image_list.append(ImageFileCreateEntry(name=f"hemlock_{k}.jpg",
                                               contents=tree_image("Hemlock", k),
                                               tag_ids=[hemlock_tag.id]))
    for k in range(1, 11):
        image_list.append(ImageFileCreateEntry(name=f"japanese_cherry_{k}.jpg",
                                               contents=tree_image("Japanese Cherry", k),
                                               tag_ids=[cherry_tag.id]))
    upload_result = trainer.create_images_from_files(project.id,
                                                     ImageFileCreateBatch(images=image_list))
    assert upload_result.is_batch_successful, [i.status for i in upload_result.images]

    iteration = trainer.train_project(project.id)
    assert iteration.status == "Training"
    seen = [iteration.status]
    while iteration.status != "Completed":
        iteration = trainer.get_iteration(project.id, iteration.id)
        seen.append(iteration.status)
        assert iteration.status in ("Training", "Completed"), iteration.as_dict()
        time.sleep(0.2)
    assert seen[0] == "Training" and seen[-1] == "Completed"

    publish_iteration_name = "classifyModel"
    assert trainer.publish_iteration(project.id, iteration.id, publish_iteration_name,
                                     PREDICTION_RESOURCE_ID) is True

    results = predictor.classify_image(project.id, publish_iteration_name,
                                       tree_image("Hemlock", 99))
    names = [p.tag_name for p in results.predictions]
    assert sorted(names) == ["Hemlock", "Japanese Cherry"]
    assert results.predictions[0].tag_name == "Hemlock"
    assert abs(sum(p.probability for p in results.predictions) - 1.0) < 1e-4
    for prediction in results.predictions:
        print("\t" + prediction.tag_name + f": {prediction.probability * 100:.2f}%")

    trainer.unpublish_iteration(project.id, iteration.id)
    trainer.delete_project(project.id)
    assert project.id not in [p.id for p in trainer.get_projects()]


def test_object_detection_quickstart(server, tmp_path):
    trainer = clients(server.url)[0]
    predictor = clients(server.url)[1]

    obj_detection_domain = next(domain for domain in trainer.get_domains()
                                if domain.type == "ObjectDetection" and domain.name == "General")
    project = trainer.create_project(str(uuid.uuid4()), domain_id=obj_detection_domain.id)
    fork_tag = trainer.create_tag(project.id, "fork")
    scissors_tag = trainer.create_tag(project.id, "scissors")

    tagged_images_with_regions = []
    for k in range(1, 17):
        for name, tag in (("fork", fork_tag), ("scissors", scissors_tag)):
            data, (x, y, w, h) = shape_image(name, 1000 + 2 * k + len(name))
            regions = [Region(tag_id=tag.id, left=x, top=y, width=w, height=h)]
            tagged_images_with_regions.append(
                ImageFileCreateEntry(name=f"{name}_{k}", contents=data, regions=regions))
    upload_result = trainer.create_images_from_files(
        project.id, ImageFileCreateBatch(images=tagged_images_with_regions))
    assert upload_result.is_batch_successful, [i.status for i in upload_result.images]

    iteration = trainer.train_project(project.id)
    while iteration.status != "Completed":
        iteration = trainer.get_iteration(project.id, iteration.id)
        assert iteration.status in ("Training", "Completed"), iteration.as_dict()
        time.sleep(1)

    publish_iteration_name = "detectModel"
    trainer.publish_iteration(project.id, iteration.id, publish_iteration_name,
                              PREDICTION_RESOURCE_ID)

    data, (left, top, width, height) = shape_image("fork", 7)
    path = tmp_path / "test_image.jpg"
    path.write_bytes(data)
    with open(path, mode="rb") as test_data:  # a file object: a part with a filename
        results = predictor.detect_image(project.id, publish_iteration_name, test_data)
    assert results.predictions
    for prediction in results.predictions:
        box = prediction.bounding_box
        assert 0 <= box.left <= 1 and 0 <= box.top <= 1 and 0 < box.width <= 1
        print("\t" + prediction.tag_name + f": {prediction.probability * 100:.2f}% bbox.left = {box.left:.2f}, bbox.top = {box.top:.2f}, "
              f"bbox.width = {box.width:.2f}, bbox.height = {box.height:.2f}")
    assert results.predictions[0].tag_name in ("fork", "scissors")

    trainer.unpublish_iteration(project.id, iteration.id)
    trainer.delete_project(project.id)
