"""The one box format of cvbench, and its converters.

Inside cvbench a box is always **normalized** ``left, top, width, height`` relative to the
image as displayed (after EXIF orientation), as Custom Vision defines it:

    0 <= left, 0 <= top, 0 < width, 0 < height, left + width <= 1, top + height <= 1

Conversions to pixels and to corner (xyxy) form live here and nowhere else. A tagged box
is a :class:`Region`; what users may give as one (a Region, a dict ``{"tag", "left",
"top", "width", "height"}`` or a tuple ``(tag, left, top, width, height)``) becomes a
Region in :func:`to_region`, at the edge of the engine, and nothing else inside it takes
another form. Boxes as datasets write them (pixels or normalized; ``ltwh``, ``xyxy`` or
``cxcywh``) become boxes in :func:`box_from`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Box",
    "Region",
    "RegionInput",
    "to_region",
    "clip_box",
    "box_from",
    "BOX_FORMATS",
    "EPS",
    "ltwh_to_xyxy",
    "xyxy_to_ltwh",
]

#: Tolerance for floating point noise at the borders (a box at 1.0000000001 is at 1).
EPS = 1e-6


def _as_float(v: object) -> float | None:
    """``v`` as a Python float if it is a finite real number (numpy scalars included)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class Box:
    """A normalized box: ``left, top, width, height`` in [0, 1] of the displayed image."""

    left: float
    top: float
    width: float
    height: float

    def __post_init__(self) -> None:
        vals = (self.left, self.top, self.width, self.height)
        floats = [_as_float(v) for v in vals]
        if any(f is None for f in floats):
            raise ValueError(f"box {vals} has a value that is not a finite number")
        for name, f in zip(("left", "top", "width", "height"), floats, strict=True):
            object.__setattr__(self, name, f)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f"box {vals} has zero or negative size (width={self.width}, "
                f"height={self.height}); width and height must be > 0"
            )
        if (
            self.left < -EPS
            or self.top < -EPS
            or self.left + self.width > 1 + EPS
            or self.top + self.height > 1 + EPS
        ):
            raise ValueError(
                f"box {vals} lies outside the image: boxes are normalized left, top, width, "
                "height with 0 <= left, 0 <= top, left + width <= 1, top + height <= 1 "
                "(use clip_box() to clip it)"
            )
        # fold border noise so that stored values are exactly inside [0, 1]
        left = min(max(self.left, 0.0), 1.0)
        top = min(max(self.top, 0.0), 1.0)
        object.__setattr__(self, "left", float(left))
        object.__setattr__(self, "top", float(top))
        width, height = min(self.width, 1.0 - left), min(self.height, 1.0 - top)
        if width <= 0 or height <= 0:  # within EPS of a border, and nothing inside the image
            raise ValueError(
                f"box {vals} lies outside the image: nothing of it is inside [0, 1] "
                "(use clip_box() to clip it)"
            )
        object.__setattr__(self, "width", float(width))
        object.__setattr__(self, "height", float(height))

    # -- conversions -------------------------------------------------------------------
    @classmethod
    def from_xyxy(cls, x1: float, y1: float, x2: float, y2: float, *, width: float = 1.0,
                  height: float = 1.0) -> Box:
        """From corners, in pixels of an image ``width`` x ``height`` (or normalized)."""
        return cls(x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)

    @classmethod
    def from_pixels(cls, left: float, top: float, w: float, h: float, *, width: float,
                    height: float) -> Box:
        """From ``left, top, width, height`` in pixels (COCO's ``bbox``)."""
        return cls(left / width, top / height, w / width, h / height)

    @classmethod
    def from_cxcywh(cls, cx: float, cy: float, w: float, h: float) -> Box:
        """From normalized center and size (YOLO's format)."""
        return cls(cx - w / 2, cy - h / 2, w, h)

    def to_xyxy(self, width: float = 1.0, height: float = 1.0) -> tuple[float, float, float, float]:
        """Corners ``x1, y1, x2, y2``, scaled to an image ``width`` x ``height``."""
        return (
            self.left * width,
            self.top * height,
            (self.left + self.width) * width,
            (self.top + self.height) * height,
        )

    def to_pixels(self, width: float, height: float) -> tuple[float, float, float, float]:
        """``left, top, width, height`` in pixels (COCO's ``bbox``)."""
        return (self.left * width, self.top * height, self.width * width, self.height * height)

    def to_cxcywh(self) -> tuple[float, float, float, float]:
        """Normalized center and size (YOLO's format)."""
        return (self.left + self.width / 2, self.top + self.height / 2, self.width, self.height)

    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        ax1, ay1, ax2, ay2 = self.to_xyxy()
        bx1, by1, bx2, by2 = other.to_xyxy()
        iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
        ih = max(0.0, min(ay2, by2) - max(ay1, by1))
        inter = iw * ih
        union = self.area() + other.area() - inter
        return inter / union if union > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Region:
    """A tagged box on an image: normalized ``left, top, width, height`` (see the module
    docstring). ``tag_id`` / ``tag_name`` name the tag (a Region given to a project may
    carry either: ``tag_id`` wins when both are set); ``id`` is the stored box's id."""

    tag_id: str
    tag_name: str
    left: float
    top: float
    width: float
    height: float
    id: str = ""

    @property
    def box(self) -> Box:
        return Box(self.left, self.top, self.width, self.height)

    @property
    def tag(self) -> str:
        """The tag as given: its id if known, else its name."""
        return self.tag_id or self.tag_name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: What users may give as a region (see :func:`to_region`).
RegionInput = Region | Mapping[str, Any] | Sequence[Any]

