"""Adding images to a project (part of the :class:`~cvbench.Project` facade).

Each source is read, checked and its files written in worker threads (``_prepare``); the
rows are then written a batch at a time in one write transaction (``_insert``): the file
exists before the row that points to it, and a killed process leaves the project as it
was before the batch or after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ._project_base import now
from ._project_tags import TagsMixin
from ._types import AddResult, Tag
from .boxes import Box, RegionInput, clip_box, to_region
from .errors import ImageError, TagError
from .sources import ImageSource, is_single_source, read_source, source_label
from .store.files import sha256_bytes
from .store.images import THUMBNAIL_SIZE, Limits, inspect_image, load_rgb, make_thumbnail
from .store.repo_images import NewImage

__all__ = ["IngestMixin", "BATCH"]

#: Rows written per write transaction by ``add_images``.
BATCH = 64


@dataclass
class _Prepared:
    """One source read, checked, and its files written; ready for its database row."""

    index: int
    label: str
    name: str
    sha: str = ""
    ext: str = ""
    width: int = 0
    height: int = 0
    size: int = 0
    data: bytes = b""  # kept until the row is written (see _insert)
    error: tuple[str, str] | None = None


class IngestMixin(TagsMixin):
    """``add_images`` and what it needs, for :class:`~cvbench.Project`."""

    def add_images(
        self,
        sources: ImageSource | Sequence[ImageSource],
        tags: Sequence[str | Tag] | str | Tag | None = None,
        regions: Sequence[Sequence[RegionInput]] | None = None,
        *,
        names: Sequence[str] | None = None,
        create_tags: bool = True,
        progress: Callable[[int, int], object] | None = None,
    ) -> list[AddResult]:
        """Add images from paths, bytes, PIL images or http(s) URLs.

        ``tags`` apply to every image (names or ids; unknown names are created unless
        ``create_tags=False``). ``regions`` (detection) gives one list of boxes per source,
        each a :class:`Region`, a dict ``{"tag": name, "left":…, "top":…, "width":…,
        "height":…}`` or a tuple ``(tag, left, top, width, height)``, normalized.
        ``names`` overrides the original file names. ``progress(done, total)`` is called as
        images are stored. Returns one :class:`AddResult` per source, in order, with Custom
        Vision's status words; one bad source never stops the others.
        """
        items: list[ImageSource] = (
            [sources] if is_single_source(sources) else list(sources))  # type: ignore[arg-type]
        if regions is not None and len(regions) != len(items):
            raise ValueError(
                f"regions has {len(regions)} entries for {len(items)} sources; give one "
                "list of regions per source (an empty list for none)"
            )
        if names is not None and len(names) != len(items):
            raise ValueError(f"names has {len(names)} entries for {len(items)} sources")
        if tags and self.kind == "detection":
            raise TagError(
                "detection images are tagged through their boxes: pass regions=[[{'tag': …, "
                "'left': …, 'top': …, 'width': …, 'height': …}], …] instead of tags"
            )
        if regions is not None and any(regions) and self.kind != "detection":
            raise TagError(
                f"regions (boxes) belong to detection projects; this one is {self.kind}: "
                "pass tags= instead"
            )
        tag_objs = self._resolve_tags(tags, create=create_tags)
        tag_error = self._check_tag_combination(tag_objs)

        limits = self.limits  # read once: the same limits for the whole batch
        results: list[AddResult | None] = [None] * len(items)
        # regions are resolved before any file is written: a bad tag name is the
        # user's mistake to fix, reported per image
        region_lists: list[list[tuple[str, Box]]] = [[] for _ in items]
        region_notes: list[str] = [""] * len(items)
        if regions is not None:
            for i, regs in enumerate(regions):
                try:
                    region_lists[i], region_notes[i] = self._prepare_regions(regs, create_tags)
                except (TagError, ValueError) as exc:
                    results[i] = AddResult(source_label(items[i]), "ErrorInvalidTag", str(exc))
                    continue
                if len(region_lists[i]) > limits.max_regions_per_image:
                    results[i] = AddResult(
                        source_label(items[i]),
                        "ErrorRegionLimitExceed",
                        f"{len(region_lists[i])} regions, above the limit of "
                        f"{limits.max_regions_per_image} per image; split the boxes over "
                        "fewer tags or raise max_regions_per_image",
                    )
        if tag_error is not None:
            for i in range(len(items)):
                results[i] = results[i] or AddResult(source_label(items[i]), *tag_error)

        todo = [i for i in range(len(items)) if results[i] is None]
        done = 0
        total = len(items)
        store = self.store
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for start in range(0, len(todo), BATCH):
                chunk = todo[start:start + BATCH]
                prepared = list(pool.map(
                    lambda i: self._prepare(i, items[i], names[i] if names is not None else None,
                                            limits),
                    chunk,
                ))
                with store.transaction():
                    state = {"images": store.images.count(), "seq": store.meta.get_int("seq")}
                    for p in prepared:
                        results[p.index] = self._insert(
                            p, tag_objs, region_lists[p.index], region_notes[p.index], state,
                            limits.max_images,
                        )
                        p.data = b""
                    store.meta.set("seq", str(state["seq"]))
                    store.split.update()
                done += len(chunk)
                if progress is not None:
                    progress(min(done + (total - len(todo)), total), total)
        if progress is not None and not todo:
            progress(total, total)
        return [r for r in results if r is not None]

    def _prepare_regions(self, regs: Sequence[RegionInput], create: bool
                         ) -> tuple[list[tuple[str, Box]], str]:
        """Regions given by a user -> ``(tag id, box)`` pairs, clipped to the image, and
        notes on what was clipped or dropped."""
        out: list[tuple[str, Box]] = []
        notes: list[str] = []
        for k, given in enumerate(regs or []):
            reg = to_region(given)
            (tag_obj,) = self._resolve_tags([reg.tag], create=create)
            if tag_obj.type == "Negative":
                raise TagError(f"region {k}: a box cannot carry the Negative tag")
            box, clipped = clip_box(reg.left, reg.top, reg.width, reg.height)
            if box is None:
                notes.append(
                    f"box {k} ({tag_obj.name}: left={reg.left}, top={reg.top}, "
                    f"width={reg.width}, height={reg.height}) has no area inside the image "
                    "and was dropped"
                )
                continue
            if clipped:
                notes.append(f"box {k} ({tag_obj.name}) reached outside the image and was clipped")
            out.append((tag_obj.id, box))
        return out, "; ".join(notes)

    def _prepare(self, index: int, source: ImageSource, name: str | None,
                 limits: Limits) -> _Prepared:
        p = _Prepared(index=index, label=source_label(source), name=name or "")
        files = self.store.files
        try:
            data, original = read_source(source, limits)
            p.name = name or original
            info = inspect_image(data, limits, decode=False)
            p.sha = sha256_bytes(data)
            p.ext, p.width, p.height, p.size = info.ext, info.width, info.height, len(data)
            p.data = data
            if not files.thumb_path(p.sha).exists():
                try:
                    img = load_rgb(data, draft=(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                except Exception as exc:  # decoding the pixels is where truncation shows
                    raise ImageError(
                        "ErrorImageFormat",
                        f"the image data is truncated or corrupt ({exc}); re-save or "
                        "re-download it",
                    ) from None
                thumb = make_thumbnail(img)
                files.put_image(p.sha, p.ext, data)
                files.put_thumb(p.sha, thumb)
            else:
                files.put_image(p.sha, p.ext, data)
        except ImageError as exc:
            p.error = (exc.status, exc.message)
        except Exception as exc:  # one bad source never aborts a batch; say what it was
            p.error = ("ErrorUnknown", f"{type(exc).__name__}: {exc}")
        return p

    def _insert(self, p: _Prepared, tags: list[Tag], regions: list[tuple[str, Box]],
                note: str, state: dict[str, int], max_images: int) -> AddResult:
        """Write the row of one prepared image (inside the batch's write transaction).

        ``state`` carries the image count and the last ``seq`` through the batch, so that
        each image costs no count over the whole table.
        """
        if p.error is not None:
            return AddResult(p.label, p.error[0], p.error[1])
        store = self.store
        existing = store.images.id_by_sha(p.sha)
        if existing is not None:
            return AddResult(
                p.label, "OKDuplicate",
                f"the same image is already in the project as {existing}", existing,
            )
        count = state["images"]
        if count >= max_images:
            return AddResult(
                p.label, "ErrorLimitExceed",
                f"the project holds {count} images, its limit (max_images); delete images or "
                "raise the limit",
            )
        # the file must exist before its row: a delete_images of the same bytes may have
        # removed it since _prepare wrote it (deletes remove files under this write lock)
        if not store.files.image_path(p.sha, p.ext).exists():
            store.files.put_image(p.sha, p.ext, p.data)
        state["seq"] += 1
        state["images"] += 1
        image_id = str(uuid.uuid4())
        store.images.insert(NewImage(image_id, p.sha, p.ext, p.width, p.height, p.size,
                                     p.name, now(), state["seq"]))
        if tags:
            store.images.link(image_id, [t.id for t in tags])
        if regions:
            store.regions.replace(image_id, regions)
        return AddResult(p.label, "OK", note, image_id)
