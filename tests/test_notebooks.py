"""The teaching notebooks and the app notebooks: committed without outputs, written as
lessons, and executed from top to bottom with nbclient on a real kernel.

The kernel is the ``python3`` kernelspec of the Python that runs the tests (the virtualenv's
own, installed by ``scripts/setup.sh``), so the notebooks import this cvbench. Each notebook
runs in a temporary folder (its projects go there), exactly as a person runs it: there is no
switch that shrinks it for tests. A notebook that takes long is marked slow, so that the
default run stays short (see ``TEACHING``); the executed copies, with their outputs, are
written to test-artifacts/notebooks/.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

import cvbench

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: Executed copies of the notebooks (with outputs) land here, to read after a run.
EXECUTED = ROOT / "test-artifacts" / "notebooks"
APPS = ROOT / "cvbench" / "apps"

#: Each teaching notebook, and whether its execution is slow (none is: CI runs all four, each
#: checked on its key outputs; benchmarks/bench_app.py times them).
TEACHING: dict[str, bool] = {
    "01_quickstart_classifier.ipynb": False,
    "02_object_detector.ipynb": False,
    "03_evaluate_and_improve.ipynb": False,
    "04_export_and_deploy.ipynb": False,
}
APP_NOTEBOOKS = ("workbench.ipynb",)
CELL_TIMEOUT = 900


def _all_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.rglob("*.ipynb")) + sorted(APPS.glob("*.ipynb"))


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# --------------------------------------------------------------------------- static checks


def test_the_teaching_notebooks_are_all_there():
    found = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert found == sorted(TEACHING), (
        f"notebooks/ holds {found}; TEACHING in this file lists {sorted(TEACHING)}: keep them "
        "in step (and mark a new notebook slow or not)"
    )
    for name in APP_NOTEBOOKS:
        assert (APPS / name).is_file(), f"cvbench/apps/{name} is missing"


@pytest.mark.parametrize("path", _all_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_committed_without_outputs(path):
    nb = _read(path)
    nbformat.validate(nb)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.relative_to(ROOT)}: cells {dirty} keep outputs or execution counts; clear "
        f"them before committing: jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}"
    )
    assert "widgets" not in nb.metadata, (
        f"{path.relative_to(ROOT)} keeps widget state in its metadata; save it without "
        "(JupyterLab: Settings > Save Widget State Automatically, off)"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("name", sorted(TEACHING))
def test_teaching_notebook_is_a_lesson(name):
    """Learning goals at the top, exercises at the end, and no library code inside."""
    nb = _read(NOTEBOOKS / name)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and "Learning goals" in first.source
    assert last.cell_type == "markdown" and "## Exercises" in last.source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"^\s*(def|class)\s", code, re.M), (
        f"{name} defines functions or classes: library code belongs in cvbench, the notebook "
        "uses it"
    )
    assert "import *" not in code


def test_app_notebooks_are_one_call_each():
    for name, call in (("workbench.ipynb", "workbench_page()"),):
        code = [c.source for c in _read(APPS / name).cells if c.cell_type == "code"]
        assert len(code) == 1 and code[0].rstrip().endswith(call), (name, code)


def test_notebooks_apps_readme_points_to_the_shipped_apps():
    readme = (NOTEBOOKS / "apps" / "README.md").read_text()
    assert "cvbench/apps/" in readme and "cvbench app" in readme


def test_voila_config_of_the_apps():
    config = json.loads((APPS / "voila.json").read_text())
    assert config["Voila"]["tornado_settings"]["websocket_max_message_size"] >= 100 * 2**20
    assert config["VoilaConfiguration"]["show_tracebacks"] is False
    cull = config["MappingKernelManager"]
    # a page's kernel goes within a minute of its page (tests/browser checks it for real);
    # a page that is still open keeps its kernel
    assert 0 < cull["cull_idle_timeout"] + cull["cull_interval"] <= 60
    assert cull["cull_connected"] is False and cull["cull_busy"] is False


# --------------------------------------------------------------------------- execution


def run_notebook(path: Path, workdir: Path) -> tuple[nbformat.NotebookNode, float]:
    """Execute ``path`` in ``workdir`` with the ``python3`` kernel of this Python; return the
    executed notebook and the seconds it took (the executed copy goes to EXECUTED)."""
    from nbclient import NotebookClient

    nb = _read(path)
    # the kernel inherits this environment: matplotlib's inline backend, not Agg from test.sh
    env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            nb, kernel_name="python3", timeout=CELL_TIMEOUT, allow_errors=False,
            resources={"metadata": {"path": str(workdir)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
        finally:
            EXECUTED.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, EXECUTED / path.name)
        return nb, time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _check_outputs(nb: nbformat.NotebookNode) -> None:
    """No cell printed a traceback or a widget error."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                pytest.fail(f"cell failed: {out.get('ename')}: {out.get('evalue')}")
            text = out.get("text", "")
            assert "Traceback (most recent call last)" not in text, text


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.slow] if slow else []) for n, slow in TEACHING.items()],
)
def test_notebook_runs(name, tmp_path):
    nb, seconds = run_notebook(NOTEBOOKS / name, tmp_path)
    _check_outputs(nb)
    print(f"{name}: {seconds:.0f} s")
    AFTER_RUN[name](tmp_path, nb)


