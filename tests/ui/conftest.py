"""Tiny projects for the widget tests, built with PIL (no sample data needed)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

import cvbench


def image_bytes(i: int, size: tuple[int, int] = (40, 30), fmt: str = "PNG") -> bytes:
    """A small image whose bytes differ for every ``i`` (one pixel changes)."""
    img = Image.new("RGB", size, (200, 220, 240))
    img.putpixel((i % size[0], (i // size[0]) % size[1]), (i % 256, (i * 7) % 256, 0))
    img.putpixel((0, 0), ((i // 256) % 256, 0, 0))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


ProjectFactory = Callable[..., cvbench.Project]


@pytest.fixture
def png() -> Callable[..., bytes]:
    """``png(i, size=(40, 30), fmt="PNG")``: image bytes that differ for every ``i``."""
    return image_bytes


@pytest.fixture
def make_project(tmp_path) -> ProjectFactory:
    """``make_project(kind, n=…, tags=[…])``: a project with ``n`` untagged images and tags."""
    counter = iter(range(1000))

    def make(kind: str = "multiclass", n: int = 5, tags: tuple[str, ...] = ("cat", "dog"),
             size: tuple[int, int] = (40, 30)) -> cvbench.Project:
        project = cvbench.create_project(tmp_path / f"p{next(counter)}", kind=kind)
        for name in tags:
            project.create_tag(name)
        if n:
            results = project.add_images(
                [image_bytes(i, size) for i in range(n)], names=[f"img{i:03d}.png" for i in range(n)]
            )
            assert all(r.status == "OK" for r in results)
        return project

    return make
