"""The embedding map: every image once, coordinates in [0, 1], coloured by tag or by
whether an iteration got its validation images right."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from cvbench.insight import EmbeddingMap, embed
from cvbench.samples import make_sample


@pytest.fixture(scope="module")
def faces(tmp_path_factory, one_torch_thread):
    project = make_sample("faces", tmp_path_factory.mktemp("map") / "faces", small=True)
    it = project.train("quick", progress_bar=False)
    yield project, it
    project.close()


def test_the_pca_map_has_every_image_once_in_the_unit_square(faces):
    project, _ = faces
    m = project.embedding_map()
    assert isinstance(m, EmbeddingMap) and m.method == "pca" and m.color_by == "tag"
    assert sorted(m.image_ids) == sorted(i.id for i in project.images())
    xy = m.coordinates
    assert xy.min() == pytest.approx(0.0) and xy.max() == pytest.approx(1.0)
    assert set(m.colors) == {t.name for t in project.tags}
    assert m.frame["correct"].isna().all()
    np.testing.assert_array_equal(xy, project.embedding_map().coordinates)  # deterministic


def test_look_alike_images_lie_close():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 64), rng.normal(0, 1, 64)
    pts = np.stack([a + rng.normal(0, 0.05, 64) for _ in range(10)]
                   + [b + rng.normal(0, 0.05, 64) for _ in range(10)])
    xy = embed(pts)
    within = np.linalg.norm(xy[:10] - xy[:10].mean(0), axis=1).max()
    between = np.linalg.norm(xy[:10].mean(0) - xy[10:].mean(0))
    assert between > 5 * within


def test_coloured_by_correct_on_the_iterations_validation_images(faces):
    project, it = faces
    m = project.embedding_map(color_by="correct", iteration=it)
    validation = {i for i, s in it.split().items() if s == "validation"}
    known = m.frame.dropna(subset=["correct"])
    assert set(known["image_id"]) == validation
    wrong = set(it.performance().mistakes()["image_id"])
    assert {i for i, c in zip(known["image_id"], known["correct"], strict=True)
            if not c} == wrong
    assert m.iteration_id == it.id and len(m.to_dict()["points"]) == len(m.frame)


def test_bad_arguments_name_the_fix(faces):
    project, _ = faces
    with pytest.raises(ValueError, match="needs an iteration"):
        project.embedding_map(color_by="correct")
    with pytest.raises(ValueError, match="method="):
        project.embedding_map(method="tsne")
    if importlib.util.find_spec("umap") is None:
        with pytest.raises(ImportError, match="pip install umap-learn"):
            project.embedding_map(method="umap")
    else:
        assert project.embedding_map(method="umap").method == "umap"