def _text(nb: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _pictures(nb: nbformat.NotebookNode) -> list[str]:
    """The ids of the cells that displayed a PNG (a plot or an image)."""
    return [cell.get("id", "") for cell in nb.cells
            for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    """The cell with id ``cell_id`` (the checks below name the cells they read)."""
    for cell in nb.cells:
        if cell.get("id") == cell_id:
            return cell
    pytest.fail(f"the notebook has no cell with id {cell_id!r}; keep the ids of the cells "
                "that tests/test_notebooks.py checks")


def _cell_text(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """What one cell printed or displayed as text."""
    cell = _cell(nb, cell_id)
    return "\n".join(out.get("text", "") + out.get("data", {}).get("text/plain", "")
                     for out in cell.get("outputs", []))


def _shows(nb: nbformat.NotebookNode, cell_id: str, mime: str) -> bool:
    """Whether the cell displayed an output of type ``mime``."""
    return any(mime in out.get("data", {}) for out in _cell(nb, cell_id).get("outputs", []))


WIDGET = "application/vnd.jupyter.widget-view+json"


def _after_01(workdir: Path, nb: nbformat.NotebookNode) -> None:
    """Sensible numbers with their intervals, on enough validation images."""
    with cvbench.open_project(workdir / "projects" / "01-digits") as project:
        assert project.count_images(untagged=True) == 0
        (iteration,) = project.iterations
        performance = iteration.performance()
        assert performance.n_images >= 80
        assert performance.map > 0.8 and performance.precision > 0.75
    text = _text(nb)
    assert re.search(r"precision: \d+\.\d% \(95% interval \d+\.\d%–\d+\.\d%, \d+ images\)",
                     text), text[-2000:]
    right = re.search(r"(\d+) of 10 unseen digits right", text)
    assert right and int(right.group(1)) >= 6, text[-2000:]
    assert _pictures(nb), "the unseen digits were not shown"
    # the webcam section: without a browser the Uploader only shows, and takes nothing
    assert _shows(nb, "webcam-uploader", WIDGET), _cell_text(nb, "webcam-uploader")
    assert _cell_text(nb, "webcam-uploader").startswith("Uploader(project='01-mine')")
    with cvbench.open_project(workdir / "projects" / "01-mine") as mine:
        assert mine.kind == "multiclass" and mine.count_images() == 0


def _after_02(workdir: Path, nb: nbformat.NotebookNode) -> None:
    with cvbench.open_project(workdir / "projects" / "02-shapes") as project:
        assert project.count_images(untagged=True) == 0
        (iteration,) = project.iterations
        assert iteration.kind == "detection"
        loose, strict = iteration.performance(overlap=0.3), iteration.performance(overlap=0.9)
        assert loose.map >= strict.map
        assert loose.map > 0.3, loose.map  # well above chance for boxes
    assert len(_pictures(nb)) >= 3  # the validation image's boxes, the new scene, its heat
    assert "COCO mAP@[.5:.95]" in _text(nb)
    # the heat of the most probable box's class, drawn with its box
    assert "box-saliency" in _pictures(nb)
    heat = re.search(r"^(circle|square|triangle) (\d+)%: (\d+)% of the heat inside its box, "
                     r"which covers (\d+)% of the picture$", _cell_text(nb, "box-saliency"),
                     re.M)
    assert heat, _cell_text(nb, "box-saliency")
    assert int(heat.group(3)) <= 100 and int(heat.group(4)) <= 100, heat.group(0)


def _after_03(workdir: Path, nb: nbformat.NotebookNode) -> None:
    """The second iteration is measurably better, on the same validation images."""
    text = _text(nb)
    assert "percentage points" in text and "measured on the same validation images: True" in text
    assert len(_pictures(nb)) >= 4  # PR small multiples, worst tags, confusion, mistakes
    with cvbench.open_project(workdir / "projects" / "03-digits") as project:
        second, first = project.iterations
        ids = [{v["image_id"] for v in it.validation_predictions()} for it in (first, second)]
        assert ids[0] == ids[1] and len(ids[0]) == 60
        assert project.count_images(untagged=True) == 0
        assert project.stored_predictions() == []
        p1, p2 = first.performance(), second.performance()
        assert p2.map > p1.map + 0.05, (p1.map, p2.map)
        assert p2.recall > p1.recall, (p1.recall, p2.recall)
        # "See why": the planted copy was deleted and the mistagged image tagged right again;
        # every image carries the digit of its scan's name
        names = {image.original_name: image.tags for image in project.images()}
        assert "copy-of-a-zero.png" not in names
        wrong = {name: tags for name, tags in names.items()
                 if tags != (re.match(r"digit(\d)_", name).group(1),)}
        assert not wrong, wrong
    _after_03_see_why(nb)


def _after_03_see_why(nb: nbformat.NotebookNode) -> None:
    """The "See why" part showed what it says it shows."""
    pictures = _pictures(nb)
    for cell_id in ("see-why-compare-plot", "see-why-saliency", "see-why-duplicates",
                    "see-why-mislabels", "see-why-map", "see-why-augment"):
        assert cell_id in pictures, f"cell {cell_id} showed no picture"

    compared = _cell_text(nb, "see-why-compare")
    assert compared.startswith("Iteration 2 against Iteration 1 on 60 shared validation "
                               "images"), compared
    header = compared.splitlines()[2].split()
    assert header == ["tag", "ap_other", "ap_this", "ap_diff", "recall_other", "recall_this",
                      "recall_diff"], header
    assert re.findall(r"^\d+\s+(\d)\s", compared, re.M) == [str(d) for d in range(10)], compared

    # the text says that the heat lies mostly off the ink (a shortcut): the numbers agree
    on_ink = re.findall(r"^(Iteration \d), evidence for \d: (\d+)% of the heat on the ink$",
                        _cell_text(nb, "see-why-saliency"), re.M)
    assert [who for who, _ in on_ink] == ["Iteration 1", "Iteration 1", "Iteration 2"], on_ink
    assert int(on_ink[-1][1]) < 50, (
        f"the second iteration now puts {on_ink[-1][1]}% of its heat on the ink; the lesson "
        "says it looks at the blank paper: rewrite that paragraph")

    health = _cell_text(nb, "see-why-health")
    assert re.search(r"^\d+ images checked$", health, re.M), health
    assert re.search(r"^2 groups of near-duplicates \(2 images to delete\); 1 with different "
                     r"tags, 2 across train and validation$", health, re.M), health
    assert "across_splits" in health and "similarity" in health, health
    mislabels = _cell_text(nb, "see-why-mislabels")
    assert "suggested_probability" in mislabels, mislabels
    # both planted mistakes are near the top of the likely mislabels, the copy with its tag
    assert re.search(r"^[0-2]\s+[1-3]\s+\(7,\)\s+\(0,\)", mislabels, re.M), mislabels
    assert re.search(r"^[0-2]\s+[1-3]\s+\(6,\)\s", mislabels, re.M), mislabels
    fixed = _cell_text(nb, "see-why-fix")
    assert "1 image deleted" in fixed and "is tagged ('0',) again" in fixed, fixed
    assert _shows(nb, "see-why-insight", WIDGET), _cell_text(nb, "see-why-insight")


def _after_04(workdir: Path, nb: nbformat.NotebookNode) -> None:
    """The export passed its parity check; the shipped folder runs with ONNX Runtime alone
    and gives the app's top tag."""
    import subprocess

    text = _text(nb)
    parity = re.search(r"ParityReport\(format='onnx', images=(\d+), max_abs_diff=([0-9.e+-]+), "
                       r"same_top=True", text)
    assert parity and int(parity.group(1)) >= 10 and float(parity.group(2)) < 1e-4, text[-2000:]
    difference = re.search(r"largest probability difference: ([0-9.e+-]+)", text)
    assert difference and float(difference.group(1)) < 1e-4, text[-2000:]

    ship = workdir / "projects" / "04-ship"
    assert sorted(p.name for p in ship.iterdir()) == [
        "_pixels.py", "classify.py", "digit.png", "model.onnx", "model.onnx.json",
        "onnx_runtime.py"]
    run = subprocess.run([sys.executable, "classify.py", "digit.png"], cwd=ship,
                         capture_output=True, text=True, check=True)
    assert "torch imported: False - cvbench imported: False" in run.stdout
    shipped = json.loads(run.stdout[: run.stdout.rindex("]") + 1])
    with cvbench.open_project(workdir / "projects" / "04-digits") as project:
        top = project.iteration().predict(ship / "digit.png").top
    assert shipped[0]["tagName"] == top.tag_name
    assert abs(shipped[0]["probability"] - top.probability) < 1e-4


#: What each notebook must have shown, and left behind in its folder.
AFTER_RUN: dict[str, Callable[[Path, nbformat.NotebookNode], None]] = {
    "01_quickstart_classifier.ipynb": _after_01,
    "02_object_detector.ipynb": _after_02,
    "03_evaluate_and_improve.ipynb": _after_03,
    "04_export_and_deploy.ipynb": _after_04,
}


def test_the_kernel_is_this_python(tmp_path):
    """The notebooks run on this virtualenv's interpreter (its python3 kernelspec)."""
    probe = tmp_path / "probe.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, cvbench; print(sys.executable); print(cvbench.__file__)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, probe)
    done, _ = run_notebook(probe, tmp_path)
    executable, package = done.cells[0].outputs[0]["text"].split()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(package).resolve().parent == (ROOT / "cvbench").resolve()
