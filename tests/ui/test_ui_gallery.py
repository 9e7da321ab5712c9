"""Gallery, driven as its front end drives it: trait changes and typed messages."""

from __future__ import annotations

import base64

import pytest
import traitlets

from cvbench.ui import Gallery


def ids_of(gallery: Gallery) -> list[str]:
    return [item["id"] for item in gallery.items]


def tags_by_name(gallery: Gallery) -> dict[str, dict]:
    return {t["name"]: t for t in gallery.tags}


def test_opens_on_the_first_page_with_counts(make_project):
    project = make_project(n=130)
    g = Gallery(project)
    assert g.total == 130 and g.image_count == 130 and g.untagged_count == 130
    assert len(g.items) == 60 and g.pages == 3
    item = g.items[0]
    assert set(g.thumbnails) == set(ids_of(g))
    src = g.thumbnails[item["id"]]
    assert src.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:2] == b"\xff\xd8"  # a JPEG
    assert item["tags"] == [] and item["width"] == 40 and item["height"] == 30
    # newest first
    assert item["name"] == "img129.png"
    assert [t["name"] for t in g.tags] == ["cat", "dog"]


def test_paging_reads_only_the_page(make_project, monkeypatch):
    project = make_project(n=130)
    g = Gallery(project)
    calls = []
    original = project.images

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(project, "images", spy)
    g.set_state({"page": 2})  # what the browser sends
    assert len(g.items) == 10
    assert calls == [{"split": None, "skip": 120, "take": 60, "order": "newest"}]
    g.set_state({"page": 9})  # beyond the end: the last page
    assert g.page == 2
    g.set_state({"page_size": 25})
    assert g.page == 2 and len(g.items) == 25
    with pytest.raises(traitlets.TraitError):
        g.page_size = 0
    with pytest.raises(traitlets.TraitError):
        g.page = -1


def test_all_pages_together_hold_every_image_once(make_project):
    project = make_project(n=130)
    g = Gallery(project, page_size=50)
    seen = []
    for page in range(g.pages):
        g.page = page
        seen += ids_of(g)
    assert len(seen) == 130 and len(set(seen)) == 130


def test_tag_message_tags_the_images_and_refreshes_the_counts(make_project):
    project = make_project(n=8)
    g = Gallery(project)
    cat = project.get_tag("cat").id
    chosen = ids_of(g)[:3]
    g.set_state({"selected": chosen})
    g.handle_message({"type": "tag", "ids": chosen, "tag": cat})
    assert sorted(i.id for i in project.images(tag="cat")) == sorted(chosen)
    assert tags_by_name(g)["cat"]["count"] == 3
    assert g.untagged_count == 5
    assert g.selected == []
    assert g.notice["level"] == "success" and "3 images" in g.notice["text"]
    assert all(item["tags"] == [cat] for item in g.items if item["id"] in chosen)


def test_tagging_does_not_resend_the_thumbnails(make_project):
    project = make_project(n=8)
    g = Gallery(project)
    sent = []
    g.observe(lambda change: sent.append(change["name"]), names=["items", "thumbnails"])
    g.handle_message({"type": "tag", "ids": ids_of(g)[:2], "tag": project.get_tag("cat").id})
    assert sent == ["items"]
    g.page_size = 3
    assert "thumbnails" in sent and len(g.thumbnails) == 3


def test_multiclass_tag_replaces_the_tag(make_project):
    project = make_project(n=2)
    g = Gallery(project)
    one = ids_of(g)[:1]
    g.handle_message({"type": "tag", "ids": one, "tag": project.get_tag("cat").id})
    g.handle_message({"type": "tag", "ids": one, "tag": project.get_tag("dog").id})
    assert project.image(one[0]).tags == ("dog",)
    assert tags_by_name(g)["cat"]["count"] == 0 and tags_by_name(g)["dog"]["count"] == 1


def test_multilabel_tag_adds_and_untag_removes(make_project):
    project = make_project("multilabel", n=3)
    g = Gallery(project)
    ids = ids_of(g)
    cat, dog = project.get_tag("cat").id, project.get_tag("dog").id
    g.handle_message({"type": "tag", "ids": ids, "tag": cat})
    g.handle_message({"type": "tag", "ids": ids[:1], "tag": dog})
    assert project.image(ids[0]).tags == ("cat", "dog")
    g.handle_message({"type": "untag", "ids": ids[:1], "tag": cat})
    assert project.image(ids[0]).tags == ("dog",)
    g.handle_message({"type": "untag", "ids": ids, "tag": None})
    assert all(project.image(i).tags == () for i in ids)
    assert g.untagged_count == 3


def test_delete_removes_images_and_prunes_the_selection(make_project):
    project = make_project(n=6)
    g = Gallery(project)
    ids = ids_of(g)
    g.set_state({"selected": ids[:3]})
    g.handle_message({"type": "delete", "ids": ids[:2]})
    assert project.count_images() == 4
    assert g.total == 4 and ids[0] not in ids_of(g)
    assert g.selected == [ids[2]]
    assert "Deleted 2 images" in g.notice["text"]


