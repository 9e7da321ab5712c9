"""Small value objects the Project API returns: tags, regions, images, results, reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .boxes import Region

__all__ = [
    "Tag",
    "Region",
    "StoredImage",
    "AddResult",
    "Problem",
    "ImportReport",
    "ExportReport",
    "Summary",
    "KINDS",
    "TAG_TYPES",
    "STATUSES",
]

#: Project kinds, as Custom Vision's classification types and object detection.
KINDS = ("multiclass", "multilabel", "detection")
TAG_TYPES = ("Regular", "Negative")

#: Custom Vision's image-create status words, and what each means here.
STATUSES = {
    "OK": "added",
    "OKDuplicate": "already in the project (same bytes); nothing changed",
    "ErrorSource": "the source could not be read (missing file, bad path, URL not reachable)",
    "ErrorImageFormat": "not a readable image (empty, truncated, SVG, text, …)",
    "ErrorImageSize": "the file is larger than the byte limit",
    "ErrorImageDimensions": "the image has more pixels than the limit",
    "ErrorLimitExceed": "the project holds the most images its limits allow",
    "ErrorTagLimitExceed": "too many tags (per project or per image)",
    "ErrorRegionLimitExceed": "more regions on the image than the limit",
    "ErrorNegativeAndRegularTagOnSameImage": "a Negative tag cannot stand beside other tags",
    "ErrorInvalidTag": "a tag is unknown or not allowed in this project",
    "ErrorUnknown": "an unexpected error; the message says more",
}


@dataclass(frozen=True)
class Tag:
    """A tag (Custom Vision's word for a class). ``image_count`` counts tagged images."""

    id: str
    name: str
    type: str = "Regular"
    image_count: int = 0
    description: str = ""


@dataclass(frozen=True)
class StoredImage:
    """An image of a project. ``path`` is the stored file; sizes are as displayed.
    ``metadata`` holds the image's key/value pairs (``Project.set_image_metadata``)."""

    id: str
    sha256: str
    path: Path
    thumbnail_path: Path
    width: int
    height: int
    original_name: str
    created: str
    tags: tuple[str, ...] = ()
    tag_ids: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    split: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["thumbnail_path"] = str(self.thumbnail_path)
        d["tags"] = list(self.tags)
        d["tag_ids"] = list(self.tag_ids)
        d["regions"] = [r.to_dict() for r in self.regions]
        return d


@dataclass(frozen=True)
class AddResult:
    """What happened to one source given to ``Project.add_images``."""

    source: str
    status: str
    message: str = ""
    image_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Problem:
    """One problem found while importing: which file, which line (if any), what is wrong."""

    file: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    """What an import did: how many images came in, duplicates, and every problem."""

    format: str
    source: str
    imported: int = 0
    duplicates: int = 0
    tags_created: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    results: list[AddResult] = field(default_factory=list)

    def problem(self, file: str, message: str, line: int | None = None) -> None:
        self.problems.append(Problem(str(file), message, line))

    def add_results(self, results: list[AddResult], files: list[str] | None = None) -> None:
        for i, r in enumerate(results):
            self.results.append(r)
            if r.status == "OK":
                self.imported += 1
            elif r.status == "OKDuplicate":
                self.duplicates += 1
            else:
                self.problem(files[i] if files else r.source, f"{r.status}: {r.message}")
            if r.ok and r.message and files:  # e.g. boxes clipped or dropped
                self.problem(files[i], r.message)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "source": self.source,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "tags_created": list(self.tags_created),
            "problems": [
                {"file": p.file, "line": p.line, "message": p.message} for p in self.problems
            ],
        }

    def __str__(self) -> str:
        lines = [
            f"{self.format} import from {self.source}: {self.imported} imported, "
            f"{self.duplicates} duplicates, {len(self.problems)} problems"
        ]
        lines += [f"  {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  … and {len(self.problems) - 50} more")
        return "\n".join(lines)


@dataclass
class ExportReport:
    format: str
    dest: str
    images: int = 0
    regions: int = 0
    tags: int = 0
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["problems"] = [str(p) for p in self.problems]
        return d


@dataclass
class Summary:
    """Counts per tag, untagged images, splits and warnings, as a dict or as text."""

    kind: str
    domain: str
    images: int
    tagged: int
    untagged: int
    train: int
    validation: int
    tags: list[dict[str, Any]]
    iterations: int
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"{self.kind} project, domain {self.domain!r}: {self.images} images "
            f"({self.tagged} tagged, {self.untagged} untagged; {self.train} train / "
            f"{self.validation} validation), {len(self.tags)} tags, {self.iterations} iterations",
        ]
        width = max([len(t["name"]) for t in self.tags] + [3])
        for t in self.tags:
            neg = " (Negative)" if t["type"] == "Negative" else ""
            lines.append(
                f"  {t['name']:<{width}}  {t['images']:>6} images"
                + (f", {t['regions']} boxes" if "regions" in t else "")
                + f"  [{t['train']} train / {t['validation']} validation]{neg}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython
        p.text(str(self))
