"""Domains, projects, project export / import, artifacts; both API versions; keys."""

from __future__ import annotations

import uuid

import pytest
import requests
from _server_helpers import PREDICTION_KEY, TRAINING_KEY, clients
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
)
from conftest import upload_trees


def test_domains_are_custom_visions_with_their_ids(trainer):
    domains = trainer.get_domains()
    by_key = {(d.type, d.name): d for d in domains}
    assert by_key[("ObjectDetection", "General")].id == "da2e3a8a-40a5-4171-82f4-58522f70fbc1"
    assert by_key[("Classification", "General")].id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    assert by_key[("Classification", "General (compact)")].exportable
    assert all(d.enabled and "ONNX" in d.exportable_platforms for d in domains)
    one = trainer.get_domain("da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    assert (one.name, one.type) == ("General", "ObjectDetection")
    assert "General (compact)" in one.model_information.description  # the cvbench backbone
    assert [d.id for d in trainer.get_domains()] == [d.id for d in domains]  # stable


def test_project_lifecycle(trainer, server):
    name = f"flowers-{uuid.uuid4().hex[:6]}"
    compact = next(d for d in trainer.get_domains()
                   if d.type == "Classification" and d.name == "General (compact)")
    project = trainer.create_project(name, domain_id=compact.id,
                                     classification_type="Multilabel")
    assert uuid.UUID(project.id)
    assert project.name == name and project.status == "Succeeded"
    assert project.settings.classification_type == "Multilabel"
    assert project.created.tzinfo is not None  # ISO with Z
    assert (server.root / name / "cvbench.db").is_file()  # one folder per project in ROOT
    got = trainer.get_project(project.id)
    assert (got.id, got.name, got.settings.domain_id) == (project.id, name,
                                                           project.settings.domain_id)
    assert project.id in [p.id for p in trainer.get_projects()]
    a2 = next(d for d in trainer.get_domains() if d.name == "General [A2]")
    got.settings.domain_id = a2.id
    updated = trainer.update_project(project.id, got)
    assert updated.settings.domain_id == a2.id
    assert trainer.get_project(project.id.upper()).id == project.id  # ids ignore case
    trainer.delete_project(project.id)
    assert project.id not in [p.id for p in trainer.get_projects()]
    assert not (server.root / name).exists()
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.get_project(project.id)
    assert err.value.error.code == "NotFoundProject"


def test_detection_project_and_default_domain(trainer):
    project = trainer.create_project(f"d-{uuid.uuid4().hex[:6]}")  # no domain: General
    assert project.settings.domain_id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
    assert project.settings.classification_type == "Multiclass"
    detection = trainer.create_project(f"d-{uuid.uuid4().hex[:6]}",
                                       domain_id="a27d5ca5-bb19-49d8-a70a-fec086c47f5b")
    assert detection.settings.classification_type is None
    od = trainer.get_domain(detection.settings.domain_id)
    assert od.type == "ObjectDetection"
    for p in (project, detection):
        trainer.delete_project(p.id)


def test_update_project_name_and_description(trainer):
    project = trainer.create_project(f"n-{uuid.uuid4().hex[:6]}", description="first")
    project.name, project.description = "renamed", "second"
    updated = trainer.update_project(project.id, project)
    assert (updated.name, updated.description) == ("renamed", "second")
    trainer.delete_project(project.id)


def test_export_and_import_give_an_identical_project(trainer, server):
    project = trainer.create_project(f"exp-{uuid.uuid4().hex[:6]}")
    tags = {n: trainer.create_tag(project.id, n) for n in ("Hemlock", "Japanese Cherry")}
    assert upload_trees(trainer, project.id, tags, per_tag=3).is_batch_successful
    before_images = {i.id: sorted(t.tag_name for t in i.tags)
                     for i in trainer.get_images(project.id)}
    exported = trainer.export_project(project.id)
    assert (exported.image_count, exported.tag_count, exported.iteration_count) == (6, 2, 0)
    assert exported.token
    trainer.delete_project(project.id)
    imported = trainer.import_project(exported.token)
    assert imported.id == project.id and imported.name == project.name
    assert {t.id: t.name for t in trainer.get_tags(imported.id)} == \
        {t.id: t.name for t in tags.values()}
    assert {i.id: sorted(t.tag_name for t in i.tags)
            for i in trainer.get_images(imported.id)} == before_images
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.import_project("not-a-token-at-all-!!")
    assert err.value.error.code == "BadRequestInvalidImportToken"
    trainer.delete_project(imported.id)


def test_import_beside_the_original_gets_a_new_id(trainer):
    project = trainer.create_project(f"twin-{uuid.uuid4().hex[:6]}")
    token = trainer.export_project(project.id).token
    copy = trainer.import_project(token)
    assert copy.id != project.id
    trainer.delete_project(copy.id)
    trainer.delete_project(project.id)


def test_artifacts_and_signed_urls(trainer, classifier):
    project_id = classifier["project"].id
    image = trainer.get_tagged_images(project_id, take=1)[0]
    original = b"".join(trainer.get_artifact(project_id, f"images/{image.id}/original"))
    assert original[:2] == b"\xff\xd8"  # the JPEG that was uploaded
    thumb = b"".join(trainer.get_artifact(project_id, f"images/{image.id}/thumbnail"))
    assert thumb[:2] == b"\xff\xd8"
    # the image's URIs work without a key (they carry a signature), and only as given
    assert requests.get(image.original_image_uri, timeout=30).content == original
    assert requests.get(image.thumbnail_uri, timeout=30).status_code == 200
    forged = image.original_image_uri.rsplit("sig=", 1)[0] + "sig=0000"
    r = requests.get(forged, timeout=30)
    assert r.status_code == 403 and r.json()["code"] == "Forbidden"
    from msrest.exceptions import HttpOperationError

    with pytest.raises(HttpOperationError):
        b"".join(trainer.get_artifact(project_id, "images/nope/original"))


def test_both_api_versions_and_every_key_header(server, classifier):
    project_id = classifier["project"].id
    for base in ("v3.4-preview", "v3.3"):
        for header in ("Training-Key", "training-key", "TRAINING-KEY",
                       "Ocp-Apim-Subscription-Key"):
            r = requests.get(f"{server.url}customvision/{base}/training/projects/{project_id}",
                             headers={header: TRAINING_KEY}, timeout=30)
            assert r.status_code == 200, (base, header, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["id"] == project_id
    for base in ("v3.1", "v3.0"):
        r = requests.post(f"{server.url}customvision/{base}/prediction/{project_id}/classify/"
                          "iterations/classifyModel/image/nostore",
                          headers={"prediction-key": PREDICTION_KEY},
                          files={"imageData": b"not an image"}, timeout=30)
        assert r.status_code == 400 and r.json()["code"] == "BadRequestImageFormat"


def test_a_prediction_key_never_opens_a_training_route(server, classifier):
    project_id = classifier["project"].id
    for headers in ({"Training-Key": PREDICTION_KEY}, {"Prediction-Key": PREDICTION_KEY},
                    {"Ocp-Apim-Subscription-Key": PREDICTION_KEY}, {}):
        r = requests.get(f"{server.url}customvision/v3.4-preview/training/projects",
                         headers=headers, timeout=30)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "401" and r.json()["message"]
    r = requests.post(f"{server.url}customvision/v3.1/prediction/{project_id}/classify/"
                      "iterations/classifyModel/image",
                      headers={"Prediction-Key": TRAINING_KEY}, files={"imageData": b"x"},
                      timeout=30)
    assert r.status_code == 401
    trainer, predictor = clients(server.url)
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials

    wrong = CustomVisionTrainingClient(server.url,
                                       ApiKeyCredentials(in_headers={"Training-key": "nope"}))
    with pytest.raises(CustomVisionErrorException) as err:
        wrong.get_projects()
    assert err.value.response.status_code == 401
