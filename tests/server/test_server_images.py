"""Images: create from files, URLs, raw uploads and stored predictions; list, count, by
id; delete; metadata; image tags; regions; region proposals."""

from __future__ import annotations

import base64
import uuid

import pytest
from _server_helpers import clients, shape_image, tree_image
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException,
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    ImageIdCreateBatch,
    ImageIdCreateEntry,
    ImageRegionCreateEntry,
    ImageTagCreateEntry,
    ImageUrlCreateBatch,
    ImageUrlCreateEntry,
    Region,
)
from conftest import upload_shapes, upload_trees


@pytest.fixture
def trees(trainer):
    p = trainer.create_project(f"img-{uuid.uuid4().hex[:6]}", classification_type="Multilabel")
    tags = {n: trainer.create_tag(p.id, n) for n in ("Hemlock", "Japanese Cherry")}
    yield p, tags
    trainer.delete_project(p.id)


@pytest.fixture
def shapes(trainer):
    p = trainer.create_project(f"od-{uuid.uuid4().hex[:6]}",
                               domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    tags = {n: trainer.create_tag(p.id, n) for n in ("fork", "scissors")}
    yield p, tags
    trainer.delete_project(p.id)


def test_create_from_files_and_list(trainer, trees):
    project, tags = trees
    result = upload_trees(trainer, project.id, tags, per_tag=3)
    assert result.is_batch_successful
    entry = result.images[0]
    assert entry.status == "OK" and entry.source_url == "Hemlock_0.jpg"
    assert (entry.image.width, entry.image.height) == (64, 64)
    assert [t.tag_name for t in entry.image.tags] == ["Hemlock"]
    again = upload_trees(trainer, project.id, tags, per_tag=1)  # the same bytes
    assert again.is_batch_successful and {i.status for i in again.images} == {"OKDuplicate"}
    images = trainer.get_images(project.id)
    assert len(images) == 6
    newest, oldest = trainer.get_images(project.id, take=2), \
        trainer.get_images(project.id, order_by="Oldest", take=2)
    assert newest[0].created >= oldest[0].created and newest[0].id != oldest[0].id
    assert [i.id for i in trainer.get_images(project.id, skip=2, take=2)] == \
        [i.id for i in images[2:4]]
    hemlock = trainer.get_images(project.id, tag_ids=[tags["Hemlock"].id])
    assert len(hemlock) == 3 and all(i.tags[0].tag_name == "Hemlock" for i in hemlock)
    both = trainer.get_images(project.id, tag_ids=[t.id for t in tags.values()])
    assert len(both) == 6
    assert trainer.get_image_count(project.id) == 6
    assert trainer.get_image_count(project.id, tag_ids=[tags["Hemlock"].id]) == 3
    assert trainer.get_image_count(project.id, tagging_status="Untagged") == 0
    by_ids = trainer.get_images_by_ids(project.id, image_ids=[images[1].id, images[0].id])
    assert [i.id for i in by_ids] == [images[1].id, images[0].id]


def test_batch_tags_and_multiclass_rules(trainer):
    project = trainer.create_project(f"mc-{uuid.uuid4().hex[:6]}")
    a, b = trainer.create_tag(project.id, "a"), trainer.create_tag(project.id, "b")
    batch = ImageFileCreateBatch(tag_ids=[a.id], images=[
        ImageFileCreateEntry(name="one", contents=tree_image("Hemlock", 1)),
        ImageFileCreateEntry(name="two", contents=tree_image("Hemlock", 2), tag_ids=[b.id]),
        ImageFileCreateEntry(name="bad", contents=b"not an image at all")])
    result = trainer.create_images_from_files(project.id, batch)
    assert not result.is_batch_successful
    assert [i.status for i in result.images] == ["OK", "ErrorTagLimitExceed",
                                                 "ErrorImageFormat"]
    assert [t.tag_name for t in result.images[0].image.tags] == ["a"]
    assert result.images[1].image is None
    assert trainer.get_image_count(project.id) == 1
    trainer.delete_project(project.id)


def test_raw_upload_tagged_untagged_and_counts(trainer, trees):
    project, tags = trees
    result = trainer.create_images_from_data(project.id, tree_image("Hemlock", 5),
                                             tag_ids=[tags["Hemlock"].id])
    assert result.is_batch_successful and result.images[0].image.tags[0].tag_name == "Hemlock"
    plain = trainer.create_images_from_data(project.id, tree_image("Japanese Cherry", 6))
    untagged_id = plain.images[0].image.id
    assert plain.images[0].image.tags is None
    assert [i.id for i in trainer.get_untagged_images(project.id)] == [untagged_id]
    assert trainer.get_untagged_image_count(project.id) == 1
    assert len(trainer.get_tagged_images(project.id)) == 1
    assert trainer.get_tagged_image_count(project.id) == 1
    assert trainer.get_tagged_image_count(project.id, tag_ids=[tags["Japanese Cherry"].id]) == 0
    assert trainer.get_image_count(project.id, tagging_status="Tagged") == 1
    assert len(trainer.get_images(project.id, tagging_status="Untagged")) == 1


def test_image_tags(trainer, trees):
    project, tags = trees
    image_id = trainer.create_images_from_data(
        project.id, tree_image("Hemlock", 7)).images[0].image.id
    entries = [ImageTagCreateEntry(image_id=image_id, tag_id=t.id) for t in tags.values()]
    summary = trainer.create_image_tags(project.id, tags=entries)
    assert len(summary.created) == 2 and not summary.duplicated
    again = trainer.create_image_tags(project.id, tags=entries[:1])
    assert len(again.duplicated) == 1 and not again.created
    names = sorted(t.tag_name for t in trainer.get_images_by_ids(project.id, [image_id])[0].tags)
    assert names == ["Hemlock", "Japanese Cherry"]
    trainer.delete_image_tags(project.id, [image_id], [tags["Hemlock"].id])
    names = [t.tag_name for t in trainer.get_images_by_ids(project.id, [image_id])[0].tags]
    assert names == ["Japanese Cherry"]
    with pytest.raises(CustomVisionErrorException) as err:
        trainer.create_image_tags(project.id, tags=[ImageTagCreateEntry(
            image_id=str(uuid.uuid4()), tag_id=tags["Hemlock"].id)])
    assert err.value.error.code == "NotFoundImage"


def test_delete_images(trainer, trees):
    project, tags = trees
    upload_trees(trainer, project.id, tags, per_tag=2)
    images = trainer.get_images(project.id)
    trainer.delete_images(project.id, image_ids=[images[0].id])
    assert trainer.get_image_count(project.id) == 3
    trainer.delete_images(project.id, all_images=True, all_iterations=True)
    assert trainer.get_image_count(project.id) == 0


def test_regions_and_proposals(trainer, shapes, detector):
    project, tags = shapes
    data, (left, top, width, height) = shape_image("fork", 3)
    created = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=[
        ImageFileCreateEntry(name="fork", contents=data, regions=[Region(
            tag_id=tags["fork"].id, left=left, top=top, width=width, height=height)])]))
    image = created.images[0].image
    assert created.is_batch_successful and len(image.regions) == 1
    assert abs(image.regions[0].left - left) < 1e-6 and image.regions[0].tag_name == "fork"
    summary = trainer.create_image_regions(project.id, regions=[
        ImageRegionCreateEntry(image_id=image.id, tag_id=tags["scissors"].id, left=0.05,
                               top=0.05, width=0.2, height=0.2),
        ImageRegionCreateEntry(image_id=image.id, tag_id=tags["fork"].id, left=left, top=top,
                               width=width, height=height)])
    assert len(summary.created) == 1 and len(summary.duplicated) == 1
    new_id = summary.created[0].region_id
    regions = trainer.get_images_by_ids(project.id, [image.id])[0].regions
    assert new_id in [r.region_id for r in regions] and len(regions) == 2
    trainer.delete_image_regions(project.id, [new_id])
    regions = trainer.get_images_by_ids(project.id, [image.id])[0].regions
    assert [r.tag_name for r in regions] == ["fork"]
    # proposals before any detector is trained: a model-free objectness finds the fork
    early = trainer.get_image_region_proposals(project.id, image.id).proposals
    assert early and all(0 < p.confidence < 1 for p in early)
    best = early[0].bounding_box
    iw = max(0.0, min(best.left + best.width, left + width) - max(best.left, left))
    ih = max(0.0, min(best.top + best.height, top + height) - max(best.top, top))
    assert iw * ih / (best.width * best.height + width * height - iw * ih) > 0.5
    det = detector["project"].id
    det_image = trainer.get_tagged_images(det, take=1)[0]
    proposals = trainer.get_image_region_proposals(det, det_image.id)
    assert proposals.image_id == det_image.id and proposals.project_id == det
    assert proposals.proposals and 0 < proposals.proposals[0].confidence <= 1
    assert proposals.proposals[0].bounding_box.width > 0


