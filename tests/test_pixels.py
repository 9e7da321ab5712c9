"""The pixel module: one conversion for the app and the exported runtime."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cvbench import _pixels
from cvbench.export import onnx_runtime
from cvbench.store.images import load_rgb


def _slow_input(img: Image.Image, size: int, mean, std) -> np.ndarray:
    """The obvious reference: pixel by pixel, in float64."""
    rgb = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    out = np.empty((3, size, size))
    for y in range(size):
        for x in range(size):
            for c, v in enumerate(rgb.getpixel((x, y))):
                out[c, y, x] = (v / 255.0 - mean[c]) / std[c]
    return out


def test_model_input_is_the_normalised_squash():
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
              for h, w in ((7, 13), (1, 1), (20, 5))]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    batch = _pixels.model_input(images, 6, mean, std)
    assert batch.shape == (3, 3, 6, 6) and batch.dtype == np.float32
    for got, img in zip(batch, images, strict=True):
        np.testing.assert_allclose(got, _slow_input(img, 6, mean, std), atol=1e-5)
    assert _pixels.model_input([], 4, mean, std).shape == (0, 3, 4, 4)
    with pytest.raises(ValueError, match="positive int"):
        _pixels.model_input(images, 0, mean, std)


@pytest.mark.parametrize("mode", ["RGBA", "RGBa", "LA", "La", "P", "L", "I;16", "I", "F", "CMYK"])
def test_the_runtime_reads_every_mode_as_the_app_does(mode):
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    arr[::2, ::3, 3] = 0  # some fully transparent pixels
    base = Image.fromarray(arr, "RGBA")
    if mode in ("I;16", "I", "F"):
        img = Image.fromarray(rng.integers(0, 65535, (9, 11)).astype(np.int32), "I").convert(mode)
    elif mode == "P":
        img = base.convert("RGB").convert("P")
        img.info["transparency"] = 0
    else:
        img = base.convert(mode)
    app, runtime = load_rgb(img), onnx_runtime.read_image(img)
    assert app.mode == runtime.mode == "RGB"
    assert np.array_equal(np.asarray(app), np.asarray(runtime))
    if mode in ("RGBA", "RGBa", "LA"):  # transparent pixels lie on white
        clear = arr[..., 3] == 0
        assert clear.any() and (np.asarray(app)[clear] == 255).all()


def test_exif_orientation_is_applied_and_the_callers_image_kept():
    img = Image.new("RGB", (4, 2), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated: displayed 2 x 4
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    assert load_rgb(data).size == onnx_runtime.read_image(data).size == (2, 4)
    opened = Image.open(io.BytesIO(data))
    assert _pixels.displayed(opened).size == (2, 4) and opened.size == (4, 2)


def test_a_shipped_runtime_loads_the_pixel_module_next_to_it(tmp_path):
    assert [p.name for p in onnx_runtime.runtime_files()] == ["onnx_runtime.py", "_pixels.py"]
    for path in onnx_runtime.runtime_files():
        shutil.copy(path, tmp_path / path.name)
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"  # any import of torch or cvbench now fails
        "sys.modules['cvbench'] = None\n"
        "import onnx_runtime\n"
        "print(onnx_runtime._pixels.__file__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.strip() == str(tmp_path / "_pixels.py")
    (tmp_path / "_pixels.py").unlink()
    failed = subprocess.run([sys.executable, "-c", "import onnx_runtime"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "ship _pixels.py next to onnx_runtime.py" in failed.stderr
