"""``cvbench lab``: JupyterLab on 127.0.0.1 with the teaching notebooks, for a workshop.

    cvbench lab                      # the notebooks in ./cvbench-notebooks (copied once)
    cvbench lab my-folder --port 8888 --no-browser

The four teaching notebooks ship inside the package (``cvbench._notebooks``). They are
copied into the folder the first time; a notebook already there is never overwritten, so
a participant's edits survive a restart (delete it to get the original back). JupyterLab
starts in that folder on 127.0.0.1 with a token in the printed URL, with the flags it needs
when it runs as root (``--allow-root``, as on many workshop VMs and containers), and stops
with its kernels on Ctrl-C.
"""

from __future__ import annotations

import importlib.resources
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .app import HOST, AppServer, pick_port, serve_until_stopped
from .errors import ProjectError

__all__ = ["DEFAULT_LAB_DIR", "teaching_notebooks", "prepare_notebooks", "lab_command",
           "start_lab", "serve_lab"]

#: Where ``cvbench lab`` without a folder puts the notebooks.
DEFAULT_LAB_DIR = "cvbench-notebooks"
#: JupyterLab's own default port; a free one is used when it is taken.
DEFAULT_LAB_PORT = 8888


def teaching_notebooks() -> list[Path]:
    """The teaching notebooks that ship with cvbench (``01_…`` to ``04_…``), in order."""
    folder = importlib.resources.files("cvbench._notebooks")
    found = sorted(Path(str(p)) for p in folder.iterdir()
                   if p.name.endswith(".ipynb") and p.name[:2].isdigit())
    if not found:
        raise ProjectError("the teaching notebooks are missing from the cvbench installation; "
                           "reinstall it (pip install --force-reinstall cvbench)")
    return found


def prepare_notebooks(folder: str | os.PathLike | None = None, *,
                      say: Callable[[str], object] = print) -> Path:
    """``folder`` (default :data:`DEFAULT_LAB_DIR` in the current folder), made if needed,
    with every teaching notebook it does not hold yet copied into it. Returns its absolute
    path."""
    root = Path(folder if folder is not None else DEFAULT_LAB_DIR).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is a file; give a folder for the notebooks")
    root.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in teaching_notebooks():
        target = root / nb.name
        if not target.exists():
            target.write_bytes(nb.read_bytes())
            copied.append(nb.name)
    if copied:
        say(f"cvbench: copied {len(copied)} teaching notebooks into {root}")
    return root


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def lab_command(folder: str | os.PathLike, *, port: int, token: str,
                python: str | None = None) -> list[str]:
    """The command line of JupyterLab on ``folder`` at 127.0.0.1:``port``."""
    return [
        python or sys.executable, "-m", "jupyterlab", "--no-browser", f"--ip={HOST}",
        f"--port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}",
        f"--IdentityProvider.token={token}", "--LabApp.news_url=None",
        # saved notebooks keep their widgets' text, not state that cannot come back
        "--ContentsManager.pre_save_hook=cvbench.ui.clear_widget_state",
        *(["--allow-root"] if _as_root() else []),
    ]


def start_lab(folder: str | os.PathLike | None = None, *, port: int | None = None,
              say: Callable[[str], object] = print,
              started: Callable[[AppServer], object] | None = None,
              wait: bool = True) -> AppServer:
    """Start JupyterLab on the notebooks' folder (see :func:`prepare_notebooks`)."""
    root = prepare_notebooks(folder, say=say)
    if port is None:
        port = DEFAULT_LAB_PORT if _free(DEFAULT_LAB_PORT) else pick_port(None)
    else:
        port = pick_port(port)
    token = secrets.token_hex(16)
    process = subprocess.Popen(lab_command(root, port=port, token=token),
                               stdin=subprocess.DEVNULL, cwd=str(root),
                               start_new_session=True)
    return AppServer(process, f"http://{HOST}:{port}/lab?token={token}", root, "lab").launched(
        started, wait)


def _free(port: int) -> bool:
    try:
        pick_port(port)
    except OSError:
        return False
    return True


def serve_lab(folder: str | os.PathLike | None = None, *, port: int | None = None,
              open_browser: bool = True, say: Callable[[str], object] = print,
              on_ready: Callable[[AppServer], object] | None = None) -> int:
    """Start JupyterLab, print its URL, and serve until Ctrl-C (see
    :func:`cvbench.app.serve`)."""
    return serve_until_stopped(
        lambda started: start_lab(folder, port=port, say=say, started=started, wait=False),
        what=lambda server: f"JupyterLab on {server.project}", open_browser=open_browser,
        say=say, on_ready=on_ready)
