"""Tagger, driven as its front end drives it."""

from __future__ import annotations

import base64
import io

import pytest
import traitlets
from PIL import Image

from cvbench.errors import TagError
from cvbench.ui import Tagger


def decoded(src: str) -> Image.Image:
    assert src.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def test_goes_through_untagged_images_oldest_first(make_project):
    project = make_project(n=4)
    project.tag_images(project.images(order="oldest")[1].id, "cat")
    t = Tagger(project)
    assert t.total == 3 and t.position == 0
    assert t.image["name"] == "img000.png" and t.image["tags"] == []
    assert decoded(t.src).size == (40, 30)


def test_keys_in_multiclass_replace_the_tag_and_enter_moves_on(make_project):
    project = make_project(n=3)
    t = Tagger(project)
    cat, dog = project.get_tag("cat").id, project.get_tag("dog").id
    first = t.image_id
    t.handle_message({"type": "toggle_tag", "tag": cat})  # key 1
    assert project.image(first).tags == ("cat",) and t.image["tags"] == [cat]
    t.handle_message({"type": "toggle_tag", "tag": dog})  # key 2 replaces
    assert project.image(first).tags == ("dog",)
    assert {x["name"]: x["count"] for x in t.tags} == {"cat": 0, "dog": 1}
    t.handle_message({"type": "toggle_tag", "tag": dog})  # pressing it again removes it
    assert project.image(first).tags == ()
    t.handle_message({"type": "toggle_tag", "tag": cat})
    t.set_state({"position": 1})  # Enter
    assert t.image_id != first and t.total == 3  # the queue does not shrink under us
    t.set_state({"position": 0})  # back: the image shows its new tag
    assert t.image_id == first and t.image["tags"] == [cat]


def test_multilabel_toggles_several_tags(make_project):
    project = make_project("multilabel", n=2)
    t = Tagger(project)
    cat, dog = project.get_tag("cat").id, project.get_tag("dog").id
    t.handle_message({"type": "toggle_tag", "tag": cat})
    t.handle_message({"type": "toggle_tag", "tag": dog})
    assert project.image(t.image_id).tags == ("cat", "dog")
    t.handle_message({"type": "toggle_tag", "tag": cat})
    assert project.image(t.image_id).tags == ("dog",)
    t.handle_message({"type": "clear_tags"})
    assert project.image(t.image_id).tags == ()


def test_end_of_the_queue_and_bounds(make_project):
    project = make_project(n=2)
    t = Tagger(project)
    t.set_state({"position": 2})
    assert t.image == {} and t.src == ""
    t.handle_message({"type": "toggle_tag", "tag": project.get_tag("cat").id})
    assert t.notice["level"] == "error" and "no image" in t.notice["text"]
    with pytest.raises(traitlets.TraitError):
        t.position = 3
    t.previous()
    assert t.image["name"] == "img001.png"


def test_show_all_and_refresh(make_project, png):
    project = make_project(n=3)
    project.tag_images([i.id for i in project.images()], "cat")
    t = Tagger(project)
    assert t.total == 0 and t.image == {}
    t.set_state({"show": "all"})
    assert t.total == 3 and t.image["tags"] == [project.get_tag("cat").id]
    project.add_images([png(99)])  # added by someone else
    assert t.total == 3
    t.handle_message({"type": "refresh"})
    assert t.total == 4 and t.position == 0


@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_creating_tags_only_creates_them(make_project, kind):
    # three new tags in a row used to retag the image shown three times
    project = make_project(kind, n=2, tags=())
    t = Tagger(project)
    shown = t.image_id
    for name in ("bird", "cat", "dog"):
        t.handle_message({"type": "create_tag", "name": name, "ids": []})
    assert project.image(shown).tags == ()
    assert t.image_id == shown and t.image["tags"] == [] and t.position == 0
    assert [x["name"] for x in t.tags] == ["bird", "cat", "dog"]
    assert t.notice["text"] == "Created the tag 'dog'; key 3 or its button tags the image"
    t.toggle("cat")  # tagging stays one key or click away
    assert project.image(shown).tags == ("cat",)


def test_create_tag_with_no_image_shown(make_project):
    project = make_project(n=0, tags=())
    t = Tagger(project)
    t.handle_message({"type": "create_tag", "name": "bird", "ids": []})
    assert [x["name"] for x in t.tags] == ["bird"]
    assert t.notice == {"level": "success", "text": "Created the tag 'bird'", "id": t.notice["id"]}


def test_large_images_are_sent_downscaled(make_project, png):
    project = make_project(n=0)
    project.add_images([png(1, size=(2000, 1000), fmt="JPEG")])
    t = Tagger(project)
    assert decoded(t.src).size == (800, 400)
    t2 = Tagger(project, max_side=300)
    assert decoded(t2.src).size == (300, 150)


def test_deleted_images_are_skipped(make_project):
    project = make_project(n=3)
    t = Tagger(project)
    second = project.images(order="oldest")[1].id
    project.delete_images([second])
    t.set_state({"position": 1})
    assert t.image_id != second and t.total == 2


def test_detection_projects_are_refused(make_project):
    with pytest.raises(TagError, match="BoxEditor"):
        Tagger(make_project("detection", n=1))
