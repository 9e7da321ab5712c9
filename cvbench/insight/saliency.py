"""Saliency heatmaps: where in an image a trained model looks when it gives a tag.

Grad-CAM (the ``grad-cam`` package, :class:`pytorch_grad_cam.GradCAM`): the gradient of one
output with respect to the feature maps of a convolutional stage, averaged per channel,
weighs those maps; their weighted sum, without its negative part, is the heat. It is
computed on the iteration's own network, through the same computation the model uses to
predict, on the image squashed to the model's input side as
:func:`cvbench.domains.preprocess` does; the heat is then resized back to the image's own
size (the squash is undone exactly) and scaled to [0, 1].

What is explained:

* **classification**: the tag's logit. An advanced iteration's head reads the pooled last
  convolutional stage of its backbone (EfficientNet: ``conv_head`` with its BatchNorm and
  activation; ResNet: ``layer4``; otherwise the last ``Conv2d``): the heat is Grad-CAM at
  that stage, and explains the whole score. A quick iteration's head reads the *taps*
  (:mod:`cvbench.train.features`): the pooled last stage, the averaged maps of earlier
  stages and the raw pixels of a 16x16 thumbnail, all linear in maps that are averaged
  over the image. The logit is then a sum over positions, and the heat is that sum: for
  each tap, the head's weights times the tap's map at each position (for a map that is
  averaged and read by a linear layer this is exactly Grad-CAM's map: its gradient is the
  weight over the map's area), taken relative to its own mean over the image (evidence that
  is the same everywhere says nothing about where), upsampled to the input and added; the
  heat is the positive part. So the heat explains the whole score of a quick head too,
  whichever taps it chose.
* **detection**: the class logit of the predicted box (the box of the tag with the
  highest probability, which non-maximum suppression always keeps), at the backbone's
  three feature levels the detector's pyramid reads (strides 8, 16 and 32), each scaled
  to [0, 1] and averaged.

The network is a private copy of the model's (hooks never touch a network that predicts
elsewhere in the process), and every step is deterministic: the same image gives the same
heatmap.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..boxes import Box, xyxy_to_ltwh

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

__all__ = ["Saliency", "saliency", "last_conv_stage", "NoConvolutionError"]

#: Colours of the overlay: transparent for no heat, then matplotlib's "jet".
_COLORMAP = "jet"


class NoConvolutionError(ValueError):
    """The network has no convolutional layer to explain (Grad-CAM needs feature maps)."""


@dataclass(frozen=True, eq=False)
class Saliency:
    """Where the model looked for ``tag``: ``heat`` is a float32 array ``(height, width)``
    of the image's own size, in [0, 1] (1: the strongest evidence for the tag).

    ``probability`` is the model's probability of ``tag`` on this image; ``box`` the
    predicted box explained (detection; normalized ``left, top, width, height``);
    ``method`` names what was explained (see :mod:`cvbench.insight.saliency`).
    """

    tag: str
    tag_id: str
    probability: float
    heat: np.ndarray
    image: Image.Image = field(repr=False)
    box: Box | None = None
    method: str = "grad-cam"
    layer: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the image (and of the heat map)."""
        return int(self.heat.shape[1]), int(self.heat.shape[0])

    def share_inside(self, box: Box | tuple[float, float, float, float]) -> float:
        """The fraction of the total heat that lies inside ``box`` (normalized
        ``left, top, width, height``); 0 when there is no heat at all."""
        left, top, width, height = (box.left, box.top, box.width, box.height) if isinstance(
            box, Box) else box
        h, w = self.heat.shape
        x0, x1 = int(round(left * w)), int(round((left + width) * w))
        y0, y1 = int(round(top * h)), int(round((top + height) * h))
        total = float(self.heat.sum())
        return float(self.heat[y0:y1, x0:x1].sum()) / total if total > 0 else 0.0

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        """The heat drawn over the image (an RGB PIL image of the image's size): the
        colour map's colours where the heat is, mixed with the image by ``alpha`` times
        the heat (no heat, the image unchanged)."""
        from matplotlib import colormaps
        from PIL import Image

        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha={alpha!r} must lie between 0 and 1")
        colours = colormaps[_COLORMAP](self.heat)[..., :3]
        base = np.asarray(self.image.convert("RGB"), dtype=np.float32) / 255.0
        weight = (alpha * self.heat)[..., None]
        mixed = base * (1.0 - weight) + colours * weight
        return Image.fromarray(np.clip(mixed * 255.0 + 0.5, 0, 255).astype(np.uint8))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able facts (the heat map itself is left out: it is an array)."""
        return {"tag": self.tag, "tag_id": self.tag_id, "probability": self.probability,
                "box": None if self.box is None else {
                    "left": self.box.left, "top": self.box.top, "width": self.box.width,
                    "height": self.box.height},
                "width": self.size[0], "height": self.size[1], "method": self.method,
                "layer": self.layer}


# --------------------------------------------------------------------------- the layers


def _timm_model(net: Any) -> Any:
    """The timm backbone inside a cvbench network (a ClassifierNet, its taps module)."""
    found = net
    for _ in range(4):
        inner = getattr(found, "backbone", None)
        if inner is None:
            break
        found = inner
    return found


def last_conv_stage(backbone: Any) -> tuple[str, Any]:
    """``(name, module)``: the output of the last convolutional stage of ``backbone``
    (EfficientNet: its ``bn2``, after ``conv_head``; ResNet: ``layer4``; a network with
    ``stages``: the last; otherwise the last ``Conv2d``). Raises
    :class:`NoConvolutionError` when it has no convolutional layer."""
    import torch

    if hasattr(backbone, "conv_head") and hasattr(backbone, "bn2"):
        return "bn2", backbone.bn2
    if hasattr(backbone, "layer4"):
        return "layer4", backbone.layer4
    stages = getattr(backbone, "stages", None)
    if isinstance(stages, torch.nn.Sequential) and len(stages) and any(
            isinstance(m, torch.nn.Conv2d) for m in stages[-1].modules()):
        return f"stages.{len(stages) - 1}", stages[-1]
    convs = [(n, m) for n, m in backbone.named_modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise NoConvolutionError(
            f"the backbone ({type(backbone).__name__}) has no convolutional layer; saliency "
            "heatmaps (Grad-CAM) need the feature maps of one. Train an iteration on a "
            "convolutional domain (see cvbench.domains.domain_names())")
    return convs[-1]


# --------------------------------------------------------------------------- the networks

_COPIES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_COPIES_LOCK = threading.Lock()


def _private(model: Any, build: Any) -> Any:
    """A private copy of ``model``'s network (made once per loaded model)."""
    with _COPIES_LOCK:
        net = _COPIES.get(model)
        if net is None:
            net = copy.deepcopy(build()).eval()
            _COPIES[model] = net
        return net


