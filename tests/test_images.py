"""cvbench.store.images: checks before decoding, and the one way to read displayed RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from cvbench.errors import ImageError
from cvbench.store.images import EXTENSIONS, Limits, inspect_image, load_rgb, make_thumbnail


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def pattern(w: int = 40, h: int = 30) -> Image.Image:
    """An RGB image whose corners differ: red top-left, green top-right, blue bottom-left."""
    arr = np.full((h, w, 3), 128, np.uint8)
    arr[: h // 3, : w // 3] = (255, 0, 0)
    arr[: h // 3, -(w // 3):] = (0, 255, 0)
    arr[-(h // 3):, : w // 3] = (0, 0, 255)
    return Image.fromarray(arr)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None) -> bytes:
    """A PNG written by hand: IHDR as given, and IDAT of ``rows`` (unfiltered scanlines)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def status_of(data: bytes, limits: Limits | None = None, decode: bool = True) -> str:
    with pytest.raises(ImageError) as info:
        inspect_image(data, limits, decode=decode)
    assert info.value.message  # every refusal says why
    return info.value.status


# -- refusals ------------------------------------------------------------------------------
def test_empty_file() -> None:
    assert status_of(b"") == "ErrorImageFormat"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_file(fmt: str) -> None:
    data = encode(Image.effect_noise((300, 200), 60).convert("RGB"), fmt)
    cut = data[: len(data) // 2]
    # either the header is already unreadable, or decoding finds the truncation
    assert status_of(cut) == "ErrorImageFormat"
    try:
        inspect_image(cut, decode=False)
    except ImageError as exc:
        assert exc.status == "ErrorImageFormat"
    else:
        with pytest.raises(OSError):
            load_rgb(cut)
        with pytest.raises(OSError):
            load_rgb(cut, draft=(64, 64))  # a JPEG read at 1/4 scale still finds it


@pytest.mark.parametrize(
    "data",
    [
        b"this is a text file that someone named cat.png\n",
        b"\x89PNG but not really",
        b"<html><body>404 Not Found</body></html>",
        bytes(range(256)) * 4,
    ],
)
def test_not_an_image(data: bytes) -> None:
    assert status_of(data) == "ErrorImageFormat"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        b'\n  <svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"></svg>',
        b'<!-- made by hand -->\n<svg width="9" height="9"></svg>',
        b"\xef\xbb\xbf<?xml version='1.0'?>\n<SVG></SVG>",
    ],
)
def test_svg_is_refused_with_advice(data: bytes) -> None:
    with pytest.raises(ImageError) as info:
        inspect_image(data)
    assert info.value.status == "ErrorImageFormat"
    assert "PNG" in info.value.message


def test_unsupported_raster_format() -> None:
    data = encode(pattern(), "PPM")
    with pytest.raises(ImageError, match="not supported") as info:
        inspect_image(data)
    assert info.value.status == "ErrorImageFormat"


def test_decompression_bomb_is_refused_before_decoding(monkeypatch) -> None:
    # a real 20000x20000 1-bit PNG: 400 megapixels in ~50 kB
    bomb = encode(Image.new("1", (20000, 20000)), "PNG")
    assert len(bomb) < 100_000

    def no_decoding(self, *a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)  # refused from the header
    with pytest.raises(ImageError) as info:
        inspect_image(bomb)
    assert info.value.status == "ErrorImageDimensions"
    assert "20000x20000" in info.value.message


@pytest.mark.parametrize(
    "data",
    [
        # headers that lie: an IHDR claiming 60000x60000, 16-bit RGBA, and 16 bytes of data
        raw_png(60000, 60000, 16, 6, None),
        raw_png(20000, 20000, 8, 2, None),
    ],
)
def test_crafted_header_is_refused_by_pixel_count(data: bytes) -> None:
    assert status_of(data) == "ErrorImageDimensions"
    assert status_of(data, decode=False) == "ErrorImageDimensions"


def test_jpeg_header_claiming_huge_size() -> None:
    data = bytearray(encode(pattern(16, 16), "JPEG"))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    assert status_of(bytes(data)) == "ErrorImageDimensions"


def test_limits_are_configurable() -> None:
    data = encode(pattern(40, 30), "PNG")
    assert status_of(data, Limits(max_image_bytes=len(data) - 1)) == "ErrorImageSize"
    assert status_of(data, Limits(max_image_pixels=40 * 30 - 1)) == "ErrorImageDimensions"
    assert status_of(data, Limits(max_image_side=39)) == "ErrorImageDimensions"
    info = inspect_image(data, Limits(max_image_bytes=len(data), max_image_pixels=1200))
    assert (info.width, info.height) == (40, 30)


def test_a_long_strip_is_refused_by_its_side() -> None:
    data = encode(Image.new("L", (20000, 1)), "PNG")
    assert status_of(data) == "ErrorImageDimensions"


def test_limits_from_dict() -> None:
    assert Limits.from_dict(None) == Limits()
    assert Limits.from_dict({"max_tags": 3}).max_tags == 3
    with pytest.raises(ValueError, match="unknown limit"):
        Limits.from_dict({"max_tag": 3})
    with pytest.raises(ValueError, match="positive whole number"):
        Limits.from_dict({"max_tags": 0})


# -- what is accepted, and how it reads ----------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"])
@pytest.mark.parametrize("size", [(1, 1), (40, 30)])
def test_formats_and_one_pixel_images(fmt: str, size: tuple[int, int]) -> None:
    data = encode(pattern(*size), fmt)
    info = inspect_image(data)
    assert (info.width, info.height) == size
    assert info.ext == EXTENSIONS[fmt]
    img = load_rgb(data)
    assert img.mode == "RGB" and img.size == size


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits() -> None:
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    data = raw_png(4, 1, 16, 0, b"\x00" + values.astype(">u2").tobytes())
    assert inspect_image(data).width == 4
    img = load_rgb(data)
    assert img.mode == "RGB"
    assert np.asarray(img)[0, :, 0].tolist() == [0, 1, 128, 255]


