"""The Export tab in a real Voila app, in a real Chromium: export a model and download it,
download a dataset export, both read back and checked byte for byte, and publish an
iteration to see its prediction URL and snippets. The screenshot is docs/export.png."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cvb_browser import assert_rendered, write_notebook

import cvbench
from cvbench.samples import make_sample

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_downloads_and_publish_in_voila(voila, open_page, notebooks, browser_home,
                                        artifacts, tmp_path):
    path = browser_home / "downloads-digits"
    project = make_sample("digits", path, small=True)
    project.train("quick", size=64, progress_bar=False)
    images = {img.path.name: img.path.read_bytes() for img in project.images()}
    project_id = project.id
    project.close()
    write_notebook(
        notebooks / "downloads.ipynb",
        "import cvbench\nfrom cvbench.ui import Workbench\n"
        f"Workbench(cvbench.open_project({str(path)!r}), tab='export')",
    )
    page, watch = open_page(voila.url("voila/render/downloads.ipynb"))
    page.wait_for_selector(".cvb-export [data-action=export]", timeout=120_000)
    assert_rendered(page)
    # a target that cannot be built here is shown with its reason, not offered
    tflite = page.locator(".cvb-export .cvb-ex-format[data-format=tflite]")
    assert "Not available" in tflite.inner_text()
    assert tflite.locator("input").is_disabled()

    # -- a model: export into a folder, then download it from the page ---------------------
    dest = tmp_path / "model"
    folder = page.locator(".cvb-export .cvb-ex-folder")
    folder.fill(str(dest))
    folder.press("Tab")
    page.locator(".cvb-export [data-action=export]").click()
    page.wait_for_selector(".cvb-export .cvb-ex-status.is-done", timeout=180_000)
    assert "Passed" in page.locator(".cvb-export .cvb-ex-parity").inner_text()
    with page.expect_download(timeout=60_000) as info:
        page.locator(".cvb-export [data-action=download-model]").first.click()
    download = info.value
    assert download.suggested_filename == "model.onnx"
    assert Path(download.path()).read_bytes() == (dest / "model.onnx").read_bytes()
    page.wait_for_selector(".cvb-export .cvb-ex-dl[data-status=done]")

    # -- a dataset export: COCO as a zip ---------------------------------------------------
    page.locator(".cvb-export .cvb-ex-dataset-format").select_option("coco")
    page.locator(".cvb-export [data-action=export-dataset]").click()
    page.wait_for_selector(".cvb-export [data-action=download-dataset]", timeout=120_000)
    with page.expect_download(timeout=60_000) as info:
        page.locator(".cvb-export [data-action=download-dataset]").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name.endswith("-coco.zip")
    with zipfile.ZipFile(saved) as zf:
        assert zf.testzip() is None  # every entry's CRC holds
        names = zf.namelist()
        (ann,) = [n for n in names if n.endswith("annotations.json")]
        document = json.loads(zf.read(ann))
        assert len(document["images"]) == len(images) == 80
        top = ann.rsplit("/", 1)[0]
        sent = sorted(zf.read(f"{top}/images/{e['file_name']}") for e in document["images"])
        assert sent == sorted(images.values())  # every image, byte for byte

    # -- publish: the prediction URL, the key and the snippets -----------------------------
    page.locator(".cvb-export .cvb-ex-publish-name").fill("production")
    page.locator(".cvb-export [data-action=publish]").click()
    page.wait_for_selector(".cvb-export .cvb-ex-snippet[data-snippet=curl] pre")
    url = page.locator(".cvb-export .cvb-ex-url").inner_text()
    assert url == ("http://127.0.0.1:8000/customvision/v3.0/prediction/"
                   f"{project_id}/classify/iterations/production/image")
    curl = page.locator(".cvb-export .cvb-ex-snippet[data-snippet=curl] pre").inner_text()
    key = page.locator(".cvb-export .cvb-ex-key").input_value()
    assert url in curl and f"Prediction-Key: {key}" in curl
    python = page.locator(".cvb-export .cvb-ex-snippet[data-snippet=python] pre").inner_text()
    assert "CustomVisionPredictionClient" in python and project_id in python
    serve = page.locator(".cvb-export .cvb-ex-snippet[data-snippet=serve] pre").inner_text()
    assert serve == f"CVBENCH_PREDICTION_KEY={key} cvbench serve {path.parent}"
    assert cvbench.open_project(path).iteration().published_name == "production"
    assert page.locator(".cvb-export [data-copy]").count() == 3
    page.set_viewport_size({"width": 1100, "height": 2600})  # the whole tab in one picture
    page.locator(".cvb-export [data-snippet=python]").scroll_into_view_if_needed()
    page.locator(".cvb-export").screenshot(path=artifacts / "export.png")
    DOCS.mkdir(exist_ok=True)
    page.locator(".cvb-export").screenshot(path=DOCS / "export.png")
    watch.assert_clean()
