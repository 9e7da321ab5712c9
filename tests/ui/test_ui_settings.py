"""ProjectSettings, driven as its front end drives it: every action through the widget's
messages changes the project as asked; a refused one says why and changes nothing."""

from __future__ import annotations

import time

import pytest

import cvbench
from cvbench.store.images import LIMIT_CEILINGS, Limits
from cvbench.ui import Gallery, ProjectSettings, Uploader, Workbench
from cvbench.ui.workbench import TABS


def _save(**fields):
    return {"type": "save_settings", "name": "digits", "description": "", "domain":
            "General (compact)", "kind": "multiclass", "split_seed": 0,
            "validation_fraction": 0.2, **fields}


def _state(project):
    return project.settings, [(t.id, t.name, t.type, t.description, t.image_count)
                              for t in project.tags], project.revision


@pytest.fixture
def tagged(make_project):
    """A multiclass project: 'cat' on 6 images, 'dog' on 3, one image untagged."""
    project = make_project("multiclass", n=10, tags=("cat", "dog"))
    ids = [im.id for im in project.images(order="oldest")]
    project.tag_images(ids[:6], ["cat"])
    project.tag_images(ids[6:9], ["dog"])
    return project


def test_it_shows_the_settings_the_split_and_the_tags(tagged):
    w = ProjectSettings(tagged)
    s = w.settings
    assert (s["name"], s["kind"], s["domain"]) == (tagged.name, "multiclass", "General (compact)")
    assert (s["split_seed"], s["validation_fraction"]) == (0, 0.2)
    assert s["train"] + s["validation"] == 9 and s["untagged"] == 1
    assert s["limits"]["max_tags"] == 500
    assert [(t["name"], t["count"], t["type"]) for t in w.tag_details] == [
        ("cat", 6, "Regular"), ("dog", 3, "Regular")]
    assert {d["name"] for d in w.domains} >= {"General (compact)", "General [A2]"}
    assert w.trained_domain == ""


def test_saving_the_settings_changes_the_project(tagged):
    w = ProjectSettings(tagged)
    before = {im.id: im.split for im in tagged.images()}
    w.handle_message(_save(name="  Pets  ", description="cats and dogs", kind="multilabel",
                           split_seed=42, validation_fraction=0.5))
    assert w.notice["level"] == "success", w.notice
    s = tagged.settings
    assert (s["name"], s["description"], s["kind"]) == ("Pets", "cats and dogs", "multilabel")
    assert (s["split_seed"], s["validation_fraction"]) == (42, 0.5)
    assert w.settings["name"] == "Pets" and w.settings["validation_fraction"] == 0.5
    after = {im.id: im.split for im in tagged.images()}
    assert before != after and sum(v == "validation" for v in after.values()) == 5  # 3 + 2
    assert "5 validation images" in w.notice["text"]
    # the domain: saved, and the notice says that it takes a new training
    w.handle_message(_save(name="Pets", description="cats and dogs", kind="multilabel",
                           split_seed=42, validation_fraction=0.5, domain="General [A2]"))
    assert tagged.domain == "General [A2]"
    assert "train again" in w.notice["text"] and "keep theirs" in w.notice["text"]
    # nothing changed: nothing saved, and the project is untouched
    revision = tagged.revision
    w.handle_message(_save(name="Pets", description="cats and dogs", kind="multilabel",
                           split_seed=42, validation_fraction=0.5, domain="General [A2]"))
    assert w.notice["level"] == "info" and "Nothing to save" in w.notice["text"]
    assert tagged.revision == revision


@pytest.mark.parametrize("fields, error", [
    ({"name": "   "}, "name is empty"),
    ({"name": "x" * 257}, "the most is 256"),
    ({"description": "x" * 4001}, "at most 4,000"),
    ({"domain": "No such domain"}, "does not serve multiclass projects"),
    ({"kind": "detection"}, "classification type 'detection'"),
    ({"validation_fraction": 0.0}, "strictly between 0 and 1"),
    ({"validation_fraction": 1.0}, "strictly between 0 and 1"),
    ({"split_seed": 1.5}, "split_seed"),
    ({"split_seed": "seven"}, "split_seed"),
])
def test_bad_settings_are_refused_and_change_nothing(tagged, fields, error):
    w = ProjectSettings(tagged)
    before = _state(tagged)
    # every other field asks for a change, so a partial save would show
    w.handle_message(_save(**{"name": "Renamed", "description": "new", "split_seed": 3,
                              "validation_fraction": 0.4, **fields}))
    assert w.notice["level"] == "error" and error in w.notice["text"], w.notice
    assert _state(tagged) == before


def test_a_refused_switch_to_multiclass_changes_nothing_else(make_project):
    project = make_project("multilabel", n=3, tags=("a", "b"))
    first = project.images()[0].id
    project.tag_images([first], ["a", "b"])
    w = ProjectSettings(project)
    before = _state(project)
    w.handle_message(_save(name="Other", kind="multiclass"))
    assert w.notice["level"] == "error" and "several tags" in w.notice["text"]
    assert _state(project) == before


