"""Saliency heatmaps: the heat falls on the object (one shape pasted on a flat background,
a quick classifier trained on such images), is deterministic, and has the image's size."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import cvbench
from cvbench.insight import NoConvolutionError, Saliency, last_conv_stage
from cvbench.samples import make_sample

TAGS = ("circle", "triangle")


def _composite(tag: str, seed: int, side: int = 224) -> tuple[Image.Image, tuple[float, ...]]:
    """One shape of random colour and place on a flat background, and its box."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(60, 200, 3)))
    s = int(rng.integers(side * 0.3, side * 0.42))
    x, y = (int(v) for v in rng.integers(0, side - s, 2))
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw = ImageDraw.Draw(img)
    if tag == "circle":
        draw.ellipse([x, y, x + s, y + s], fill=colour)
    else:
        draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
    return img, (x / side, y / side, s / side, s / side)


@pytest.fixture(scope="module")
def iteration(tmp_path_factory, one_torch_thread):
    project = cvbench.create_project(tmp_path_factory.mktemp("sal") / "shapes")
    for k, tag in enumerate(TAGS):
        project.add_images([_composite(tag, 1000 * k + i)[0] for i in range(24)], tags=tag)
    it = project.train("quick", progress_bar=False)
    yield it
    project.close()


def test_most_of_the_heat_lies_on_the_object(iteration):
    shares, areas = [], []
    for k in range(12):
        tag = TAGS[k % 2]
        img, box = _composite(tag, 50_000 + k)
        s = iteration.saliency(img)
        assert isinstance(s, Saliency) and s.tag == tag
        shares.append(s.share_inside(box))
        areas.append(box[2] * box[3])
    assert np.mean(shares) > 0.5, shares
    assert min(s / a for s, a in zip(shares, areas, strict=True)) > 2.0  # far above chance


def test_the_heat_is_deterministic_in_range_and_at_the_image_size(iteration):
    img, _ = _composite("circle", 7)
    img = img.resize((300, 200))
    a, b = iteration.saliency(img), iteration.saliency(img)
    np.testing.assert_array_equal(a.heat, b.heat)
    assert a.heat.shape == (200, 300) and a.heat.dtype == np.float32
    assert a.heat.min() >= 0.0 and a.heat.max() == pytest.approx(1.0)
    over = a.overlay()
    assert over.size == (300, 200) and over.mode == "RGB"
    assert 0.0 <= a.probability <= 1.0 and a.to_dict()["width"] == 300


def test_a_chosen_tag_is_explained_and_an_unknown_one_named(iteration):
    img, _ = _composite("circle", 8)
    s = iteration.saliency(img, tag="triangle")
    assert s.tag == "triangle" and s.probability < 0.5
    with pytest.raises(ValueError, match="not one of the model's tags"):
        iteration.saliency(img, tag="square")


def test_a_network_without_convolution_is_refused():
    with pytest.raises(NoConvolutionError, match="no convolutional layer"):
        last_conv_stage(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)))


def test_the_pooled_head_of_a_fine_tuned_network_is_explained_by_grad_cam(iteration):
    from cvbench.insight import saliency
    from cvbench.train.classify import ClassificationModel

    config = {**iteration.config(), "backbone": "tuned",
              "head": {"type": "linear", "inputs": 1280, "outputs": 2, "features": "pooled"}}
    tensors = {k: v for k, v in cvbench.train.features.frozen_backbone(
        "General (compact)").state_dict().items()}
    tensors = {f"backbone.{k}": v for k, v in tensors.items()}
    torch.manual_seed(0)
    tensors.update({"head.weight": torch.randn(2, 1280) * 0.05, "head.bias": torch.zeros(2)})
    model = ClassificationModel(config, tensors)
    assert model.feature_part == "pooled" and not model.uses_pretrained_backbone
    img, _ = _composite("circle", 9)
    s = saliency(model, img)
    assert s.layer == "bn2" and s.heat.shape == (224, 224) and s.heat.max() > 0


def test_detection_explains_the_predicted_box(tmp_path, one_torch_thread):
    project = make_sample("shapes", tmp_path / "det", small=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = project.train("quick", size=128, settings={"head_seconds": 3.0},
                           progress_bar=False)
    img = project.images()[0]
    s = it.saliency(img.path)
    assert s.box is not None and s.tag in it.tag_names
    assert s.heat.shape == (img.height, img.width) and s.heat.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(s.heat, it.saliency(img.path, tag=s.tag).heat)
    project.close()
