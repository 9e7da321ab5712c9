"""The detector network: a domain's backbone, an FPN, and a torchvision FCOS or RetinaNet head.

Not public API; :mod:`cvbench.train.detect` is. The network works on one fixed square input
(``spec.image_size``, squashed as :func:`cvbench.domains.preprocess` does), so anchors are
constants and the same graph serves training, prediction and export:

* ``model(x)`` returns the raw head outputs (a dict), which the model's own loss
  (:meth:`Detector.loss`, torchvision's) turns into a scalar during training;
* ``model.decode(outputs)`` turns them into dense boxes and scores: normalized corners
  ``(N, A, 4)`` (x1, y1, x2, y2 in [0, 1] of the input; the engine's left/top/width/height
  comes from :mod:`cvbench.boxes`) and per-tag probabilities ``(N, A, C)``;
* :func:`postprocess` keeps what a user sees: scores above a threshold, the best
  ``pre_nms_top_k`` of them, per-tag NMS, at most ``max_detections`` per image. The ONNX
  export (:mod:`cvbench.export.detect`) rebuilds exactly these steps in the graph.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ARCHITECTURES", "DetectorSpec", "Detector", "postprocess", "postprocess_one",
           "freeze_backbone_bn", "frozen_key"]

#: Detection architectures, by the name stored in an iteration's settings.
ARCHITECTURES = ("fcos", "retinanet")

#: Custom Vision returns at most 200 boxes per image.
MAX_DETECTIONS = 200
#: Boxes narrower or lower than this (normalized) get probability 0.
MIN_BOX_SIZE = 1e-3


@dataclass(frozen=True)
class DetectorSpec:
    """Everything needed to rebuild a trained detector from its stored weights.

    ``domain`` names the backbone (see :mod:`cvbench.domains`), ``arch`` the head
    (one of :data:`ARCHITECTURES`), ``num_classes`` the number of tags, ``image_size`` the
    square input side in pixels, ``fpn_channels`` the width of the feature pyramid and
    ``head_convs`` the depth of each head branch.
    """

    domain: str
    num_classes: int
    arch: str = "fcos"
    image_size: int = 320
    fpn_channels: int = 64
    head_convs: int = 2

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(
                f"arch={self.arch!r} is not a detection architecture; it should be one of "
                f"{list(ARCHITECTURES)}"
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes={self.num_classes} must be at least 1 (one tag)")
        if not 1 <= self.head_convs <= 4:
            raise ValueError(f"head_convs={self.head_convs} should be between 1 and 4")
        if self.image_size < 64 or self.image_size % 32:
            raise ValueError(
                f"image_size={self.image_size} should be a multiple of 32, at least 64"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class _BackboneFPN(nn.Module):
    """Backbone feature maps at strides 8/16/32, then an FPN with P6/P7 (strides 64, 128)."""

    def __init__(self, body: nn.Module, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        self.body = body
        self.fpn = FeaturePyramidNetwork(
            in_channels, out_channels, extra_blocks=LastLevelP6P7(out_channels, out_channels)
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        return self.pyramid(self.body(x))

    def pyramid(self, feats: list[Tensor]) -> OrderedDict[str, Tensor]:
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


def _build_det(spec: DetectorSpec, pretrained: bool) -> nn.Module:
    from torchvision.models.detection import FCOS, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead
    from torchvision.models.detection.retinanet import RetinaNetHead

    from ..domains import build_backbone

    body: Any = build_backbone(
        spec.domain, pretrained=pretrained, features_only=True, out_indices=(2, 3, 4)
    )
    neck = _BackboneFPN(body, list(body.feature_info.channels()), spec.fpn_channels)
    common = dict(
        min_size=spec.image_size,
        max_size=spec.image_size,
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
    )
    if spec.arch == "fcos":
        # one anchor point per location, sized by the stride (torchvision's FCOS recipe)
        anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5)
        head = FCOSHead(spec.fpn_channels, 1, spec.num_classes, num_convs=spec.head_convs)
        return FCOS(neck, spec.num_classes, anchor_generator=anchors, head=head, **common)
    # RetinaNet: 3 scales x 3 ratios, sizes halved from the 800 px recipe for small inputs
    sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in (16, 32, 64, 128, 256))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    head = RetinaNetHead(
        spec.fpn_channels, anchors.num_anchors_per_location()[0], spec.num_classes,
        norm_layer=lambda c: nn.GroupNorm(16, c),
    )
    # torchvision builds 4 convs per branch; keep head_convs of them, as FCOSHead does
    head.classification_head.conv = head.classification_head.conv[: spec.head_convs]
    head.regression_head.conv = head.regression_head.conv[: spec.head_convs]
    return RetinaNet(neck, spec.num_classes, anchor_generator=anchors, head=head, **common)


class Detector(nn.Module):
    """A one-stage detector on a fixed square input; see the module docstring."""

    #: torchvision's FCOS or RetinaNet (typed loosely: its parts are reached by name)
    det: Any
    #: the anchors (centres or boxes) of every location, in input pixels
    anchors: Tensor

    def __init__(self, spec: DetectorSpec, *, pretrained: bool = True) -> None:
        super().__init__()
        from torchvision.models.detection.image_list import ImageList

        self.spec = spec
        self.det = _build_det(spec, pretrained)
        side = spec.image_size
        with torch.no_grad():
            probe = torch.zeros(1, 3, side, side)
            feats = list(self.det.backbone(probe).values())
            anchors = self.det.anchor_generator(ImageList(probe, [(side, side)]), feats)[0]
        per_loc = self.det.anchor_generator.num_anchors_per_location()
        #: anchors per pyramid level (FCOS's loss needs them)
        self.num_anchors_per_level = [
            int(f.shape[-2] * f.shape[-1] * a) for f, a in zip(feats, per_loc, strict=True)
        ]
        self.register_buffer("anchors", anchors, persistent=False)

    # -- parts ---------------------------------------------------------------------------
    @property
    def body(self) -> nn.Module:
        """The pretrained backbone (timm feature maps)."""
        body: nn.Module = self.det.backbone.body
        return body

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of everything after the backbone: FPN and head."""
        return [*self.det.backbone.fpn.parameters(), *self.det.head.parameters()]

    @property
    def staged(self) -> bool:
        """True when the backbone is a timm EfficientNet walked block by block (the front
        of frozen blocks can then be cached and the later blocks trained on it)."""
        return hasattr(self.body, "blocks") and hasattr(self.body, "_stage_out_idx")

    def front(self, k: int) -> nn.Module:
        """The stem and the first ``k`` blocks, as a module sharing this one's tensors."""
        return _Front(self.body, k)

    def tail_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters of the blocks after the first ``k``, then the FPN and head."""
        body: Any = self.body
        blocks = [p for b in body.blocks[k:] for p in b.parameters()]
        return [*blocks, *self.head_parameters()]

    def from_front(self, a: Tensor, k: int) -> dict[str, Tensor]:
        """Raw head outputs from the output ``a`` of the first ``k`` blocks."""
        body: Any = self.body
        wanted = body._stage_out_idx  # block number (1-based) -> feature index
        feats: list[Tensor] = []
        if k in wanted:
            feats.append(a)
        x = a
        for i in range(k, len(body.blocks)):
            x = body.blocks[i](x)
            if i + 1 in wanted:
                feats.append(x)
        return self.from_features(feats)

    def train(self, mode: bool = True) -> Detector:
        """As ``nn.Module.train``, but the backbone's BatchNorm always uses its running
        statistics (the recipe freezes them: batches of a few images are too small)."""
        super().train(mode)
        freeze_backbone_bn(self.body)
        return self

    # -- forward -------------------------------------------------------------------------
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Raw head outputs for preprocessed images ``x`` of shape ``(N, 3, S, S)``."""
        return self.from_features(self.body(x))

    def from_features(self, feats: list[Tensor]) -> dict[str, Tensor]:
        """Raw head outputs from the backbone's feature maps (cached in quick training)."""
        pyramid = list(self.det.backbone.pyramid(feats).values())
        return self.det.head(pyramid)

    def loss(self, outputs: dict[str, Tensor], targets: list[dict[str, Tensor]]) -> Tensor:
        """torchvision's loss of the architecture, summed over its terms.

        ``targets[i]`` has ``boxes`` (float ``(K, 4)``, corners in input pixels) and
        ``labels`` (int64 ``(K,)``, 0-based tag indices); ``K`` may be 0 (a negative image).
        """
        anchors = [self.anchors] * outputs["cls_logits"].shape[0]
        if self.spec.arch == "fcos":
            terms = self.det.compute_loss(targets, outputs, anchors, self.num_anchors_per_level)
        else:
            terms = self.det.compute_loss(targets, outputs, anchors)
        return sum(terms.values())

    def decode(self, outputs: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Dense ``(boxes, scores)``: normalized corners ``(N, A, 4)`` clipped to [0, 1],
        and per-tag probabilities ``(N, A, C)``."""
        reg = outputs["bbox_regression"]
        n, a = reg.shape[0], reg.shape[1]
        anchors = self.anchors.unsqueeze(0).expand(n, a, 4)
        if self.spec.arch == "fcos":
            boxes = self.det.box_coder.decode(reg, anchors)
            scores = torch.sqrt(
                torch.sigmoid(outputs["cls_logits"]) * torch.sigmoid(outputs["bbox_ctrness"])
            )
        else:
            boxes = self.det.box_coder.decode_single(
                reg.reshape(-1, 4), anchors.reshape(-1, 4)
            ).reshape(n, a, 4)
            scores = torch.sigmoid(outputs["cls_logits"])
        boxes = (boxes / self.spec.image_size).clamp(0.0, 1.0)
        # a box squeezed to (almost) nothing by the clipping is no prediction
        size = boxes[..., 2:] - boxes[..., :2]
        valid = (size > MIN_BOX_SIZE).all(dim=-1, keepdim=True)
        return boxes, scores * valid.to(scores.dtype)

    def dense(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``decode(forward(x))``: what the ONNX and TorchScript exports compute."""
        return self.decode(self(x))


class _Front(nn.Module):
    def __init__(self, body: Any, k: int) -> None:
        super().__init__()
        top = min(body._stage_out_idx)  # the first feature level must come after the front
        if not 1 <= k <= top:
            raise ValueError(f"k={k} frozen blocks: it should be between 1 and {top}")
        self.conv_stem, self.bn1 = body.conv_stem, body.bn1
        self.blocks = nn.Sequential(*body.blocks[:k])

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))


