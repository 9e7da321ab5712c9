"""``cvbench serve ROOT``: uvicorn on 127.0.0.1 with the app, keys printed at start."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._config import PREDICTION_KEY_ENV, TRAINING_KEY_ENV, Limits, ServerConfig

__all__ = ["serve", "LOOPBACK"]

LOOPBACK = "127.0.0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def serve(root: str | Path, *, host: str = LOOPBACK, port: int = 8000,
          allow_private_urls: bool = False, limits: Limits | None = None,
          training: dict[str, dict[str, Any]] | None = None,
          say: Callable[[str], None] | None = None) -> int:
    """Serve the projects in ``root`` until interrupted; returns the exit status.

    Keys come from ``CVBENCH_TRAINING_KEY`` / ``CVBENCH_PREDICTION_KEY``, or are made
    here and printed. ``host`` other than 127.0.0.1 prints a warning: anyone who can
    reach the port and knows a key can use the projects."""
    import uvicorn

    from ._app import create_app

    say = say or (lambda text: print(text, flush=True))
    config, generated = ServerConfig.from_env(
        str(root), allow_private_urls=allow_private_urls, limits=limits or Limits(),
        training=training or {})
    app = create_app(config)
    if not _is_loopback(host):
        print(f"cvbench serve: warning: listening on {host}, not on loopback: anyone who can "
              "reach this port and has a key can read, change and delete these projects",
              file=sys.stderr, flush=True)
    shown = host if ":" not in host else f"[{host}]"
    say(f"cvbench serve: the projects in {Path(root).resolve()}")
    say(f"  endpoint (training and prediction): http://{shown}:{port}/")
    for api, key, env in (("Training-Key", config.training_key, TRAINING_KEY_ENV),
                          ("Prediction-Key", config.prediction_key, PREDICTION_KEY_ENV)):
        origin = "generated; set " + env + " to choose it" if generated[
            api.split("-")[0].lower()] else "from " + env
        say(f"  {api}: {key}   ({origin})")
    if allow_private_urls:
        say("  URLs of private and loopback addresses are fetched (--allow-private-urls)")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    server.run()
    return 0
