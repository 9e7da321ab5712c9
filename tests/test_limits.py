"""A project's limits: checked when set, refused below what the project holds, stored, and
followed by every open Project of the folder."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image

import cvbench
from cvbench.errors import ImageError, ProjectError
from cvbench.store.images import LIMIT_CEILINGS, Limits, inspect_image


def png(i: int, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (i % 256, (7 * i) % 256, 90)).save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that says it is ``width`` x ``height`` (its pixels are never there)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def state(project: cvbench.Project):
    return project.settings["limits"], project.revision


@pytest.fixture
def project(tmp_path):
    """A multilabel project: tags a, b, c; 4 images, the first two with all three tags."""
    p = cvbench.create_project(tmp_path / "p", kind="multilabel")
    results = p.add_images([png(i) for i in range(4)])
    ids = [r.image_id for r in results]
    for name in "abc":
        p.create_tag(name)
    p.tag_images(ids[:2], ["a", "b", "c"])
    yield p
    p.close()


# -- the values themselves -----------------------------------------------------------------------
def test_the_defaults_and_the_ceilings_refuse_a_20000_pixel_square() -> None:
    huge = png_header(20_000, 20_000)
    with pytest.raises(ImageError) as err:
        inspect_image(huge, Limits(), decode=False)
    assert err.value.status == "ErrorImageDimensions"
    widest = Limits(max_image_pixels=LIMIT_CEILINGS["max_image_pixels"],
                    max_image_side=LIMIT_CEILINGS["max_image_side"],
                    max_image_bytes=LIMIT_CEILINGS["max_image_bytes"])
    with pytest.raises(ImageError) as err:
        inspect_image(huge, widest, decode=False)
    assert err.value.status == "ErrorImageDimensions"
    # what Pillow itself would refuse as a decompression bomb is the ceiling
    assert LIMIT_CEILINGS["max_image_pixels"] == 2 * 89_478_485
    assert all(getattr(Limits(), k) <= v for k, v in LIMIT_CEILINGS.items())
    assert set(LIMIT_CEILINGS) == set(Limits().to_dict())


@pytest.mark.parametrize("changes, error", [
    ({"max_tag": 3}, "unknown limit(s) ['max_tag']; valid limits are"),
    ({"max_tags": 0}, "max_tags=0 should be a positive whole number"),
    ({"max_images": -5}, "max_images=-5 should be a positive whole number"),
    ({"max_tags": 2.5}, "max_tags=2.5 should be a positive whole number"),
    ({"max_tags": 20.0}, "max_tags=20.0 should be a positive whole number"),
    ({"max_tags": True}, "max_tags=True should be a positive whole number"),
    ({"max_tags": "200"}, "max_tags='200' should be a positive whole number"),
    ({"max_tags": None}, "max_tags=None should be a positive whole number"),
    ({"max_image_pixels": 20_000 * 20_000}, "max_image_pixels=400,000,000 is above the most"),
    ({"max_image_side": 70_000}, "choose 65,535 or less"),
    ({"max_image_bytes": 2**30}, "max_image_bytes=1,073,741,824 is above the most"),
    ({"max_tags": 10_001}, "choose 10,000 or less"),
    ({"max_images": 1_000_001}, "choose 1,000,000 or less"),
    ({"max_regions_per_image": 5000}, "choose 1,000 or less"),
    ({"max_tags_per_image": 5000}, "choose 1,000 or less"),
])
def test_bad_values_are_refused_and_change_nothing(project, changes, error):
    before = state(project)
    # a good change beside the bad one: a refusal must not half apply
    with pytest.raises(ValueError) as err:
        project.set_limits(**{"max_images": 400, **changes})
    assert error in str(err.value)
    assert state(project) == before
    with pytest.raises(ValueError):
        Limits.from_dict(changes)


def test_every_bad_value_is_named_at_once(project):
    with pytest.raises(ValueError) as err:
        project.set_limits(max_tags=0, max_images=10**9)
    assert "max_tags=0" in str(err.value) and "max_images=1,000,000,000" in str(err.value)


def test_create_project_checks_the_same(tmp_path):
    with pytest.raises(ValueError, match="choose 178,956,970 or less"):
        cvbench.create_project(tmp_path / "a", limits={"max_image_pixels": 10**9})
    assert not (tmp_path / "a" / "cvbench.db").exists()
    with cvbench.create_project(tmp_path / "b", limits={"max_tags": 20}) as p:
        assert p.limits == Limits(max_tags=20)


# -- what the project holds ---------------------------------------------------------------------
def test_a_count_below_what_the_project_holds_is_refused(project):
    ids = [im.id for im in project.images(order="oldest")]
    before = state(project)
    with pytest.raises(ProjectError) as err:
        project.set_limits(max_tags=2)
    text = str(err.value)
    assert "below the 3 tags the project holds" in text and "delete or merge 1 of them" in text
    assert "project.merge_tags" in text and "choose 3 or more" in text
    with pytest.raises(ProjectError) as err:
        project.set_limits(max_images=1)
    assert "below the 4 images the project holds: delete 3 of them" in str(err.value)
    assert "project.delete_images" in str(err.value)
    with pytest.raises(ProjectError) as err:
        project.set_limits(max_tags_per_image=2)
    text = str(err.value)
    assert f"image {min(ids[:2])} has 3 tags" in text and f"image {max(ids[:2])}" in text
    assert ids[2] not in text and "project.untag_images" in text and "choose 3 or more" in text
    # several at once: all are named, and nothing changes (not even the good one)
    with pytest.raises(ProjectError) as err:
        project.set_limits(max_tags=1, max_images=2, max_image_side=5000)
    assert "max_tags=1" in str(err.value) and "max_images=2" in str(err.value)
    assert state(project) == before
    # exactly what it holds is fine: the next one is refused as it is added
    assert project.set_limits(max_tags=3, max_images=4, max_tags_per_image=3) == []
    with pytest.raises(cvbench.errors.TagError, match="max_tags=3"):
        project.create_tag("d")
    (added,) = project.add_images([png(99)])
    assert added.status == "ErrorLimitExceed"


def test_boxes_per_image_below_what_an_image_holds_is_refused(tmp_path):
    with cvbench.create_project(tmp_path / "d", kind="detection") as p:
        p.create_tag("car")
        first, second = (r.image_id for r in p.add_images([png(1), png(2)]))
        box = {"tag": "car", "left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2}
        p.set_regions(first, [box] * 4)
        p.set_regions(second, [box] * 2)
        before = state(p)
        with pytest.raises(ProjectError) as err:
            p.set_limits(max_regions_per_image=3)
        text = str(err.value)
        assert f"image {first} has 4 boxes" in text and second not in text
        assert "project.delete_regions" in text and "choose 4 or more" in text
        assert state(p) == before
        p.set_limits(max_regions_per_image=4)
        with pytest.raises(cvbench.errors.TagError, match="limit of 4"):
            p.set_regions(second, [box] * 5)


def test_lowering_a_size_limit_keeps_the_images_and_says_so(project):
    notes = project.set_limits(max_image_bytes=50, max_image_side=20, max_image_pixels=100)
    assert len(notes) == 3
    assert any("4 images already in the project are above the new limit of 50 bytes" in n
               for n in notes)
    assert any("20 pixels a side" in n for n in notes) and any("100 pixels" in n for n in notes)
    assert all("they stay" in n for n in notes)
    assert project.count_images() == 4
    # a size limit above every image: nothing to note
    assert project.set_limits(max_image_side=41) == []
    assert project.set_limits(max_image_side=40) == []  # the images are 40 wide: not above


def test_an_upload_above_a_lowered_limit_is_refused(project):
    big = png(5, (60, 50))
    project.set_limits(max_image_bytes=len(big) - 1)
    (r,) = project.add_images([big])
    assert r.status == "ErrorImageSize" and f"{len(big) - 1} bytes" in r.message
    project.set_limits(max_image_bytes=len(big), max_image_side=59)
    (r,) = project.add_images([big])
    assert r.status == "ErrorImageDimensions"
    project.set_limits(max_image_side=60)
    (r,) = project.add_images([big])
    assert r.status == "OK"


# -- stored, and followed ---------------------------------------------------------------------------
def test_the_limits_persist_and_other_projects_see_them(project, tmp_path):
    other = cvbench.open_project(project.path)
    try:
        assert other.limits == Limits()
        revision = project.revision
        assert project.set_limits(max_tags=50, max_image_bytes=2**20) == []
        assert project.revision > revision
        # the other Project object of the folder follows at its next read
        assert other.limits == Limits(max_tags=50, max_image_bytes=2**20)
        assert other.settings["limits"]["max_tags"] == 50
        (r,) = other.add_images([png(7, (400, 300))], names=["big.png"])
        assert r.status == "OK"
        other.set_limits(max_image_bytes=1000)
        (r,) = project.add_images([png(8, (400, 300))])
        assert r.status == "ErrorImageSize"
        # the same values again: nothing is written
        revision = project.revision
        assert project.set_limits(max_tags=50) == []
        assert project.revision == revision
    finally:
        other.close()
    project.close()
    with cvbench.open_project(tmp_path / "p") as reopened:
        assert reopened.limits == Limits(max_tags=50, max_image_bytes=1000)


def test_assigning_limits_sets_them(project):
    project.limits = Limits(max_tags=40)
    assert project.limits.max_tags == 40 and project.settings["limits"]["max_tags"] == 40
    with pytest.raises(ValueError, match="project.set_limits"):
        project.limits = {"max_tags": 3}  # type: ignore[assignment]
    with pytest.raises(ProjectError, match="below the 3 tags"):
        project.limits = Limits(max_tags=1)
    assert project.limits.max_tags == 40


@pytest.mark.parametrize("stored, expected", [
    (None, Limits()),  # a project from before limits were stored
    ({"max_tags": 7}, Limits(max_tags=7)),  # from before the other limits existed
    ({"max_tags": 7, "max_videos": 3}, Limits(max_tags=7)),  # from a newer cvbench
    ({"max_image_pixels": 10**10}, Limits(max_image_pixels=10**10)),  # above today's ceiling
])
def test_older_projects_open_with_the_defaults_they_lack(tmp_path, stored, expected):
    root = tmp_path / "old"
    with cvbench.create_project(root) as p, p.store.transaction():
        if stored is None:
            p.store.sql.write("DELETE FROM meta WHERE key = 'limits'")
        else:
            p.store.meta.set("limits", json.dumps(stored))
    with cvbench.open_project(root) as p:
        assert p.limits == expected
        assert p.settings["limits"] == expected.to_dict()
        (r,) = p.add_images([png(1)])
        assert r.status == "OK"
        # and the limits can be set again: what is written is complete
        p.set_limits(max_images=500)
        assert json.loads(p.store.meta.get("limits") or "{}") == {
            **expected.to_dict(), "max_images": 500}