def test_region_ids_stay_stable(trainer, shapes):
    project, tags = shapes
    assert upload_shapes(trainer, project.id, {"fork": tags["fork"]}, per_tag=1).is_batch_successful
    image = trainer.get_images(project.id)[0]
    before = image.regions[0].region_id
    trainer.create_image_regions(project.id, regions=[ImageRegionCreateEntry(
        image_id=image.id, tag_id=tags["scissors"].id, left=0.0, top=0.0, width=0.1,
        height=0.1)])
    after = trainer.get_images_by_ids(project.id, [image.id])[0].regions
    assert before in [r.region_id for r in after]


def test_create_from_urls(open_server, image_host):
    trainer = clients(open_server.url)[0]
    project = trainer.create_project(f"url-{uuid.uuid4().hex[:6]}")
    tag = trainer.create_tag(project.id, "tree")
    batch = ImageUrlCreateBatch(tag_ids=[tag.id], images=[
        ImageUrlCreateEntry(url=f"{image_host}/hemlock.jpg"),
        ImageUrlCreateEntry(url=f"{image_host}/cherry.jpg"),
        ImageUrlCreateEntry(url=f"{image_host}/missing.jpg")])
    result = trainer.create_images_from_urls(project.id, batch)
    assert [i.status for i in result.images] == ["OK", "OK", "ErrorSource"]
    assert result.images[0].source_url == f"{image_host}/hemlock.jpg"
    assert trainer.get_tagged_image_count(project.id) == 2
    trainer.delete_project(project.id)


