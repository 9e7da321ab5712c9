"""Tags of a project (part of the :class:`~cvbench.Project` facade): listing, creating,
renaming, merging and deleting them, and the rules a combination of tags obeys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._project_base import ProjectBase
from ._types import TAG_TYPES, Tag
from .errors import TagError

__all__ = ["TagsMixin"]


class TagsMixin(ProjectBase):
    """The tag methods of :class:`~cvbench.Project`."""

    @property
    def tags(self) -> list[Tag]:
        """All tags, by name, with their image counts."""
        return self.store.tags.all()

    def tag_ids_by_creation(self) -> list[str]:
        """The ids of the tags, oldest first: the order they were created in (a tag created
        later comes after every tag there is, so earlier tags keep their places)."""
        return self.store.tags.ids_by_creation()

    def tag_counts(self) -> dict[str, int]:
        """Images per tag name (counts kept by triggers: one row per tag)."""
        return self.store.tags.counts()

    def get_tag(self, tag: str | Tag) -> Tag:
        """A tag by id or name (names are case-insensitive)."""
        key = tag.id if isinstance(tag, Tag) else str(tag)
        found = self.store.tags.find(key)
        if found is None:
            names = self.store.tags.names()
            raise TagError(
                f"no tag {key!r} in this project; it has {names[:20]}"
                + (" …" if len(names) > 20 else "")
                + " — create it with project.create_tag(name)"
            )
        return found

    def create_tag(self, name: str, type: str = "Regular", description: str = "") -> Tag:
        """Create a tag. ``type`` is ``"Regular"`` or ``"Negative"`` (classification only)."""
        name = self._check_tag_name(name)
        if type not in TAG_TYPES:
            raise ValueError(f"type={type!r} is not a tag type; it should be one of {list(TAG_TYPES)}")
        with self.store.transaction():
            self._check_new_tag(name, type)
            return self.store.tags.insert(name, type, description)

    @staticmethod
    def _check_tag_name(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise TagError(f"tag name {name!r} is empty; give the tag a name")
        name = name.strip()
        if len(name) > 256:
            raise TagError(f"tag name {name[:40]!r}… is {len(name)} characters; the most is 256")
        return name

    def _check_new_tag(self, name: str, type: str) -> None:
        tags = self.store.tags
        existing = tags.named(name)
        if existing is not None:
            raise TagError(f"a tag named {existing.name!r} already exists (names ignore case)")
        if type == "Negative":
            if self.kind == "detection":
                raise TagError(
                    "detection projects have no Negative tag (as in Custom Vision): images "
                    "without boxes already teach the detector what is not an object"
                )
            if tags.negative_ids():
                raise TagError("this project already has a Negative tag; a project has at most one")
        n = tags.count()
        if n >= self.limits.max_tags:
            raise TagError(
                f"the project has {n} tags, the limit (max_tags={self.limits.max_tags}); "
                "delete or merge tags first"
            )

    def _resolve_tags(self, tags: Iterable[str | Tag] | str | Tag | None, *,
                      create: bool) -> list[Tag]:
        if tags is None:
            return []
        if isinstance(tags, (str, Tag)):
            tags = [tags]
        out: list[Tag] = []
        for t in tags:
            try:
                tag = self.get_tag(t)
            except TagError:
                if not create or isinstance(t, Tag):
                    raise
                try:
                    tag = self.create_tag(str(t))
                except TagError as exc:
                    try:  # another process (or thread) created it since get_tag looked
                        tag = self.get_tag(str(t).strip())
                    except TagError:
                        raise exc from None
            if tag.id not in {x.id for x in out}:
                out.append(tag)
        return out

    def _check_tag_combination(self, tags: list[Tag]) -> tuple[str, str] | None:
        """Why these tags cannot go on one image (status, message), or None."""
        if not tags:
            return None
        negative = [t for t in tags if t.type == "Negative"]
        if negative and len(tags) > 1:
            return (
                "ErrorNegativeAndRegularTagOnSameImage",
                f"the Negative tag {negative[0].name!r} cannot stand beside other tags "
                f"({', '.join(t.name for t in tags if t.type != 'Negative')})",
            )
        if self.kind == "multiclass" and len(tags) > 1:
            return (
                "ErrorTagLimitExceed",
                f"a multiclass project takes one tag per image; got {[t.name for t in tags]}",
            )
        if len(tags) > self.limits.max_tags_per_image:
            return ("ErrorTagLimitExceed", f"{len(tags)} tags on one image; the limit is "
                    f"{self.limits.max_tags_per_image}")
        return None

    def rename_tag(self, tag: str | Tag, new_name: str) -> Tag:
        """Rename a tag (names are unique ignoring case)."""
        t = self.get_tag(tag)
        new_name = self._check_tag_name(new_name)
        with self.store.transaction():
            if self.store.tags.named(new_name, other_than=t.id) is not None:
                raise TagError(
                    f"a tag named {new_name!r} already exists; merge the two with "
                    f"project.merge_tags([{t.name!r}], into={new_name!r})"
                )
            self.store.tags.rename(t.id, new_name)
        return self.get_tag(t.id)

    def update_tag(self, tag: str | Tag, *, name: str | None = None,
                   description: str | None = None, type: str | None = None) -> Tag:
        """Change a tag's name, description and type (``"Regular"`` or ``"Negative"``) in
        one transaction; what is None stays. Names stay unique ignoring case; a tag becomes
        Negative only in a classification project without another Negative tag, and only
        while no image carries it beside another tag (a Negative tag stands alone)."""
        t = self.get_tag(tag)
        new_name = t.name if name is None else self._check_tag_name(name)
        if description is not None and not isinstance(description, str):
            raise ValueError(f"description={description!r} should be text")
        if type is not None and type not in TAG_TYPES:
            raise ValueError(f"type={type!r} is not a tag type; it should be one of {list(TAG_TYPES)}")
        tags = self.store.tags
        with self.store.transaction():
            current = tags.find(t.id)
            if current is None:
                raise TagError(f"the tag {t.name!r} was deleted meanwhile")
            if tags.named(new_name, other_than=t.id) is not None:
                raise TagError(
                    f"a tag named {new_name!r} already exists; merge the two with "
                    f"project.merge_tags([{t.name!r}], into={new_name!r})")
            new_type = current.type if type is None else type
            if new_type == "Negative" and current.type != "Negative":
                if self.kind == "detection":
                    raise TagError("detection projects have no Negative tag (as in Custom "
                                   "Vision): images without boxes teach what is not an object")
                if tags.negative_ids():
                    raise TagError("this project already has a Negative tag; a project has "
                                   "at most one")
                beside = tags.images_beside_others(t.id)
                if beside:
                    raise TagError(
                        f"images {beside} carry {current.name!r} beside other tags, and a "
                        "Negative tag stands alone on its images: untag them first")
            tags.update(t.id, name=new_name, type=new_type,
                        description=current.description if description is None else description)
        return self.get_tag(t.id)

    def merge_tags(self, sources: Sequence[str | Tag], into: str | Tag) -> Tag:
        """Move every image and box of ``sources`` onto ``into``, then delete ``sources``."""
        target = self.get_tag(into)
        srcs = [self.get_tag(s) for s in sources]
        srcs = [s for s in srcs if s.id != target.id]
        if any(s.type != target.type for s in srcs):
            raise TagError("a Negative tag cannot be merged with a Regular tag")
        with self.store.transaction():
            for s in srcs:
                self.store.tags.merge(s.id, target.id)
            self.store.split.update()
        return self.get_tag(target.id)

    def delete_tag(self, tag: str | Tag) -> None:
        """Delete a tag, its image links and its boxes (the images stay)."""
        t = self.get_tag(tag)
        with self.store.transaction():
            self.store.tags.delete(t.id)
            self.store.split.update()
