"""The apps that ship with cvbench, and the pages they show.

``cvbench/apps/`` holds the app notebooks themselves (``notebooks/apps/README.md`` in the
repository points here), so that ``cvbench app`` finds them in an installed wheel:

* ``workbench.ipynb`` — the project of ``CVBENCH_PROJECT`` (or one picked or created in the
  page) in :class:`cvbench.ui.Workbench`;
* ``quicktest_server.py`` and ``quicktest.html`` — the small public page for one published
  iteration (upload an image or give a URL, see the predictions drawn on it), served by
  one uvicorn process that holds the model once and can only predict;
* ``voila.json`` — Voila's configuration: large uploads (tornado's
  ``websocket_max_message_size``), a kernel culled within a minute of its page going
  away, no tracebacks in the page.

In a notebook, the same pages are one call each::

    from cvbench.apps import workbench_page, quicktest_page
    workbench_page("my-project")
"""

from ._pages import (
    ITERATION_ENV,
    PROJECT_ENV,
    Message,
    ProjectPicker,
    QuickTestPage,
    WorkbenchPage,
    draw_predictions,
    quicktest_page,
    workbench_page,
)

__all__ = [
    "workbench_page",
    "quicktest_page",
    "WorkbenchPage",
    "QuickTestPage",
    "ProjectPicker",
    "Message",
    "draw_predictions",
    "PROJECT_ENV",
    "ITERATION_ENV",
]
