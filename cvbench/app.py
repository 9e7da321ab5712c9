"""``cvbench app``: the workbench (Voila) or the public quick-test page, on 127.0.0.1.

    cvbench app                         # a digits sample in ./cvbench-sample (made once)
    cvbench app my-project --port 8866 --no-browser
    cvbench app ~/cv-projects           # a folder of projects: the projects home
    cvbench app my-project --app quicktest --iteration production

The app notebooks, Voila's configuration and the quick-test server ship inside the
package, in ``cvbench/apps/`` (see :mod:`cvbench.apps`). The workbench is a Voila page (a
kernel per visit, culled within a minute of its page going away); the quick-test page, the
one meant to be shared, is one uvicorn process that loads the model once and can only
predict. This module only starts and stops the server:

    from cvbench.app import start_app
    server = start_app("my-project", port=8866)    # returns once the page answers
    print(server.url)
    server.stop()                                  # Voila shuts its kernels down, then exits

Voila runs as a subprocess in a session of its own, so Ctrl-C reaches this process only;
:func:`serve` then asks Voila to stop (SIGTERM: it shuts the kernels down), waits, and
returns 0. The project is handed to the app's kernel in the environment variable
``CVBENCH_PROJECT`` (an absolute path), the iteration of the quick-test page in
``CVBENCH_ITERATION``. A folder that holds projects rather than being one (the layout
``cvbench serve ROOT`` uses) is handed over in ``CVBENCH_ROOT`` instead: the workbench then
opens on the projects home, which lists, creates, imports and opens its projects.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProjectError

__all__ = [
    "APPS",
    "DEFAULT_PORT",
    "DEFAULT_PROJECT_DIR",
    "DEFAULT_SAMPLE",
    "PROJECT_ENV",
    "ITERATION_ENV",
    "ROOT_ENV",
    "AppServer",
    "is_projects_folder",
    "app_notebook",
    "apps_dir",
    "prepare_project",
    "voila_command",
    "quicktest_command",
    "VOILA_APPS",
    "voila_env",
    "pick_port",
    "start_app",
    "serve",
    "serve_until_stopped",
]

#: App name -> what serves it, in ``cvbench/apps/``: the workbench is a Voila notebook (a
#: kernel per visit, for the project's own user); the public quick-test page is one uvicorn
#: process that holds the model once (see :mod:`cvbench.apps.quicktest_server`).
APPS: dict[str, str] = {"workbench": "workbench.ipynb", "quicktest": "quicktest_server.py"}
#: The apps served by Voila.
VOILA_APPS = ("workbench",)
_SERVER_NAMES = {"workbench": "Voila", "quicktest": "the quick-test server",
                 "lab": "JupyterLab"}
#: Where ``cvbench app`` without a project folder makes (once) and then reuses a sample.
DEFAULT_PROJECT_DIR = "cvbench-sample"
DEFAULT_SAMPLE = "digits"
#: Voila's own default port; when it is taken and no port was asked for, a free one is used.
DEFAULT_PORT = 8866
PROJECT_ENV = "CVBENCH_PROJECT"
ITERATION_ENV = "CVBENCH_ITERATION"
#: The folder of projects the workbench's projects home lists (instead of CVBENCH_PROJECT).
ROOT_ENV = "CVBENCH_ROOT"
HOST = "127.0.0.1"
#: Seconds to wait for Voila to answer, and for it to stop before it is killed.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
_DB_NAME = "cvbench.db"


def apps_dir() -> Path:
    """The folder of the app notebooks and of Voila's configuration (``voila.json``)."""
    return Path(__file__).resolve().parent / "apps"


def app_notebook(app: str = "workbench") -> Path:
    """The file that serves ``app`` (one of :data:`APPS`): a notebook for Voila, or the
    quick-test server's module."""
    try:
        name = APPS[app]
    except KeyError:
        raise ValueError(f"app={app!r} is not an app; it should be one of {list(APPS)}") from None
    path = apps_dir() / name
    if not path.is_file():
        raise ProjectError(
            f"the app notebook {path} is missing: the cvbench installation is incomplete; "
            "reinstall it (pip install --force-reinstall cvbench)"
        )
    return path


