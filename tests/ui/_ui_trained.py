"""A small trained project for the app widget tests, trained once per test session.

``trained_copy(tmp_path_factory)`` builds the small digits sample and trains one quick
iteration the first time it is called, then returns a fresh copy of that project each time
(the feature cache travels with it, so training the copy again takes seconds).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cvbench
from cvbench.samples import make_sample

_BUILT: dict[str, Path] = {}


def trained_copy(factory, name: str = "digits") -> cvbench.Project:
    if "path" not in _BUILT:
        root = factory.mktemp("digits-trained") / "digits"
        project = make_sample("digits", root, small=True)
        project.train("quick", progress_bar=False)
        project.close()
        _BUILT["path"] = root
    dest = factory.mktemp(name) / "digits"
    shutil.copytree(_BUILT["path"], dest)
    return cvbench.open_project(dest)


def trained_detection(factory, name: str = "shapes") -> cvbench.Project:
    """A copy of the small shapes sample (detection) with one short quick iteration (small
    inputs, twelve seconds of training: enough for boxes on new scenes even on a busy
    machine, which the smart labeler's tests need)."""
    if "detection" not in _BUILT:
        root = factory.mktemp("shapes-trained") / "shapes"
        project = make_sample("shapes", root, small=True)
        project.train("quick", size=128, settings={"head_seconds": 12}, progress_bar=False)
        project.close()
        _BUILT["detection"] = root
    dest = factory.mktemp(name) / "shapes"
    shutil.copytree(_BUILT["detection"], dest)
    return cvbench.open_project(dest)