def test_tags_rename_describe_and_negative(tagged):
    w = ProjectSettings(tagged)
    cat = tagged.get_tag("cat")
    w.handle_message({"type": "update_tag", "tag": cat.id, "name": "kitten",
                      "description": "young cats", "negative": False})
    assert w.notice["level"] == "success" and "renamed 'cat' to 'kitten'" in w.notice["text"]
    now = tagged.get_tag(cat.id)
    assert (now.name, now.description, now.image_count) == ("kitten", "young cats", 6)
    assert [t["name"] for t in w.tags] == ["dog", "kitten"]  # the shared tags trait follows
    # a third tag becomes the Negative one; a second Negative is refused
    other = tagged.create_tag("nothing")
    w.handle_message({"type": "update_tag", "tag": other.id, "name": "nothing",
                      "description": "", "negative": True})
    assert tagged.get_tag(other.id).type == "Negative" and "marked Negative" in w.notice["text"]
    before = _state(tagged)
    w.handle_message({"type": "update_tag", "tag": cat.id, "name": "kitten",
                      "description": "young cats", "negative": True})
    assert w.notice["level"] == "error" and "already has a Negative tag" in w.notice["text"]
    assert _state(tagged) == before
    # and back to a regular tag
    w.handle_message({"type": "update_tag", "tag": other.id, "name": "nothing",
                      "description": "", "negative": False})
    assert tagged.get_tag(other.id).type == "Regular"


@pytest.mark.parametrize("change, error", [
    ({"name": "DOG"}, "already exists"),
    ({"name": " "}, "empty"),
    ({"tag": "no-such-id"}, "no tag 'no-such-id'"),
    ({"description": 3}, "description"),
])
def test_bad_tag_edits_are_refused_and_change_nothing(tagged, change, error):
    w = ProjectSettings(tagged)
    before = _state(tagged)
    msg = {"type": "update_tag", "tag": tagged.get_tag("cat").id, "name": "feline",
           "description": "changed", "negative": False, **change}
    w.handle_message(msg)
    assert w.notice["level"] == "error" and error in w.notice["text"], w.notice
    assert _state(tagged) == before


def test_detection_has_no_negative_tag(make_project):
    project = make_project("detection", n=2, tags=("car",))
    w = ProjectSettings(project)
    before = _state(project)
    w.handle_message({"type": "update_tag", "tag": project.get_tag("car").id, "name": "auto",
                      "description": "", "negative": True})
    assert w.notice["level"] == "error" and "no Negative tag" in w.notice["text"]
    assert _state(project) == before
    image = project.images()[0].id
    project.set_regions(image, [{"tag": "car", "left": 0.1, "top": 0.1, "width": 0.5,
                                 "height": 0.5}])
    w.refresh()
    assert [(t["name"], t["count"], t["regions"]) for t in w.tag_details] == [("car", 1, 1)]


def test_merge_and_delete_tags(tagged):
    w = ProjectSettings(tagged)
    cat, dog = tagged.get_tag("cat"), tagged.get_tag("dog")
    w.handle_message({"type": "merge_tags", "sources": [dog.id], "into": cat.id})
    assert w.notice["level"] == "success" and "on 9 images" in w.notice["text"]
    assert [(t.name, t.image_count) for t in tagged.tags] == [("cat", 9)]
    before = _state(tagged)
    for bad, error in (({"sources": [cat.id], "into": cat.id}, "other than"),
                       ({"sources": ["gone"], "into": cat.id}, "no tag 'gone'"),
                       ({"sources": [], "into": cat.id}, "choose a tag")):
        w.handle_message({"type": "merge_tags", **bad})
        assert w.notice["level"] == "error" and error in w.notice["text"], w.notice
        assert _state(tagged) == before
    w.handle_message({"type": "delete_tag", "tag": "gone"})
    assert w.notice["level"] == "error" and _state(tagged) == before
    w.handle_message({"type": "delete_tag", "tag": cat.id})
    assert w.notice["level"] == "success" and "the 9 images it was on stay" in w.notice["text"]
    assert tagged.tags == [] and tagged.count_images() == 10
    assert w.tag_details == []


def test_a_negative_tag_merges_only_with_a_negative_tag(tagged):
    w = ProjectSettings(tagged)
    neg = tagged.create_tag("none", type="Negative")
    before = _state(tagged)
    w.handle_message({"type": "merge_tags", "sources": [neg.id],
                      "into": tagged.get_tag("cat").id})
    assert w.notice["level"] == "error" and "Negative" in w.notice["text"]
    assert _state(tagged) == before


def test_unknown_and_malformed_messages_are_readable_errors(tagged):
    w = ProjectSettings(tagged)
    before = _state(tagged)
    w.handle_message({"type": "explode"})
    assert "unknown to ProjectSettings" in w.notice["text"]
    w.handle_message({"type": "delete_tag"})
    assert "missing field(s) ['tag']" in w.notice["text"]
    assert _state(tagged) == before


