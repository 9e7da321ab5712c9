"""Uploader, driven as its front end drives it: one "file" message per file, then "upload"."""

from __future__ import annotations

import pytest

from cvbench.ui import Uploader


def send_file(u: Uploader, name: str, data: bytes) -> None:
    u.handle_message({"type": "file", "name": name, "size": len(data)}, [memoryview(data)])


def statuses(u: Uploader) -> dict[str, str]:
    return {row["source"]: row["status"] for row in u.results}


def test_files_with_tags_a_corrupt_file_and_a_duplicate(make_project, png):
    project = make_project(n=0)
    u = Uploader(project)
    progress = []
    u.observe(lambda change: progress.append(change["new"]), "progress")
    send_file(u, "a.png", png(1))
    send_file(u, "b.png", png(2))
    send_file(u, "broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg")
    send_file(u, "again.png", png(1))
    assert [f["name"] for f in u.staged] == ["a.png", "b.png", "broken.jpg", "again.png"]
    u.handle_message({"type": "upload", "text": "", "tags": ["cat", "bird"]})
    # a multiclass project takes one tag an image: two tags refuse every file
    assert set(statuses(u).values()) == {"ErrorTagLimitExceed"}
    assert project.count_images() == 0
    send_file(u, "a.png", png(1))
    send_file(u, "b.png", png(2))
    send_file(u, "broken.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg")
    send_file(u, "again.png", png(1))
    progress.clear()
    u.handle_message({"type": "upload", "text": "", "tags": ["cat"]})
    assert statuses(u) == {
        "a.png": "OK", "b.png": "OK", "broken.jpg": "ErrorImageFormat", "again.png": "OKDuplicate",
    }
    broken = next(r for r in u.results if r["source"] == "broken.jpg")
    assert broken["message"] and broken["image_id"] == ""
    assert project.count_images(tag="cat") == 2
    assert sorted(i.original_name for i in project.images()) == ["a.png", "b.png"]
    assert u.staged == [] and not u.busy
    assert progress[0] == {"done": 0, "total": 4} and progress[-1] == {"done": 4, "total": 4}
    assert "Added 2 images, 1 already in the project, 1 refused" in u.notice["text"]
    assert [t["name"] for t in u.tags] == ["bird", "cat", "dog"]


def test_new_tag_names_are_created(make_project, png):
    project = make_project("multilabel", n=0, tags=())
    u = Uploader(project)
    send_file(u, "x.png", png(5))
    u.handle_message({"type": "upload", "text": "", "tags": ["sky", " outdoor "]})
    assert project.image(u.results[0]["image_id"]).tags == ("outdoor", "sky")


def test_paths_folders_and_missing_files(make_project, png, tmp_path):
    project = make_project(n=0)
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.png").write_bytes(png(10))
    (folder / "sub" / "two.png").write_bytes(png(11))
    (folder / "notes.txt").write_text("not an image")
    single = tmp_path / "single.png"
    single.write_bytes(png(12))
    empty = tmp_path / "empty"
    empty.mkdir()
    text = f"{folder}\n\n# a comment\n{single}\n{tmp_path / 'missing.png'}\n{empty}\n"
    u = Uploader(project)
    u.handle_message({"type": "upload", "text": text, "tags": []})
    got = statuses(u)
    assert got[str(folder / "one.png")] == "OK"
    assert got[str(folder / "sub" / "two.png")] == "OK"
    assert got[str(single)] == "OK"
    assert got[str(tmp_path / "missing.png")] == "ErrorSource"
    assert got[str(empty)] == "ErrorSource"
    assert project.count_images() == 3


def test_unreachable_url_is_reported(make_project):
    u = Uploader(make_project(n=0))
    u.handle_message({"type": "upload", "text": "http://127.0.0.1:9/nothing.png", "tags": []})
    assert statuses(u) == {"http://127.0.0.1:9/nothing.png": "ErrorSource"}


def test_clear_files_and_nothing_to_upload(make_project, png):
    u = Uploader(make_project(n=0))
    send_file(u, "a.png", png(1))
    u.handle_message({"type": "clear_files"})
    assert u.staged == []
    u.handle_message({"type": "upload", "text": "  \n", "tags": []})
    assert u.notice["level"] == "error" and "nothing to upload" in u.notice["text"]


def test_detection_uploads_without_tags(make_project, png):
    project = make_project("detection", n=0, tags=("thing",))
    u = Uploader(project)
    send_file(u, "a.png", png(1))
    u.handle_message({"type": "upload", "text": "", "tags": ["thing"]})
    assert u.notice["level"] == "error" and "boxes" in u.notice["text"]
    assert len(u.staged) == 1  # kept: upload again without tags
    u.handle_message({"type": "upload", "text": "", "tags": []})
    assert statuses(u) == {"a.png": "OK"}


def test_a_file_message_needs_exactly_one_buffer(make_project):
    u = Uploader(make_project(n=0))
    u.handle_message({"type": "file", "name": "a.png", "size": 3}, [])
    assert u.notice["level"] == "error" and u.staged == []


def test_max_bytes_follows_the_project_limits(make_project, tmp_path):
    import cvbench

    project = cvbench.create_project(tmp_path / "small", limits={"max_image_bytes": 1000})
    assert Uploader(project).max_bytes == 1000
    assert Uploader(make_project(n=0)).max_bytes == 6 * 1024 * 1024
    with pytest.raises(Exception, match="max_bytes"):
        Uploader(project).max_bytes = -1