class _Logits:
    """A Grad-CAM target: one output of one image."""

    def __init__(self, *index: int) -> None:
        self.index = index

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[self.index]


def _grad_cam(module: torch.nn.Module, layers: list[Any], x: torch.Tensor,
              target: _Logits) -> tuple[np.ndarray, torch.Tensor]:
    """The Grad-CAM map ``(S, S)`` in [0, 1] of ``target`` and the module's outputs."""
    import torch
    from pytorch_grad_cam import GradCAM

    x = x.clone().requires_grad_(True)  # the frozen weights need no gradient; the maps do
    with torch.enable_grad(), GradCAM(model=module, target_layers=layers) as cam:
        heat = cam(input_tensor=x, targets=[target])
        outputs = cam.outputs.detach()
    return np.asarray(heat[0], dtype=np.float32), outputs


def _to_image_size(heat: np.ndarray, image: Image.Image) -> np.ndarray:
    from PIL import Image as PILImage

    resized = PILImage.fromarray(np.ascontiguousarray(heat, dtype=np.float32), mode="F")
    resized = resized.resize(image.size, PILImage.Resampling.BILINEAR)
    out = np.clip(np.asarray(resized, dtype=np.float32), 0.0, None)
    peak = float(out.max()) if out.size else 0.0
    return out / peak if peak > 0 else out  # resampling moves the peak: 1 again


def _tag_index(tag: str | None, ids: list[str], names: list[str], scores: np.ndarray
               ) -> int:
    if tag is None:
        return int(np.argmax(scores))
    for j, (i, n) in enumerate(zip(ids, names, strict=True)):
        if tag in (i, n):
            return j
    raise ValueError(f"tag={tag!r} is not one of the model's tags; it should be one of "
                     f"{names} (or their ids)")


def saliency(model: Any, image: Image.Image, tag: str | None = None) -> Saliency:
    """The heat map of ``tag`` (a name or id of the model's tags; None: the most probable
    tag, or for detection the tag of the most probable box) on ``image`` (a PIL image),
    for a loaded classification or detection model (see the module docstring)."""
    from ..train._threads import torch_threads
    from ..train.classify import ClassificationModel
    from ..train.detect import DetectionModel

    # one thread when the machine is busy: two would stall each other at every barrier
    if isinstance(model, ClassificationModel):
        with torch_threads(None):
            return _classification(model, image, tag)
    if isinstance(model, DetectionModel):
        with torch_threads(None):
            return _detection(model, image, tag)
    raise TypeError(f"saliency needs a classification or detection model, not "
                    f"{type(model).__name__}")


