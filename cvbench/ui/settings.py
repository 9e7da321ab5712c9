"""``ProjectSettings``: the project's settings and its tags, edited on the page.

    from cvbench.ui import ProjectSettings
    ProjectSettings(project)          # the Settings tab of the Workbench

The project: its name and description, the domain (the backbone the next training uses:
iterations keep the one they were trained with, so a change needs a new training), the
classification type (multiclass or multilabel), and the train/validation split (its seed
and the validation share; every image's split follows at once), and its limits (what it
accepts: bytes, pixels and side of an image, tags, images, boxes and tags per image), each
beside its default and saved on its own. The tags: rename, edit the description, mark the
Negative tag (classification), merge tags into another and delete them, with the number of
images each change affects (the browser asks the person to confirm merges and deletions).

Every action is a :class:`~cvbench.Project` call; a refused one leaves the project as it
was and says why in the notice line. The other widgets follow ``Project.revision``, so a
renamed tag shows in the gallery, the tagger and the exports at once.
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

import traitlets as t

from .. import domains as _domains
from ..project import Project
from ..store.images import LIMIT_CEILINGS, Limits
from ._assets import app_css, esm
from ._base import ProjectWidget, check_dict_list
from ._messages import RefreshMsg

__all__ = [
    "ProjectSettings",
    "SaveSettingsMsg",
    "SaveLimitsMsg",
    "UpdateTagMsg",
    "MergeTagsMsg",
    "DeleteTagMsg",
]

_CLASSIFICATION = ("multiclass", "multilabel")
#: The limits in words, for the notice line.
_LIMIT_WORDS = {
    "max_image_bytes": "file size", "max_image_pixels": "pixels per image",
    "max_image_side": "longest side", "max_tags": "tags", "max_images": "images",
    "max_regions_per_image": "boxes per image", "max_tags_per_image": "tags per image",
}


def _limit_text(name: str, value: int) -> str:
    if name == "max_image_bytes":
        return f"{value / 2**20:,.2f}".rstrip("0").rstrip(".") + " MB"
    return f"{value:,}" + (" px" if name in ("max_image_pixels", "max_image_side") else "")


class SaveSettingsMsg(TypedDict):
    """Save the project's settings: every field at once (those unchanged stay as they are).
    ``kind`` is the classification type (ignored for detection projects)."""

    type: Literal["save_settings"]
    name: str
    description: str
    domain: str
    kind: str
    split_seed: int
    validation_fraction: float


class SaveLimitsMsg(TypedDict):
    """Save the project's limits: ``{name: value}`` (bytes, pixels or counts; those not
    given stay)."""

    type: Literal["save_limits"]
    limits: dict[str, int]


class UpdateTagMsg(TypedDict):
    """Change a tag (``tag``: its id): its name, description, and whether it is the
    project's Negative tag."""

    type: Literal["update_tag"]
    tag: str
    name: str
    description: str
    negative: bool


class MergeTagsMsg(TypedDict):
    """Move the images and boxes of ``sources`` (tag ids) onto ``into``, then delete
    ``sources`` (the browser has asked the person to confirm)."""

    type: Literal["merge_tags"]
    sources: list[str]
    into: str


class DeleteTagMsg(TypedDict):
    """Delete the tag ``tag`` (an id): its image links and boxes go, the images stay (the
    browser has asked the person to confirm)."""

    type: Literal["delete_tag"]
    tag: str


