"""TrainPanel, driven as its front end drives it: messages and trait changes."""

from __future__ import annotations

import pytest
import traitlets
from _ui_trained import trained_copy

from cvbench.domains import domain_names
from cvbench.ui import TrainPanel


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return trained_copy(tmp_path_factory, "train-panel")


def test_choices_are_validated_and_the_domains_serve_the_kind(project):
    panel = TrainPanel(project)
    assert [d["name"] for d in panel.domains] == domain_names(project.kind)
    assert panel.domain == project.domain and panel.mode == "quick" and panel.state == "idle"
    with pytest.raises(traitlets.TraitError, match="should be one of"):
        panel.mode = "slow"
    with pytest.raises(traitlets.TraitError, match="budget_minutes"):
        panel.budget_minutes = 0
    with pytest.raises(traitlets.TraitError, match="choose one of"):
        panel.domain = "no such domain"
    row = panel.iterations[0]
    assert row["name"] == "Iteration 1" and row["mode"] == "quick"
    perf = project.iteration().performance(0.5)
    assert row["precision"] == pytest.approx(perf.precision)
    assert row["recall"] == pytest.approx(perf.recall)
    assert row["map"] == pytest.approx(perf.average_precision)
    assert panel.readiness["tagged"] == 80 and panel.readiness["warnings"] == []



def test_the_panel_says_where_the_numbers_per_tag_are(project):
    # a notebook has no "Performance tab": the panel points to the widget there (the
    # browser's text follows host; the Workbench sets it, tests/ui/test_ui_workbench.py)
    assert TrainPanel(project).host == "notebook"
    with pytest.raises(traitlets.TraitError, match=r"host='tab' should be one of \['notebook', 'workbench'\]"):
        TrainPanel(project).host = "tab"

def test_a_train_message_trains_in_the_background_and_lists_the_new_iteration(project):
    panel = TrainPanel(project)
    seen: list[dict] = []
    panel.observe(lambda change: seen.append(change["new"]), "progress")
    done: list = []
    panel.on_trained(done.append)
    before = len(project.iterations)
    panel.handle_message({"type": "train", "mode": "quick", "budget_minutes": 3.0,
                          "domain": project.domain})
    assert panel.state == "training" and panel.running  # the kernel is free meanwhile
    assert panel.wait(timeout=300)
    assert panel.state == "idle" and panel.last_run["status"] == "done", panel.last_run
    assert len(project.iterations) == before + 1
    new = project.iteration()
    assert panel.last_run["iteration"] == new.id and done == [new]
    assert panel.iterations[0]["id"] == new.id and panel.iterations[0]["precision"] is not None
    stages = {p["stage"] for p in seen}
    assert {"prepare", "done"} <= stages
    assert panel.progress["fraction"] == 1.0
    assert panel.last_run["text"].startswith(f"{new.name} is ready")
    with pytest.raises(ValueError, match="no training is running"):
        panel.cancel()


def test_cancel_stops_the_run_and_keeps_nothing(project):
    panel = TrainPanel(project)
    before = [it.id for it in project.iterations]
    folders = set((project.path / "iterations").iterdir())

    def cancel_on_first_event(change):
        if panel.state == "training":
            panel.handle_message({"type": "cancel"})

    panel.observe(cancel_on_first_event, "progress")
    panel.train()
    assert panel.wait(timeout=300)
    assert panel.last_run["status"] == "cancelled", panel.last_run
    assert "nothing was kept" in panel.last_run["text"]
    assert [it.id for it in project.iterations] == before
    assert set((project.path / "iterations").iterdir()) == folders
    assert panel.state == "idle" and panel.progress["fraction"] == 0.0


def test_a_project_that_cannot_train_gets_a_readable_message(make_project):
    small = make_project(n=4)
    ids = [img.id for img in small.images()]
    small.tag_images(ids[:3], "cat")
    small.tag_images(ids[3:], "dog")
    panel = TrainPanel(small)
    assert any("at least 5" in w for w in panel.readiness["blockers"])
    panel.train(wait=True)
    assert panel.last_run["status"] == "failed"
    assert panel.last_run["text"].startswith("Training could not run: ")
    assert "Traceback" not in panel.last_run["text"]
    assert panel.error is None
    assert small.iterations == [] and panel.iterations == []


def test_publish_unpublish_and_delete_from_the_list(project):
    panel = TrainPanel(project)
    first = project.iterations[-1].id
    panel.handle_message({"type": "publish", "id": first, "name": "production"})
    assert project.iteration("production").id == first
    row = next(r for r in panel.iterations if r["id"] == first)
    assert row["published_name"] == "production"
    panel.handle_message({"type": "delete_iteration", "id": first})  # published: refused
    assert panel.notice["level"] == "error" and "unpublish it first" in panel.notice["text"]
    assert project.iteration(first).exists
    panel.handle_message({"type": "unpublish", "id": first})
    assert project.iteration(first).published_name is None
    n = len(project.iterations)
    panel.handle_message({"type": "delete_iteration", "id": first})
    assert len(project.iterations) == n - 1 and first not in [r["id"] for r in panel.iterations]
    assert panel.notice["level"] == "success"


def test_malformed_messages_become_notices(project):
    panel = TrainPanel(project)
    panel.handle_message({"type": "train", "mode": "quick"})
    assert panel.notice["level"] == "error" and "missing field" in panel.notice["text"]
    panel.handle_message({"type": "train", "mode": "fast", "budget_minutes": 1.0,
                          "domain": project.domain})
    assert panel.notice["level"] == "error" and "mode='fast'" in panel.notice["text"]
    assert panel.state == "idle"


def test_the_run_says_what_training_chose_and_why():
    from cvbench.ui._iterations import how_trained

    notes = {
        "head": {"why": "stages+pixels: validation accuracy 0.960, loss 0.120",
                 "candidates": [{}, {}, {}]},
        "chosen": "quick",
        "fine_tune": {"kept": "quick: the fine-tuned model did not beat it on validation"},
        "calibration": {"applied": True, "why": "the model was over-confident: logits "
                        "divided by 2.10", "ece_before": 0.15, "ece_after_cross_fitted": 0.04},
    }
    lines = how_trained(notes)
    assert lines[0].startswith("Model chosen by validation among 3 candidates: stages+pixels")
    assert lines[1] == ("Kept the quick model: the fine-tuned model did not beat it on "
                        "validation.")
    assert "15.0 % \u2192 4.0 %" in lines[2] and "over-confident" in lines[2]
    detection = how_trained({"chosen": "quick", "fit": {"validation": {"quick_map": 0.5}}})
    assert detection == ["Kept the quick model: the fine-tuned one did not beat it on "
                         "validation."]
    assert how_trained({}) == []
    off = how_trained({"calibration": {"applied": False, "why": "not fitted: 4 validation "
                                       "images, fewer than 20"}})
    assert off == ["Probabilities as trained: calibration not fitted: 4 validation images, "
                   "fewer than 20."]
