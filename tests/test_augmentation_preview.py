"""The augmentation preview shows what advanced training makes of the training images: the
same functions, the same random draws for a seed, boxes that follow the crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

import cvbench
from cvbench.train import preview_augmentations
from cvbench.train._classify_advanced import augment_view
from cvbench.train._detect_fit import augmented_views, load_samples


def _picture(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_classification_views_are_the_training_views():
    images = [_picture(1), _picture(2)]
    views = preview_augmentations(images, n=3, seed=7)
    assert [len(v) for v in views] == [3, 3]
    # the draws training makes: view 0 of every image, then view 1, … from one generator
    rng = np.random.default_rng(7)
    want = [[None] * 3 for _ in images]
    for v in range(3):
        for k, img in enumerate(images):
            want[k][v] = augment_view(img, rng)
    for got_row, want_row in zip(views, want, strict=True):
        for got, exp in zip(got_row, want_row, strict=True):
            assert got.size == (96, 64) and got.mode == "RGB"
            assert np.array_equal(np.asarray(got), np.asarray(exp))
    assert not np.array_equal(np.asarray(views[0][0]), np.asarray(views[0][1]))
    again = preview_augmentations(images, n=3, seed=7)
    assert all(np.array_equal(np.asarray(a), np.asarray(b))
               for ra, rb in zip(views, again, strict=True) for a, b in zip(ra, rb, strict=True))


def test_detection_views_follow_augmented_views_with_the_boxes_drawn():
    img = Image.new("RGB", (128, 128), (128, 128, 128))
    ImageDraw.Draw(img).rectangle([32, 32, 96, 96], fill=(250, 250, 250))
    boxes = [np.array([[0.25, 0.25, 0.75, 0.75]], dtype=np.float32)]
    labels = [np.array([1])]
    views = preview_augmentations([_png(img)], n=4, seed=3, boxes=boxes, labels=labels,
                                  size=64, colors=("#000000", "#ff0000"))
    assert len(views) == 1 and len(views[0]) == 4
    samples = load_samples([(_png(img), boxes[0], labels[0])], 64)
    want = augmented_views(samples, 4, 3)
    for got, view in zip(views[0], want, strict=True):
        assert got.size == (64, 64)
        pixels = np.asarray(got)
        raw = view[0].image.permute(1, 2, 0).numpy()
        drawn = np.any(pixels != raw, axis=-1)
        if len(view[0].boxes):  # the surviving box is drawn in label 1's colour
            assert drawn.any()
            assert np.all(pixels[drawn] == (255, 0, 0))
        else:
            assert not drawn.any()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n=0"):
        preview_augmentations([_picture(1)], n=0)
    with pytest.raises(ValueError, match="labels go with boxes"):
        preview_augmentations([_picture(1)], labels=[np.array([0])])
    with pytest.raises(ValueError, match="boxes and labels for every image"):
        preview_augmentations([_picture(1)], boxes=[], labels=[])
    with pytest.raises(ValueError, match="1 boxes but 2 labels"):
        preview_augmentations([_png(_picture(1))], boxes=[np.zeros((1, 4))],
                              labels=[np.array([0, 1])])


def test_the_project_previews_its_own_tagged_images(tmp_path):
    project = cvbench.create_project(tmp_path / "p")
    with pytest.raises(ValueError, match="no tagged image"):
        project.augmentation_preview()
    project.add_images([_png(_picture(i)) for i in range(3)], tags="a")
    project.add_images([_png(_picture(10 + i)) for i in range(3)], tags="b")
    project.add_images([_png(_picture(20))])  # untagged: never shown
    untagged = project.images(untagged=True)[0].id
    got = project.augmentation_preview(n_images=4, views=2, seed=0)
    assert len(got) == 4 and all(len(v) == 2 for _, v in got)
    assert untagged not in {img.id for img, _ in got}
    assert len({img.id for img, _ in got}) == 4
    img, views = got[0]
    want = preview_augmentations([img.path], 2, 0)[0]
    assert np.array_equal(np.asarray(views[0]), np.asarray(want[0]))
    assert [i.id for i, _ in project.augmentation_preview(n_images=4, views=2, seed=0)] == \
        [i.id for i, _ in got]
    with pytest.raises(ValueError, match="views=0"):
        project.augmentation_preview(views=0)


def test_a_detection_project_previews_its_boxes(tmp_path):
    project = cvbench.create_project(tmp_path / "d", kind="detection")
    img = Image.new("RGB", (160, 120), (90, 90, 90))
    ImageDraw.Draw(img).ellipse([40, 30, 120, 90], fill=(240, 200, 20))
    project.add_images([_png(img)], regions=[[{"tag": "ball", "left": 0.25, "top": 0.25,
                                               "width": 0.5, "height": 0.5}]])
    ((stored, views),) = project.augmentation_preview(n_images=4, views=3,
                                                      colors={project.tags[0].id: "#00ff00"})
    assert len(views) == 3 and views[0].size == (320, 320)
    assert any(np.any(np.all(np.asarray(v) == (0, 255, 0), axis=-1)) for v in views)


def test_the_train_panel_shows_the_preview_on_request(tmp_path):
    from cvbench.ui import TrainPanel

    project = cvbench.create_project(tmp_path / "panel")
    panel = TrainPanel(project)
    panel.handle_message({"type": "preview_augmentations", "seed": 0})
    assert panel.notice["level"] == "error" and "no tagged image" in panel.notice["text"]
    assert panel.augmentations == {}
    project.add_images([_png(_picture(i, (300, 200))) for i in range(5)], tags="a")
    panel.handle_message({"type": "preview_augmentations", "seed": 2})
    shown = panel.augmentations
    assert shown["seed"] == 2 and len(shown["images"]) == 4
    assert all(len(i["views"]) == 6 for i in shown["images"])
    first = shown["images"][0]["views"][0]
    assert first.startswith("data:image/jpeg;base64,")
    want = [img.id for img, _ in project.augmentation_preview(4, 6, 2)]
    assert [i["id"] for i in shown["images"]] == want
    panel.handle_message({"type": "preview_augmentations", "seed": 3})
    assert panel.augmentations["images"][0]["views"][0] != first
    panel.handle_message({"type": "close_preview"})
    assert panel.augmentations == {}
