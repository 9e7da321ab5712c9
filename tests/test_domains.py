"""Tests of cvbench.domains: the registry, the offline weights, offline failures, preprocessing."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

from cvbench import domains
from cvbench.domains import (
    DEFAULT_DOMAIN,
    DOMAINS,
    Domain,
    build_backbone,
    build_classifier,
    get_domain,
    imagenet_labels,
    preprocess,
    preprocessing_key,
)
from cvbench.errors import OfflineWeightsError

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup
LITE_DOMAINS = ["General (compact)", "General [A2]"]


@pytest.fixture(autouse=True)
def _fresh_weight_cache():
    """Tests that fake the network or the hub cache must not see (or leave) cached weights."""
    domains._pretrained_state_dict.cache_clear()
    yield
    domains._pretrained_state_dict.cache_clear()


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """An empty torch hub cache, and any download attempt fails at once."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled by the test")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "urlopen", refuse)  # what download_url_to_file calls
    return tmp_path / "torch"


def _top(model: torch.nn.Module, domain: str, image: np.ndarray, k: int) -> list[int]:
    x = preprocess(domain, [Image.fromarray(image)])
    with torch.inference_mode():
        logits = model(x)
    assert logits.shape == (1, 1000)
    return logits[0].topk(k).indices.tolist()


# --------------------------------------------------------------------------- registry


def test_registry_entries():
    assert DEFAULT_DOMAIN in DOMAINS
    lite0 = get_domain("General (compact)")
    assert (lite0.arch, lite0.image_size, lite0.offline) == ("tf_efficientnet_lite0", 224, True)
    assert lite0.mean == lite0.std == (0.5, 0.5, 0.5)
    assert lite0.serves("detection") and lite0.serves("multiclass") and lite0.serves("multilabel")
    lite2 = get_domain("General [A2]")
    assert (lite2.arch, lite2.image_size, lite2.offline) == ("tf_efficientnet_lite2", 260, True)
    general = get_domain("General")
    assert (general.arch, general.offline, general.feature_dim) == ("resnet50", False, 2048)
    for name, d in DOMAINS.items():
        assert isinstance(d, Domain) and d.name == name
        assert set(d.kinds) <= {"multiclass", "multilabel", "detection"}
    assert get_domain(lite0) is lite0
    assert domains.offline_domains() == LITE_DOMAINS
    assert "General [A2]" not in domains.domain_names("detection")
    assert domains.domain_names() == list(DOMAINS)


def test_domain_is_frozen():
    with pytest.raises(AttributeError):
        get_domain(DEFAULT_DOMAIN).arch = "resnet18"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["general (compact)", "Food", "", None])
def test_unknown_domain_names_the_valid_ones(bad):
    with pytest.raises(ValueError) as info:
        get_domain(bad)
    message = str(info.value)
    assert f"domain={bad!r} is not a known domain" in message
    for name in DOMAINS:
        assert repr(name) in message


def test_imagenet_labels_ship_with_timm():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[285] == "Egyptian cat" and labels[967] == "espresso"


# --------------------------------------------------------------------------- weights


@pytest.mark.parametrize("name", LITE_DOMAINS)
def test_offline_weights_classify_real_photos(name, no_network):
    """Proof that the packaged weights are loaded (and offline): a cat and an espresso."""
    model = build_classifier(name)
    cat = _top(model, name, skdata.chelsea(), 3)
    assert cat[0] in CAT_CLASSES, [imagenet_labels()[i] for i in cat]
    coffee = _top(model, name, skdata.coffee(), 5)
    assert COFFEE_CLASSES & set(coffee), [imagenet_labels()[i] for i in coffee]
    assert not any(no_network.rglob("*")), "nothing may be downloaded for an offline domain"


