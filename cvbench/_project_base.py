"""The state every part of the :class:`~cvbench.Project` facade shares: the folder, the
store, the settings and the limits (see :mod:`cvbench.project`)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .errors import ProjectError
from .sources import ImageSource, ReadImage, read_image
from .store import Store
from .store.db import DB_NAME
from .store.images import Limits

__all__ = ["ProjectBase", "check_domain", "now"]

_P = TypeVar("_P", bound="ProjectBase")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def check_domain(domain: str | None, kind: str) -> str:
    """``domain``, checked (a ValueError names the valid ones); the default when None."""
    from . import domains as _domains  # light module: a registry of names

    if domain is None:
        return _domains.DEFAULT_DOMAIN
    _domains.get_domain(domain)  # raises ValueError naming the valid domains
    return domain


class ProjectBase:
    """A project folder opened: its :class:`~cvbench.store.Store`, id, kind and limits."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).resolve()
        if not Store.exists(self.path):
            raise ProjectError(
                f"{self.path} holds no cvbench project (no {DB_NAME}); create one with "
                f"cvbench.create_project({str(path)!r}, kind='multiclass')"
            )
        #: the project's persistence (database, files, transactions); the facade's own
        self.store = Store.open(self.path)
        meta = self.store.meta.all()
        self.id: str = meta["project_id"]
        self.kind: str = meta["kind"]
        self.limits = Limits.from_dict(json.loads(meta["limits"]))

    def close(self) -> None:
        self.store.close()

    def __enter__(self: _P) -> _P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<cvbench.Project {self.name!r} {self.kind} at {self.path}>"

    # -- settings ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.store.meta.get("name", "") or ""

    @property
    def domain(self) -> str:
        return self.store.meta.get("domain", "") or ""

    @domain.setter
    def domain(self, value: str) -> None:
        value = check_domain(value, self.kind)
        with self.store.transaction():
            self.store.meta.set("domain", value)

    @property
    def settings(self) -> dict[str, Any]:
        meta = self.store.meta.all()
        return {
            "id": meta["project_id"],
            "name": meta["name"],
            "kind": meta["kind"],
            "domain": meta["domain"],
            "split_seed": int(meta["split_seed"]),
            "validation_fraction": float(meta["validation_fraction"]),
            "limits": json.loads(meta["limits"]),
            "created": meta["created"],
        }

    @property
    def is_classification(self) -> bool:
        return self.kind != "detection"

    # -- reading a source ------------------------------------------------------------------
    def read_image(self, source: ImageSource) -> ReadImage:
        """Read ``source`` (a path, bytes, a PIL image or an http(s) URL) as an import does:
        the same checks and errors (:class:`~cvbench.errors.ImageError` with Custom
        Vision's status), its bytes, name and displayed RGB pixels."""
        return read_image(source, self.limits)