def test_a_selection_sent_before_the_deletion_was_known_loses_the_deleted(make_project):
    # the browser throttles its state but sends messages at once: a selection made before
    # the delete message may reach Python after it
    project = make_project(n=6)
    g = Gallery(project)
    ids = ids_of(g)
    g.handle_message({"type": "delete", "ids": ids[:2]})
    g.set_state({"selected": ids[:3]})  # late
    assert g.selected == [ids[2]]
    g.handle_message({"type": "create_tag", "name": "bird", "ids": ids[:3]})
    assert g.notice["level"] == "success"
    assert [i.id for i in project.images(tag="bird")] == [ids[2]]


def test_filters_untagged_tag_split_and_a_python_filter(make_project):
    project = make_project(n=12)
    g = Gallery(project)
    ids = ids_of(g)
    cat = project.get_tag("cat").id
    g.handle_message({"type": "tag", "ids": ids[:6], "tag": cat})
    g.set_state({"show": "untagged"})
    assert g.total == 6 and set(ids_of(g)) == set(ids[6:])
    g.set_state({"show": f"tag:{cat}"})
    assert g.total == 6 and set(ids_of(g)) == set(ids[:6])
    g.set_state({"split": "validation"})
    validation = {i.id for i in project.images(tag="cat", split="validation")}
    assert validation and set(ids_of(g)) == validation
    g.set_state({"split": "", "show": "all"})
    assert g.total == 12

    # the hook for "wrong in iteration N": Python resolves the filter with a callable
    def wrong(proj, split):
        assert proj is project
        return ids[3:5]

    g.add_filter("wrong:1", "Wrong in iteration 1", wrong)
    assert g.filter_options == [{"key": "wrong:1", "label": "Wrong in iteration 1"}]
    g.set_state({"show": "wrong:1"})
    assert g.total == 2 and ids_of(g) == ids[3:5]
    with pytest.raises(traitlets.TraitError):
        g.show = "tag:no-such-tag"
    with pytest.raises(traitlets.TraitError):
        g.show = "sometimes"
    with pytest.raises(traitlets.TraitError):
        g.split = "test"
    with pytest.raises(ValueError):
        g.add_filter("untagged", "clash", wrong)


def test_changing_the_filter_resets_page_and_selection(make_project):
    project = make_project(n=70)
    g = Gallery(project)
    g.set_state({"page": 1, "selected": ids_of(g)[:2]})
    g.set_state({"show": "untagged"})
    assert g.page == 0 and g.selected == []


def test_select_matching_selects_every_page(make_project):
    project = make_project(n=75)
    g = Gallery(project)
    g.handle_message({"type": "select_matching"})
    assert len(g.selected) == 75 and len(set(g.selected)) == 75


def test_create_tag_and_apply(make_project):
    project = make_project(n=3)
    g = Gallery(project)
    g.handle_message({"type": "create_tag", "name": "bird", "ids": ids_of(g)[:2]})
    assert project.count_images(tag="bird") == 2
    assert tags_by_name(g)["bird"]["count"] == 2
    g.handle_message({"type": "create_tag", "name": "fish", "ids": []})
    assert "fish" in tags_by_name(g)


def test_refused_messages_leave_the_project_unchanged(make_project):
    project = make_project(n=3)
    g = Gallery(project)
    ids = ids_of(g)
    g.handle_message({"type": "tag", "ids": ids, "tag": "no-such-tag-id"})
    assert g.notice["level"] == "error" and "no tag" in g.notice["text"]
    g.handle_message({"type": "tag", "ids": ids, "tag": 3})  # wrong shape
    assert g.notice["level"] == "error" and "'tag'" in g.notice["text"]
    g.handle_message({"type": "tag", "ids": ids})  # missing field
    assert "missing" in g.notice["text"]
    g.handle_message({"type": "explode"})
    assert "unknown" in g.notice["text"]
    g.handle_message({"type": "tag", "ids": [], "tag": project.get_tag("cat").id})
    assert "select images first" in g.notice["text"]
    g.handle_message({"type": "create_tag", "name": "CAT", "ids": []})
    assert "already exists" in g.notice["text"]
    assert project.count_images(untagged=True) == 3


def test_detection_projects_refuse_bulk_tags_and_draw_regions(make_project):
    project = make_project("detection", n=2, tags=("box",))
    image_id = project.images()[0].id
    project.set_regions(image_id, [("box", 0.1, 0.2, 0.3, 0.4)])
    g = Gallery(project)
    g.handle_message({"type": "tag", "ids": [image_id], "tag": project.get_tag("box").id})
    assert g.notice["level"] == "error" and "boxes" in g.notice["text"]
    item = next(i for i in g.items if i["id"] == image_id)
    ((tag, *box),) = item["regions"]
    assert tag == project.get_tag("box").id and box == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_empty_project(make_project):
    g = Gallery(make_project(n=0))
    assert g.items == [] and g.total == 0 and g.pages == 1


def test_not_a_project_is_refused():
    with pytest.raises(TypeError, match="open_project"):
        Gallery("some/folder")
