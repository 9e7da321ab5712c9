"""Predictions (stored predictions and the smart labeler), driven as its front end drives it."""

from __future__ import annotations

import io

import pytest
import traitlets
from _ui_trained import trained_copy, trained_detection
from PIL import Image, ImageOps

from cvbench.ui import Predictions


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "predictions")


def variant(data: bytes, k: int) -> bytes:
    """The same digit, shifted by a pixel and mirrored or not: new bytes, same look."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = ImageOps.expand(img, border=(k % 2, 0, 0, 0), fill="white").crop((0, 0, 64, 64))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_stored_predictions_most_uncertain_first_with_the_top_tag_suggested(project):
    images = project.images(take=4)
    project.iteration().predict([variant(i.path.read_bytes(), 1) for i in images], store=True)
    pred = Predictions(project)
    assert pred.view == "stored" and pred.total == len(project.stored_predictions()) >= 4
    uncertainty = [item["uncertainty"] for item in pred.items]
    assert uncertainty == sorted(uncertainty, reverse=True)
    for item in pred.items:
        assert item["src"].startswith("data:image/jpeg")
        assert item["suggested_tags"] == [item["predictions"][0]["tag"]]  # multiclass: top one
    assert pred.counts["stored"] == pred.total


def test_add_to_training_with_a_corrected_tag_and_delete(project):
    pred = Predictions(project)
    first, second = pred.items[0], pred.items[1]
    tags = {t["name"]: t["id"] for t in pred.tags}
    corrected = tags["7"] if first["suggested_tags"] != [tags["7"]] else tags["1"]
    n_images = project.count_images()
    pred.handle_message({"type": "add_predictions",
                         "items": [{"id": first["id"], "tags": [corrected], "regions": []}]})
    assert pred.notice["level"] == "success", pred.notice
    assert project.count_images() == n_images + 1
    newest = project.images(take=1)[0]
    assert newest.tag_ids == (corrected,)
    assert first["id"] not in [i["id"] for i in pred.items]
    pred.handle_message({"type": "delete_predictions", "ids": [second["id"]]})
    assert second["id"] not in [sp.id for sp in project.stored_predictions()]
    assert project.count_images() == n_images + 1
    pred.handle_message({"type": "add_predictions", "items": [
        {"id": pred.items[0]["id"], "tags": [tags["1"], tags["2"]], "regions": []}]})
    assert pred.notice["level"] == "error" and "one tag" in pred.notice["text"]
    pred.handle_message({"type": "add_predictions", "items": [{"id": "x", "tags": []}]})
    assert pred.notice["level"] == "error" and "AddPredictionsMsg" in pred.notice["text"]


def test_the_smart_labeler_suggests_and_confirms_tags_for_untagged_images(project):
    sources = [variant(i.path.read_bytes(), 1) for i in project.images(tag="4", take=2)]
    sources += [variant(i.path.read_bytes(), 1) for i in project.images(tag="0", take=1)]
    added = project.add_images(sources, names=["u1.png", "u2.png", "u3.png"])
    new_ids = [r.image_id for r in added]
    pred = Predictions(project, view="suggested")
    assert pred.counts["suggested"] == 3 and pred.total == 3
    assert {item["id"] for item in pred.items} == set(new_ids)
    suggestions = {s.image_id: s for s in project.suggest_tags()}
    for item in pred.items:
        assert item["suggested_tags"] == list(suggestions[item["id"]].tag_ids)
    first = pred.items[0]
    pred.handle_message({"type": "confirm_suggestions", "items": [
        {"id": first["id"], "tags": first["suggested_tags"], "regions": []}]})
    assert project.image(first["id"]).tag_ids == tuple(first["suggested_tags"])
    assert pred.total == 2 and first["id"] not in [i["id"] for i in pred.items]
    assert pred.counts["suggested"] == 2
    rest = [{"id": i["id"], "tags": i["suggested_tags"], "regions": []} for i in pred.items]
    pred.handle_message({"type": "confirm_suggestions", "items": rest})
    assert pred.total == 0 and project.count_images(untagged=True) == 0
    assert "Tagged 2 images" in pred.notice["text"]


def test_paging_and_validation(project):
    project.iteration().predict([variant(i.path.read_bytes(), 0) for i in
                                 project.images(take=3, skip=10)], store=True)
    pred = Predictions(project, page_size=2)
    assert len(pred.items) == 2 and pred.total >= 3
    pred.set_state({"page": 1})
    assert pred.page == 1 and 1 <= len(pred.items) <= 2
    pred.set_state({"page": 99})
    assert pred.page == max(0, -(-pred.total // 2) - 1)
    with pytest.raises(traitlets.TraitError, match="should be one of"):
        pred.view = "everything"
    pred.set_state({"view": "suggested"})
    assert pred.page == 0


def test_the_smart_labeler_suggests_boxes_for_detection(tmp_path_factory):
    project = trained_detection(tmp_path_factory, "predictions-detection")
    from cvbench.samples import get_sample

    items = get_sample("shapes").items(small=True, seed=7)[:3]
    added = project.add_images([it.data for it in items], names=["a.png", "b.png", "c.png"])
    pred = Predictions(project, view="suggested", threshold=0.2)
    assert pred.total == 3 and {i["id"] for i in pred.items} == {r.image_id for r in added}
    item = next(i for i in pred.items if i["suggested_regions"])
    assert item["suggested_tags"] == []
    assert all(r["probability"] >= 0.2 for r in item["suggested_regions"])
    opened = []
    pred.on_edit_boxes(lambda image_id, boxes: opened.append((image_id, boxes)))
    pred.handle_message({"type": "edit_boxes", "image_id": item["id"],
                         "suggestions": item["suggested_regions"][:1]})
    assert opened == [(item["id"], item["suggested_regions"][:1])]
    keep = [{k: r[k] for k in ("tag", "left", "top", "width", "height")}
            for r in item["suggested_regions"][:1]]
    pred.handle_message({"type": "confirm_suggestions",
                         "items": [{"id": item["id"], "tags": [], "regions": keep}]})
    regions = project.image(item["id"]).regions
    assert len(regions) == 1 and regions[0].tag_id == keep[0]["tag"]
    assert regions[0].left == pytest.approx(keep[0]["left"], abs=1e-6)
    assert pred.total == 2
