"""A project survives ``kill -9`` at any moment, and two writers at once lose nothing.

The writers are real subprocesses; the kills are real SIGKILLs, sent when the database
shows the writer at a chosen point (so the moments do not depend on the machine's speed).
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

import cvbench

N_IMAGES = 2000

WRITER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    import cvbench

    root, folder, tag = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    files = sorted(folder.iterdir())
    p = cvbench.open_project(root)
    print("open", flush=True)
    if len(sys.argv) > 4:  # wait for the go: both writers start adding together
        while not Path(sys.argv[4]).exists():
            time.sleep(0.005)
    ids = []
    for start in range(0, len(files), 500):  # four calls, each with its own tag
        res = p.add_images(files[start:start + 500], tags=[f"{tag}{start // 500}"])
        bad = [r for r in res if not r.ok]
        assert not bad, bad[:3]
        ids += [r.image_id for r in res]
    print("added", flush=True)
    p.tag_images(ids, [f"{tag}-retagged"])
    p.delete_images(ids[:50])
    p.set_split(ids[50:100], "validation")
    p.summary()
    print("done", flush=True)
    """
)


@pytest.fixture(scope="module")
def image_folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two folders of distinct tiny PNGs: N_IMAGES in the first, 300 in the second."""
    first = tmp_path_factory.mktemp("kill-images")
    second = tmp_path_factory.mktemp("second-images")
    for folder, n, offset in ((first, N_IMAGES, 0), (second, 300, N_IMAGES)):
        for i in range(offset, offset + n):
            out = io.BytesIO()
            Image.new("RGB", (6, 5), (i % 256, (i // 256) % 256, 200)).save(out, "PNG")
            (folder / f"img_{i:05d}.png").write_bytes(out.getvalue())
    return first, second


@pytest.fixture
def writer_script(tmp_path) -> Path:
    path = tmp_path / "writer.py"
    path.write_text(WRITER)
    return path


def start_writer(script: Path, root: Path, folder: Path, tag: str,
                 go: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(root), str(folder), tag, *([str(go)] if go else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def count_rows(root: Path) -> int:
    conn = sqlite3.connect(f"file:{root / 'cvbench.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


def assert_sound(root: Path) -> int:
    """The project opens, passes integrity_check, and every row's files exist."""
    p = cvbench.open_project(root)
    try:
        assert p.check() == []  # SQLite's integrity_check, and every image's file
        assert p.store.foreign_key_problems() == []
        images = p.images()
        for im in images:
            assert im.path.exists() and im.thumbnail_path.exists()
            # an image and its tag are written in one transaction: never one without the other
            assert im.tags, f"image {im.id} lost its tag"
        assert sum(t.image_count for t in p.tags) >= len(images)
        return len(images)
    finally:
        p.close()


def kill_when(proc: subprocess.Popen, ready, timeout: float = 60.0) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` is true. Returns False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.kill()
    raise AssertionError("the writer did not reach the moment in time")


def test_kill_nine_at_any_moment_leaves_a_sound_project(tmp_path, image_folders, writer_script):
    folder, _ = image_folders
    root = tmp_path / "project"
    cvbench.create_project(root, kind="multiclass").close()
    kills = 0
    seen: list[int] = []
    # moments: while opening, early in the first call, in the middle, near the end of adding
    for threshold in (0, 1, 700, 1500):
        proc = start_writer(writer_script, root, folder, "t")
        if threshold == 0:
            time.sleep(0.05)
            proc.kill()
            proc.wait()
            killed = True
        else:
            killed = kill_when(proc, lambda t=threshold: count_rows(root) >= t)
        kills += killed
        assert proc.returncode == -signal.SIGKILL or not killed
        seen.append(assert_sound(root))
    assert kills == 4
    assert seen == sorted(seen) and seen[-1] >= 1500  # nothing that was committed was lost

    # a kill after adding, while retagging / deleting / setting splits
    proc = start_writer(writer_script, root, folder, "t")
    line = ""
    while line.strip() != "added":
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
    time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert assert_sound(root) >= N_IMAGES - 50

    # the same work run to the end completes the project
    proc = start_writer(writer_script, root, folder, "t")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert assert_sound(root) == N_IMAGES - 50
    p = cvbench.open_project(root)
    assert p.count_images(split="validation") >= 50
    assert p.get_tag("t-retagged").image_count == N_IMAGES - 50
    p.close()


def test_two_writers_at_once_lose_nothing(tmp_path, image_folders, writer_script) -> None:
    first, second = image_folders
    root = tmp_path / "shared"
    cvbench.create_project(root, kind="multilabel").close()
    go = tmp_path / "go"
    a = start_writer(writer_script, root, first, "a", go)
    b = start_writer(writer_script, root, second, "b", go)
    assert a.stdout.readline().strip() == "open"
    assert b.stdout.readline().strip() == "open"
    go.touch()
    out_a, err_a = a.communicate(timeout=180)
    out_b, err_b = b.communicate(timeout=180)
    assert a.returncode == 0, err_a
    assert b.returncode == 0, err_b
    assert assert_sound(root) == N_IMAGES - 50 + 300 - 50
    p = cvbench.open_project(root)
    counts = p.tag_counts()
    assert counts["a-retagged"] == N_IMAGES - 50 and counts["b-retagged"] == 250
    assert sum(counts[f"a{k}"] for k in range(4)) == N_IMAGES - 50
    assert counts["b0"] == 250
    assert p.count_images(untagged=True) == 0
    # the writers really did write at the same time: their rows interleave
    order = [im.tags[0][0] for im in p.images(order="oldest")]
    first_b, last_b = order.index("b"), len(order) - 1 - order[::-1].index("b")
    assert "a" in order[first_b:last_b] and "a" in order[:first_b] + order[last_b:]
    p.close()


TRAINER = textwrap.dedent(
    """
    import sys
    import threading

    import torch

    import cvbench

    torch.set_num_threads(1)
    p = cvbench.open_project(sys.argv[1])

    def on_progress(event):
        if event["stage"] != "prepare":  # the run's row is written: wait for the kill
            print("training", flush=True)
            threading.Event().wait()

    p.train("quick", size=32, on_progress=on_progress, progress_bar=False)
    """
)


def test_a_killed_training_run_is_failed_not_training(tmp_path) -> None:
    from cvbench.samples import make_sample

    root = tmp_path / "digits"
    make_sample("digits", root, small=True).close()
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "training", proc.stderr.read()
    p = cvbench.open_project(root)
    try:
        (run,) = p.all_iterations()
        assert run.status == "Training"  # another process sees the run while it trains
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert run.status == "Failed" and f"pid {proc.pid}" in run.error
        assert "stopped" in run.error
        assert [it.status for it in cvbench.open_project(root).all_iterations()] == ["Failed"]
        assert p.iterations == [] and p.check() == []
        run.delete()
        assert p.all_iterations() == []
    finally:
        p.close()