def test_create_from_stored_predictions(trainer, classifier):
    project_id = classifier["project"].id
    tag = classifier["tags"]["Hemlock"]
    stored = trainer.quick_test_image(project_id, tree_image("Hemlock", 77), store=True)
    result = trainer.create_images_from_predictions(project_id, ImageIdCreateBatch(
        images=[ImageIdCreateEntry(id=stored.id, tag_ids=[tag.id])]))
    assert result.is_batch_successful, [(i.status, i.source_url) for i in result.images]
    image = result.images[0].image
    assert [t.tag_name for t in image.tags] == ["Hemlock"]
    trainer.delete_images(project_id, image_ids=[image.id])
    missing = trainer.create_images_from_predictions(project_id, ImageIdCreateBatch(
        images=[ImageIdCreateEntry(id=str(uuid.uuid4()))]))
    assert missing.images[0].status == "ErrorSource" and not missing.is_batch_successful


def test_image_metadata(trainer, trees):
    project, tags = trees
    image_id = trainer.create_images_from_data(
        project.id, tree_image("Hemlock", 9)).images[0].image.id
    summary = trainer.update_image_metadata(project.id, [image_id], {"camera": "a"})
    assert summary.is_batch_successful and summary.images[0].metadata == {"camera": "a"}
    assert trainer.get_images_by_ids(project.id, [image_id])[0].metadata == {"camera": "a"}


def test_metadata_filter(trainer, trees):
    project, _ = trees
    assert trainer.get_images(project.id, filter="camera eq 'a'") == []
    assert trainer.get_image_count(project.id, filter="camera eq 'a'") == 0


def test_base64_contents_are_standard_base64(server, trees):
    project, tags = trees
    data = tree_image("Hemlock", 11)
    r = server.training("POST", f"/projects/{project.id}/images/files", json={"images": [
        {"name": "x.jpg", "contents": base64.b64encode(data).decode(),
         "tagIds": [tags["Hemlock"].id]}]})
    assert r.status_code == 200 and r.json()["images"][0]["status"] == "OK"