def test_sixteen_bit_rgb() -> None:
    rgb = np.array([[[65535, 0, 0], [0, 32896, 65535]]], np.uint16)
    data = raw_png(2, 1, 16, 2, b"\x00" + rgb.astype(">u2").tobytes())
    arr = np.asarray(load_rgb(data))
    assert arr.shape == (1, 2, 3)
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert abs(int(arr[0, 1, 1]) - 128) <= 1 and arr[0, 1, 2] == 255


def test_cmyk_jpeg_reads_as_rgb() -> None:
    data = encode(pattern().convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    arr = np.asarray(load_rgb(data)).astype(int)
    assert arr.shape == (30, 40, 3)
    r, g, b = arr[2, 2]
    assert r > 200 and g < 60 and b < 60  # red stays red


def test_palette_with_transparency_goes_on_white() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((0, 0), 1)
    data = encode(img, "PNG", transparency=0)
    arr = np.asarray(load_rgb(data))
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert arr[3, 3].tolist() == [255, 255, 255]  # transparent black -> white


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    img = Image.new(mode, (3, 3), (0, 0, 0, 0) if mode == "RGBA" else (0, 0))
    data = encode(img, "PNG")
    assert np.asarray(load_rgb(data)).min() == 255


@pytest.mark.parametrize("mode", ["1", "L", "P", "I", "F"])
def test_other_modes(mode: str) -> None:
    img = pattern().convert("L").convert(mode)
    fmt = "TIFF" if mode in ("I", "F") else "PNG"
    out = load_rgb(encode(img, fmt))
    assert out.mode == "RGB" and out.size == (40, 30)
    assert load_rgb(img).mode == "RGB"


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_image_reads_its_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)
    info = inspect_image(data)
    assert info.frames == 3 and (info.width, info.height) == (20, 10)
    r, g, b = np.asarray(load_rgb(data))[5, 10].tolist()
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_gives_the_displayed_size_and_pixels(orientation: int, fmt: str) -> None:
    raw = pattern(40, 30)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(raw, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    transposed = orientation in (5, 6, 7, 8)
    info = inspect_image(data)
    assert (info.width, info.height) == ((30, 40) if transposed else (40, 30))
    assert (info.width, info.height) == expected.size
    assert load_rgb(data).size == expected.size
    # read for a 20x20 box: a JPEG decodes at half scale, still covering what fits the box
    small = load_rgb(data, draft=(20, 20))
    fit = (15, 20) if transposed else (20, 15)
    assert small.size == (fit if fmt == "JPEG" else expected.size)
    got = np.asarray(load_rgb(data)).astype(int)
    want = np.asarray(expected.convert("RGB")).astype(int)
    assert np.abs(got - want).mean() < 3
    # the red corner is where a viewer would show it
    red = np.argwhere((got[..., 0] > 200) & (got[..., 1] < 60))
    assert len(red)


def test_broken_exif_does_not_refuse_a_good_image() -> None:
    data = bytearray(encode(pattern(), "JPEG", exif=b"Exif\x00\x00MM\x00*garbage"))
    info = inspect_image(bytes(data))
    assert (info.width, info.height) == (40, 30)
    assert load_rgb(bytes(data)).size == (40, 30)


def test_load_rgb_reads_paths_and_pil_images(tmp_path) -> None:
    path = tmp_path / "çà-图像.png"
    pattern().save(path)
    assert load_rgb(path).size == (40, 30)
    assert load_rgb(str(path)).size == (40, 30)
    assert load_rgb(pattern().convert("CMYK")).mode == "RGB"


@pytest.mark.parametrize(
    "size, box, expected",
    [
        ((4000, 3000), (256, 256), (500, 375)),  # 1/8 scale still covers 256x192
        ((640, 480), (256, 256), (320, 240)),
        ((640, 480), (512, 512), (640, 480)),  # 512x384 needs the whole image
        ((300, 200), (1000, 1000), (300, 200)),
        ((5, 3), (1, 1), (3, 2)),
    ],
)
def test_draft_never_reads_less_than_fits_the_box(size, box, expected) -> None:
    data = encode(Image.new("RGB", size, "red"), "JPEG")
    assert load_rgb(data, draft=box).size == expected
    assert load_rgb(encode(Image.new("RGB", size), "PNG"), draft=box).size == size


def test_thumbnail_of_a_drafted_jpeg_is_the_right_size() -> None:
    data = encode(pattern(640, 480), "JPEG")
    thumb = Image.open(io.BytesIO(make_thumbnail(load_rgb(data, draft=(256, 256)))))
    assert thumb.size == (256, 192)


@pytest.mark.parametrize("size", [(1, 1), (40, 30), (1000, 10), (10, 1000)])
def test_thumbnail_fits(size: tuple[int, int]) -> None:
    data = make_thumbnail(pattern(*size), size=256)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "JPEG"
    assert max(thumb.size) <= 256 and min(thumb.size) >= 1
    if max(size) > 256:
        assert max(thumb.size) == 256


@pytest.mark.parametrize("mode", ["La", "RGBa", "PA", "LAB", "HSV", "YCbCr", "CMYK", "I;16B"])
def test_every_pil_mode_reads_as_rgb(mode: str) -> None:
    out = load_rgb(Image.new(mode, (5, 4)))
    assert out.mode == "RGB" and out.size == (5, 4)
