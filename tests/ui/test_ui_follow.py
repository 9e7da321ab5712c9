"""Widgets follow their project: a change made by a Python cell or by another process
shows in every widget of the project within about a second."""

from __future__ import annotations

import subprocess
import sys
import time

from cvbench.ui import Gallery, Tagger, _watch


def wait_for(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_python_cell_change_shows_in_the_widgets(make_project):
    project = make_project("multiclass", n=3)
    tagger, gallery = Tagger(project), Gallery(project)
    shown = tagger.image["id"]
    cat = project.get_tag("cat")
    assert tagger.image["tags"] == []
    project.tag_images(shown, "cat")  # as a cell below the widgets would
    assert wait_for(lambda: tagger.image["tags"] == [cat.id]), tagger.image
    assert wait_for(lambda: {t["name"]: t["count"] for t in gallery.tags}["cat"] == 1)
    assert wait_for(lambda: any(item["id"] == shown and cat.id in item.get("tags", [])
                                for item in gallery.items)), gallery.items


def test_another_process_change_shows_in_the_widgets(make_project):
    project = make_project("multiclass", n=3)
    tagger = Tagger(project)
    shown = tagger.image["id"]
    code = ("import sys, cvbench\n"
            "with cvbench.open_project(sys.argv[1]) as p:\n"
            "    p.create_tag('fox')\n"
            "    p.tag_images(sys.argv[2], 'fox')\n")
    subprocess.run([sys.executable, "-c", code, str(project.path), shown], check=True,
                   timeout=120)
    assert wait_for(lambda: "fox" in [t["name"] for t in tagger.tags]), tagger.tags
    fox = project.get_tag("fox")
    assert wait_for(lambda: tagger.image["tags"] == [fox.id]), tagger.image


def test_a_closed_project_stops_its_watcher(make_project):
    project = make_project("multiclass", n=1)
    Tagger(project)
    watcher = _watch._WATCHERS[id(project)]
    project.close()
    assert wait_for(lambda: not watcher.thread.is_alive(), 10)