@pytest.mark.parametrize("name", LITE_DOMAINS)
def test_random_weights_do_not_recognise_the_photos(name):
    torch.manual_seed(0)
    model = build_classifier(name, pretrained=False)
    cat = _top(model, name, skdata.chelsea(), 3)
    coffee = _top(model, name, skdata.coffee(), 5)
    assert cat[0] not in CAT_CLASSES and not COFFEE_CLASSES & set(coffee)
    assert not torch.equal(
        model.state_dict()["conv_stem.weight"],
        domains._pretrained_state_dict(name)["conv_stem.weight"],
    )


@pytest.mark.parametrize("name", LITE_DOMAINS)
def test_backbone_gets_every_tensor_from_the_file(name):
    """Pooled-feature backbone: same weights as the classifier, and its output width."""
    backbone = build_backbone(name)
    classifier = build_classifier(name)
    reference = classifier.state_dict()
    for key, tensor in backbone.state_dict().items():
        assert torch.equal(tensor, reference[key]), key
    x = preprocess(name, [Image.fromarray(skdata.chelsea())])
    with torch.inference_mode():
        features = backbone(x)
    assert features.shape == (1, get_domain(name).feature_dim)
    assert not backbone.training


def test_lite_mapping_is_exact():
    """Every tensor of the packaged checkpoint lands somewhere in timm's model, and back."""
    import timm

    state = domains._pretrained_state_dict("General (compact)")
    model = timm.create_model("tf_efficientnet_lite0", num_classes=1000)
    assert set(state) == set(model.state_dict())
    assert state["blocks.6.0.conv_pwl.weight"].shape == (320, 1152, 1, 1)


def test_strict_load_refuses_a_checkpoint_that_does_not_fit():
    state = dict(domains._pretrained_state_dict("General (compact)"))
    del state["blocks.3.1.conv_dw.weight"]
    model = build_classifier("General (compact)", pretrained=False)
    with pytest.raises(RuntimeError, match="blocks.3.1.conv_dw.weight"):
        domains._load_strict(model, state, get_domain("General (compact)"), allow_unused=True)


def test_weights_are_cached_per_process():
    first = domains._pretrained_state_dict("General (compact)")
    build_backbone("General (compact)")
    assert domains._pretrained_state_dict("General (compact)") is first
    assert domains._pretrained_state_dict.cache_info().hits >= 1