def _classification(model: Any, image: Image.Image, tag: str | None) -> Saliency:
    import torch

    from .. import domains as _domains

    net = _private(model, lambda: model.net)
    name, layer = last_conv_stage(_timm_model(net))
    x = _domains.preprocess(model.domain, [image], model.size)
    if model.feature_part == "taps":
        logits, heat = _taps_heat(model, net, x, tag)
        probs = model._activate(logits)[0]
        j = _tag_index(tag, model.tag_ids, model.tag_names, probs)
        heat = heat[j]
        method = ("the tag's logit as a sum over positions of the taps the quick head reads "
                  "(Grad-CAM's map for each averaged tap)")
        name = "taps"
    else:
        with torch.no_grad():
            logits = net(x)
        probs = model._activate(logits)[0]
        j = _tag_index(tag, model.tag_ids, model.tag_names, probs)
        heat, _ = _grad_cam(net, [layer], x, _Logits(j))
        method = "grad-cam: the tag's logit at the last convolutional stage"
    return Saliency(tag=model.tag_names[j], tag_id=model.tag_ids[j],
                    probability=float(probs[j]), heat=_to_image_size(heat, image),
                    image=image, layer=name, method=method)


def _taps_heat(model: Any, net: Any, x: torch.Tensor, tag: str | None
               ) -> tuple[torch.Tensor, np.ndarray]:
    """A quick head's logits ``(1, T)`` and, per tag, its heat ``(T, S, S)`` in [0, 1]
    (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from ..train import features as _features

    b = _timm_model(net)
    stages, walk = _features._stage_outputs(b)
    layout = _features.taps_layout(model.domain.name)
    layers = [last_conv_stage(b)[1]]
    if "stages" in layout:
        layers += [b.blocks[i] if walk == "efficientnet" else getattr(b, f"layer{i}")
                   for i in stages]
    got: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: got.__setitem__(k, out[0]))
             for k, m in enumerate(layers)]
    try:
        with torch.no_grad():
            logits = net(x)
    finally:
        for h in hooks:
            h.remove()
    weight = model.head.weight.detach().double()  # (T, D)
    side = x.shape[-1]
    maps: list[tuple[torch.Tensor, torch.Tensor]] = []  # (weights (T, C), map (C, h, w))
    lo, hi = layout["final"]
    maps.append((weight[:, lo:hi], got[0].double()))
    if "stages" in layout:
        start = layout["stages"][0]
        for k in range(1, len(layers)):
            c = got[k].shape[0]
            maps.append((weight[:, start:start + c], got[k].double()))
            start += c
    lo, hi = layout["pixels"]
    thumb = F.adaptive_avg_pool2d(x.double(), _features.THUMBNAIL)[0]  # (3, 16, 16)
    pixel_weights = weight[:, lo:hi].reshape(-1, 3, _features.THUMBNAIL, _features.THUMBNAIL)
    contributions = [torch.einsum("tc,chw->thw", w, a) / (a.shape[1] * a.shape[2])
                     for w, a in maps]
    contributions.append((pixel_weights * thumb).sum(dim=1))
    total = torch.zeros(weight.shape[0], side, side, dtype=torch.float64)
    for m in contributions:  # each a density over the input: its sum is kept
        m = m - m.mean(dim=(1, 2), keepdim=True)
        up = F.interpolate(m[None], size=(side, side), mode="bilinear", align_corners=False)
        total += up[0] * (m.shape[1] * m.shape[2]) / (side * side)
    heat = total.clamp(min=0).numpy()
    peak = heat.max(axis=(1, 2), keepdims=True)
    heat = np.where(peak > 0, heat / np.where(peak > 0, peak, 1.0), 0.0)
    return logits, heat.astype(np.float32)


class _ClassLogits:
    """The detector as Grad-CAM sees it: preprocessed images -> class logits ``(N, A, C)``."""

    def __new__(cls, detector: Any) -> Any:
        import torch

        class Module(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.detector = detector

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                out: torch.Tensor = self.detector(x)["cls_logits"]
                return out

        return Module().eval()


def _detection(model: Any, image: Image.Image, tag: str | None) -> Saliency:
    import torch

    from .. import domains as _domains

    detector = _private(model, lambda: model.detector)
    body = detector.body
    names = list(body.feature_info.module_name())
    layers = [body.get_submodule(n) for n in names] if names else [
        last_conv_stage(body)[1]]
    x = _domains.preprocess(model.domain, [image], model.size)
    with torch.no_grad():
        boxes, scores = detector.dense(x)
    best = scores[0].max(dim=0).values.numpy()  # per tag: its most probable box
    c = _tag_index(tag, model.tag_ids, model.tag_names, best)
    anchor = int(torch.argmax(scores[0, :, c]))
    heat, _ = _grad_cam(_ClassLogits(detector), layers, x, _Logits(anchor, c))
    ltwh = xyxy_to_ltwh(boxes[0, anchor].numpy().astype(np.float64).reshape(1, 4))[0]
    box = Box(*(float(v) for v in ltwh))
    return Saliency(tag=model.tag_names[c], tag_id=model.tag_ids[c],
                    probability=float(scores[0, anchor, c]), heat=_to_image_size(heat, image),
                    image=image, box=box, layer=", ".join(names),
                    method="grad-cam: the class logit of the predicted box at the backbone's "
                           "feature levels")
