"""Tags: create, list, get, update, delete, with Custom Vision's rules and codes."""

from __future__ import annotations

import uuid

import pytest
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
)
from conftest import upload_trees


@pytest.fixture
def project(trainer):
    p = trainer.create_project(f"tags-{uuid.uuid4().hex[:6]}")
    yield p
    trainer.delete_project(p.id)


def test_tags(trainer, project):
    rose = trainer.create_tag(project.id, "rose", description="a flower")
    assert uuid.UUID(rose.id)
    assert (rose.name, rose.type, rose.image_count, rose.description) == \
        ("rose", "Regular", 0, "a flower")
    other = trainer.create_tag(project.id, "Other", type="Negative")
    assert other.type == "Negative"
    assert {t.name for t in trainer.get_tags(project.id)} == {"rose", "Other"}
    assert trainer.get_tag(project.id, rose.id).name == "rose"
    renamed = trainer.update_tag(project.id, rose.id, rose.__class__(
        name="Rose", description="a flower", type="Regular"))
    assert renamed.name == "Rose" and renamed.id == rose.id
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_tag(project.id, "ROSE")
    assert err.value.error.code == "BadRequestTagNameNotUnique"
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_tag(project.id, "nothing", type="Negative")
    assert err.value.error.code == "BadRequestMultipleNegativeTag"
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_tag(project.id, "gp", type="GeneralProduct")
    assert err.value.error.code == "BadRequestTagType"
    trainer.delete_tag(project.id, other.id)
    assert [t.name for t in trainer.get_tags(project.id)] == ["Rose"]
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.get_tag(project.id, other.id)
    assert err.value.error.code == "NotFoundTag" and err.value.response.status_code == 404


def test_tag_counts_and_the_tags_of_an_iteration(trainer, classifier):
    project_id = classifier["project"].id
    counts = {t.name: t.image_count for t in trainer.get_tags(project_id)}
    assert counts == {"Hemlock": 8, "Japanese Cherry": 8}
    iteration = classifier["iteration"]
    of_iteration = trainer.get_tags(project_id, iteration_id=iteration.id)
    assert {t.name for t in of_iteration} == {"Hemlock", "Japanese Cherry"}
    tag = classifier["tags"]["Hemlock"]
    assert trainer.get_tag(project_id, tag.id, iteration_id=iteration.id).name == "Hemlock"


def test_update_a_tags_description(trainer, project):
    tag = trainer.create_tag(project.id, "lily")
    tag.description = "white"
    assert trainer.update_tag(project.id, tag.id, tag).description == "white"


def test_deleting_a_tag_keeps_its_images(trainer, project):
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    upload_trees(trainer, project.id, tags, per_tag=2)
    trainer.delete_tag(project.id, tags["Hemlock"].id)
    assert trainer.get_image_count(project.id) == 4
    assert trainer.get_untagged_image_count(project.id) == 2