def test_features_only_strides_8_16_32():
    model = build_backbone("General (compact)", features_only=True, out_indices=(2, 3, 4))
    assert model.feature_info.reduction() == [8, 16, 32]
    channels = model.feature_info.channels()
    assert channels == [40, 112, 320]
    x = preprocess("General (compact)", [Image.fromarray(skdata.coffee())], size=320)
    with torch.inference_mode():
        maps = model(x)
    assert [tuple(m.shape) for m in maps] == [
        (1, c, 320 // s, 320 // s) for c, s in zip(channels, (8, 16, 32), strict=True)
    ]


def test_out_indices_without_features_only_is_refused():
    with pytest.raises(ValueError, match="features_only"):
        build_backbone("General (compact)", pretrained=False, out_indices=(2, 3, 4))


# --------------------------------------------------------------------------- downloads


@pytest.mark.timeout(60)
@pytest.mark.parametrize("builder", [build_backbone, build_classifier])
def test_download_domain_offline_raises_a_clear_error(builder, no_network):
    with pytest.raises(OfflineWeightsError) as info:
        builder("General")
    message = str(info.value)
    assert "'General'" in message
    assert "Domains that work offline: 'General (compact)', 'General [A2]'" in message
    assert "network disabled by the test" in message  # the reason, in one line
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # The partial download was cleaned up: nothing half-written in the cache.
    assert not [p for p in no_network.rglob("*") if p.is_file()]


@pytest.mark.timeout(60)
def test_download_function_failing_is_reported_too(monkeypatch, tmp_path):
    """Same when torch.hub's download function itself fails (e.g. a timeout)."""

    def timeout(*args, **kwargs):
        raise TimeoutError("timed out")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", timeout)
    with pytest.raises(OfflineWeightsError, match="TimeoutError: timed out"):
        build_backbone("General")


@pytest.mark.timeout(120)
def test_download_domain_loads_from_the_hub_cache(no_network):
    """With the file already in torch's hub cache, "General" loads offline, strictly.

    The cached file is a randomly initialised torchvision ResNet-50: this checks that
    torchvision's key names fit timm's resnet50 exactly, without any network.
    """
    import torchvision
    from torchvision.models import ResNet50_Weights

    checkpoints = no_network / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    reference = torchvision.models.resnet50(weights=None).state_dict()
    filename = ResNet50_Weights.IMAGENET1K_V2.url.rsplit("/", 1)[1]
    torch.save(reference, checkpoints / filename)

    classifier = build_classifier("General")
    for key, tensor in classifier.state_dict().items():
        assert torch.equal(tensor, reference[key]), key
    backbone = build_backbone("General", features_only=True, out_indices=(2, 3, 4))
    assert backbone.feature_info.channels() == [512, 1024, 2048]
    assert backbone.feature_info.reduction() == [8, 16, 32]


# --------------------------------------------------------------------------- preprocessing


def _photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


@pytest.mark.parametrize("name", list(DOMAINS))
def test_preprocess_shape_dtype_range(name):
    d = get_domain(name)
    images = [
        _photo(640, 480),
        _photo(1, 1),
        _photo(33, 200, "L"),
        _photo(50, 40, "RGBA"),
        _photo(20, 20, "P"),
    ]
    x = preprocess(name, images)
    assert x.shape == (5, 3, d.image_size, d.image_size)
    assert x.dtype == torch.float32
    low = (0 - np.array(d.mean)) / np.array(d.std)
    high = (1 - np.array(d.mean)) / np.array(d.std)
    for c in range(3):
        assert x[:, c].min() >= low[c] - 1e-5 and x[:, c].max() <= high[c] + 1e-5
    assert preprocess(name, [_photo(10, 10)], size=112).shape == (1, 3, 112, 112)
    assert preprocess(name, []).shape == (0, 3, d.image_size, d.image_size)


def test_preprocess_values():
    """Squash (no crop), bilinear, [0, 1] then (x - 0.5) / 0.5: a flat colour stays flat."""
    flat = Image.new("RGB", (300, 100), (255, 0, 128))
    x = preprocess("General (compact)", [flat], size=64)
    assert torch.allclose(x[0, 0], torch.tensor(1.0))
    assert torch.allclose(x[0, 1], torch.tensor(-1.0))
    assert torch.allclose(x[0, 2], torch.tensor(128 / 255 * 2 - 1), atol=1e-6)
    # Squash keeps both halves of a wide image: left black, right white.
    halves = np.zeros((10, 400, 3), dtype=np.uint8)
    halves[:, 200:] = 255
    y = preprocess("General (compact)", [Image.fromarray(halves)], size=20)
    assert torch.all(y[0, :, :, :9] == -1.0) and torch.all(y[0, :, :, 11:] == 1.0)


def test_preprocess_is_deterministic():
    images = [Image.fromarray(skdata.astronaut())]
    assert torch.equal(preprocess(DEFAULT_DOMAIN, images), preprocess(DEFAULT_DOMAIN, images))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "224", True])
def test_preprocess_refuses_bad_sizes(bad):
    with pytest.raises(ValueError, match="positive int"):
        preprocess(DEFAULT_DOMAIN, [_photo(8, 8)], size=bad)


def test_preprocess_refuses_non_images():
    with pytest.raises(TypeError, match=r"images\[0\] is a ndarray"):
        preprocess(DEFAULT_DOMAIN, [np.zeros((8, 8, 3), dtype=np.uint8)])  # type: ignore[list-item]


def test_preprocessing_key():
    assert preprocessing_key("General (compact)") == "tf_efficientnet_lite0:224:squash:v1"
    assert preprocessing_key("General (compact)", 112) == "tf_efficientnet_lite0:112:squash:v1"
    assert preprocessing_key("General [A2]") == "tf_efficientnet_lite2:260:squash:v1"
    keys = {preprocessing_key(n) for n in DOMAINS}
    assert len(keys) == len(DOMAINS)