_REGION_KEYS = ("tag", "left", "top", "width", "height")


def to_region(value: RegionInput) -> Region:
    """The one conversion of what users give as a region into a :class:`Region`: a Region
    (as is), a dict ``{"tag": name or id, "left", "top", "width", "height"}`` or a tuple
    ``(tag, left, top, width, height)``, normalized. The numbers are not checked against
    the image here (see :func:`clip_box`)."""
    if isinstance(value, Region):
        return value
    if isinstance(value, Mapping):
        missing = [k for k in _REGION_KEYS if k not in value]
        if missing:
            raise ValueError(
                f"region {dict(value)!r} lacks {missing[0]!r}; a region is "
                "{'tag': name or id, 'left': …, 'top': …, 'width': …, 'height': …} "
                "(normalized to [0, 1])"
            )
        tag, left, top, width, height = (value[k] for k in _REGION_KEYS)
    elif isinstance(value, (tuple, list)) and len(value) == 5:
        tag, left, top, width, height = value
    else:
        raise ValueError(
            f"region {value!r} is not a Region, a dict or a (tag, left, top, width, height) "
            "tuple"
        )
    if tag is None or not str(tag).strip():
        raise ValueError(f"region {value!r} has no tag; add 'tag': name")
    try:
        numbers = [float(v) for v in (left, top, width, height)]
    except (TypeError, ValueError):
        raise ValueError(
            f"region {value!r}: left, top, width and height must be numbers"
        ) from None
    return Region("", str(tag), numbers[0], numbers[1], numbers[2], numbers[3])


def clip_box(left: float, top: float, width: float, height: float) -> tuple[Box | None, bool]:
    """Clip a normalized box to the image.

    Returns ``(box, clipped)``: ``box`` is None when nothing of it lies inside the image
    or its size is zero or negative; ``clipped`` says whether the box was changed.
    """
    floats = [_as_float(v) for v in (left, top, width, height)]
    if any(f is None for f in floats):
        return None, True
    left, top, width, height = floats  # type: ignore[assignment]
    if width <= 0 or height <= 0:
        return None, True
    x1, y1 = max(left, 0.0), max(top, 0.0)
    x2, y2 = min(left + width, 1.0), min(top + height, 1.0)
    if x2 - x1 <= EPS or y2 - y1 <= EPS:
        return None, True
    clipped = bool(
        left < -EPS or top < -EPS or left + width > 1 + EPS or top + height > 1 + EPS
    )
    return Box(x1, y1, x2 - x1, y2 - y1), clipped


#: How datasets write a box, and the names of its four numbers (for messages).
BOX_FORMATS = {
    "ltwh": "left, top, width, height",
    "xyxy": "xmin, ymin, xmax, ymax",
    "cxcywh": "center x, center y, width, height",
}


def box_from(fmt: str, values: Sequence[float], width: float = 1.0, height: float = 1.0
             ) -> tuple[Box | None, str]:
    """A box as a dataset writes it — ``fmt`` one of :data:`BOX_FORMATS`, in pixels of an
    image ``width`` x ``height`` (or normalized, with the default 1 x 1) — as a
    normalized :class:`Box`, clipped to the image.

    Returns ``(box, what)``: ``what`` is ``""`` (the box lies inside the image),
    ``"clipped"`` (it reached outside and was clipped), or, with no box, why:
    ``"not finite"`` (a value is not a finite number), ``"empty"`` (zero or negative
    size) or ``"outside"`` (nothing of it lies inside the image).
    """
    if fmt not in BOX_FORMATS:
        raise ValueError(f"box format {fmt!r} should be one of {list(BOX_FORMATS)}")
    floats = [_as_float(v) for v in values]
    if len(floats) != 4 or any(f is None for f in floats):
        return None, "not finite"
    a, b, c, d = (f for f in floats if f is not None)
    if fmt == "xyxy":
        ltwh = (a / width, b / height, (c - a) / width, (d - b) / height)
    elif fmt == "cxcywh":
        w, h = c / width, d / height
        ltwh = (a / width - w / 2, b / height - h / 2, w, h)
    else:
        ltwh = (a / width, b / height, c / width, d / height)
    try:
        return Box(*ltwh), ""
    except ValueError:
        pass
    if ltwh[2] <= 0 or ltwh[3] <= 0:
        return None, "empty"
    clipped, _ = clip_box(*ltwh)
    return (None, "outside") if clipped is None else (clipped, "clipped")


def ltwh_to_xyxy(boxes):
    """Many boxes at once: ``left, top, width, height`` rows -> corner rows ``x1, y1, x2, y2``.

    ``boxes`` is a numpy array or a torch tensor of shape ``(..., 4)`` (normalized or in
    pixels, the scale is kept); the result has the same type and shape.
    """
    x1, y1 = boxes[..., 0], boxes[..., 1]
    return _stack_like(boxes, [x1, y1, x1 + boxes[..., 2], y1 + boxes[..., 3]])


def xyxy_to_ltwh(boxes):
    """Many boxes at once: corner rows ``x1, y1, x2, y2`` -> ``left, top, width, height``
    rows (numpy array or torch tensor of shape ``(..., 4)``, same type back)."""
    x1, y1 = boxes[..., 0], boxes[..., 1]
    return _stack_like(boxes, [x1, y1, boxes[..., 2] - x1, boxes[..., 3] - y1])


def _stack_like(like, columns):
    if type(like).__module__.startswith("torch"):
        import torch

        return torch.stack(columns, dim=-1)
    import numpy as np

    return np.stack(columns, axis=-1)
