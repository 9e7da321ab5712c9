"""The Uploader's webcam: a burst of frames (JPEG bytes from the browser's canvas) is added
under the tag chosen, with the usual results; a bad frame is refused in words."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cvbench.ui import Uploader
from cvbench.ui.uploader import MAX_FRAMES


def _frame(i: int) -> bytes:
    img = Image.new("RGB", (64, 48), (40 + 10 * i, 90, 160))
    img.putpixel((i, i), (255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


def test_a_burst_is_added_under_the_tag(make_project):
    project = make_project("multiclass", n=0, tags=("cat",))
    up = Uploader(project)
    frames = [_frame(i) for i in range(3)]
    up.handle_message({"type": "webcam", "tag": "cat"}, frames)
    assert up.notice["level"] == "success" and up.notice["text"] == "Added 3 images", up.notice
    assert [r["status"] for r in up.results] == ["OK"] * 3
    assert all(r["source"].startswith("webcam-") and r["source"].endswith(".jpg")
               for r in up.results)
    images = project.images()
    assert len(images) == 3 and all(img.tags == ("cat",) for img in images)
    assert {img.original_name for img in images} == {r["source"] for r in up.results}
    assert next(t for t in up.tags if t["name"] == "cat")["count"] == 3


def test_a_new_tag_name_becomes_a_tag_and_no_tag_leaves_frames_untagged(make_project):
    project = make_project("multiclass", n=0, tags=())
    up = Uploader(project)
    up.handle_message({"type": "webcam", "tag": " mug "}, [_frame(1)])
    up.handle_message({"type": "webcam", "tag": ""}, [_frame(2)])
    assert project.get_tag("mug").image_count == 1
    assert project.count_images(untagged=True) == 1


def test_a_bad_frame_is_refused_readably_and_the_others_added(make_project):
    project = make_project("multiclass", n=0, tags=("cat",))
    up = Uploader(project)
    up.handle_message({"type": "webcam", "tag": "cat"}, [_frame(0), b"not a jpeg", _frame(1)])
    assert [r["status"] for r in up.results] == ["OK", "ErrorImageFormat", "OK"]
    bad = up.results[1]
    assert bad["label"] == "Not an image" and bad["message"]
    assert "1 refused" in up.notice["text"] and project.count_images() == 2


def test_an_empty_or_too_long_burst_and_a_tag_for_detection_are_refused(make_project):
    project = make_project("multiclass", n=0)
    up = Uploader(project)
    up.handle_message({"type": "webcam", "tag": "cat"}, [])
    assert up.notice["level"] == "error" and "no frame" in up.notice["text"]
    up.handle_message({"type": "webcam", "tag": "cat"}, [_frame(0)] * (MAX_FRAMES + 1))
    assert "at most" in up.notice["text"] and project.count_images() == 0
    up.handle_message({"type": "webcam"}, [_frame(0)])
    assert "tag" in up.notice["text"] and project.count_images() == 0  # the shape is checked
    det = Uploader(make_project("detection", n=0))
    det.handle_message({"type": "webcam", "tag": "cat"}, [_frame(0)])
    assert "boxes" in det.notice["text"] and det.project.count_images() == 0
    det.handle_message({"type": "webcam", "tag": ""}, [_frame(0)])
    assert det.project.count_images() == 1


def test_a_burst_leaves_staged_files_staged(make_project, png):
    project = make_project("multiclass", n=0, tags=("cat",))
    up = Uploader(project)
    up.add_file("a.png", png(1))
    up.add_frames([_frame(0)], tag="cat")
    assert [f["name"] for f in up.staged] == ["a.png"]
    rows = up.upload()
    assert [r["source"] for r in rows] == ["a.png"] and project.count_images() == 2


def test_add_frames_from_python(make_project):
    project = make_project("multiclass", n=0, tags=("cat",))
    rows = Uploader(project).add_frames([_frame(5)], tag="cat")
    assert rows[0]["status"] == "OK" and project.image(rows[0]["image_id"]).tags == ("cat",)
    with pytest.raises(ValueError, match="no frame"):
        Uploader(project).add_frames([])
