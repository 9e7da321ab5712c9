"""ProjectsHome, driven as its front end drives it: every action through the widget's
messages changes the folder of projects as asked; a refused one says why and changes
nothing."""

from __future__ import annotations

import zipfile

import pytest
from conftest import image_bytes

import cvbench
from cvbench.app import PROJECT_ENV, ROOT_ENV
from cvbench.apps import WorkbenchPage
from cvbench.errors import ProjectError
from cvbench.ui import ProjectsHome, Workbench


def _folders(root):
    return sorted(p.name for p in root.iterdir())


def _project(path, kind="multiclass", n=4, tags=("cat", "dog"), name=None):
    project = cvbench.create_project(path, kind=kind, name=name)
    ids = [r.image_id for r in project.add_images(
        [image_bytes(i) for i in range(n)], names=[f"img{i}.png" for i in range(n)])]
    if kind != "detection":
        for i, image_id in enumerate(ids):
            project.tag_images([image_id], [tags[i % len(tags)]])
    return project


def _create(**fields):
    return {"type": "create", "name": "Flowers", "description": "", "kind": "multiclass",
            "domain": "", **fields}


def _import(**fields):
    return {"type": "import", "name": "Imported", "kind": "multiclass", "domain": "",
            "format": "imagefolder", "path": "", "file_name": "", **fields}


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "projects"
    folder.mkdir()
    _project(folder / "pets", name="My pets").close()
    cvbench.create_project(folder / "cars", kind="detection").close()
    (folder / "notes").mkdir()  # not a project
    (folder / ".cvbench-serve").mkdir()  # the server's own records
    return folder


def test_it_lists_the_projects_of_the_folder(root):
    home = ProjectsHome(root)
    assert home.root == str(root.resolve())
    rows = {p["folder"]: p for p in home.projects}
    assert list(rows) == ["cars", "pets"]
    pets = rows["pets"]
    assert (pets["name"], pets["kind"], pets["domain"]) == ("My pets", "multiclass",
                                                             "General (compact)")
    assert (pets["images"], pets["tags"], pets["iterations"]) == (4, 2, 0)
    assert pets["last_iteration"] == {} and pets["error"] == ""
    assert pets["thumbnail"].startswith("data:image/jpeg;base64,")
    assert rows["cars"]["kind"] == "detection" and rows["cars"]["thumbnail"] == ""
    assert {k["value"] for k in home.kinds} == {"multiclass", "multilabel", "detection"}
    assert {f["name"] for f in home.formats} >= {"coco", "voc", "yolo", "csv", "imagefolder",
                                                 "archive"}


def test_a_damaged_project_is_listed_with_its_error(root):
    (root / "broken").mkdir()
    (root / "broken" / "cvbench.db").write_bytes(b"not a database")
    home = ProjectsHome(root)
    broken = next(p for p in home.projects if p["folder"] == "broken")
    assert "cannot be read" in broken["error"]
    home.handle_message({"type": "delete", "folder": "broken"})
    assert "broken" not in _folders(root)


def test_a_home_needs_a_folder_that_is_not_a_project(root, tmp_path):
    with pytest.raises(ProjectError, match="is a project, not a folder of projects"):
        ProjectsHome(root / "pets")
    with pytest.raises(ProjectError, match="is not a folder"):
        ProjectsHome(tmp_path / "missing")


def test_create_opens_the_new_project_and_back_shows_the_list(root):
    home = ProjectsHome(root)
    opened = []
    home.on_open(opened.append)
    home.handle_message(_create(name="Flowers & trees", description="spring", kind="multilabel",
                                domain="General [A2]"))
    assert home.notice["level"] == "success", home.notice
    assert "Flowers-trees" in _folders(root)
    with cvbench.open_project(root / "Flowers-trees") as p:
        assert (p.name, p.kind, p.domain, p.description) == (
            "Flowers & trees", "multilabel", "General [A2]", "spring")
    assert home.opened == "Flowers-trees" and home.opened_name == "Flowers & trees"
    assert isinstance(home.workbench, Workbench) and home.app.children == (home, home.workbench)
    assert [p.name for p in opened] == ["Flowers & trees"]
    workbench = home.workbench
    home.handle_message({"type": "back"})
    assert home.opened == "" and home.workbench is None and home.app.children == (home,)
    assert workbench.comm is None  # its widgets are closed
    assert "Flowers-trees" in [p["folder"] for p in home.projects]
    # the same name again gets a folder of its own
    home.handle_message(_create(name="Flowers & trees"))
    assert home.opened == "Flowers-trees-2"


