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
from .store.images import Limits, check_limits, size_text

__all__ = ["ProjectBase", "check_domain", "now"]

_P = TypeVar("_P", bound="ProjectBase")
_MAX_NAME = 256
_MAX_DESCRIPTION = 4000


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _stored_limits(text: str | None) -> Limits:
    return Limits.from_stored(json.loads(text) if text else None)


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


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
        #: the stored limits' text and the Limits parsed from it (see ``limits``)
        self._limits: tuple[str | None, Limits] = (None, _stored_limits(None))

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
            "limits": _stored_limits(meta.get("limits")).to_dict(),
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

    # -- limits ----------------------------------------------------------------------------
    @property
    def limits(self) -> Limits:
        """What the project accepts (:class:`~cvbench.store.images.Limits`), as stored now:
        :meth:`set_limits` by this or any other process shows at the next read (one
        indexed row; parsed again only when it changed). Assigning a ``Limits`` is
        :meth:`set_limits` with all of its values."""
        text = self.store.meta.limits_text()
        cached = self._limits
        if cached[0] != text:
            cached = self._limits = (text, _stored_limits(text))
        return cached[1]

    @limits.setter
    def limits(self, value: Limits) -> None:
        if not isinstance(value, Limits):
            raise ValueError(f"limits should be a cvbench.store.images.Limits, not "
                             f"{type(value).__name__}; or call project.set_limits(name=value)")
        self.set_limits(**value.to_dict())

    def set_limits(self, **limits: int) -> list[str]:
        """Change some of the project's limits (``max_image_bytes``, ``max_image_pixels``,
        ``max_image_side``, ``max_tags``, ``max_images``, ``max_regions_per_image``,
        ``max_tags_per_image``); those not given stay.

        Each is a whole number from 1 to its ceiling
        (:data:`~cvbench.store.images.LIMIT_CEILINGS`: what cvbench reads safely). A count
        cannot go below what the project holds (its tags, its images, the most boxes or
        tags on one image): the refusal says how many it holds and what to remove. A
        refusal changes nothing. The byte, pixel and side limits govern images as they are
        added, so they may go below images already in the project: they stay, and the
        returned notes say how many there are. Returns those notes (``[]`` when there is
        nothing to note); every open ``Project`` of the folder sees the new limits."""
        check_limits(limits)  # unknown names, bad values, ceilings: before any lock
        with self.store.transaction():
            current = self.limits
            new = current.updated(limits)
            if new == current:
                return []
            lowered = {k for k in limits if getattr(new, k) < getattr(current, k)}
            problems = self._held_above(new, lowered)
            if problems:
                raise ProjectError("; ".join(problems) + ". Nothing was changed")
            notes = self._images_above(new, lowered)
            self.store.meta.set("limits", json.dumps(new.to_dict()))
        return notes

    def _held_above(self, new: Limits, lowered: set[str]) -> list[str]:
        """Why the lowered count limits of ``new`` are below what the project holds."""
        if not lowered & {"max_tags", "max_images", "max_regions_per_image",
                          "max_tags_per_image"}:
            return []
        held = self.store.meta.holdings()
        problems = []
        if "max_tags" in lowered and held.tags > new.max_tags:
            problems.append(
                f"max_tags={new.max_tags:,} is below the {_plural(held.tags, 'tag')} the "
                f"project holds: delete or merge {held.tags - new.max_tags:,} of them first "
                f"(project.delete_tag, project.merge_tags), or choose {held.tags:,} or more")
        if "max_images" in lowered and held.images > new.max_images:
            problems.append(
                f"max_images={new.max_images:,} is below the {_plural(held.images, 'image')} "
                f"the project holds: delete {held.images - new.max_images:,} of them first "
                f"(project.delete_images), or choose {held.images:,} or more")
        for key, most, what, fix in (
                ("max_regions_per_image", held.most_regions, ("box", "boxes"),
                 "delete some of their boxes first (project.delete_regions, "
                 "project.set_regions)"),
                ("max_tags_per_image", held.most_tags, ("tag", "tags"),
                 "untag them first (project.untag_images)")):
            limit = getattr(new, key)
            over = [(image, n) for image, n in most if n > limit]
            if key not in lowered or not over:
                continue
            which = ", ".join(f"image {image} has {_plural(n, *what)}" for image, n in over)
            more = " (and maybe others)" if len(over) == len(most) == 5 else ""
            problems.append(
                f"{key}={limit:,} is below what images of the project hold: {which}{more}; "
                f"{fix}, or choose {over[0][1]:,} or more")
        return problems

    def _images_above(self, new: Limits, lowered: set[str]) -> list[str]:
        """Notes on the images already above the lowered byte, pixel or side limits."""
        if not lowered & {"max_image_bytes", "max_image_pixels", "max_image_side"}:
            return []
        over = self.store.meta.images_over(max_bytes=new.max_image_bytes,
                                           max_pixels=new.max_image_pixels,
                                           max_side=new.max_image_side)
        notes = []
        for key, what, limit in (
                ("max_image_bytes", "bytes", f"{size_text(new.max_image_bytes)} a file"),
                ("max_image_pixels", "pixels", f"{new.max_image_pixels:,} pixels"),
                ("max_image_side", "side", f"{new.max_image_side:,} pixels a side")):
            n = over[what]
            if key in lowered and n:
                notes.append(
                    f"{_plural(n, 'image')} already in the project {'is' if n == 1 else 'are'} "
                    f"above the new limit of {limit}; {'it stays' if n == 1 else 'they stay'} "
                    "(the limit governs images added from now on)")
        return notes

    @property
    def is_classification(self) -> bool:
        return self.kind != "detection"

    # -- reading a source ------------------------------------------------------------------
    def read_image(self, source: ImageSource) -> ReadImage:
        """Read ``source`` (a path, bytes, a PIL image or an http(s) URL) as an import does:
        the same checks and errors (:class:`~cvbench.errors.ImageError` with Custom
        Vision's status), its bytes, name and displayed RGB pixels."""
        return read_image(source, self.limits)
