"""Reading and querying, tagging, boxing (boxes by id), splitting, describing (metadata)
and deleting a project's images (part of the :class:`~cvbench.Project` facade).

Every write is one store transaction that ends by bringing the train/validation split up
to date (:meth:`cvbench.store.repo_split.SplitRepository.update`, incremental), so that
reads never wait on a recomputation of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from PIL import Image as PILImage

from ._project_ingest import IngestMixin
from ._types import Region, StoredImage, Tag
from .boxes import RegionInput
from .errors import ProjectError, TagError
from .store.images import THUMBNAIL_SIZE, load_rgb, make_thumbnail
from .store.repo_images import SPLITS

__all__ = ["ImagesMixin", "METADATA_PAIRS", "METADATA_KEY", "METADATA_VALUE"]

#: Custom Vision's limits on image metadata: pairs per image, characters of a key, of a value.
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 50, 256, 512


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def _ids(image_ids: Sequence[str] | str) -> list[str]:
    return [image_ids] if isinstance(image_ids, str) else list(image_ids)


class ImagesMixin(IngestMixin):
    """The image methods of :class:`~cvbench.Project`."""

    # -- reading --------------------------------------------------------------------------
    def image(self, image_id: str) -> StoredImage:
        found = self._load_images([image_id])
        if not found:
            raise KeyError(f"no image with id {image_id!r} in this project")
        return found[0]

    def images(
        self,
        tag: str | Tag | None = None,
        untagged: bool = False,
        split: str | None = None,
        skip: int = 0,
        take: int | None = None,
        *,
        ids: Sequence[str] | None = None,
        order: str = "newest",
        tags: Sequence[str | Tag] | None = None,
        tagged: bool | None = None,
        iteration: str | _HasId | None = None,
        metadata_filter: str | None = None,
    ) -> list[StoredImage]:
        """Images, newest (or ``order="oldest"``) first, paged by ``skip``/``take``, that
        pass every filter given: of ``tag``, or of any of ``tags``; ``untagged`` (or
        ``tagged=False``), or ``tagged=True``; in ``split``; among ``ids``; learnt from (or
        validated on) by ``iteration`` (an id, name or Iteration); selected by the metadata
        filter ``metadata_filter`` (Custom Vision's ``$filter``: ``"camera eq 'a' and lens
        ne 'b'"``, see :meth:`image_ids_matching`). One indexed query."""
        if order not in ("newest", "oldest"):
            raise ValueError(f"order={order!r} should be 'newest' or 'oldest'")
        q = self._filters(tag, untagged, split, tags, tagged, iteration, metadata_filter)
        with self.store.lock:  # the ids and their rows as one view
            found = self.store.images.page_ids(
                ids=ids, newest_first=order == "newest", skip=skip, take=take, **q)
            return self._load_images(found)

    def count_images(self, tag: str | Tag | None = None, untagged: bool = False,
                     split: str | None = None, *, tags: Sequence[str | Tag] | None = None,
                     tagged: bool | None = None, iteration: str | _HasId | None = None,
                     metadata_filter: str | None = None) -> int:
        """How many images :meth:`images` with these filters would give in all (a counter
        kept by triggers for the common filters, else one indexed count)."""
        q = self._filters(tag, untagged, split, tags, tagged, iteration, metadata_filter)
        return self.store.images.count_where(**q)

    def _filters(self, tag: str | Tag | None, untagged: bool, split: str | None,
                 tags: Sequence[str | Tag] | None = None, tagged: bool | None = None,
                 iteration: str | _HasId | None = None, metadata_filter: str | None = None
                 ) -> dict[str, Any]:
        """The filters of :meth:`images`, checked and resolved for the store."""
        if tagged is False:
            untagged = True
        chosen = ([] if tag is None else [self.get_tag(tag)]) + \
            [self.get_tag(t) for t in (tags or ())]
        if untagged and (chosen or tagged):
            raise ValueError("choose tag(s) / tagged=True or untagged=True, not both")
        if isinstance(tags, (str, Tag)):
            raise ValueError("tags= takes a list of tags; for one tag use tag=")
        if split is not None:
            if split not in SPLITS:
                raise ValueError(f"split={split!r} should be 'train' or 'validation'")
            self.ensure_split()
        iteration_id = None
        if iteration is not None:
            key = iteration if isinstance(iteration, str) else iteration.id
            row = self.store.iterations.find(key)
            if row is None:
                raise ProjectError(f"no iteration {key!r} in this project (ids, names and "
                                   "published names are accepted); see project.iterations")
            iteration_id = row.id
        metadata = None if metadata_filter is None else \
            self.store.metadata.condition(metadata_filter)
        return {"tags": chosen, "untagged": untagged, "tagged": bool(tagged), "split": split,
                "iteration_id": iteration_id, "metadata": metadata}

    def _load_images(self, ids: Sequence[str]) -> list[StoredImage]:
        if not ids:
            return []
        self.ensure_split()
        return self.store.images.load(ids)

    def thumbnail(self, image_id: str) -> bytes:
        """The JPEG thumbnail of an image (re-made if its file was removed)."""
        img = self.image(image_id)
        try:
            return img.thumbnail_path.read_bytes()
        except FileNotFoundError:
            data = make_thumbnail(load_rgb(img.path, draft=(THUMBNAIL_SIZE, THUMBNAIL_SIZE)))
            self.store.files.put_thumb(img.sha256, data)
            return data

    def load_image(self, image: str | StoredImage, max_side: int | None = None) -> PILImage.Image:
        """The pixels of an image as displayed (EXIF orientation applied, 8-bit RGB), made to
        fit ``max_side`` pixels when given. Normalized boxes hold on the result."""
        img = image if isinstance(image, StoredImage) else self.image(image)
        draft = (max_side, max_side) if max_side else None
        pixels = load_rgb(img.path, draft=draft)
        if max_side and max(pixels.size) > max_side:
            pixels = pixels.copy()
            pixels.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
        return pixels

    # -- tagging ----------------------------------------------------------------------------
    def tag_images(self, image_ids: Sequence[str] | str, tags: Sequence[str | Tag] | str | Tag,
                   *, create_tags: bool = True) -> None:
        """Add tags to images (classification). In a multiclass project the tag replaces the
        image's tag; a Negative tag replaces the image's other tags, and a Regular tag
        replaces a Negative one."""
        if self.kind == "detection":
            raise TagError(
                "detection images are tagged through their boxes: use "
                "project.set_regions(image_id, [...])"
            )
        ids = _ids(image_ids)
        tag_objs = self._resolve_tags(tags, create=create_tags)
        err = self._check_tag_combination(tag_objs)
        if err is not None:
            raise TagError(err[1])
        if not tag_objs:
            return
        images = self.store.images
        with self.store.transaction():
            self._require_images(ids)
            negative_ids = self.store.tags.negative_ids()
            wanted = [t.id for t in tag_objs]
            kind = self.kind  # read once, inside the transaction: set_kind cannot slip in
            most_tags = self.limits.max_tags_per_image
            if kind == "multiclass" and len(tag_objs) > 1:
                raise TagError(f"a multiclass project takes one tag per image; got "
                               f"{[t.name for t in tag_objs]}")
            for image_id in ids:
                if kind == "multiclass" or tag_objs[0].type == "Negative":
                    images.unlink_except(image_id, wanted)
                elif negative_ids:
                    images.unlink(image_id, negative_ids)
                images.link(image_id, wanted)
                if kind == "multilabel":
                    n = images.tag_count(image_id)
                    if n > most_tags:
                        raise TagError(
                            f"image {image_id} would have {n} tags; the limit is {most_tags}"
                        )
            self.store.split.update()

    def untag_images(self, image_ids: Sequence[str] | str,
                     tags: Sequence[str | Tag] | str | Tag | None = None) -> None:
        """Remove tags from images (all their tags, and boxes, when ``tags`` is None)."""
        ids = _ids(image_ids)
        tag_objs = self._resolve_tags(tags, create=False) if tags is not None else None
        tag_ids = None if tag_objs is None else [t.id for t in tag_objs]
        with self.store.transaction():
            for image_id in ids:
                self.store.images.unlink(image_id, tag_ids)
                self.store.regions.remove(image_id, tag_ids)
            self.store.split.update()

    def set_regions(self, image_id: str, regions: Sequence[RegionInput], *,
                    create_tags: bool = True) -> list[str]:
        """Replace the boxes of an image (detection). Boxes reaching outside the image are
        clipped; boxes with no area inside it are dropped. Returns notes on what was changed.
        """
        if self.kind != "detection":
            raise TagError(
                f"boxes belong to detection projects; this one is {self.kind}: use tag_images"
            )
        prepared, note = self._prepare_regions(regions, create_tags)
        if len(prepared) > self.limits.max_regions_per_image:
            raise TagError(
                f"{len(prepared)} boxes on one image, above the limit of "
                f"{self.limits.max_regions_per_image} (max_regions_per_image)"
            )
        with self.store.transaction():
            self._require_images([image_id])
            self.store.regions.replace(image_id, prepared)
            self.store.split.update()
        return [n for n in note.split("; ") if n]

    def add_regions(self, image_id: str, regions: Sequence[RegionInput], *,
                    create_tags: bool = True) -> list[Region]:
        """Add boxes to an image (detection) beside the boxes it has, whose ids stay as
        they are. Boxes reaching outside the image are clipped; boxes with no area inside
        it are left out. Returns the new boxes (:class:`Region`, with their ids), in order."""
        if self.kind != "detection":
            raise TagError(
                f"boxes belong to detection projects; this one is {self.kind}: use tag_images"
            )
        prepared, _ = self._prepare_regions(regions, create_tags)
        names = {t.id: t.name for t in self.store.tags.all()}
        with self.store.transaction():
            self._require_images([image_id])
            n = self.store.regions.count_on(image_id) + len(prepared)
            if n > self.limits.max_regions_per_image:
                raise TagError(
                    f"image {image_id} would have {n} boxes, above the limit of "
                    f"{self.limits.max_regions_per_image} (max_regions_per_image); delete some "
                    "with project.delete_regions(ids)")
            ids = self.store.regions.add(image_id, prepared) if prepared else []
            self.store.split.update()
        return [Region(tag_id, names.get(tag_id, ""), b.left, b.top, b.width, b.height, id=rid)
                for rid, (tag_id, b) in zip(ids, prepared, strict=True)]

    def delete_regions(self, region_ids: Sequence[str] | str) -> int:
        """Delete boxes by id (:attr:`Region.id`); the images' other boxes stay, and an
        image keeps the tags of the boxes it still has. Unknown ids are skipped. Returns
        how many boxes were deleted."""
        ids = _ids(region_ids)
        with self.store.transaction():
            n = len(self.store.regions.images_of(ids))
            if n:
                self.store.regions.delete(ids)
                self.store.split.update()
        return n

    # -- metadata ---------------------------------------------------------------------------
    def set_image_metadata(self, image_ids: Sequence[str] | str,
                           metadata: Mapping[str, str | None]) -> None:
        """Merge key/value pairs into each image's metadata (``StoredImage.metadata``); a
        value of None removes the key. Custom Vision's limits hold: keys of 1 to 256
        characters, values of at most 512, at most 50 pairs per image. Unknown image ids
        raise KeyError; nothing is written then."""
        ids = _ids(image_ids)
        if not isinstance(metadata, Mapping):
            raise ValueError(f"metadata should be a mapping of text to text, not "
                             f"{type(metadata).__name__}")
        for key, value in metadata.items():
            if not isinstance(key, str) or not 0 < len(key) <= METADATA_KEY:
                raise ValueError(f"metadata key {str(key)[:40]!r} should be text of 1 to "
                                 f"{METADATA_KEY} characters")
            if value is not None and (not isinstance(value, str) or len(value) > METADATA_VALUE):
                raise ValueError(f"the value of metadata key {key!r} should be text of at most "
                                 f"{METADATA_VALUE} characters (or None to remove the key)")
        if len(metadata) > METADATA_PAIRS:
            raise ValueError(f"{len(metadata)} metadata pairs; an image holds at most "
                             f"{METADATA_PAIRS}")
        with self.store.transaction():
            self._require_images(ids)
            self.store.metadata.merge(ids, metadata)
            most = self.store.metadata.most_pairs(ids)
            if most is not None and most[1] > METADATA_PAIRS:
                raise ValueError(
                    f"image {most[0]} would hold {most[1]} metadata pairs; the most is "
                    f"{METADATA_PAIRS}: remove some with set_image_metadata(ids, {{key: None}})")

    def image_ids_matching(self, expression: str) -> set[str]:
        """Ids of the images that Custom Vision's metadata filter ``expression`` selects:
        ``key eq 'value'`` and ``key ne 'value'`` (an image without the key is not equal),
        joined by ``and`` / ``or``, with parentheses; ``'it''s'`` quotes a quote. Evaluated
        in SQL on the index of metadata values. A ValueError names what is wrong."""
        return self.store.metadata.matching(expression)

    def delete_images(self, image_ids: Sequence[str] | str) -> int:
        """Delete images, their tags and boxes, and then their files. Returns how many."""
        ids = _ids(image_ids)
        with self.store.transaction():
            gone = self.store.images.delete(ids)
            self.store.split.update()
        # the rows are gone first; a killed process leaves at worst an unreferenced file.
        # Files go under the write lock, and only when no row points at them any more: a
        # concurrent add of the same bytes checks its file under that lock (see _insert).
        if gone:
            with self.store.transaction():
                for sha, ext in gone:
                    if not self.store.images.sha_in_use(sha):
                        self.store.files.remove(sha, ext)
        return len(gone)

    def _require_images(self, ids: Sequence[str]) -> None:
        missing = self.store.images.missing(ids)
        if missing:
            raise KeyError(f"no image with id {missing[0]!r} in this project")

    # -- the split ----------------------------------------------------------------------------
    def set_split(self, image_ids: Sequence[str] | str, split: str | None) -> None:
        """Override the split of images: ``"train"``, ``"validation"``, or None for automatic."""
        if split not in ("train", "validation", None):
            raise ValueError(f"split={split!r} should be 'train', 'validation' or None")
        ids = _ids(image_ids)
        with self.store.transaction():
            self._require_images(ids)
            self.store.split.set_override(ids, split)
            self.store.split.update()

    def ensure_split(self) -> None:
        """Bring the train/validation split up to date with the tags.

        The split is deterministic and stratified: tagged images are grouped by their
        rarest tag (images with boxes and no tag alike), ranked within the group by a hash
        of the project's split seed and the image's content, and the first
        ``round(n * validation_fraction)`` (at least one of a group of two or more) go to
        validation. Overrides from :meth:`set_split` win (and change no other image's
        split). Untagged images have no split unless one is set for them.

        Every change made through the project keeps the split up to date as it is made
        (incrementally: see :mod:`cvbench.store.repo_split`); this applies what other
        writers left, and is cheap when there is nothing to do.
        """
        self.store.split.ensure()