@pytest.mark.parametrize("fields, error", [
    ({"name": "  "}, "name is empty"),
    ({"name": "x" * 300}, "the most is 256"),
    ({"kind": "segmentation"}, "not a project kind"),
    ({"kind": "multiclass", "domain": "No such domain"}, "does not serve multiclass"),
    ({"description": "x" * 4001}, "at most 4,000"),
])
def test_bad_creates_are_refused_and_make_nothing(root, fields, error):
    home = ProjectsHome(root)
    before = _folders(root)
    home.handle_message(_create(**fields))
    assert home.notice["level"] == "error" and error in home.notice["text"], home.notice
    assert _folders(root) == before and home.opened == ""


def test_open_rename_duplicate_and_delete(root):
    home = ProjectsHome(root)
    home.handle_message({"type": "open", "folder": "pets"})
    assert home.workbench.project.name == "My pets"
    home.handle_message({"type": "delete", "folder": "pets"})  # it is open: refused
    assert home.notice["level"] == "error" and "go back" in home.notice["text"]
    assert "pets" in _folders(root)
    home.handle_message({"type": "back"})

    home.handle_message({"type": "rename", "folder": "pets", "name": "Cats and dogs"})
    assert home.notice["level"] == "success"
    with cvbench.open_project(root / "pets") as p:
        assert p.name == "Cats and dogs"
        original_id = p.id
    assert next(r["name"] for r in home.projects if r["folder"] == "pets") == "Cats and dogs"

    home.handle_message({"type": "duplicate", "folder": "pets", "name": ""})
    assert home.notice["level"] == "success", home.notice
    with cvbench.open_project(root / "Cats-and-dogs-copy") as copy:
        assert copy.name == "Cats and dogs (copy)" and copy.id != original_id
        assert copy.count_images() == 4 and copy.tag_counts() == {"cat": 2, "dog": 2}
    assert not [n for n in _folders(root) if n.startswith(".cvbench-home")]  # no leftovers

    home.handle_message({"type": "delete", "folder": "Cats-and-dogs-copy"})
    assert home.notice["level"] == "success"
    assert "Cats-and-dogs-copy" not in _folders(root)
    assert not [n for n in _folders(root) if n.startswith(".deleting")]
    assert [r["folder"] for r in home.projects] == ["cars", "pets"]


@pytest.mark.parametrize("msg, error", [
    ({"type": "open", "folder": "notes"}, "holds no cvbench project"),
    ({"type": "open", "folder": "../projects/pets"}, "is not a project folder"),
    ({"type": "open", "folder": ".cvbench-serve"}, "is not a project folder"),
    ({"type": "rename", "folder": "pets", "name": " "}, "name is empty"),
    ({"type": "rename", "folder": "gone", "name": "x"}, "holds no cvbench project"),
    ({"type": "delete", "folder": "notes"}, "holds no cvbench project"),
    ({"type": "delete", "folder": ""}, "is not a project folder"),
    ({"type": "duplicate", "folder": "pets", "name": "x" * 300}, "the most is 256"),
    ({"type": "duplicate", "folder": "gone", "name": ""}, "holds no cvbench project"),
    ({"type": "explode"}, "unknown to ProjectsHome"),
    ({"type": "rename", "folder": "pets"}, "missing field(s) ['name']"),
])
def test_bad_actions_are_refused_and_change_nothing(root, msg, error):
    home = ProjectsHome(root)
    before = _folders(root), home.projects
    home.handle_message(msg)
    assert home.notice["level"] == "error" and error in home.notice["text"], home.notice
    assert (_folders(root), home.projects) == before
    with cvbench.open_project(root / "pets") as p:
        assert p.name == "My pets"


@pytest.fixture
def dataset(tmp_path):
    """An ImageFolder dataset (3 tags), as a folder and as a .zip."""
    folder = tmp_path / "dataset"
    for i, tag in enumerate(["red", "red", "green", "blue", "blue"]):
        (folder / tag).mkdir(parents=True, exist_ok=True)
        (folder / tag / f"{i}.png").write_bytes(image_bytes(100 + i))
    archive = tmp_path / "dataset.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.rglob("*.png"):
            zf.write(f, f.relative_to(folder))
    return folder, archive


