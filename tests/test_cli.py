"""The command line: every command, with and without --json, and its error cases.

Commands run in-process through ``main([...])``; one test runs the real console script.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cvbench import open_project
from cvbench.cli import COMMANDS, FORMATS, build_parser, main
from cvbench.samples import make_sample


@pytest.fixture
def cli(capsys):
    """Run ``cvbench ARGS…`` in-process; return (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def cli_json(cli):
    """Run a command with --json, check it succeeded, and return the parsed stdout."""

    def run(*args: str):
        code, out, err = cli(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    return run


def assert_one_line_error(code: int, out: str, err: str, *words: str) -> str:
    assert code != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cvbench: error: "), err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def faces(tmp_path) -> Path:
    """A small multiclass project (24 images, tags 'face' and 'not face')."""
    make_sample("faces", tmp_path / "faces", small=True).close()
    return tmp_path / "faces"


@pytest.fixture
def shapes(tmp_path) -> Path:
    make_sample("shapes", tmp_path / "shapes", small=True).close()
    return tmp_path / "shapes"


def _png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


# -- the parser ----------------------------------------------------------------------------
def test_parser_has_every_command_and_json_everywhere():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS) >= {
        "create", "import", "export", "info", "tags", "images", "add", "sample"
    }
    for name, p in sub.choices.items():
        assert any("--json" in a.option_strings for a in p._actions), name


def test_formats_match_the_engine():
    from cvbench.formats import FORMATS as registry

    assert set(FORMATS) == set(registry)


def test_json_before_or_after_the_command(cli, faces):
    before = cli("--json", "tags", faces)
    after = cli("tags", faces, "--json")
    assert before[0] == after[0] == 0
    assert json.loads(before[1]) == json.loads(after[1])
    assert not cli("tags", faces)[1].lstrip().startswith("[")


def test_help_and_version(cli):
    code, out, _ = cli("--help")
    assert code == 0 and "sample" in out and "images" in out
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("cvbench ")
    code, out, _ = cli("tags", "--help")
    assert code == 0 and "--merge" in out


def test_no_command_is_a_usage_error(cli):
    assert_one_line_error(*cli(), "COMMAND")


def test_unknown_command_and_option(cli, faces):
    assert_one_line_error(*cli("frobnicate"), "invalid choice")
    assert_one_line_error(*cli("info", faces, "--bogus"), "--bogus")


# -- create / info -------------------------------------------------------------------------
def test_create_and_info(cli, cli_json, tmp_path):
    code, out, err = cli("create", tmp_path / "p", "--kind", "multilabel")
    assert code == 0, err
    assert "created multilabel project 'p'" in out
    info = cli_json("info", tmp_path / "p")
    assert info["kind"] == "multilabel" and info["images"] == 0 and info["name"] == "p"
    assert info["path"] == str((tmp_path / "p").resolve())
    code, out, _ = cli("info", tmp_path / "p")
    assert code == 0 and "multilabel project" in out

    made = cli_json("create", tmp_path / "d", "--kind", "detection", "--name", "Boxes")
    assert made["kind"] == "detection" and made["name"] == "Boxes" and made["domain"]
    assert open_project(tmp_path / "d").kind == "detection"


def test_create_errors(cli, tmp_path):
    assert_one_line_error(*cli("create", tmp_path / "p", "--kind", "foo"), "--kind", "foo")
    assert not (tmp_path / "p").exists()
    assert_one_line_error(*cli("create", tmp_path / "p", "--domain", "No Such Domain"),
                          "No Such Domain")
    assert cli("create", tmp_path / "q")[0] == 0
    assert_one_line_error(*cli("create", tmp_path / "q"), "already holds a cvbench project")


def test_nonexistent_project_dir(cli, tmp_path):
    missing = tmp_path / "nowhere"
    for args in (("info", missing), ("tags", missing), ("images", missing),
                 ("add", missing, tmp_path / "x.png"), ("export", missing, tmp_path / "out",
                                                        "--format", "imagefolder")):
        assert_one_line_error(*cli(*args), "holds no cvbench project")
        assert_one_line_error(*cli(*args, "--json"), "holds no cvbench project")
    assert not missing.exists()


# -- tags ----------------------------------------------------------------------------------
def test_tags_list(cli, cli_json, faces):
    tags = cli_json("tags", faces)
    assert [(t["name"], t["type"], t["image_count"]) for t in tags] == [
        ("face", "Regular", 12), ("not face", "Regular", 12)
    ]
    code, out, _ = cli("tags", faces)
    assert code == 0 and "not face" in out and "12" in out


def test_tags_create_rename_merge_delete(cli, cli_json, faces):
    made = cli_json("tags", faces, "--create", "nothing", "--negative")
    assert made["name"] == "nothing" and made["type"] == "Negative"
    code, out, _ = cli("tags", faces, "--create", "blurry")
    assert code == 0 and "created tag 'blurry'" in out

    renamed = cli_json("tags", faces, "--rename", "not face", "background")
    assert renamed["name"] == "background" and renamed["image_count"] == 12

    merged = cli_json("tags", faces, "--merge", "face", "background", "--into", "anything")
    assert merged["name"] == "anything" and merged["image_count"] == 24
    code, out, _ = cli("tags", faces, "--merge", "blurry", "--into", "anything")
    assert code == 0 and "merged 'blurry' into 'anything'" in out

    deleted = cli_json("tags", faces, "--delete", "nothing")
    assert deleted["deleted"]["name"] == "nothing"
    assert {t.name for t in open_project(faces).tags} == {"anything"}


def test_tags_errors(cli, faces, shapes):
    assert_one_line_error(*cli("tags", faces, "--delete", "nosuch"), "nosuch")
    assert_one_line_error(*cli("tags", faces, "--rename", "nosuch", "x"), "nosuch")
    assert_one_line_error(*cli("tags", faces, "--merge", "nosuch", "--into", "face"), "nosuch")
    assert_one_line_error(*cli("tags", faces, "--create", "FACE"), "already exists")
    assert_one_line_error(*cli("tags", faces, "--rename", "face", "not face"), "already exists")
    assert_one_line_error(*cli("tags", faces, "--merge", "face"), "--into")
    assert_one_line_error(*cli("tags", faces, "--negative"), "--create")
    assert_one_line_error(*cli("tags", faces, "--create", "a", "--delete", "face"),
                          "not allowed")
    assert_one_line_error(*cli("tags", shapes, "--create", "none", "--negative"), "Negative")
    assert {t.name for t in open_project(faces).tags} == {"face", "not face"}


# -- images --------------------------------------------------------------------------------
def test_images_filters_and_paging(cli, cli_json, faces):
    listed = cli_json("images", faces)
    assert listed["total"] == 24 and len(listed["images"]) == 24
    face = cli_json("images", faces, "--tag", "face")
    assert face["total"] == 12 and all(im["tags"] == ["face"] for im in face["images"])
    page = cli_json("images", faces, "--tag", "face", "--skip", "10", "--take", "5")
    assert len(page["images"]) == 2
    assert [im["id"] for im in page["images"]] == [im["id"] for im in face["images"][10:]]
    val = cli_json("images", faces, "--split", "validation")
    assert 0 < val["total"] < 24 and all(im["split"] == "validation" for im in val["images"])
    assert cli_json("images", faces, "--untagged")["total"] == 0

    code, out, _ = cli("images", faces, "--tag", "not face", "--take", "3")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["id", "split", "size", "tags", "name"]
    assert len(lines) == 1 + 3 + 1 and "100x100" in lines[1] and "(1-3 of 12)" in lines[-1]


def test_images_of_a_detection_project(cli, cli_json, shapes):
    listed = cli_json("images", shapes, "--tag", "circle", "--take", "2")
    assert listed["total"] > 0
    assert all(any(r["tag_name"] == "circle" for r in im["regions"]) for im in listed["images"])
    code, out, _ = cli("images", shapes, "--take", "1")
    assert code == 0 and "boxes" in out and "320x240" in out


def test_images_errors(cli, faces):
    assert_one_line_error(*cli("images", faces, "--tag", "nosuch"), "nosuch")
    assert_one_line_error(*cli("images", faces, "--tag", "face", "--untagged"), "not allowed")
    assert_one_line_error(*cli("images", faces, "--split", "test"), "--split")
    assert_one_line_error(*cli("images", faces, "--take", "many"), "--take")
    assert_one_line_error(*cli("images", faces, "--skip", "-1"), "--skip")


# -- add -----------------------------------------------------------------------------------
def test_add_files_with_tags(cli, cli_json, tmp_path):
    assert cli("create", tmp_path / "p", "--kind", "multilabel")[0] == 0
    red = _png(tmp_path / "red.png", (255, 0, 0))
    blue = _png(tmp_path / "blue.png", (0, 0, 255))
    added = cli_json("add", tmp_path / "p", red, blue, "--tag", "colour", "--tag", "plain")
    assert added["added"] == 2 and added["failed"] == 0
    assert [r["status"] for r in added["results"]] == ["OK", "OK"]
    project = open_project(tmp_path / "p")
    assert project.tag_counts() == {"colour": 2, "plain": 2}

    code, out, _ = cli("add", tmp_path / "p", red)
    assert code == 0 and "OKDuplicate" in out and "0 added, 1 duplicates, 0 failed" in out
    code, out, _ = cli("add", tmp_path / "p", _png(tmp_path / "green.png", (0, 255, 0)))
    assert code == 0 and "1 added" in out
    assert open_project(tmp_path / "p").count_images(untagged=True) == 1


def test_add_reports_bad_files(cli, tmp_path):
    assert cli("create", tmp_path / "p")[0] == 0
    good = _png(tmp_path / "good.png", (1, 2, 3))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    code, out, err = cli("add", tmp_path / "p", good, tmp_path / "missing.png", text,
                         "--tag", "a")
    assert code != 0 and "Traceback" not in err
    assert "ErrorSource" in out and "ErrorImageFormat" in out
    assert "1 added, 0 duplicates, 2 failed" in out
    code, out, _ = cli("add", tmp_path / "p", tmp_path / "missing.png", "--json")
    assert code != 0 and json.loads(out)["results"][0]["status"] == "ErrorSource"


def test_add_errors(cli, faces, shapes, tmp_path):
    img = _png(tmp_path / "x.png", (9, 9, 9))
    assert_one_line_error(*cli("add", shapes, img, "--tag", "circle"), "regions")
    assert_one_line_error(*cli("add", faces), "FILE")


# -- sample --------------------------------------------------------------------------------
def test_sample_list(cli, cli_json):
    listed = cli_json("sample", "--list")
    assert [s["name"] for s in listed] == ["digits", "faces", "photos", "shapes", "quokka"]
    assert all(s["license"] for s in listed)
    code, out, _ = cli("sample", "--list")
    assert code == 0 and "digits" in out and "multiclass" in out


def test_sample_builds(cli, cli_json, tmp_path):
    built = cli_json("sample", "photos", tmp_path / "ph", "--small")
    assert built["sample"] == "photos" and built["kind"] == "multilabel"
    assert built["images"] == 65
    code, out, err = cli("sample", "faces", tmp_path / "f", "--small")
    assert code == 0, err
    assert "built sample 'faces'" in out and "24 images" in out


def test_sample_errors(cli, tmp_path, faces):
    assert_one_line_error(*cli("sample", "nosuch", tmp_path / "x"), "nosuch", "digits")
    assert_one_line_error(*cli("sample", "digits"), "--list")
    assert_one_line_error(*cli("sample"), "--list")
    assert_one_line_error(*cli("sample", "digits", faces, "--small"), "not empty")
    assert not (tmp_path / "x").exists()


# -- import / export -----------------------------------------------------------------------
def test_export_then_import_imagefolder(cli, cli_json, faces, tmp_path):
    exported = cli_json("export", faces, tmp_path / "folder", "--format", "imagefolder")
    assert exported["images"] == 24
    assert cli("create", tmp_path / "copy")[0] == 0
    report = cli_json("import", tmp_path / "copy", tmp_path / "folder", "--format",
                      "imagefolder")
    assert report["imported"] == 24 and report["failed"] == 0
    assert open_project(tmp_path / "copy").tag_counts() == {"face": 12, "not face": 12}
    code, out, _ = cli("import", tmp_path / "copy", tmp_path / "folder", "--format",
                       "imagefolder")
    assert code == 0 and "24 duplicates" in out
    code, out, _ = cli("export", faces, tmp_path / "folder2", "--format", "imagefolder")
    assert code == 0 and "24 images" in out


def test_import_export_errors(cli, faces, tmp_path):
    assert_one_line_error(*cli("import", faces, tmp_path, "--format", "bogus"),
                          "--format", "bogus", "imagefolder")
    assert_one_line_error(*cli("export", faces, tmp_path / "o", "--format", "tiff"), "tiff")
    assert_one_line_error(*cli("import", faces, tmp_path), "--format")
    assert not (tmp_path / "o").exists()


def test_import_of_nothing_fails(cli, faces, tmp_path):
    assert cli("create", tmp_path / "p")[0] == 0
    code, out, err = cli("import", tmp_path / "p", tmp_path / "no-such-folder", "--format",
                         "imagefolder")
    assert code != 0 and "Traceback" not in err + out


# -- the real console script ---------------------------------------------------------------
def test_console_script_and_python_m(tmp_path):
    script = shutil.which("cvbench", path=str(Path(sys.executable).parent))
    assert script is not None, "the cvbench console script is not installed"
    done = subprocess.run([script, "sample", "--list", "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "quokka" in [s["name"] for s in json.loads(done.stdout)]
    failed = subprocess.run([sys.executable, "-m", "cvbench", "info", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and failed.stdout == ""
    assert_one_line_error(failed.returncode, failed.stdout, failed.stderr, "no cvbench project")


def test_format_options_are_checked_against_the_format(cli, faces, shapes, tmp_path):
    assert_one_line_error(
        *cli("import", faces, tmp_path, "--format", "imagefolder", "--images-dir", "x"),
        "--images-dir does not apply to --format imagefolder", "coco", "voc")
    assert_one_line_error(
        *cli("export", faces, tmp_path / "o", "--format", "coco", "--untagged"),
        "--untagged", "imagefolder")
    assert not (tmp_path / "o").exists()
    exported = tmp_path / "voc"
    code, out, err = cli("export", shapes, exported, "--format", "voc")
    assert code == 0, err
    assert cli("create", tmp_path / "det", "--kind", "detection")[0] == 0
    # images moved away from the annotations: --images-dir says where they are
    (exported / "JPEGImages").rename(tmp_path / "pictures")
    report = json.loads(cli("import", tmp_path / "det", exported, "--format", "voc",
                            "--images-dir", tmp_path / "pictures", "--json")[1])
    assert report["imported"] == 30 and report["failed"] == 0


def test_negative_tag_on_import(cli, cli_json, tmp_path):
    for tag, colour in (("red", (255, 0, 0)), ("none", (0, 0, 0))):
        (tmp_path / "ds" / tag).mkdir(parents=True)
        for k in range(2):
            _png(tmp_path / "ds" / tag / f"{k}.png", (colour[0], colour[1], k))
    assert cli("create", tmp_path / "p")[0] == 0
    report = cli_json("import", tmp_path / "p", tmp_path / "ds", "--format", "imagefolder",
                      "--negative-tag", "none")
    assert report["imported"] == 4
    types = {t["name"]: t["type"] for t in cli_json("tags", tmp_path / "p")}
    assert types == {"red": "Regular", "none": "Negative"}
