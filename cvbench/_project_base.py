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
_MAX_NAME = 256
_MAX_DESCRIPTION = 4000


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
    def kind(self) -> str:
        """``"multiclass"``, ``"multilabel"`` or ``"detection"`` (read from the project:
        :meth:`set_kind` by any process shows at once)."""
        return self.store.meta.get("kind", "") or ""

    @property
    def name(self) -> str:
        """The project's display name (:meth:`rename` changes it; the folder stays)."""
        return self.store.meta.get("name", "") or ""

    def rename(self, name: str) -> None:
        """Change the project's display name (1 to 256 characters); its folder and id
        stay."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name={name!r} is empty; give the project a name")
        name = name.strip()
        if len(name) > _MAX_NAME:
            raise ValueError(f"the name {name[:40]!r}… is {len(name)} characters; the most is "
                             f"{_MAX_NAME}")
        with self.store.transaction():
            self.store.meta.set("name", name)

    @property
    def description(self) -> str:
        """A free text about the project (Custom Vision's project description)."""
        return self.store.meta.get("description", "") or ""

    def set_description(self, text: str) -> None:
        """Set the project's description (at most 4,000 characters; ``""`` clears it)."""
        if not isinstance(text, str):
            raise ValueError(f"the description should be text, not {type(text).__name__}")
        if len(text) > _MAX_DESCRIPTION:
            raise ValueError(f"the description is {len(text)} characters; the most is "
                             f"{_MAX_DESCRIPTION}")
        with self.store.transaction():
            self.store.meta.set("description", text)

    def set_kind(self, kind: str) -> None:
        """Switch a classification project between ``"multiclass"`` and ``"multilabel"``.

        Detection projects keep their kind (their images are tagged through boxes), and a
        project cannot become detection. A project becomes multiclass only while no image
        has several tags: the refusal names some that do (untag them first). Existing
        iterations keep the kind they were trained as."""
        classification = ("multiclass", "multilabel")
        if kind not in classification:
            raise ValueError(f"kind={kind!r}: a project switches between {list(classification)}")
        with self.store.transaction():
            current = self.kind
            if current == kind:
                return
            if current not in classification:
                raise ProjectError(
                    f"this is a {current} project; only classification projects switch between "
                    "multiclass and multilabel — create a new project for another kind")
            if kind == "multiclass":
                several = self.store.images.with_several_tags()
                if several:
                    raise ProjectError(
                        f"images {several} (and maybe others) have several tags; a multiclass "
                        "project takes one tag per image: untag them first "
                        "(project.untag_images(ids, tags))")
            self.store.meta.set("kind", kind)

    @property
    def revision(self) -> int:
        """A number that changes whenever the project changes — images, their tags, boxes
        and metadata, tags, iterations and training runs, stored predictions, settings —
        by this or any other process, and never on reads. Poll it (one indexed row) to know
        when to read again."""
        return self.store.revision()

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
            "description": meta.get("description", ""),
            "kind": meta["kind"],
            "domain": meta["domain"],
            "split_seed": int(meta["split_seed"]),
            "validation_fraction": float(meta["validation_fraction"]),
            "limits": json.loads(meta["limits"]),
            "created": meta["created"],
        }

    def set_split_settings(self, *, seed: int | None = None,
                           validation_fraction: float | None = None) -> None:
        """Change how images are split into train and validation: the ``seed`` of the
        deterministic shuffle (a whole number) and the ``validation_fraction`` (strictly
        between 0 and 1); what is None stays. Every tagged image's split is computed again
        at once (overrides from ``set_split`` stay); iterations keep the split they were
        trained on."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed={seed!r} should be a whole number, e.g. 0 or 42")
        if seed is not None and not -2**63 <= seed < 2**63:
            raise ValueError(f"seed={seed} is out of range; use a number of at most 18 digits")
        if validation_fraction is not None:
            if isinstance(validation_fraction, bool) or not isinstance(
                    validation_fraction, (int, float)):
                raise ValueError(f"validation_fraction={validation_fraction!r} should be a "
                                 "number between 0 and 1, e.g. 0.2")
            if not 0.0 < float(validation_fraction) < 1.0:
                raise ValueError(f"validation_fraction={validation_fraction!r} must lie "
                                 "strictly between 0 and 1, e.g. 0.2 for a fifth")
        with self.store.transaction():
            meta = self.store.meta
            if seed is not None:
                meta.set("split_seed", str(int(seed)))
            if validation_fraction is not None:
                meta.set("validation_fraction", repr(float(validation_fraction)))
            meta.set("split_dirty", "1")
            self.store.split.update()

    @property
    def is_classification(self) -> bool:
        return self.kind != "detection"

    # -- reading a source ------------------------------------------------------------------
    def read_image(self, source: ImageSource) -> ReadImage:
        """Read ``source`` (a path, bytes, a PIL image or an http(s) URL) as an import does:
        the same checks and errors (:class:`~cvbench.errors.ImageError` with Custom
        Vision's status), its bytes, name and displayed RGB pixels."""
        return read_image(source, self.limits)