def test_import_a_dataset_from_a_path_or_an_upload(root, dataset):
    folder, archive = dataset
    home = ProjectsHome(root)
    home.handle_message(_import(name="Colours", path=str(folder)))
    assert home.notice["level"] == "success" and "Imported 5 images" in home.notice["text"]
    with cvbench.open_project(root / "Colours") as p:
        assert p.tag_counts() == {"blue": 2, "green": 1, "red": 2} and p.kind == "multiclass"
    home.handle_message(_import(name="Uploaded", kind="multilabel", file_name="dataset.zip"),
                        [archive.read_bytes()])
    assert home.notice["level"] == "success", home.notice
    with cvbench.open_project(root / "Uploaded") as p:
        assert p.count_images() == 5 and p.kind == "multilabel"
    assert not [n for n in _folders(root) if n.startswith(".")
                and n != ".cvbench-serve"]  # the upload went away
    assert home.opened == ""  # an import lists the new project; it does not open it


def test_import_a_project_archive_as_a_new_project(root, tmp_path):
    archive = tmp_path / "pets.zip"
    with cvbench.open_project(root / "pets") as p:
        p.export_dataset(archive, format="archive")
        original_id = p.id
    home = ProjectsHome(root)
    home.handle_message(_import(name="Pets again", format="archive", path=str(archive)))
    assert home.notice["level"] == "success", home.notice
    with cvbench.open_project(root / "Pets-again") as p:
        assert p.name == "Pets again" and p.id != original_id and p.count_images() == 4


@pytest.mark.parametrize("fields, error", [
    ({"path": ""}, "give the path"),
    ({"path": "/no/such/dataset"}, "does not exist"),
    ({"format": "pdf"}, "pdf"),
    ({"kind": "segmentation"}, "not a project kind"),
    ({"name": ""}, "name is empty"),
    ({"format": "voc"}, None),  # an ImageFolder read as VOC brings no image
    ({"format": "archive"}, None),  # a folder is no project archive
    ({"file_name": "dataset.zip"}, "did not arrive"),  # no buffer came with it
])
def test_bad_imports_are_refused_and_leave_no_project(root, dataset, fields, error):
    folder, _ = dataset
    home = ProjectsHome(root)
    before = _folders(root), home.projects
    home.handle_message(_import(**{"path": str(folder), **fields}))
    assert home.notice["level"] == "error", home.notice
    if error:
        assert error in home.notice["text"], home.notice
    assert (_folders(root), home.projects) == before


def test_shown_in_a_notebook_the_home_is_its_app(root):
    home = ProjectsHome(root)
    bundle = home._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == home.app.model_id != home.model_id


def test_the_workbench_page_opens_the_home_for_a_folder_of_projects(root, monkeypatch):
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    monkeypatch.setenv(ROOT_ENV, str(root))
    page = WorkbenchPage()
    assert isinstance(page.home, ProjectsHome) and page.children == (page.home.app,)
    page.home.handle_message({"type": "open", "folder": "pets"})
    assert page.project is not None and page.project.name == "My pets"
    assert page.workbench is page.home.workbench
    page.home.handle_message({"type": "back"})
    assert page.project is None and page.workbench is None
    # a folder of projects given as the project opens the home too
    monkeypatch.delenv(ROOT_ENV)
    assert isinstance(WorkbenchPage(root).home, ProjectsHome)
    assert WorkbenchPage(root / "pets").home is None


def test_cvbench_app_takes_a_folder_of_projects(root, tmp_path):
    from cvbench import app as launcher

    assert launcher.prepare_project(root) == root.resolve()
    assert launcher.is_projects_folder(root) and not launcher.is_projects_folder(root / "pets")
    assert not launcher.is_projects_folder(tmp_path / "missing")
    with pytest.raises(ProjectError, match="is a folder of projects; the quicktest page"):
        launcher.start_app(root, app="quicktest")
    with pytest.raises(ProjectError, match="holds no cvbench project"):
        launcher.prepare_project(tmp_path / "missing")