class ProjectSettings(ProjectWidget):
    """The project's name, description, domain, classification type and split, and its
    tags: rename, describe, Negative, merge, delete."""

    _esm = esm("settings.js")
    _css = app_css("settings.css")
    _handlers = {
        "save_settings": (SaveSettingsMsg, "_on_save_settings"),
        "save_limits": (SaveLimitsMsg, "_on_save_limits"),
        "update_tag": (UpdateTagMsg, "_on_update_tag"),
        "merge_tags": (MergeTagsMsg, "_on_merge_tags"),
        "delete_tag": (DeleteTagMsg, "_on_delete_tag"),
        "refresh": (RefreshMsg, "_on_refresh"),
    }

    settings = t.Dict(
        help="The project's settings: {name, description, kind, domain, split_seed, "
        "validation_fraction, limits ({name: value}), created, path, images, train, "
        "validation, untagged} (read-only; change them with save_settings)."
    ).tag(sync=True)
    limit_bounds = t.Dict(
        {k: {"default": v, "ceiling": LIMIT_CEILINGS[k]} for k, v in Limits().to_dict().items()},
        help="Each limit's default and the most it may be set to: {name: {default, ceiling}} "
        "(read-only; the values are in ``settings['limits']``).",
    ).tag(sync=True)
    domains = t.List(
        t.Dict(), help="The domains that serve this project's kind: {name, offline} (read-only)."
    ).tag(sync=True)
    trained_domain = t.Unicode(
        "", help="The domain of the newest trained iteration; '' when there is none "
        "(read-only). A domain other than this one takes effect at the next training."
    ).tag(sync=True)
    tag_details = t.List(
        t.Dict(),
        help="The tags, as ``tags``, with their descriptions and boxes: {id, name, type, "
        "count (images), regions (boxes; detection), description} (read-only).",
    ).tag(sync=True)

    def __init__(self, project: Project) -> None:
        super().__init__(project)
        offline = set(_domains.offline_domains())
        self.domains = [{"name": n, "offline": n in offline}
                        for n in _domains.domain_names(project.kind)]
        self.refresh()

    def __repr__(self) -> str:
        return f"ProjectSettings(project={self.project.name!r})"

    @t.validate("domains")
    def _valid_domains(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"], ("name", "offline"), "domains")

    @t.validate("tag_details")
    def _valid_tag_details(self, proposal: t.Bunch) -> list[dict]:
        return check_dict_list(proposal["value"],
                               ("id", "name", "type", "count", "regions", "description"),
                               "tag_details")

    def _follow_change(self) -> None:
        self.refresh()

    # -- reading -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the settings and the tags from the project again."""
        p = self.project
        summary = p.summary()
        regions = {row["id"]: int(row.get("regions", 0)) for row in summary.tags}
        iterations = p.iterations
        with self.hold_sync():
            self.kind = p.kind
            self.refresh_tags()
            self.tag_details = [
                {"id": tag.id, "name": tag.name, "type": tag.type, "count": tag.image_count,
                 "regions": regions.get(tag.id, 0), "description": tag.description}
                for tag in p.tags
            ]
            self.settings = {
                **p.settings, "path": str(p.path), "images": summary.images,
                "train": summary.train, "validation": summary.validation,
                "untagged": summary.untagged,
            }
            self.trained_domain = iterations[0].domain if iterations else ""

    # -- the project's settings -------------------------------------------------------------
    def save_settings(self, *, name: str | None = None, description: str | None = None,
                      domain: str | None = None, kind: str | None = None,
                      split_seed: int | None = None,
                      validation_fraction: float | None = None) -> list[str]:
        """Change the settings given (None: it stays). Everything is checked before anything
        changes, so a refusal leaves the project as it was. Returns what changed, in words."""
        p = self.project
        current = p.settings
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError("the project's name is empty; give the project a name")
            if len(name.strip()) > 256:
                raise ValueError(f"the name is {len(name.strip())} characters; the most is 256")
        if description is not None and (not isinstance(description, str)
                                        or len(description) > 4000):
            raise ValueError("the description should be text of at most 4,000 characters")
        names = [d["name"] for d in self.domains]
        if domain is not None and domain not in names:
            raise ValueError(f"domain {domain!r} does not serve {p.kind} projects; choose one of "
                             f"{names}")
        if kind is not None and p.kind != "detection" and kind not in _CLASSIFICATION:
            raise ValueError(f"classification type {kind!r} should be one of "
                             f"{list(_CLASSIFICATION)}")
        if split_seed is not None and (isinstance(split_seed, bool)
                                       or not isinstance(split_seed, int)):
            raise ValueError(f"the split seed {split_seed!r} should be a whole number")
        if validation_fraction is not None and not (
                isinstance(validation_fraction, (int, float))
                and math.isfinite(validation_fraction) and 0.0 < validation_fraction < 1.0):
            raise ValueError(f"the validation share {validation_fraction!r} should lie strictly "
                             "between 0 and 1 (e.g. 0.2: a fifth of each tag's images)")
        changed: list[str] = []
        if kind is not None and p.kind != "detection" and kind != current["kind"]:
            p.set_kind(kind)  # first: the one change the project itself may refuse
            changed.append(f"classification type {kind}")
        if name is not None and name.strip() != current["name"]:
            p.rename(name)
            changed.append("name")
        if description is not None and description != current["description"]:
            p.set_description(description)
            changed.append("description")
        if domain is not None and domain != current["domain"]:
            p.domain = domain
            changed.append(f"domain {domain}")
        seed = None if split_seed is None or split_seed == current["split_seed"] else split_seed
        frac = None if validation_fraction is None or math.isclose(
            validation_fraction, current["validation_fraction"], abs_tol=1e-12
        ) else float(validation_fraction)
        if seed is not None or frac is not None:
            p.set_split_settings(seed=seed, validation_fraction=frac)
            changed.append("split")
        self.refresh()
        return changed

    def save_limits(self, limits: dict[str, int]) -> tuple[list[str], list[str]]:
        """Change the limits given (``{name: value}``) with :meth:`Project.set_limits`: all or
        nothing. Returns the names that changed and the notes on images already above a
        lowered byte, pixel or side limit."""
        if not isinstance(limits, dict):
            raise ValueError(f"the limits should be {{name: value}}, not {limits!r:.60}")
        before = self.project.limits.to_dict()
        notes = self.project.set_limits(**limits)
        after = self.project.limits.to_dict()
        self.refresh()
        return [k for k in after if after[k] != before[k]], notes

    def _on_save_limits(self, msg: SaveLimitsMsg, _buffers: list[bytes]) -> None:
        changed, notes = self.save_limits(msg["limits"])
        if not changed:
            self.say("Nothing to save: the limits are as they were")
            return
        text = "Saved the limits: " + ", ".join(
            f"{_LIMIT_WORDS.get(k, k)} {_limit_text(k, self.settings['limits'][k])}"
            for k in changed)
        self.say(". ".join([text, *notes]), "success")

    def _on_save_settings(self, msg: SaveSettingsMsg, _buffers: list[bytes]) -> None:
        changed = self.save_settings(
            name=msg["name"], description=msg["description"], domain=msg["domain"],
            kind=msg["kind"], split_seed=msg["split_seed"],
            validation_fraction=msg["validation_fraction"])
        if not changed:
            self.say("Nothing to save: the settings are as they were")
            return
        text = "Saved: " + ", ".join(changed)
        if any(c.startswith("domain") for c in changed):
            where = "in the Train tab" if self.host == "workbench" else "(project.train())"
            text += (f". The domain takes effect when you train again {where}; existing "
                     "iterations keep theirs")
        elif "split" in changed:
            s = self.settings
            text += f" (now {s['train']} training and {s['validation']} validation images)"
        self.say(text, "success")

    # -- tags ------------------------------------------------------------------------------------
    def update_tag(self, tag: str, *, name: str | None = None, description: str | None = None,
                   negative: bool | None = None) -> None:
        """Rename a tag, change its description, or make it the Negative tag (or a regular
        one again), in one change of the project."""
        new_type = None if negative is None else ("Negative" if negative else "Regular")
        self.project.update_tag(tag, name=name, description=description, type=new_type)
        self.refresh()

    def _on_update_tag(self, msg: UpdateTagMsg, _buffers: list[bytes]) -> None:
        before = self.project.get_tag(msg["tag"])
        negative = msg["negative"]
        if self.kind == "detection" and negative:
            raise ValueError("detection projects have no Negative tag: images without boxes "
                             "teach the detector what is not an object")
        self.update_tag(msg["tag"], name=msg["name"], description=msg["description"],
                        negative=negative if self.kind != "detection" else None)
        after = self.project.get_tag(msg["tag"])
        parts = []
        if after.name != before.name:
            parts.append(f"renamed {before.name!r} to {after.name!r}")
        if after.type != before.type:
            parts.append("marked Negative" if after.type == "Negative" else "made a regular tag")
        if after.description != before.description:
            parts.append("description saved")
        self.say(f"Tag {after.name!r}: " + ", ".join(parts) if parts else
                 f"Tag {after.name!r} is as it was", "success" if parts else "info")

    def merge_tags(self, sources: list[str], into: str) -> int:
        """Move the images and boxes of ``sources`` onto ``into`` and delete ``sources``.
        Returns the images ``into`` has then."""
        p = self.project
        target = p.get_tag(into)
        srcs = [p.get_tag(s) for s in sources]
        if not srcs or all(s.id == target.id for s in srcs):
            raise ValueError("choose a tag to merge other than the one it goes into")
        merged = p.merge_tags(srcs, target)
        self.refresh()
        return merged.image_count

    def _on_merge_tags(self, msg: MergeTagsMsg, _buffers: list[bytes]) -> None:
        names = [self.project.get_tag(s).name for s in msg["sources"]]
        into = self.project.get_tag(msg["into"]).name
        count = self.merge_tags(msg["sources"], msg["into"])
        self.say(f"Merged {', '.join(repr(n) for n in names)} into {into!r}: it is on "
                 f"{count} image{'' if count == 1 else 's'} now", "success")

    def delete_tag(self, tag: str) -> int:
        """Delete a tag (its image links and boxes; the images stay). Returns the number of
        images it was on."""
        found = self.project.get_tag(tag)
        self.project.delete_tag(found)
        self.refresh()
        return found.image_count

    def _on_delete_tag(self, msg: DeleteTagMsg, _buffers: list[bytes]) -> None:
        name = self.project.get_tag(msg["tag"]).name
        count = self.delete_tag(msg["tag"])
        self.say(f"Deleted the tag {name!r}; the {count} image{'' if count == 1 else 's'} it "
                 "was on stay", "success")

    def _on_refresh(self, _msg: RefreshMsg, _buffers: list[bytes]) -> None:
        self.refresh()
