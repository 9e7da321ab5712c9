"""The project store: the only code that speaks SQL or touches a project's files.

:class:`Store` holds the SQLite connection (:mod:`cvbench.store.db`: WAL, versioned
migrations), its lock, the files (:mod:`cvbench.store.files`) and explicit transactions,
with one repository per concern: ``meta`` (settings), ``tags``, ``images``, ``regions``,
``metadata`` (image key/value pairs and the ``$filter`` on them), ``split``, ``iterations``
(training runs from their start), ``predictions`` and ``features`` (the feature cache).
:meth:`Store.revision` is the change counter every face can poll.
:mod:`cvbench.store.images` reads image bytes safely (checks, decoding, thumbnails).
"""

from ._owner import Owner, is_alive, this_process
from .store import ITERATIONS_DIR, PREDICTIONS_DIR, Store

__all__ = ["Store", "PREDICTIONS_DIR", "ITERATIONS_DIR", "Owner", "is_alive", "this_process"]
