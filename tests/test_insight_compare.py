"""Comparing two iterations: per-tag numbers and their difference, fixed and broken images,
both PR curves; iterations of another kind or project are refused."""

from __future__ import annotations

import numpy as np
import pytest

from cvbench.errors import ProjectError
from cvbench.samples import make_sample


@pytest.fixture(scope="module")
def two(tmp_path_factory, one_torch_thread):
    project = make_sample("digits", tmp_path_factory.mktemp("cmp") / "digits", small=True)
    a = project.train("quick", progress_bar=False)
    b = project.train("quick", progress_bar=False, settings={"C": 0.001, "calibrate": False})
    yield project, a, b
    project.close()


def test_per_tag_differences_are_this_minus_other(two):
    _, a, b = two
    c = b.compare(a)
    assert c.this == b.name and c.other == a.name
    pa, pb = a.performance().per_tag.set_index("tag"), b.performance().per_tag.set_index("tag")
    for row in c.per_tag.itertuples():
        assert row.precision_this == pytest.approx(pb["precision"][row.tag], nan_ok=True)
        assert row.recall_other == pytest.approx(pa["recall"][row.tag], nan_ok=True)
        assert row.ap_diff == pytest.approx(pb["ap"][row.tag] - pa["ap"][row.tag], nan_ok=True)
    assert c.shared_images == a.performance().n_images


def test_fixed_and_broken_follow_the_mistakes(two):
    _, a, b = two
    c = b.compare(a)
    wrong_a = set(a.performance().mistakes()["image_id"])
    wrong_b = set(b.performance().mistakes()["image_id"])
    assert set(c.fixed) == wrong_a - wrong_b
    assert set(c.broken) == wrong_b - wrong_a
    flipped = a.compare(b)
    assert set(flipped.fixed) == set(c.broken) and set(flipped.broken) == set(c.fixed)
    assert "fixed" in c.summary() and c.to_dict()["fixed"] == c.fixed


def test_an_iteration_against_itself_changes_nothing(two):
    _, a, _ = two
    c = a.compare(a)
    assert c.changes.empty
    assert np.nanmax(np.abs(c.per_tag[["precision_diff", "recall_diff", "ap_diff"]].to_numpy())
                     ) == 0.0


def test_the_curves_of_both_are_plotted_together(two):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    _, a, b = two
    c = b.compare(a)
    assert set(c.curves) == {"this", "other"} and set(c.curves["this"]) == set(a.tag_names)
    ax = c.plot()
    assert len(ax.get_lines()) == 2 * sum(bool(k.thresholds.size)
                                          for k in c.curves["this"].values())


def test_another_kind_or_project_is_refused_naming_the_kinds(two, tmp_path):
    _, a, _ = two
    faces = make_sample("faces", tmp_path / "faces", small=True)
    faces.set_kind("multilabel")
    other = faces.train("quick", progress_bar=False)
    with pytest.raises(ProjectError, match="multiclass.*multilabel"):
        a.compare(other)
    with pytest.raises(TypeError, match="Iteration"):
        a.compare("Iteration 1")
    faces.close()
