"""``python -m cvbench …``: the same command line as the ``cvbench`` script."""

from .cli import main

raise SystemExit(main())