def frozen_key(key: str, k: int) -> bool:
    """True when state-dict ``key`` of a :class:`Detector` lies in the backbone's stem or
    its first ``k`` blocks (``k=None``-like ``-1``: anywhere in the backbone)."""
    prefix = "det.backbone.body."
    if not key.startswith(prefix):
        return False
    rest = key[len(prefix):]
    if k < 0 or rest.startswith(("conv_stem.", "bn1.")):
        return True
    if rest.startswith("blocks."):
        return int(rest.split(".")[1]) < k
    return False


def freeze_backbone_bn(body: nn.Module) -> None:
    """Put every BatchNorm of ``body`` in eval mode (running statistics, no update)."""
    for m in body.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def postprocess(
    boxes: Tensor,
    scores: Tensor,
    *,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    pre_nms_top_k: int = 1000,
    max_detections: int = MAX_DETECTIONS,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """From dense ``(boxes, scores)`` to detections, one ``(boxes, scores, labels)`` per image.

    Per image: every (anchor, tag) pair with a score above ``score_threshold``; the best
    ``pre_nms_top_k`` of them; non-maximum suppression per tag at ``iou_threshold``
    (one NMS over boxes shifted by ``2 * tag``, so that boxes of different tags never
    overlap: the ONNX export does the same); the best ``max_detections`` (Custom Vision:
    200), by decreasing score. Boxes stay normalized corners.
    """
    import torchvision.ops  # noqa: F401 - registers torch.ops.torchvision.nms

    out: list[tuple[Tensor, Tensor, Tensor]] = []
    for b, s in zip(boxes, scores, strict=True):
        out.append(postprocess_one(b, s, score_threshold, iou_threshold, pre_nms_top_k,
                                    max_detections))
    return out


def postprocess_one(boxes: Tensor, scores: Tensor, score_threshold: float,
                     iou_threshold: float, pre_nms_top_k: int, max_detections: int
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`postprocess` of one image: ``boxes (A, 4)``, ``scores (A, C)``."""
    num_classes = scores.shape[-1]
    flat = scores.flatten()
    idx = torch.nonzero(flat > score_threshold).squeeze(1)
    cand = flat[idx]
    cand, order = cand.topk(min(pre_nms_top_k, int(cand.shape[0])))
    idx = idx[order]
    anchor = torch.div(idx, num_classes, rounding_mode="floor")
    labels = idx % num_classes
    cand_boxes = boxes[anchor]
    shifted = cand_boxes + (labels.to(cand_boxes.dtype) * 2.0).unsqueeze(1)
    keep = torch.ops.torchvision.nms(shifted, cand, iou_threshold)[:max_detections]
    return cand_boxes[keep], cand[keep], labels[keep]
