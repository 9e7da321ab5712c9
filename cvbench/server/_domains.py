"""Custom Vision's domains as the API lists them, each served by a cvbench domain.

Ids and names are Custom Vision's own (``select-domain`` in its docs), so code that looks a
domain up by id or by name finds it. Each points to the cvbench backbone
(:data:`cvbench.domains.DOMAINS`) that plays its part: the standard "General" domains are
served by "General (compact)" (EfficientNet-Lite0, offline; cvbench's detector is built on
it), "General [A1]" by cvbench's larger "General" (ResNet-50, downloaded at first use) and
"General [A2]" by "General [A2]" (EfficientNet-Lite2, offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import domains as _domains

__all__ = ["WireDomain", "WIRE_DOMAINS", "find", "for_project", "EXPORT_PLATFORMS"]

#: Custom Vision's export platforms that cvbench can make, and its format for each.
EXPORT_PLATFORMS = {"ONNX": "onnx"}


@dataclass(frozen=True)
class WireDomain:
    id: str
    name: str
    type: str  # "Classification" or "ObjectDetection"
    cvbench: str  # the name in cvbench.domains.DOMAINS

    @property
    def kinds(self) -> tuple[str, ...]:
        return ("detection",) if self.type == "ObjectDetection" else ("multiclass", "multilabel")

    def to_dict(self) -> dict[str, Any]:
        d = _domains.get_domain(self.cvbench)
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "exportable": True,
            "enabled": True,
            "exportablePlatforms": list(EXPORT_PLATFORMS),
            "modelInformation": {
                "description": f"cvbench domain {d.name!r}: {d.arch} at {d.image_size} px; "
                               f"weights: {d.weights_source}"
                               + ("" if d.offline else " (needs the network once)"),
            },
        }


#: The first entry of a (type, cvbench domain) pair is the one a project reports.
WIRE_DOMAINS: tuple[WireDomain, ...] = (
    WireDomain("ee85a74c-405e-4adc-bb47-ffa8ca0c9f31", "General", "Classification",
               "General (compact)"),
    WireDomain("0732100f-1a38-4e49-a514-c9b44c697ab5", "General (compact)", "Classification",
               "General (compact)"),
    WireDomain("a8e3c40f-fb4a-466f-832a-5e457ae4a344", "General [A1]", "Classification",
               "General"),
    WireDomain("2e37d7fb-3a54-486a-b4d6-cfc369af0018", "General [A2]", "Classification",
               "General [A2]"),
    WireDomain("da2e3a8a-40a5-4171-82f4-58522f70fbc1", "General", "ObjectDetection",
               "General (compact)"),
    WireDomain("a27d5ca5-bb19-49d8-a70a-fec086c47f5b", "General (compact)", "ObjectDetection",
               "General (compact)"),
    WireDomain("9c616dff-2e7d-ea11-af59-1866da359ce6", "General [A1]", "ObjectDetection",
               "General"),
)
#: Custom Vision's default when create_project names no domain: classification "General".
DEFAULT_DOMAIN = WIRE_DOMAINS[0]


def find(domain_id: str) -> WireDomain | None:
    key = domain_id.strip().lower()
    return next((d for d in WIRE_DOMAINS if d.id == key), None)


def for_project(kind: str, cvbench_domain: str) -> WireDomain | None:
    """The domain a project (or an iteration) of ``kind`` on ``cvbench_domain`` reports."""
    return next((d for d in WIRE_DOMAINS if kind in d.kinds and d.cvbench == cvbench_domain),
                None)