def test_other_widgets_follow_a_renamed_tag(tagged):
    gallery = Gallery(tagged)
    w = ProjectSettings(tagged)
    w.handle_message({"type": "update_tag", "tag": tagged.get_tag("dog").id, "name": "puppy",
                      "description": "", "negative": False})
    deadline = time.monotonic() + 10
    while "puppy" not in [t["name"] for t in gallery.tags] and time.monotonic() < deadline:
        time.sleep(0.1)  # the project's watcher polls its revision every second
    assert [t["name"] for t in gallery.tags] == ["cat", "puppy"]


def test_the_workbench_has_a_settings_tab_and_its_header_follows(tagged):
    assert list(TABS)[-1] == "settings" and TABS["settings"] == "Settings"
    wb = Workbench(tagged, tab="settings")
    settings = wb.widget("settings")
    assert isinstance(settings, ProjectSettings) and settings.host == "workbench"
    settings.handle_message(_save(name="Renamed"))
    assert wb.header.info["name"] == "Renamed"
    settings.handle_message({"type": "delete_tag", "tag": tagged.get_tag("dog").id})
    assert wb.header.info["tags"] == 1 and wb.header.info["untagged"] == 4
    wb.show("images")
    assert [t["name"] for t in wb.widget("images").tags] == ["cat"]


# -- the limits -------------------------------------------------------------------------------------
def test_it_shows_the_limits_with_their_defaults_and_ceilings(tagged):
    w = ProjectSettings(tagged)
    assert w.settings["limits"] == Limits().to_dict()
    assert w.limit_bounds["max_image_bytes"] == {"default": 6 * 2**20,
                                                 "ceiling": LIMIT_CEILINGS["max_image_bytes"]}
    assert set(w.limit_bounds) == set(LIMIT_CEILINGS)


def test_saving_the_limits_changes_the_project(tagged):
    w = ProjectSettings(tagged)
    w.handle_message({"type": "save_limits",
                      "limits": {**Limits().to_dict(), "max_tags": 20, "max_image_bytes": 2**21}})
    assert w.notice["level"] == "success", w.notice
    assert w.notice["text"] == "Saved the limits: file size 2 MB, tags 20"
    assert tagged.limits == Limits(max_tags=20, max_image_bytes=2**21)
    assert w.settings["limits"]["max_tags"] == 20
    revision = tagged.revision
    w.handle_message({"type": "save_limits", "limits": {"max_tags": 20}})
    assert w.notice["level"] == "info" and "Nothing to save" in w.notice["text"]
    assert tagged.revision == revision
    # lowering a size limit below images already there: saved, and said
    w.handle_message({"type": "save_limits", "limits": {"max_image_side": 10}})
    assert w.notice["level"] == "success"
    assert "longest side 10 px" in w.notice["text"]
    assert "10 images already in the project are above the new limit" in w.notice["text"]
    # reset to defaults: what the browser sends for it
    w.handle_message({"type": "save_limits", "limits": Limits().to_dict()})
    assert tagged.limits == Limits() and w.notice["level"] == "success"


@pytest.mark.parametrize("limits, error", [
    ({"max_tags": 0}, "max_tags=0 should be a positive whole number"),
    ({"max_tags": 2.5}, "max_tags=2.5 should be a positive whole number"),
    ({"max_image_pixels": 20_000 * 20_000}, "above the most cvbench reads safely"),
    ({"max_pictures": 3}, "unknown limit(s) ['max_pictures']"),
    ({"max_tags": 1}, "below the 2 tags the project holds"),
    ({"max_images": 9}, "below the 10 images the project holds: delete 1 of them"),
])
def test_bad_limits_are_refused_and_change_nothing(tagged, limits, error):
    w = ProjectSettings(tagged)
    before = _state(tagged)
    w.handle_message({"type": "save_limits", "limits": {"max_regions_per_image": 50, **limits}})
    assert w.notice["level"] == "error" and error in w.notice["text"], w.notice
    assert _state(tagged) == before and w.settings["limits"] == Limits().to_dict()


def test_a_malformed_limits_message_is_a_readable_error(tagged):
    w = ProjectSettings(tagged)
    w.handle_message({"type": "save_limits", "limits": [1, 2]})
    assert w.notice["level"] == "error" and "field 'limits'" in w.notice["text"]


def test_the_uploader_and_other_settings_follow_new_limits(tagged):
    uploader = Uploader(tagged)
    other = ProjectSettings(cvbench.open_project(tagged.path))  # another process, say
    assert uploader.max_bytes == 6 * 2**20
    ProjectSettings(tagged).handle_message({"type": "save_limits",
                                            "limits": {"max_image_bytes": 3 * 2**20}})
    deadline = time.monotonic() + 10
    while (uploader.max_bytes != 3 * 2**20
           or other.settings["limits"]["max_image_bytes"] != 3 * 2**20) \
            and time.monotonic() < deadline:
        time.sleep(0.1)  # the watchers poll the projects' revision every second
    assert uploader.max_bytes == 3 * 2**20
    assert other.settings["limits"]["max_image_bytes"] == 3 * 2**20
    other.project.close()
