"""BoxEditor, driven as its front end drives it: set_boxes edits, navigation, suggestions."""

from __future__ import annotations

import base64
import io

import pytest
import traitlets
from PIL import Image

from cvbench.errors import TagError
from cvbench.ui import BoxEditor


def box(tag: str, left: float, top: float, width: float, height: float) -> dict:
    return {"tag": tag, "left": left, "top": top, "width": width, "height": height}


def stored(project, image_id: str) -> list[tuple]:
    return [
        (r.tag_name, round(r.left, 6), round(r.top, 6), round(r.width, 6), round(r.height, 6))
        for r in project.image(image_id).regions
    ]


@pytest.fixture
def detection(make_project):
    return make_project("detection", n=3, tags=("circle", "square"), size=(200, 100))


def test_opens_on_the_first_image_with_its_boxes(detection):
    first = detection.images(order="oldest")[0].id
    detection.set_regions(first, [("circle", 0.1, 0.2, 0.3, 0.4)])
    e = BoxEditor(detection)
    assert e.total == 3 and e.image_id == first
    assert e.image == {"id": first, "name": "img000.png", "width": 200, "height": 100}
    assert e.current_tag == detection.get_tag("circle").id
    assert len(e.boxes) == 1 and e.boxes[0]["left"] == pytest.approx(0.1)
    assert e.src.startswith("data:image/jpeg;base64,")


def test_an_edit_is_saved_at_once_in_normalized_coordinates(detection):
    e = BoxEditor(detection)
    circle = detection.get_tag("circle").id
    e.handle_message({
        "type": "set_boxes", "image_id": e.image_id, "edit": 1,
        "boxes": [box(circle, 0.25, 0.5, 0.5, 0.25)],
    })
    assert stored(detection, e.image_id) == [("circle", 0.25, 0.5, 0.5, 0.25)]
    assert e.acked_edit == 1 and e.notes == []
    assert e.boxes == [box(circle, 0.25, 0.5, 0.5, 0.25)]
    assert detection.image(e.image_id).tags == ("circle",)
    assert {t["name"]: t["count"] for t in e.tags}["circle"] == 1


def test_boxes_reaching_outside_are_clipped_and_the_notes_shown(detection):
    e = BoxEditor(detection)
    square = detection.get_tag("square").id
    e.handle_message({
        "type": "set_boxes", "image_id": e.image_id, "edit": 7,
        "boxes": [box(square, 0.8, 0.8, 0.4, 0.4), box(square, 1.5, 0.1, 0.2, 0.2)],
    })
    assert stored(detection, e.image_id) == [("square", 0.8, 0.8, 0.2, 0.2)]
    assert len(e.notes) == 2
    assert any("clipped" in n for n in e.notes) and any("dropped" in n for n in e.notes)
    assert e.notice["level"] == "info" and "clipped" in e.notice["text"]
    assert len(e.boxes) == 1 and e.boxes[0]["width"] == pytest.approx(0.2)


def test_malformed_boxes_are_refused_and_nothing_is_saved(detection):
    e = BoxEditor(detection)
    circle = detection.get_tag("circle").id
    before = stored(detection, e.image_id)
    for bad in (
        [box(circle, 0.1, 0.1, 0.0, 0.2)],  # no width
        [box(circle, 0.1, 0.1, -0.1, 0.2)],
        [{"tag": circle, "left": 0.1, "top": 0.1, "width": 0.2}],  # no height
        [box(circle, float("nan"), 0.1, 0.2, 0.2)],
        [box("not-a-tag", 0.1, 0.1, 0.2, 0.2)],
    ):
        e.handle_message({"type": "set_boxes", "image_id": e.image_id, "edit": 1, "boxes": bad})
        assert e.notice["level"] == "error", bad
    assert stored(detection, e.image_id) == before
    assert e.acked_edit == 0
    with pytest.raises(traitlets.TraitError):
        e.boxes = [box(circle, 0.1, 0.1, 0.0, 0.1)]


def test_nothing_is_lost_when_moving_on(detection):
    e = BoxEditor(detection)
    circle = detection.get_tag("circle").id
    first = e.image_id
    # the browser sends the last edit, then the new position: both arrive in order
    e.handle_message({"type": "set_boxes", "image_id": first, "edit": 1,
                      "boxes": [box(circle, 0.1, 0.1, 0.2, 0.2)]})
    e.set_state({"position": 1})
    assert e.image_id != first and e.boxes == []
    # an edit of the previous image that arrives late still goes to that image
    e.handle_message({"type": "set_boxes", "image_id": first, "edit": 2,
                      "boxes": [box(circle, 0.1, 0.1, 0.2, 0.2), box(circle, 0.5, 0.5, 0.1, 0.1)]})
    assert len(stored(detection, first)) == 2 and e.boxes == []
    e.set_state({"position": 0})
    assert len(e.boxes) == 2
    with pytest.raises(traitlets.TraitError):
        e.position = 3
    e.next()
    e.next()
    e.next()
    assert e.position == 2


