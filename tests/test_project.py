"""The project store through the ``Project`` API: folders, tags, images, rules, the split."""

from __future__ import annotations

import http.server
import io
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import cvbench
from cvbench import ProjectError, Region, TagError
from cvbench.project import MIN_IMAGES_PER_TAG
from cvbench.store import db as store_db
from cvbench.store.files import FileStore, sha256_bytes

# -- helpers ---------------------------------------------------------------------------------


def png(i: int, size: tuple[int, int] = (8, 6)) -> bytes:
    """Distinct small PNG bytes for each ``i``."""
    out = io.BytesIO()
    Image.new("RGB", size, (i % 256, (i // 256) % 256, 77)).save(out, "PNG")
    return out.getvalue()


def jpeg(i: int, size: tuple[int, int] = (64, 48), exif_orientation: int | None = None) -> bytes:
    rng = np.random.default_rng(i)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    out = io.BytesIO()
    if exif_orientation is None:
        img.save(out, "JPEG", quality=85)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        img.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def ids_of(images) -> set[str]:
    return {im.id for im in images}


@pytest.fixture
def project(tmp_path) -> Iterator[cvbench.Project]:
    with cvbench.create_project(tmp_path / "p", kind="multiclass") as p:
        yield p


@pytest.fixture
def multilabel(tmp_path) -> Iterator[cvbench.Project]:
    with cvbench.create_project(tmp_path / "ml", kind="multilabel") as p:
        yield p


@pytest.fixture
def detection(tmp_path) -> Iterator[cvbench.Project]:
    with cvbench.create_project(tmp_path / "det", kind="detection") as p:
        yield p


# -- a project is a folder -------------------------------------------------------------------
def test_create_and_open(tmp_path) -> None:
    root = tmp_path / "nested" / "flowers"
    p = cvbench.create_project(root, kind="multilabel", name="Flowers", split_seed=3)
    assert (root / "cvbench.db").exists()
    assert p.kind == "multilabel" and p.name == "Flowers"
    from cvbench import domains

    assert p.domain == domains.DEFAULT_DOMAIN
    s = p.settings
    assert s["split_seed"] == 3 and s["validation_fraction"] == 0.2
    assert s["limits"]["max_tags"] == 500
    (res,) = p.add_images(png(1), tags=["rose"])
    p.close()
    q = cvbench.open_project(root)
    assert q.id == p.id and q.kind == "multilabel"
    assert [im.id for im in q.images()] == [res.image_id]
    assert q.tags[0].name == "rose"
    conn = sqlite3.connect(root / "cvbench.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    conn.close()
    q.close()


def test_create_project_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="multiclass"):
        cvbench.create_project(tmp_path / "a", kind="classification")
    with pytest.raises(ValueError, match="domain"):
        cvbench.create_project(tmp_path / "b", domain="No Such Domain")
    with pytest.raises(ValueError, match="validation_fraction"):
        cvbench.create_project(tmp_path / "c", validation_fraction=1.0)
    with pytest.raises(ValueError, match="unknown limit"):
        cvbench.create_project(tmp_path / "d", limits={"max_image": 3})
    cvbench.create_project(tmp_path / "e").close()
    with pytest.raises(ProjectError, match="open_project"):
        cvbench.create_project(tmp_path / "e")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProjectError, match="is a file"):
        cvbench.create_project(tmp_path / "f")
    with pytest.raises(ProjectError, match="create_project"):
        cvbench.open_project(tmp_path / "nothing-here")
    for bad in ("a", "b", "c", "d"):  # refused before anything was written
        assert not (tmp_path / bad).exists()


def test_project_layout_is_content_addressed(project) -> None:
    data = jpeg(1)
    (res,) = project.add_images(data, tags="cat")
    im = project.image(res.image_id)
    from hashlib import sha256

    assert im.sha256 == sha256(data).hexdigest()
    assert im.path == project.path / "images" / im.sha256[:2] / f"{im.sha256}.jpg"
    assert im.path.read_bytes() == data
    assert im.thumbnail_path.exists()
    assert Image.open(im.thumbnail_path).format == "JPEG"
    assert project.thumbnail(im.id) == im.thumbnail_path.read_bytes()
    im.thumbnail_path.unlink()  # a lost thumbnail is made again
    assert Image.open(io.BytesIO(project.thumbnail(im.id))).size == (64, 48)
    assert im.thumbnail_path.exists()
    assert len(im.id) == 36 and im.id.count("-") == 4  # a UUID
    assert im.created and im.to_dict()["tags"] == ["cat"]


# -- tags ------------------------------------------------------------------------------------
def test_tags_create_rename_merge_delete(multilabel) -> None:
    p = multilabel
    a = p.create_tag("Apple", description="red ones")
    assert a.type == "Regular" and a.image_count == 0
    with pytest.raises(TagError, match="already exists"):
        p.create_tag("apple")  # names ignore case
    with pytest.raises(TagError, match="empty"):
        p.create_tag("  ")
    with pytest.raises(ValueError, match="Regular"):
        p.create_tag("x", type="Positive")
    ids = [r.image_id for r in p.add_images([png(i) for i in range(4)], tags=["Apple"])]
    p.add_images([png(i) for i in range(4, 6)], tags=["pear"])
    p.tag_images(ids[:2], "pear")
    assert p.get_tag("APPLE").id == a.id and p.get_tag(a.id).name == "Apple"
    assert p.tag_counts() == {"Apple": 4, "pear": 4}
    assert [(t.name, t.image_count) for t in p.tags] == [("Apple", 4), ("pear", 4)]

    with pytest.raises(TagError, match="merge"):
        p.rename_tag("pear", "apple")
    renamed = p.rename_tag("pear", "Pear")
    assert renamed.name == "Pear" and renamed.image_count == 4
    assert p.rename_tag("Pear", "fruit").name == "fruit"

    merged = p.merge_tags(["fruit"], into="Apple")
    assert merged.id == a.id and merged.image_count == 6  # 4 + 2 not already Apple
    assert [t.name for t in p.tags] == ["Apple"]
    with pytest.raises(TagError, match="no tag 'fruit'"):
        p.get_tag("fruit")

    p.delete_tag("Apple")
    assert p.tags == [] and p.count_images() == 6  # the images stay
    assert len(p.images(untagged=True)) == 6


def test_negative_tag_rules(project, detection, multilabel) -> None:
    neg = project.create_tag("none", type="Negative")
    assert neg.type == "Negative"
    with pytest.raises(TagError, match="at most one"):
        project.create_tag("other negative", type="Negative")
    with pytest.raises(TagError, match="Negative"):
        detection.create_tag("nothing", type="Negative")
    project.create_tag("cat")
    with pytest.raises(TagError, match="Negative"):
        project.merge_tags(["none"], into="cat")
    # Negative is exclusive
    multilabel.create_tag("none", type="Negative")
    (r,) = multilabel.add_images(png(1), tags=["none", "cat"])
    assert r.status == "ErrorNegativeAndRegularTagOnSameImage"
    assert multilabel.count_images() == 0
    (r,) = multilabel.add_images(png(1), tags=["cat", "dog"])
    multilabel.tag_images(r.image_id, "none")  # replaces the Regular tags
    assert multilabel.image(r.image_id).tags == ("none",)
    multilabel.tag_images(r.image_id, ["dog"])  # a Regular tag replaces the Negative one
    assert multilabel.image(r.image_id).tags == ("dog",)
    with pytest.raises(TagError, match="Negative"):
        multilabel.tag_images(r.image_id, ["none", "cat"])
    assert multilabel.image(r.image_id).tags == ("dog",)


def test_multiclass_takes_one_tag_per_image(project) -> None:
    (r,) = project.add_images(png(1), tags=["a", "b"])
    assert r.status == "ErrorTagLimitExceed" and "one tag" in r.message
    (r,) = project.add_images(png(1), tags=["a"])
    with pytest.raises(TagError, match="one tag"):
        project.tag_images(r.image_id, ["a", "b"])
    project.tag_images(r.image_id, "b")  # replaces
    assert project.image(r.image_id).tags == ("b",)


def test_tag_limits(tmp_path) -> None:
    p = cvbench.create_project(
        tmp_path / "p", kind="multilabel", limits={"max_tags": 3, "max_tags_per_image": 2}
    )
    for name in "abc":
        p.create_tag(name)
    with pytest.raises(TagError, match="max_tags=3"):
        p.create_tag("d")
    (r,) = p.add_images(png(1), tags=["a", "b", "c"])
    assert r.status == "ErrorTagLimitExceed"
    (r,) = p.add_images(png(1), tags=["a", "b"])
    assert r.status == "OK"
    with pytest.raises(TagError, match="limit"):
        p.tag_images(r.image_id, "c")
    assert p.image(r.image_id).tags == ("a", "b")  # nothing half done
    p.close()


def test_tags_created_by_two_writers_at_once(tmp_path) -> None:
    root = tmp_path / "p"
    cvbench.create_project(root, kind="multilabel").close()
    a, b = cvbench.open_project(root), cvbench.open_project(root)
    # b looked for the tag before a created it
    real_get_tag = b.get_tag
    calls = {"n": 0}

    def stale_get_tag(tag):
        calls["n"] += 1
        try:
            return real_get_tag(tag)  # the first call finds no tag …
        finally:
            if calls["n"] == 1:
                a.create_tag("shared")  # … and then a creates it

    b.get_tag = stale_get_tag  # type: ignore[method-assign]
    (r,) = b.add_images(png(1), tags=["shared"])
    assert r.status == "OK"
    assert b.image(r.image_id).tags == ("shared",)
    assert len(a.tags) == 1
    a.close()
    b.close()


# -- adding images ---------------------------------------------------------------------------
def test_sources_of_every_kind(project, tmp_path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    named = folder / "çà et là – 图像.png"
    named.write_bytes(png(1))
    other = folder / "b.jpg"
    other.write_bytes(jpeg(2))
    pil = Image.new("RGB", (10, 10), "red")
    res = project.add_images([named, str(other), png(3), pil, Image.new("I", (4, 4), 9000)])
    assert [r.status for r in res] == ["OK"] * 5, res
    assert [r.ok for r in res] == [True] * 5
    names = [project.image(r.image_id).original_name for r in res]
    assert names[:2] == ["çà et là – 图像.png", "b.jpg"]
    assert res[2].source.startswith("<") and "bytes" in res[2].source
    assert project.image(res[3].image_id).width == 10
    renamed = project.add_images([png(4)], names=["given.png"])
    assert project.image(renamed[0].image_id).original_name == "given.png"
    assert project.check() == []


def test_every_bad_input_gets_its_status_and_nothing_is_lost(tmp_path) -> None:
    p = cvbench.create_project(tmp_path / "p", kind="multiclass",
                               limits={"max_image_bytes": 200_000})
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(jpeg(9, (300, 200))[:1500])
    (folder / "text.png").write_text("not a picture at all")
    (folder / "vector.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    (folder / "bomb.png").write_bytes(bomb.getvalue())
    (folder / "big.bmp").write_bytes(b"BM" + b"\0" * 300_000)
    good = [jpeg(i) for i in range(5)]
    sources = [
        good[0],
        folder / "empty.jpg",
        folder / "truncated.jpg",
        good[1],
        folder / "text.png",
        folder / "vector.svg",
        folder / "bomb.png",
        folder / "big.bmp",
        folder / "missing.jpg",
        folder,  # a folder is not an image
        good[2],
        good[0],  # the same bytes twice in one batch
        png(5, (1, 1)),
        good[3],
    ]
    res = p.add_images(sources, tags="ok")
    statuses = [r.status for r in res]
    assert statuses == [
        "OK",
        "ErrorImageFormat",
        "ErrorImageFormat",
        "OK",
        "ErrorImageFormat",
        "ErrorImageFormat",
        "ErrorImageDimensions",
        "ErrorImageSize",
        "ErrorSource",
        "ErrorSource",
        "OK",
        "OKDuplicate",
        "OK",
        "OK",
    ]
    assert all(r.message for r in res if r.status != "OK")
    assert res[11].image_id == res[0].image_id
    assert "empty" in res[1].message and "truncated" in res[2].message
    assert "SVG" in res[5].message and "20000x20000" in res[6].message
    assert p.count_images() == 5 and p.get_tag("ok").image_count == 5
    assert p.check() == []
    # the project holds exactly the files of its rows (nothing half written)
    files = sorted(x.name for x in (p.path / "images").rglob("*") if x.is_file())
    assert files == sorted(im.path.name for im in p.images())
    assert not list(p.path.rglob(".tmp-*"))
    # again: all duplicates, nothing changes
    again = p.add_images(good[:4])
    assert [r.status for r in again] == ["OKDuplicate"] * 4
    assert p.count_images() == 5
    p.close()


def test_exif_rotation_stores_the_displayed_size(project) -> None:
    (r6,) = project.add_images(jpeg(1, (64, 48), exif_orientation=6))
    (r1,) = project.add_images(jpeg(1, (64, 48), exif_orientation=1))
    rotated, upright = project.image(r6.image_id), project.image(r1.image_id)
    assert (rotated.width, rotated.height) == (48, 64)
    assert (upright.width, upright.height) == (64, 48)
    from cvbench.store.images import load_rgb

    assert load_rgb(rotated.path).size == (48, 64)
    assert Image.open(rotated.thumbnail_path).size == (48, 64)


def test_odd_images_enter_as_rgb(project) -> None:
    def enc(img, fmt, **kw):
        out = io.BytesIO()
        img.save(out, fmt, **kw)
        return out.getvalue()

    frames = [Image.new("RGB", (20, 10), c) for c in ("red", "lime", "blue")]
    sixteen = Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    sources = {
        "16-bit": enc(sixteen, "PNG"),
        "cmyk": enc(Image.new("CMYK", (9, 7), (0, 255, 255, 0)), "JPEG"),
        "palette+alpha": enc(Image.new("P", (5, 5), 0), "PNG", transparency=0),
        "rgba": enc(Image.new("RGBA", (6, 6), (0, 0, 0, 0)), "PNG"),
        "animated": enc(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "1x1": enc(Image.new("L", (1, 1), 3), "PNG"),
    }
    res = project.add_images(list(sources.values()))
    assert [r.status for r in res] == ["OK"] * len(sources), res
    from cvbench.store.images import load_rgb

    for r in res:
        im = project.image(r.image_id)
        img = load_rgb(im.path)
        assert img.mode == "RGB" and img.size == (im.width, im.height)
    animated = project.image(res[4].image_id)
    assert np.asarray(load_rgb(animated.path))[5, 5].tolist() == [255, 0, 0]


def test_pixel_and_byte_limits_are_the_projects(tmp_path) -> None:
    p = cvbench.create_project(
        tmp_path / "p", limits={"max_image_pixels": 1000, "max_image_bytes": 5000, "max_images": 3}
    )
    res = p.add_images([png(1, (40, 25)), png(2, (40, 26)), jpeg(3, (300, 300))])
    assert [r.status for r in res] == ["OK", "ErrorImageDimensions", "ErrorImageSize"]
    res = p.add_images([png(i) for i in range(10, 14)])
    assert [r.status for r in res] == ["OK", "OK", "ErrorLimitExceed", "ErrorLimitExceed"]
    assert p.count_images() == 3
    p.close()


def test_progress_is_reported(project) -> None:
    seen: list[tuple[int, int]] = []
    project.add_images([png(i) for i in range(150)], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (150, 150) and all(t == 150 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_argument_errors(project, detection) -> None:
    with pytest.raises(ValueError, match="one list of regions per source"):
        detection.add_images([png(1), png(2)], regions=[[]])
    with pytest.raises(TagError, match="regions"):
        detection.add_images([png(1)], tags=["cat"])
    with pytest.raises(TagError, match="detection"):
        project.add_images([png(1)], regions=[[("cat", 0, 0, 1, 1)]])
    with pytest.raises(TagError, match="no tag"):
        project.add_images([png(1)], tags=["unknown"], create_tags=False)
    assert project.count_images() == 0 and detection.count_images() == 0


# -- URLs ------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, int | None]] = {}

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        status, body, length = self.routes.get(path, (404, b"not found", None))
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_base(monkeypatch) -> Iterator[str]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    _Handler.routes = {
        "/good.jpg": (200, jpeg(1), None),
        "/page.html": (200, b"<html><body>a web page</body></html>", None),
        "/cut.jpg": (200, jpeg(2)[:100], 5000),  # promises 5000 bytes, sends 100
        "/huge.jpg": (200, b"\xff\xd8" + b"\0" * 30_000, None),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_sources(tmp_path, http_base) -> None:
    p = cvbench.create_project(tmp_path / "p", limits={"max_image_bytes": 20_000})
    res = p.add_images([
        f"{http_base}/good.jpg?size=large",
        f"{http_base}/missing.jpg",
        f"{http_base}/page.html",
        f"{http_base}/cut.jpg",
        f"{http_base}/huge.jpg",
        "http://127.0.0.1:9/closed-port.jpg",
        "HTTP://127.0.0.1:9/upper-case-scheme.jpg",
    ], tags="web")
    assert [r.status for r in res] == [
        "OK", "ErrorSource", "ErrorImageFormat", "ErrorSource", "ErrorImageSize",
        "ErrorSource", "ErrorSource",
    ], res
    assert "HTTP 404" in res[1].message and "download" in res[1].message
    assert "stopped after 100 of 5000 bytes" in res[3].message
    assert "20.0 kB" in res[4].message
    im = p.image(res[0].image_id)
    assert im.original_name == "good.jpg" and im.tags == ("web",)
    assert p.check() == []
    p.close()


# -- reading: indexed and paged --------------------------------------------------------------
def test_images_filters_and_pages(multilabel) -> None:
    p = multilabel
    cats = [r.image_id for r in p.add_images([png(i) for i in range(30)], tags="cat")]
    dogs = [r.image_id for r in p.add_images([png(i) for i in range(30, 50)], tags="dog")]
    loose = [r.image_id for r in p.add_images([png(i) for i in range(50, 57)])]
    p.tag_images(cats[:5], "dog")
    everything = cats + dogs + loose
    newest = [im.id for im in p.images()]
    assert newest == everything[::-1]
    assert [im.id for im in p.images(order="oldest")] == everything
    pages = [p.images(skip=s, take=10) for s in range(0, 60, 10)]
    assert [im.id for page in pages for im in page] == newest
    assert p.images(skip=57) == [] and p.images(take=0) == []
    assert ids_of(p.images(tag="cat")) == set(cats)
    assert ids_of(p.images(tag="dog")) == set(dogs) | set(cats[:5])
    assert [im.id for im in p.images(tag="dog", take=3)] == dogs[::-1][:3]
    assert ids_of(p.images(untagged=True)) == set(loose)
    assert p.count_images(tag="dog") == 25 and p.count_images(untagged=True) == 7
    assert p.count_images() == 57
    train = ids_of(p.images(split="train"))
    val = ids_of(p.images(split="validation"))
    assert train | val == set(cats + dogs) and not train & val
    assert p.count_images(split="validation") == len(val)
    assert ids_of(p.images(ids=loose[:2])) == set(loose[:2])
    with pytest.raises(ValueError, match="not both"):
        p.images(tag="cat", untagged=True)
    with pytest.raises(ValueError, match="split"):
        p.images(split="test")
    with pytest.raises(ValueError, match="newest"):
        p.images(order="random")
    with pytest.raises(KeyError):
        p.image("no-such-id")


# -- tagging, boxes, deleting ----------------------------------------------------------------
def test_untag_and_delete(multilabel) -> None:
    p = multilabel
    ids = [r.image_id for r in p.add_images([png(i) for i in range(6)], tags=["a", "b"])]
    p.untag_images(ids[0], "a")
    assert p.image(ids[0]).tags == ("b",)
    p.untag_images(ids[1:3])
    assert p.image(ids[1]).tags == () and p.count_images(untagged=True) == 2
    with pytest.raises(KeyError):
        p.tag_images(["missing-id", ids[4]], "c")
    assert p.image(ids[4]).tags == ("a", "b")  # nothing half done
    gone = p.image(ids[5])
    assert p.delete_images([ids[5], "missing-id"]) == 1
    assert not gone.path.exists() and not gone.thumbnail_path.exists()
    assert p.count_images() == 5 and p.get_tag("a").image_count == 2
    # the same bytes can come back
    (again,) = p.add_images(png(5))
    assert again.status == "OK" and p.image(again.image_id).path.exists()
    assert p.check() == []


def test_delete_keeps_a_file_that_a_concurrent_add_needs(tmp_path) -> None:
    root = tmp_path / "p"
    cvbench.create_project(root).close()
    a, b = cvbench.open_project(root), cvbench.open_project(root)
    (r,) = a.add_images(png(1))
    # b prepares the same bytes (the file is there), then a deletes the image and its file,
    # then b writes its row: the row must not point at a missing file
    real_prepare = b._prepare

    def prepare_then_delete(*args):
        prepared = real_prepare(*args)
        a.delete_images(r.image_id)
        return prepared

    b._prepare = prepare_then_delete  # type: ignore[method-assign]
    (r2,) = b.add_images(png(1))
    assert r2.status == "OK"
    assert b.image(r2.image_id).path.exists()
    assert b.check() == [] and a.check() == []
    a.close()
    b.close()


def test_regions(detection) -> None:
    p = detection
    res = p.add_images(
        [png(1, (100, 50)), png(2, (100, 50)), png(3)],
        regions=[
            [{"tag": "car", "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4},
             ("bike", 0.8, 0.8, 0.5, 0.5)],  # reaches outside: clipped
            [Region("", "car", 0.0, 0.0, 1.0, 1.0), ("car", 1.5, 0.2, 0.1, 0.1)],  # outside
            [],
        ],
    )
    assert [r.status for r in res] == ["OK", "OK", "OK"]
    assert "clipped" in res[0].message and "dropped" in res[1].message
    first = p.image(res[0].image_id)
    assert first.tags == ("bike", "car")
    boxes = {r.tag_name: r.box for r in first.regions}
    assert boxes["car"].as_dict() == pytest.approx(
        {"left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4})
    assert boxes["bike"].as_dict() == pytest.approx(
        {"left": 0.8, "top": 0.8, "width": 0.2, "height": 0.2})
    assert len(p.image(res[1].image_id).regions) == 1
    assert p.count_images(untagged=True) == 1
    notes = p.set_regions(res[2].image_id, [("car", -0.5, 0, 1, 1)])
    assert notes and "clipped" in notes[0]
    assert p.image(res[2].image_id).regions[0].box.as_dict()["width"] == pytest.approx(0.5)
    p.untag_images(res[0].image_id, "car")
    assert [r.tag_name for r in p.image(res[0].image_id).regions] == ["bike"]
    assert p.summary().tags[0]["regions"] == 1  # bike
    with pytest.raises(TagError, match="set_regions"):
        p.tag_images(res[0].image_id, "car")
    with pytest.raises(ValueError, match="lacks 'width'"):
        p.set_regions(res[0].image_id, [{"tag": "car", "left": 0, "top": 0, "height": 1}])


def test_region_limit(tmp_path) -> None:
    p = cvbench.create_project(tmp_path / "p", kind="detection",
                               limits={"max_regions_per_image": 2})
    regs = [("a", 0.1 * k, 0.1, 0.05, 0.05) for k in range(3)]
    res = p.add_images([png(1), png(2)], regions=[regs, regs[:2]])
    assert [r.status for r in res] == ["ErrorRegionLimitExceed", "OK"]
    with pytest.raises(TagError, match="max_regions_per_image"):
        p.set_regions(res[1].image_id, regs)
    assert len(p.image(res[1].image_id).regions) == 2
    (r,) = p.add_images([png(3)], regions=[[("a", 0, 0, 0.5, 0.5), ("b", 0.5, 0.5, 0.5, 0.5)]])
    assert r.status == "OK"
    p.close()


region_strategy = st.tuples(
    st.sampled_from(["car", "bike", "person"]),
    st.floats(-0.5, 1.2), st.floats(-0.5, 1.2), st.floats(-0.2, 1.0), st.floats(-0.2, 1.0),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(region_strategy, max_size=6), min_size=1, max_size=4))
def test_stored_regions_are_always_valid(region_lists) -> None:
    from cvbench.boxes import clip_box

    with tempfile.TemporaryDirectory() as tmp:
        p = cvbench.create_project(Path(tmp) / "p", kind="detection")
        first = p.add_images([png(0)])[0].image_id
        for regs in region_lists:
            p.set_regions(first, regs)
            kept = [r for r in regs if clip_box(*r[1:])[0] is not None]
            im = p.image(first)
            assert len(im.regions) == len(kept)
            assert set(im.tags) == {r[0] for r in kept}
            for region in im.regions:
                b = region.box
                assert 0 <= b.left and 0 <= b.top and b.width > 0 and b.height > 0
                assert b.left + b.width <= 1 + 1e-9 and b.top + b.height <= 1 + 1e-9
            counts = p.tag_counts()
            for name in {r[0] for r in kept}:
                assert counts[name] == 1
        p.close()


# -- tagging rules, against a model ----------------------------------------------------------
NAMES = ["a", "b", "c", "neg"]
operation = st.one_of(
    st.tuples(st.just("tag"), st.lists(st.integers(0, 4), min_size=1, max_size=3),
              st.lists(st.sampled_from(NAMES + ["new"]), min_size=1, max_size=3)),
    st.tuples(st.just("untag"), st.lists(st.integers(0, 4), min_size=1, max_size=3),
              st.one_of(st.none(), st.lists(st.sampled_from(NAMES), min_size=1, max_size=2))),
    st.tuples(st.just("add"), st.integers(5, 8),
              st.lists(st.sampled_from(NAMES), max_size=2)),
    st.tuples(st.just("delete_tag"), st.sampled_from(NAMES), st.none()),
    st.tuples(st.just("split"), st.integers(0, 8),
              st.sampled_from(["train", "validation", None])),
)


class _Model:
    """What the tags of each image should be, by the rules in the Project docs."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.types = {"a": "Regular", "b": "Regular", "c": "Regular", "neg": "Negative"}
        self.images: dict[int, set[str]] = {i: set() for i in range(5)}

    def resolve(self, names, create: bool) -> list[str] | None:
        out = []
        for n in names:
            if n not in self.types:
                if not create:
                    return None
                self.types[n] = "Regular"
            if n not in out:
                out.append(n)
        return out

    def combination_ok(self, names: list[str]) -> bool:
        if any(self.types[n] == "Negative" for n in names) and len(names) > 1:
            return False
        return not (self.kind == "multiclass" and len(names) > 1)

    def tag(self, idx, names) -> bool:
        names = self.resolve(names, create=True)
        if not self.combination_ok(names):
            return False
        for i in idx:
            if self.kind == "multiclass" or self.types[names[0]] == "Negative":
                self.images[i] = set(names)
            else:
                negative = {n for n in self.images[i] if self.types[n] == "Negative"}
                self.images[i] = (self.images[i] - negative) | set(names)
        return True


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["multiclass", "multilabel"]), st.lists(operation, max_size=12))
def test_tagging_rules_hold_after_any_operations(kind, ops) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p = cvbench.create_project(Path(tmp) / "p", kind=kind)
        for name in ("a", "b", "c"):
            p.create_tag(name)
        p.create_tag("neg", type="Negative")
        model = _Model(kind)
        ids = {i: r.image_id for i, r in enumerate(p.add_images([png(i) for i in range(5)]))}
        overrides: dict[int, str] = {}
        for op, x, y in ops:
            if op == "tag":
                idx = sorted(set(x))
                before = dict(model.types)
                ok = model.tag(idx, y)
                if ok:
                    p.tag_images([ids[i] for i in idx], y)
                else:
                    with pytest.raises(TagError):
                        p.tag_images([ids[i] for i in idx], y)
                    assert set(model.types) >= set(before)
            elif op == "untag":
                names = None if y is None else model.resolve(y, create=False)
                if y is not None and names is None:
                    with pytest.raises(TagError):
                        p.untag_images([ids[i] for i in x], y)
                    continue
                p.untag_images([ids[i] for i in x], y)
                for i in x:
                    model.images[i] = set() if names is None else model.images[i] - set(names)
            elif op == "add":
                names = model.resolve(y, create=True)
                (r,) = p.add_images(png(x), tags=y)
                if names and not model.combination_ok(names):  # checked before reading
                    assert r.status in ("ErrorNegativeAndRegularTagOnSameImage",
                                        "ErrorTagLimitExceed")
                elif x in ids:
                    assert r.status == "OKDuplicate"
                else:
                    assert r.status == "OK"
                    ids[x] = r.image_id
                    model.images[x] = set(names)
            elif op == "delete_tag":
                if x in model.types:
                    p.delete_tag(x)
                    del model.types[x]
                    for tags in model.images.values():
                        tags.discard(x)
                else:
                    with pytest.raises(TagError):
                        p.delete_tag(x)
            elif op == "split" and x in ids:
                p.set_split(ids[x], y)
                if y is None:
                    overrides.pop(x, None)
                else:
                    overrides[x] = y
            _check_invariants(p, model, ids, overrides)
        p.close()


def _check_invariants(p, model: _Model, ids: dict[int, str], overrides: dict[int, str]) -> None:
    images = {im.id: im for im in p.images()}
    assert set(images) == set(ids.values())
    types = {t.name: t.type for t in p.tags}
    assert types == model.types
    assert sum(1 for t in types.values() if t == "Negative") <= 1
    for i, image_id in ids.items():
        tags = set(images[image_id].tags)
        assert tags == model.images[i], (i, tags, model.images[i])
        if p.kind == "multiclass":
            assert len(tags) <= 1
        if any(types[t] == "Negative" for t in tags):
            assert len(tags) == 1
    expected_counts = {n: sum(n in t for t in model.images.values() if True) for n in types}
    expected_counts = {
        n: sum(1 for i in ids if n in model.images[i]) for n in model.types
    }
    assert p.tag_counts() == expected_counts
    assert {t.name: t.image_count for t in p.tags} == expected_counts
    summary = p.summary()
    assert {r["name"]: r["images"] for r in summary.tags} == expected_counts
    untagged = {ids[i] for i in ids if not model.images[i]}
    assert ids_of(p.images(untagged=True)) == untagged
    assert summary.untagged == len(untagged)
    for name in model.types:
        want = {ids[i] for i in ids if name in model.images[i]}
        assert ids_of(p.images(tag=name)) == want
    # the split: every tagged image has one, the user's choice wins, filters agree
    train, val = ids_of(p.images(split="train")), ids_of(p.images(split="validation"))
    assert not train & val
    for i, image_id in ids.items():
        split = images[image_id].split
        if i in overrides:
            assert split == overrides[i]
        elif model.images[i]:
            assert split in ("train", "validation")
        else:
            assert split is None
        assert (split == "train") == (image_id in train)
        assert (split == "validation") == (image_id in val)
    assert summary.train == len(train) and summary.validation == len(val)
    # the incremental split equals a recomputation from scratch (new ranks, every group)
    incremental = {im.id: im.split for im in p.images()}
    with p.store.transaction():
        p.store.meta.set("split_basis", '["other", 0.5]')
        p.store.meta.set("split_dirty", "1")
    assert {im.id: im.split for im in p.images()} == incremental


# -- the split -------------------------------------------------------------------------------
def _split_project(root: Path, order: list[int], seed: int = 0) -> dict[str, str]:
    p = cvbench.create_project(root, kind="multiclass", split_seed=seed)
    groups = {"a": range(0, 30), "b": range(30, 40), "c": range(40, 42), "d": range(42, 43)}
    for name, members in groups.items():
        chosen = [i for i in order if i in members]
        p.add_images([png(i) for i in chosen], tags=name)
    p.add_images([png(i) for i in range(100, 105)])  # untagged: no split
    out = {im.sha256: im.split for im in p.images()}
    p.close()
    return out


def test_split_is_deterministic_and_stratified(tmp_path) -> None:
    forward = _split_project(tmp_path / "one", list(range(43)))
    backward = _split_project(tmp_path / "two", list(range(43))[::-1])
    assert forward == backward  # the order of adding does not matter
    other_seed = _split_project(tmp_path / "three", list(range(43)), seed=7)
    assert other_seed != forward
    p = cvbench.open_project(tmp_path / "one")
    s = p.summary()
    per_tag = {r["name"]: (r["train"], r["validation"]) for r in s.tags}
    assert per_tag == {"a": (24, 6), "b": (8, 2), "c": (1, 1), "d": (1, 0)}
    assert s.train == 34 and s.validation == 9 and s.untagged == 5
    assert sum(v is None for v in forward.values()) == 5
    p.close()


def test_split_override_is_visible_everywhere(project) -> None:
    ids = [r.image_id for r in project.add_images([png(i) for i in range(10)], tags="a")]
    val = ids_of(project.images(split="validation"))
    assert len(val) == 2
    moved = sorted(val)[0]
    before = {im.id: im.split for im in project.images()}
    project.set_split(moved, "train")
    assert project.image(moved).split == "train"
    assert moved in ids_of(project.images(split="train"))
    assert moved not in ids_of(project.images(split="validation"))
    assert project.count_images(split="validation") == 1
    assert project.summary().validation == 1
    after = {im.id: im.split for im in project.images()}
    assert {k for k in ids if before[k] != after[k]} == {moved}  # nobody else moved
    project.set_split(moved, None)
    assert project.image(moved).split == "validation"
    with pytest.raises(ValueError, match="train"):
        project.set_split(moved, "test")
    with pytest.raises(KeyError):
        project.set_split("missing-id", "train")


def test_split_follows_tag_changes_incrementally(multilabel) -> None:
    p = multilabel
    ids = [r.image_id for r in p.add_images([png(i) for i in range(40)], tags="common")]
    p.tag_images(ids[:6], "rare")
    p.ensure_split()
    log = "SELECT COUNT(*) FROM split_changes"
    assert p.store.sql.value(log) == 0
    groups = {r[0]: r[1] for r in p.store.sql.rows("SELECT id, split_group FROM images")}
    rare = p.get_tag("rare").id
    assert {groups[i] for i in ids[:6]} == {rare}  # grouped by their rarest tag
    assert p.summary().tags[1]["validation"] == 1  # 6 rare images: one validates
    p.tag_images(ids[6:20], "rare")  # now "rare" (20) and "common" (40): still rarer
    assert p.store.sql.value(log) == 0  # applied by the write itself
    s = p.summary()
    assert {r["name"]: (r["train"] + r["validation"]) for r in s.tags} == {
        "common": 40, "rare": 20}
    assert s.validation == 4 + 4  # 20 in each group, a fifth of each
    p.untag_images(ids[:20], "rare")
    assert p.summary().validation == 8  # 40 images in one group again

    # an image whose own tags do not change still moves when its other tag becomes rarer
    y = ids[30]
    p.tag_images(ids[29:32], "x")  # x (3 images) is rarer than common (40)
    p.ensure_split()
    group = "SELECT split_group FROM images WHERE id = ?"
    assert p.store.sql.value(group, (y,)) == p.get_tag("x").id
    p.add_images([png(i) for i in range(100, 150)], tags="x")  # now x has 53
    p.ensure_split()
    assert p.store.sql.value(group, (y,)) == p.get_tag("common").id


def test_a_version_one_project_is_migrated(tmp_path, monkeypatch) -> None:
    # a project as the first cvbench wrote it: schema 1, rows and files
    meta = cvbench.create_project(tmp_path / "template")
    settings_rows = list(meta.store.meta.all().items())
    meta.close()
    root = tmp_path / "old"
    root.mkdir()
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", 1)
    conn = store_db.connect(root / store_db.DB_NAME, create=True)
    monkeypatch.undo()
    files = FileStore(root)
    with store_db.transaction(conn):
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [tuple(r) for r in settings_rows])
        conn.execute("INSERT INTO tags (id, name, type, created) VALUES ('t', 'a', 'Regular', '')")
        for i in range(10):
            data = png(i)
            sha = sha256_bytes(data)
            files.put_image(sha, "png", data)
            conn.execute(
                "INSERT INTO images (id, sha256, ext, width, height, bytes, created, seq) "
                "VALUES (?, ?, 'png', 8, 6, ?, '', ?)", (f"img{i}", sha, len(data), i + 1)
            )
            conn.execute("INSERT INTO image_tags VALUES (?, 't')", (f"img{i}",))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()

    p = cvbench.open_project(root)
    assert p.store.schema_version() == store_db.SCHEMA_VERSION
    assert p.tag_counts() == {"a": 10}  # counts filled in by the migration
    assert p.count_images(split="validation") == 2 and p.count_images(split="train") == 8
    p.set_split("img0", "validation")
    assert p.image("img0").split == "validation"
    (r,) = p.add_images(png(10), tags="a")
    assert r.status == "OK" and p.get_tag("a").image_count == 11
    assert p.check() == []
    p.close()


# -- summary ---------------------------------------------------------------------------------
def test_summary_warns_about_small_and_imbalanced_tags(project) -> None:
    minimum = MIN_IMAGES_PER_TAG["multiclass"]
    project.add_images([png(i) for i in range(12)], tags="big")
    project.add_images([png(i) for i in range(12, 12 + minimum - 1)], tags="small")
    project.add_images([png(i) for i in range(50, 53)])
    project.create_tag("none", type="Negative")
    s = project.summary()
    assert s.images == 12 + minimum - 1 + 3 and s.untagged == 3
    assert {r["name"]: r["images"] for r in s.tags} == {
        "big": 12, "small": minimum - 1, "none": 0}
    text = "\n".join(s.warnings)
    assert f"'small' has {minimum - 1} images" in text
    assert "imbalanced" in text and "1:2" in text
    assert "3 images are untagged" in text
    assert "'none'" not in text  # the Negative tag needs no minimum
    assert "big" in str(s) and s.to_dict()["untagged"] == 3

    project.add_images([png(i) for i in range(60, 60 + 12 - minimum + 1)], tags="small")
    s = project.summary()
    assert not any("imbalanced" in w or "'small'" in w for w in s.warnings)


def test_summary_of_an_empty_project(detection) -> None:
    s = detection.summary()
    assert s.images == 0 and s.tags == [] and "at least one tag" in "\n".join(s.warnings)


# -- the house: layers, no import circles, SQL only in the store ---------------------------
def _import_graph() -> dict[str, set[str]]:
    """cvbench's modules -> the cvbench modules they import (every import statement:
    function-level and TYPE_CHECKING ones count)."""
    import ast

    root = Path(cvbench.__file__).parent
    mods: dict[str, Path] = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        package = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                parts = t.split(".")
                while parts and ".".join(parts) not in mods:
                    parts.pop()
                if parts and ".".join(parts) != m:
                    graph[m].add(".".join(parts))
    return graph


def test_the_layers_hold_and_nothing_imports_in_a_circle() -> None:
    graph = _import_graph()
    facade = {m for m in graph if m in ("cvbench.project", "cvbench.iteration",
                                        "cvbench._training", "cvbench._runs")
              or m.startswith("cvbench._project")}
    engine = {m for m in graph if m.startswith(("cvbench.formats", "cvbench.train",
                                                "cvbench.evaluate", "cvbench.export",
                                                "cvbench.insight"))
              or m in ("cvbench.predict", "cvbench.domains", "cvbench.sources", "cvbench.fetch")}
    store = {m for m in graph if m.startswith("cvbench.store")}
    # leaves import nothing from cvbench (but other leaves)
    leaves = {"cvbench.boxes", "cvbench.errors", "cvbench._types", "cvbench._version",
              "cvbench._pixels"}

    def reach(m: str) -> set[str]:
        seen: set[str] = set()
        todo = [m]
        while todo:
            for n in graph[todo.pop()] - seen:
                seen.add(n)
                todo.append(n)
        return seen

    for m in engine:
        assert not reach(m) - engine - store - leaves, f"{m} reaches {reach(m) - engine - store - leaves}"
    for m in store:
        assert not reach(m) - store - leaves, f"{m} reaches {reach(m) - store - leaves}"
    for m in leaves:
        assert not reach(m) - leaves, m
    for m in facade:
        assert not reach(m) - facade - engine - store - leaves, m
    circles = [m for m in graph if m in reach(m)]
    assert circles == []


def test_sql_lives_only_in_the_store() -> None:
    import re

    root = Path(cvbench.__file__).parent
    sql = re.compile(r"SELECT |INSERT |UPDATE [a-z_]+ SET|DELETE FROM|PRAGMA |import sqlite3")
    outside = [str(p.relative_to(root)) for p in root.rglob("*.py")
               if p.relative_to(root).parts[0] != "store" and sql.search(p.read_text("utf-8"))]
    assert outside == []
    assert not hasattr(cvbench.Project, "connection") and not hasattr(cvbench.Project, "lock")


# -- settings: description, name, kind ---------------------------------------------------------
def test_description_rename_and_kind(tmp_path) -> None:
    p = cvbench.create_project(tmp_path / "folder", kind="multilabel", description="first")
    assert p.description == "first" and p.settings["description"] == "first"
    p.set_description("second")
    p.rename("  Flowers ")
    other = cvbench.open_project(p.path)
    assert (other.name, other.description) == ("Flowers", "second")
    assert p.path.name == "folder"
    with pytest.raises(ValueError, match="empty"):
        p.rename(" ")
    with pytest.raises(ValueError, match="the most is 4000"):
        p.set_description("x" * 4001)
    a, b = p.add_images([png(1), png(2)], tags=["rose", "tulip"])
    with pytest.raises(ProjectError, match=f"{a.image_id}.*several tags"):
        p.set_kind("multiclass")
    p.untag_images([a.image_id, b.image_id], ["tulip"])
    p.set_kind("multiclass")
    assert other.kind == "multiclass"  # another Project object sees it at once
    with pytest.raises(TagError, match="one tag per image"):
        p.tag_images([a.image_id], ["rose", "tulip"])
    with pytest.raises(ValueError, match="switches between"):
        p.set_kind("detection")
    other.close()
    p.close()
    with cvbench.create_project(tmp_path / "det", kind="detection") as det, \
            pytest.raises(ProjectError, match="detection project"):
        det.set_kind("multilabel")


def test_update_tag(project, detection) -> None:
    cat = project.create_tag("cat")
    dog = project.create_tag("dog")
    t = project.update_tag("cat", name="Cat", description="small")
    assert (t.id, t.name, t.description, t.type) == (cat.id, "Cat", "small", "Regular")
    assert project.update_tag(cat.id, description="").description == ""
    with pytest.raises(TagError, match="already exists"):
        project.update_tag(cat, name="DOG")
    (res,) = project.add_images([png(3)], tags=["Cat"])
    assert project.update_tag(cat, type="Negative").type == "Negative"
    with pytest.raises(TagError, match="already has a Negative tag"):
        project.update_tag(dog, type="Negative")
    assert project.update_tag(cat, type="Regular").type == "Regular"
    with pytest.raises(ValueError, match="not a tag type"):
        project.update_tag(cat, type="Odd")
    ml = cvbench.create_project(project.path.parent / "ml", kind="multilabel")
    (r,) = ml.add_images([png(4)], tags=["a", "b"])
    with pytest.raises(TagError, match=f"{r.image_id}.*stands alone"):
        ml.update_tag("a", type="Negative")
    ml.close()
    detection.create_tag("box")
    with pytest.raises(TagError, match="no Negative tag"):
        detection.update_tag("box", type="Negative")


# -- metadata and the queries of the REST API ---------------------------------------------------
def test_image_metadata_and_its_filter(multilabel) -> None:
    p = multilabel
    ids = [r.image_id for r in p.add_images([png(i) for i in range(6)])]
    p.set_image_metadata(ids[:3], {"camera": "a", "lens": "wide"})
    p.set_image_metadata(ids[1], {"lens": None, "site": "north"})
    assert p.image(ids[0]).metadata == {"camera": "a", "lens": "wide"}
    assert p.image(ids[1]).metadata == {"camera": "a", "site": "north"}
    assert p.image(ids[5]).metadata == {}
    assert p.image_ids_matching("camera eq 'a' and lens ne 'wide'") == {ids[1]}
    assert p.count_images(metadata_filter="lens eq 'wide' or site eq 'north'") == 3
    page = p.images(metadata_filter="camera eq 'a'", order="oldest", skip=1, take=1)
    assert [i.id for i in page] == [ids[1]]
    with pytest.raises(ValueError, match="expected eq or ne"):
        p.images(metadata_filter="camera is 'a'")
    with pytest.raises(KeyError):
        p.set_image_metadata([ids[0], "nope"], {"x": "y"})
    assert "x" not in p.image(ids[0]).metadata  # nothing written
    with pytest.raises(ValueError, match="1 to 256"):
        p.set_image_metadata(ids[0], {"k" * 257: "v"})
    with pytest.raises(ValueError, match="at most 512"):
        p.set_image_metadata(ids[0], {"k": "v" * 513})
    with pytest.raises(ValueError, match="at most 50"):
        p.set_image_metadata(ids[0], {f"k{i}": "v" for i in range(51)})
    p.set_image_metadata(ids[0], {f"k{i}": "v" for i in range(48)})
    with pytest.raises(ValueError, match="would hold 53 metadata pairs"):
        p.set_image_metadata(ids[0], {"k48": "v", "k49": "v", "k50": "v"})
    assert len(p.image(ids[0]).metadata) == 50  # camera, lens and 48


def test_several_tags_tagged_and_iteration_queries_match_a_slow_reference(tmp_path) -> None:
    rng = np.random.default_rng(3)
    p = cvbench.create_project(tmp_path / "q", kind="multilabel")
    names = ["a", "b", "c", "d"]
    for i in range(60):
        chosen = [n for n in names if rng.random() < 0.3]
        p.add_images([png(i)], tags=chosen or None)
    everything = p.images(order="oldest")
    p.set_image_metadata([i.id for i in everything[::3]], {"every": "third"})
    every = {i.id for i in everything[::3]}
    for tags in (["a"], ["a", "b"], ["b", "c", "d"]):
        for tagged in (None, True, False):
            for split in (None, "train", "validation"):
                for meta in (None, "every eq 'third'"):
                    if tagged is False and tags:
                        continue
                    want = [i.id for i in everything
                            if set(tags) & set(i.tags)
                            and (tagged is None or bool(i.tags) == tagged)
                            and (split is None or i.split == split)
                            and (meta is None or i.id in every)]
                    kw = {"tags": tags, "tagged": tagged, "split": split,
                          "metadata_filter": meta}
                    assert p.count_images(**kw) == len(want), kw
                    got = [i.id for i in p.images(order="oldest", **kw)]
                    assert got == want, kw
                    assert [i.id for i in p.images(order="oldest", skip=2, take=3, **kw)] \
                        == want[2:5]
    tagged = [i.id for i in everything if i.tags]
    assert p.count_images(tagged=True) == len(tagged)
    assert [i.id for i in p.images(tagged=True, order="oldest")] == tagged
    assert p.count_images(tagged=False) == len(everything) - len(tagged)
    with pytest.raises(ValueError, match="not both"):
        p.images(tags=["a"], untagged=True)
    with pytest.raises(ValueError, match="a list of tags"):
        p.images(tags="a")
    p.close()


# -- boxes by id --------------------------------------------------------------------------------
def test_add_and_delete_regions_keep_the_other_ids(detection) -> None:
    (r,) = detection.add_images([png(5, (64, 64))], regions=[[
        {"tag": "cat", "left": 0.1, "top": 0.1, "width": 0.3, "height": 0.3}]])
    first = detection.image(r.image_id).regions[0].id
    added = detection.add_regions(r.image_id, [
        {"tag": "dog", "left": 0.5, "top": 0.5, "width": 0.2, "height": 0.2},
        ("cat", 0.8, 0.8, 0.5, 0.5)])  # clipped to the image
    assert [a.tag_name for a in added] == ["dog", "cat"] and all(a.id for a in added)
    assert added[1].width == pytest.approx(0.2)
    img = detection.image(r.image_id)
    assert [x.id for x in img.regions] == [first, added[0].id, added[1].id]
    assert img.tags == ("cat", "dog")
    assert detection.delete_regions([added[0].id, "unknown"]) == 1
    img = detection.image(r.image_id)
    assert [x.id for x in img.regions] == [first, added[1].id] and img.tags == ("cat",)
    assert detection.delete_regions(added[1].id) == 1
    assert detection.summary().tags[0]["regions"] == 1
    with pytest.raises(KeyError):
        detection.add_regions("nope", [("cat", 0, 0, 0.1, 0.1)])
    with pytest.raises(TagError, match="this one is multiclass"):
        cvbench.create_project(detection.path.parent / "mc").add_regions(r.image_id, [])


def test_region_limit_holds_when_adding(tmp_path) -> None:
    p = cvbench.create_project(tmp_path / "lim", kind="detection",
                               limits={"max_regions_per_image": 2})
    (r,) = p.add_images([png(6, (32, 32))], regions=[[("a", 0, 0, 0.5, 0.5)]])
    p.add_regions(r.image_id, [("a", 0.5, 0.5, 0.5, 0.5)])
    with pytest.raises(TagError, match="would have 3 boxes"):
        p.add_regions(r.image_id, [("a", 0.1, 0.1, 0.1, 0.1)])
    assert len(p.image(r.image_id).regions) == 2
    p.close()


def test_region_proposals_before_any_detector(detection) -> None:
    img = Image.new("RGB", (128, 128), (205, 205, 205))
    img.paste((200, 30, 30), (40, 30, 90, 80))  # a red square: 50 px at (40, 30)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    (r,) = detection.add_images([buf.getvalue()])
    proposals = detection.region_proposals(r.image_id)
    assert proposals and all(0 < c < 1 for c, _ in proposals)
    assert [c for c, _ in proposals] == sorted((c for c, _ in proposals), reverse=True)
    _, box = proposals[0]
    square = (40 / 128, 30 / 128, 50 / 128, 50 / 128)
    iw = min(box.left + box.width, square[0] + square[2]) - max(box.left, square[0])
    ih = min(box.top + box.height, square[1] + square[3]) - max(box.top, square[1])
    assert iw * ih / (box.width * box.height + square[2] * square[3] - iw * ih) > 0.75
    (flat,) = detection.add_images([png(7, (64, 64))])  # nothing stands out: no proposal
    assert detection.region_proposals(flat.image_id) == []


# -- import beside the original ---------------------------------------------------------------
def test_import_with_a_new_id_beside_the_original(project, tmp_path) -> None:
    project.add_images([png(8), png(9)], tags=["a"])
    archive = tmp_path / "p.zip"
    project.export_dataset(archive, format="archive")
    same = cvbench.import_project(archive, tmp_path / "same")
    twin = cvbench.import_project(archive, tmp_path / "twin", new_id=True)
    assert same.id == project.id and twin.id != project.id
    assert {i.id for i in twin.images()} == {i.id for i in project.images()}
    assert [t.id for t in twin.tags] == [t.id for t in project.tags]
    same.close()
    twin.close()


# -- the change counter -------------------------------------------------------------------------
REVISION_WRITER = """
import sys
import cvbench
p = cvbench.open_project(sys.argv[1])
p.tag_images([sys.argv[2]], ["from-another-process"])
p.close()
"""


def test_revision_moves_on_every_change_from_any_process(multilabel, tmp_path) -> None:
    import subprocess
    import sys

    p = multilabel
    seen = [p.revision]

    def moved() -> bool:
        seen.append(p.revision)
        return seen[-1] > seen[-2]

    (a, b) = p.add_images([png(10), png(11)])
    assert moved()
    for change in (
        lambda: p.tag_images([a.image_id], ["x"]),
        lambda: p.untag_images([a.image_id], ["x"]),
        lambda: p.create_tag("y"),
        lambda: p.rename_tag("y", "z"),
        lambda: p.update_tag("z", description="zed"),
        lambda: p.set_split([a.image_id], "validation"),
        lambda: p.set_image_metadata([a.image_id], {"k": "v"}),
        lambda: p.rename("other name"),
        lambda: p.set_description("words"),
        lambda: p.delete_tag("z"),
        lambda: p.delete_images([b.image_id]),
    ):
        change()
        assert moved(), change
    # reads move nothing
    p.images(), p.count_images(untagged=True), p.summary(), p.tags, p.iterations
    p.image(a.image_id), p.stored_predictions(), p.image_ids_matching("k eq 'v'")
    assert not moved()
    subprocess.run([sys.executable, "-c", REVISION_WRITER, str(p.path), a.image_id],
                   check=True, timeout=120)
    assert moved()
    assert p.image(a.image_id).tags == ("from-another-process",)