def is_projects_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder that is not a project itself: a folder of projects (one
    project folder each, as ``cvbench serve ROOT`` keeps them; it may hold none yet)."""
    folder = Path(path).expanduser()
    return folder.is_dir() and not (folder / _DB_NAME).is_file()


def prepare_project(project_dir: str | os.PathLike | None, *, sample: str = DEFAULT_SAMPLE,
                    say: Callable[[str], object] = print) -> Path:
    """The project folder, or the folder of projects, to serve, as an absolute path.

    ``None`` means :data:`DEFAULT_PROJECT_DIR` in the current folder: the ``sample``
    project is built there the first time and reused afterwards. A folder that is given
    must exist: a project, or a folder of projects (:func:`is_projects_folder`).
    """
    if project_dir is not None:
        root = Path(project_dir).expanduser().resolve()
        if not (root / _DB_NAME).is_file() and not root.is_dir():
            raise ProjectError(
                f"{root} holds no cvbench project; make one with 'cvbench sample "
                f"{DEFAULT_SAMPLE} {project_dir}' or 'cvbench create {project_dir} --kind "
                "multiclass', give a folder of projects (the projects home lists them), or "
                "run 'cvbench app' without a folder for a sample project"
            )
        return root
    root = (Path.cwd() / DEFAULT_PROJECT_DIR).resolve()
    if (root / _DB_NAME).is_file():
        say(f"cvbench: opening the sample project in {root}")
        return root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ProjectError(
            f"{root} exists and holds no cvbench project; move it away, or give a project "
            "folder: cvbench app PROJECT_DIR"
        )
    from .samples import make_sample

    say(f"cvbench: building the {sample!r} sample project in {root} (once)")
    make_sample(sample, root).close()
    return root


def _port_free(port: int) -> bool:
    """Whether Voila could listen on ``port`` (as tornado does: with SO_REUSEADDR, so that
    connections of a server that just stopped, in TIME_WAIT, do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if os.name == "posix":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_port(port: int | None = None) -> int:
    """``port`` if it is free on 127.0.0.1 (an error if not); with None, :data:`DEFAULT_PORT`
    when it is free, else any free port."""
    if port is not None:
        if not 0 < port < 65536:
            raise ValueError(f"port={port} is not a TCP port; give one from 1 to 65535")
        if not _port_free(port):
            raise OSError(
                f"port {port} on {HOST} is in use (another cvbench app or Voila?); choose "
                "another with --port N, or leave --port out to take a free one"
            )
        return port
    if _port_free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def voila_command(notebook: str | os.PathLike, *, port: int,
                  python: str | None = None) -> list[str]:
    """The command line that serves ``notebook`` with Voila on 127.0.0.1:``port``, with
    the configuration of ``cvbench/apps/voila.json`` (upload size, culling, no tracebacks)
    and cvbench's template (run it with :func:`voila_env`)."""
    return [
        python or sys.executable, "-m", "voila", str(notebook),
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        "--no-browser",
        "--template=cvbench",
        f"--Voila.config_file_paths={apps_dir()}",
    ]


def quicktest_command(project: str | os.PathLike, *, port: int,
                      iteration: str | None = None, python: str | None = None) -> list[str]:
    """The command line that serves the public quick-test page of ``project`` on
    127.0.0.1:``port`` (one uvicorn process; see :mod:`cvbench.apps.quicktest_server`)."""
    command = [python or sys.executable, "-m", "cvbench.apps.quicktest_server", str(project),
               f"--port={port}", f"--host={HOST}"]
    if iteration is not None:
        command.append(f"--iteration={iteration}")
    return command


def voila_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of the Voila process: ``base`` (default: this one) with cvbench's
    template folder first on ``JUPYTER_PATH`` (``--template=cvbench``: Voila's lab
    template without its stylesheets from a CDN)."""
    env = dict(os.environ if base is None else base)
    ours = str(apps_dir() / "jupyter")
    rest = env.get("JUPYTER_PATH", "")
    env["JUPYTER_PATH"] = ours + (os.pathsep + rest if rest else "")
    return env


@dataclass
class AppServer:
    """A running Voila server (a subprocess in its own session)."""

    process: subprocess.Popen
    url: str
    project: Path
    app: str
    log: Path | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def server_name(self) -> str:
        """Who serves the app, for messages: "Voila", "the quick-test server", "JupyterLab"."""
        return _SERVER_NAMES.get(self.app, self.app)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until Voila accepts connections (it starts no kernel for that)."""
        deadline = time.monotonic() + timeout
        port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ProjectError(
                    f"{self.server_name} stopped while starting (exit status {code})" + self._log_tail()
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
                return
            time.sleep(0.2)
        self.stop()
        raise ProjectError(f"{self.server_name} did not answer on {self.url} within {timeout:.0f} s"
                           + self._log_tail())

    def _log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        lines = self.log.read_text(errors="replace").strip().splitlines()[-15:]
        return ("; its last lines:\n  " + "\n  ".join(lines)) if lines else ""

    def launched(self, started: Callable[[AppServer], object] | None = None,
                 wait: bool = True) -> AppServer:
        """Tell ``started(self)`` that the process exists (so that a caller can always stop
        it), then, with ``wait``, wait until it answers (stopping it if it never does)."""
        if started is not None:
            started(self)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Ask Voila to stop (SIGTERM: it shuts its kernels down), wait up to ``timeout``
        seconds, then kill what is left of its session. Returns Voila's exit status."""
        if not self._stopped:
            self._stopped = True
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    _kill_session(self.process)
                    self.process.wait(5)
        return self.process.returncode


def _kill_session(process: subprocess.Popen) -> None:
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    else:  # pragma: no cover
        process.kill()


def start_app(project_dir: str | os.PathLike | None = None, *, app: str = "workbench",
              port: int | None = None, iteration: str | None = None,
              log: str | os.PathLike | None = None, wait: bool = True,
              env: dict[str, str] | None = None,
              say: Callable[[str], object] = print,
              started: Callable[[AppServer], object] | None = None) -> AppServer:
    """Start Voila with ``app`` on ``project_dir`` (see :func:`prepare_project`) and return
    once it answers (``wait=True``). Voila's own log goes to ``log`` (a file) or, with
    None, to this process's stderr; ``env`` adds environment variables; ``started(server)``
    is called as soon as the process exists (so that a caller can always stop it)."""
    notebook = app_notebook(app)
    project = prepare_project(project_dir, say=say)
    folder_of_projects = is_projects_folder(project)
    if folder_of_projects and app not in VOILA_APPS:
        raise ProjectError(
            f"{project} is a folder of projects; the {app} page serves one project: give its "
            f"folder (cvbench app {project}/<project> --app {app})")
    port = pick_port(port)
    if app in VOILA_APPS:
        command = voila_command(notebook, port=port)
    else:
        command = quicktest_command(project, port=port, iteration=iteration)
    child_env = voila_env({**os.environ, **(env or {})})
    child_env.pop(PROJECT_ENV if folder_of_projects else ROOT_ENV, None)
    child_env[ROOT_ENV if folder_of_projects else PROJECT_ENV] = str(project)
    if iteration is not None:
        child_env[ITERATION_ENV] = iteration
    else:
        child_env.pop(ITERATION_ENV, None)
    log_path = None if log is None else Path(log)
    out = None if log_path is None else open(log_path, "ab")  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command, env=child_env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT if out else None, cwd=str(project),
            start_new_session=True,
        )
    finally:
        if out is not None:
            out.close()
    return AppServer(process, f"http://{HOST}:{port}/", project, app, log_path).launched(
        started, wait)


def serve(project_dir: str | os.PathLike | None = None, *, app: str = "workbench",
          port: int | None = None, open_browser: bool = True, iteration: str | None = None,
          say: Callable[[str], object] = print,
          on_ready: Callable[[AppServer], object] | None = None) -> int:
    """Start the app, print its URL, open a browser tab (``open_browser``), call
    ``on_ready(server)``, and serve until Ctrl-C (SIGINT) or SIGTERM; then stop the server
    and return 0. A second Ctrl-C while it stops kills it at once. If the server exits by
    itself, its exit status is returned."""
    return serve_until_stopped(
        lambda started: start_app(project_dir, app=app, port=port, iteration=iteration,
                                  say=say, wait=False, started=started),
        what=lambda server: (f"the projects home of {server.project}"
                             if is_projects_folder(server.project)
                             else f"the {app} of {server.project}"),
        open_browser=open_browser, say=say, on_ready=on_ready)


def serve_until_stopped(start: Callable[[Callable[[AppServer], object]], AppServer], *,
                        what: Callable[[AppServer], str], open_browser: bool = True,
                        say: Callable[[str], object] = print,
                        on_ready: Callable[[AppServer], object] | None = None) -> int:
    """Run ``start(started)`` (which must call ``started(server)`` as soon as the process
    exists), wait until it answers, print ``what(server)`` and its URL, and serve until
    Ctrl-C or SIGTERM (see :func:`serve`)."""
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in stop_signals}
    holder: dict[str, AppServer] = {}
    interrupts = 0

    def interrupt(signum: int, _frame: object) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            raise KeyboardInterrupt
        if "server" in holder:  # impatient: no more waiting for the kernels
            _kill_session(holder["server"].process)

    for s in stop_signals:
        signal.signal(s, interrupt)
    try:
        server = start(lambda srv: holder.setdefault("server", srv))
        server.wait_ready()
        say(f"cvbench: {what(server)} is at {server.url}")
        say("cvbench: press Ctrl-C to stop")
        if on_ready is not None:
            on_ready(server)
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(server.url)
        code = server.process.wait()
        say(f"cvbench: {server.server_name} stopped by itself (exit status {code})")
        return code or 0
    except KeyboardInterrupt:
        if "server" in holder:
            say(f"cvbench: stopping {holder['server'].server_name} …")
            holder["server"].stop()
        say("cvbench: stopped")
        return 0
    finally:
        if "server" in holder:
            holder["server"].stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