def test_explicit_save_and_removing_every_box(detection):
    e = BoxEditor(detection)
    circle = detection.get_tag("circle").id
    e.handle_message({"type": "set_boxes", "image_id": e.image_id, "edit": 1,
                      "boxes": [box(circle, 0.1, 0.1, 0.2, 0.2)]})
    e.handle_message({"type": "save"})
    assert e.notice["level"] == "success" and "1 box" in e.notice["text"]
    e.handle_message({"type": "set_boxes", "image_id": e.image_id, "edit": 2, "boxes": []})
    assert stored(detection, e.image_id) == [] and detection.image(e.image_id).tags == ()


def test_suggestions_accept_one_accept_all_reject(detection):
    circle, square = detection.get_tag("circle").id, detection.get_tag("square").id

    def suggest(project, image):
        return [
            {**box(circle, 0.1, 0.1, 0.2, 0.2), "probability": 0.9},
            {**box(square, 0.5, 0.5, 0.3, 0.3), "probability": 0.6},
            {**box(square, 0.0, 0.6, 0.2, 0.3), "probability": 0.4},
        ]

    e = BoxEditor(detection, suggest=suggest)
    assert len(e.suggestions) == 3
    e.handle_message({"type": "accept_suggestion", "index": 1})
    assert stored(detection, e.image_id) == [("square", 0.5, 0.5, 0.3, 0.3)]
    assert [s["probability"] for s in e.suggestions] == [0.9, 0.4]
    e.handle_message({"type": "reject_suggestion", "index": 1})
    assert [s["probability"] for s in e.suggestions] == [0.9]
    e.handle_message({"type": "accept_all"})
    assert len(stored(detection, e.image_id)) == 2 and e.suggestions == []
    e.handle_message({"type": "accept_suggestion", "index": 0})
    assert e.notice["level"] == "error" and "does not exist" in e.notice["text"]
    e.next()
    assert len(e.suggestions) == 3
    e.handle_message({"type": "reject_suggestion", "index": None})
    assert e.suggestions == [] and stored(detection, e.image_id) == []


def test_suggestions_are_validated(detection):
    e = BoxEditor(detection)
    circle = detection.get_tag("circle").id
    e.suggestions = [{**box(circle, 0.1, 0.1, 0.2, 0.2), "probability": 0.5}]
    with pytest.raises(traitlets.TraitError, match="probability"):
        e.suggestions = [{**box(circle, 0.1, 0.1, 0.2, 0.2), "probability": 1.5}]
    with pytest.raises(traitlets.TraitError, match="tag"):
        e.suggestions = [{**box("nope", 0.1, 0.1, 0.2, 0.2), "probability": 0.5}]


def test_tags_current_tag_and_create(detection):
    e = BoxEditor(detection)
    e.set_state({"current_tag": detection.get_tag("square").id})
    with pytest.raises(traitlets.TraitError):
        e.current_tag = "nope"
    e.handle_message({"type": "create_tag", "name": "triangle", "ids": []})
    assert e.current_tag == detection.get_tag("triangle").id
    assert [t["name"] for t in e.tags] == ["circle", "square", "triangle"]


def test_untagged_shows_images_without_boxes(detection):
    first = detection.images(order="oldest")[0].id
    detection.set_regions(first, [("circle", 0.1, 0.2, 0.3, 0.4)])
    e = BoxEditor(detection, show="untagged")
    assert e.total == 2 and first not in e._queue


def test_start_at_an_image(detection):
    last = detection.images(order="oldest")[-1].id
    e = BoxEditor(detection, start=last)
    assert e.position == 2 and e.image_id == last


def test_exif_rotated_images_use_displayed_coordinates(make_project):
    project = make_project("detection", n=0, tags=("thing",))
    img = Image.new("RGB", (200, 100), "white")  # stored 200x100, displayed 100x200
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    project.add_images([buf.getvalue()])
    e = BoxEditor(project)
    assert (e.image["width"], e.image["height"]) == (100, 200)
    preview = Image.open(io.BytesIO(base64.b64decode(e.src.split(",", 1)[1])))
    assert preview.size == (100, 200)


def test_empty_project_and_classification_projects(make_project):
    e = BoxEditor(make_project("detection", n=0, tags=()))
    assert e.image == {} and e.total == 0 and e.current_tag == ""
    e.handle_message({"type": "save"})
    assert e.notice["level"] == "error"
    with pytest.raises(TagError, match="Tagger"):
        BoxEditor(make_project("multiclass", n=1))
