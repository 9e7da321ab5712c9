"""cvbench.boxes: the one box format (normalized left, top, width, height) and converters."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cvbench.boxes import EPS, Box, clip_box

# boxes at least 1e-4 of the image wide: a pixel of a 10240 px image is ~1e-4
unit = st.floats(0.0, 1.0, allow_nan=False)
size = st.floats(1e-4, 1.0, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)
finite = st.floats(-10.0, 10.0, allow_nan=False)
pixels = st.integers(1, 10240)


@st.composite
def boxes(draw) -> Box:
    left = draw(st.floats(0.0, 1.0 - 2e-4))
    top = draw(st.floats(0.0, 1.0 - 2e-4))
    width = draw(st.floats(1e-4, 1.0 - left))
    height = draw(st.floats(1e-4, 1.0 - top))
    return Box(left, top, width, height)


def assert_inside(b: Box) -> None:
    assert 0.0 <= b.left <= 1.0 and 0.0 <= b.top <= 1.0
    assert b.width > 0 and b.height > 0
    assert b.left + b.width <= 1.0 + 1e-12
    assert b.top + b.height <= 1.0 + 1e-12


def close(a: Box, b: Box, tol: float = 1e-9) -> bool:
    return all(
        math.isclose(x, y, abs_tol=tol)
        for x, y in zip((a.left, a.top, a.width, a.height), (b.left, b.top, b.width, b.height),
                        strict=True)
    )


@given(boxes())
def test_valid_boxes_keep_their_values(b: Box) -> None:
    assert_inside(b)
    again = Box(b.left, b.top, b.width, b.height)
    assert again == b


@given(st.tuples(anything, anything, anything, anything))
def test_box_is_valid_or_raises_value_error(vals) -> None:
    try:
        b = Box(*vals)
    except ValueError as exc:
        assert "box" in str(exc)
        return
    assert_inside(b)
    assert all(math.isfinite(v) for v in vals)


@pytest.mark.parametrize(
    "vals, words",
    [
        ((0.1, 0.1, 0.0, 0.5), "zero or negative size"),
        ((0.1, 0.1, 0.5, -0.1), "zero or negative size"),
        ((0.6, 0.1, 0.5, 0.5), "outside the image"),
        ((-0.1, 0.1, 0.5, 0.5), "outside the image"),
        ((0.1, 0.1, float("nan"), 0.5), "not a finite number"),
        ((0.1, float("inf"), 0.5, 0.5), "not a finite number"),
    ],
)
def test_box_errors_name_the_problem(vals, words) -> None:
    with pytest.raises(ValueError, match=words):
        Box(*vals)


def test_box_folds_border_noise() -> None:
    b = Box(-EPS / 2, 0.5, 1.0 + EPS / 2, 0.5 + EPS / 2)
    assert b.left == 0.0 and b.width == 1.0
    assert b.top + b.height <= 1.0


@given(finite, finite, finite, finite)
def test_clip_box_result_lies_inside_and_is_the_intersection(left, top, width, height) -> None:
    box, clipped = clip_box(left, top, width, height)
    if box is None:
        assert clipped
        # nothing (or less than EPS) of it lies inside the unit square
        iw = min(left + width, 1.0) - max(left, 0.0)
        ih = min(top + height, 1.0) - max(top, 0.0)
        assert width <= 0 or height <= 0 or iw <= EPS * 1.01 or ih <= EPS * 1.01
        return
    assert_inside(box)
    x1, y1, x2, y2 = box.to_xyxy()
    assert math.isclose(x1, max(left, 0.0), abs_tol=1e-9)
    assert math.isclose(y1, max(top, 0.0), abs_tol=1e-9)
    assert math.isclose(x2, min(left + width, 1.0), abs_tol=1e-9)
    assert math.isclose(y2, min(top + height, 1.0), abs_tol=1e-9)
    inside = left >= -EPS and top >= -EPS and left + width <= 1 + EPS and top + height <= 1 + EPS
    assert clipped == (not inside)


@given(boxes())
def test_clip_box_leaves_valid_boxes_alone(b: Box) -> None:
    box, clipped = clip_box(b.left, b.top, b.width, b.height)
    assert not clipped
    assert box is not None and close(box, b)


@given(st.sampled_from([float("nan"), float("inf"), -float("inf")]), unit, size, size)
def test_clip_box_drops_non_finite(bad, top, width, height) -> None:
    assert clip_box(bad, top, width, height) == (None, True)
    assert clip_box(top, top, width, bad) == (None, True)


@given(boxes(), pixels, pixels)
def test_xyxy_round_trip(b: Box, w: int, h: int) -> None:
    x1, y1, x2, y2 = b.to_xyxy(w, h)
    assert 0 <= x1 < x2 <= w * (1 + 1e-12) and 0 <= y1 < y2 <= h * (1 + 1e-12)
    assert close(Box.from_xyxy(x1, y1, x2, y2, width=w, height=h), b)
    assert close(Box.from_xyxy(*b.to_xyxy()), b)


@given(boxes(), pixels, pixels)
def test_pixels_round_trip(b: Box, w: int, h: int) -> None:
    assert close(Box.from_pixels(*b.to_pixels(w, h), width=w, height=h), b)


@given(boxes())
def test_cxcywh_round_trip(b: Box) -> None:
    cx, cy, bw, bh = b.to_cxcywh()
    assert 0 <= cx <= 1 and 0 <= cy <= 1
    assert close(Box.from_cxcywh(cx, cy, bw, bh), b)


@given(boxes(), boxes())
def test_iou_is_symmetric_and_bounded(a: Box, b: Box) -> None:
    assert math.isclose(a.iou(b), b.iou(a), abs_tol=1e-12)
    assert 0.0 <= a.iou(b) <= 1.0 + 1e-12
    assert math.isclose(a.iou(a), 1.0)


@given(boxes())
def test_as_dict_builds_the_same_box(b: Box) -> None:
    assume(b.width > 0)
    assert Box(**b.as_dict()) == b
    assert math.isclose(b.area(), b.width * b.height)


def test_iou_known_values() -> None:
    a = Box(0.0, 0.0, 0.5, 0.5)
    assert a.iou(Box(0.25, 0.0, 0.5, 0.5)) == pytest.approx(1 / 3)
    assert a.iou(Box(0.5, 0.5, 0.5, 0.5)) == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_numpy_scalars_are_numbers(dtype) -> None:
    # model outputs are float32 arrays: their boxes must neither be refused nor dropped
    np = pytest.importorskip("numpy")
    vals = np.array([0, 0, 1, 1] if dtype == "int64" else [0.1, 0.2, 0.5, 0.25], dtype=dtype)
    b = Box(*vals)
    assert all(type(v) is float for v in (b.left, b.top, b.width, b.height))
    box, clipped = clip_box(*vals)
    assert box is not None and close(box, b)
    assert clipped is False


@pytest.mark.parametrize("bad", [True, "0.5", None, [0.5]])
def test_non_numbers_are_refused(bad) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        Box(0.1, 0.1, bad, 0.5)  # type: ignore[arg-type]
    assert clip_box(0.1, 0.1, bad, 0.5) == (None, True)  # type: ignore[arg-type]


# -- regions: the one conversion of what users give ----------------------------------------
def test_to_region_takes_a_region_a_dict_or_a_tuple() -> None:
    from cvbench import Region
    from cvbench._types import Region as TypesRegion
    from cvbench.boxes import to_region

    assert Region is TypesRegion  # one Region type, defined beside Box
    given = Region("t-id", "cat", 0.1, 0.2, 0.3, 0.4)
    assert to_region(given) is given and given.tag == "t-id" and given.box == Box(0.1, 0.2, 0.3, 0.4)
    want = Region("", "cat", 0.1, 0.2, 0.3, 0.4)
    assert to_region({"tag": "cat", "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}) == want
    assert to_region(("cat", 0.1, 0.2, 0.3, 0.4)) == want
    assert to_region(["cat", "0.1", 0.2, 0.3, 0.4]) == want
    out = to_region(("cat", -0.5, 0.2, 2.0, 0.4))  # not clipped here: that is clip_box's
    assert (out.left, out.width) == (-0.5, 2.0)
    with pytest.raises(ValueError, match="lacks 'tag'"):  # one spelling: Custom Vision's
        to_region({"tagId": "cat", "left": 0, "top": 0, "width": 1, "height": 1})  # JSON is the server's
    with pytest.raises(ValueError, match="lacks 'height'"):
        to_region({"tag": "cat", "left": 0, "top": 0, "width": 1})
    with pytest.raises(ValueError, match="no tag"):
        to_region(("", 0, 0, 1, 1))
    with pytest.raises(ValueError, match="must be numbers"):
        to_region(("cat", "left", 0, 1, 1))
    with pytest.raises(ValueError, match="is not a Region"):
        to_region(("cat", 0, 0, 1))


@pytest.mark.parametrize(("fmt", "values", "size", "want", "what"), [
    ("ltwh", (64, 48, 128, 96), (640, 480), (0.1, 0.1, 0.2, 0.2), ""),
    ("xyxy", (64, 48, 192, 144), (640, 480), (0.1, 0.1, 0.2, 0.2), ""),
    ("cxcywh", (0.2, 0.2, 0.2, 0.2), (1, 1), (0.1, 0.1, 0.2, 0.2), ""),
    ("xyxy", (-64, 48, 192, 144), (640, 480), (0.0, 0.1, 0.3, 0.2), "clipped"),
    ("ltwh", (0.5, 0.5, 0.0, 0.1), (1, 1), None, "empty"),
    ("xyxy", (0.5, 0.5, 0.4, 0.9), (1, 1), None, "empty"),
    ("ltwh", (1.5, 0.5, 0.2, 0.1), (1, 1), None, "outside"),
    ("ltwh", (math.nan, 0.5, 0.2, 0.1), (1, 1), None, "not finite"),
])
def test_box_from_dataset_formats(fmt, values, size, want, what) -> None:
    from cvbench.boxes import box_from

    box, found = box_from(fmt, values, *size)
    assert found == what
    if want is None:
        assert box is None
    else:
        assert box is not None
        assert [box.left, box.top, box.width, box.height] == pytest.approx(want)
    with pytest.raises(ValueError, match="should be one of"):
        box_from("xywh", values)
