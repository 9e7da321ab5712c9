"""Reading a request: the body within its limit, query parameters as Custom Vision sends
them (CSV lists, ``true``/``false``), JSON bodies, and the image parts of an upload."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import QueryParams
from starlette.requests import Request

from ._errors import ApiError, bad_request

__all__ = ["Call", "read_body", "parse_json", "image_parts", "Upload"]


@dataclass(frozen=True)
class Upload:
    """One image of an upload: its bytes and the file name the client gave (or "")."""

    data: bytes
    filename: str = ""


def _too_large(size: int | None, limit: int, what: str) -> ApiError:
    said = f"{size} bytes" if size is not None else "more bytes"
    return ApiError(413, "BadRequestImageSizeBytes" if what != "json" else "BadRequest",
                    f"the request body ({said}) is above the limit of {limit} bytes for "
                    f"this operation")


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The body, refused unread when its Content-Length is above ``limit``, and refused as
    soon as it grows past it when it comes without one."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise bad_request("BadRequest", f"Content-Length {length!r} is not a number")
        if int(length) > limit:
            raise _too_large(int(length), limit, what)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(None, limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes, *, empty: Any = None) -> Any:
    """The JSON of a body; an empty body (the SDK sends one with a JSON content type when
    there is nothing to say) is ``empty``."""
    if not body.strip():
        return empty
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request("BadRequest", f"the request body is not valid JSON ({exc})") from None


def image_parts(content_type: str, body: bytes, *, max_parts: int) -> list[Upload]:
    """The images of an upload: every part of a multipart/form-data body (the SDK sends one,
    named ``imageData``, with or without a file name), or a raw body of any other type."""
    mime, options = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        return [Upload(body)] if body else []
    boundary = options.get(b"boundary")
    if not boundary:
        raise bad_request("BadRequest", "a multipart/form-data body needs a boundary")
    parts: list[Upload] = []
    state: dict[str, Any] = {"data": [], "header": b"", "value": b"", "headers": {}}

    def on_part_begin() -> None:
        state["data"], state["headers"] = [], {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["data"].append(data[start:end])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header"].lower()] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_part_end() -> None:
        if len(parts) >= max_parts:
            raise bad_request("BadRequestImageBatch",
                              f"the upload holds more than {max_parts} images")
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition", b""))
        filename = disposition.get(b"filename", b"").decode("utf-8", "replace")
        parts.append(Upload(b"".join(state["data"]), filename))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data,
        "on_part_end": on_part_end, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart's own errors: a broken body
        raise bad_request("BadRequest", f"the multipart body cannot be read ({exc})") from None
    return parts


@dataclass
class Call:
    """One request as a handler sees it: path and query parameters, the body (already read
    within its limit), and the server's state."""

    server: Any
    path: Mapping[str, str]
    query: QueryParams
    body: bytes = b""
    content_type: str = ""
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # -- query parameters ------------------------------------------------------------------
    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.query.get(name)
        if value is None or value == "":
            if required:
                raise bad_request("BadRequestRequiredParamIsNull",
                                  f"the query parameter {name!r} is required")
            return None
        return value

    def csv(self, name: str, *, required: bool = False, most: int | None = None) -> list[str]:
        """A list parameter: comma-separated (the SDK's form), repeated parameters too."""
        values = [v for raw in self.query.getlist(name) for v in raw.split(",") if v.strip()]
        if required and not values:
            raise bad_request("BadRequestRequiredParamIsNull",
                              f"the query parameter {name!r} is required")
        if most is not None and len(values) > most:
            raise bad_request("BadRequestExceededBatchSize",
                              f"{name} has {len(values)} items; the most is {most}")
        return [v.strip() for v in values]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise bad_request("BadRequestInvalid", f"{name}={value!r} should be true or false")

    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise bad_request("BadRequestInvalid", f"{name}={value!r} is not a whole number"
                              ) from None
        if number < low or (high is not None and number > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise bad_request("BadRequestInvalid", f"{name}={number} should be {bound}")
        return number

    def number(self, name: str, default: float | None) -> float | None:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not 0.0 <= number <= 1.0:
            raise bad_request("BadRequestInvalid", f"{name}={value!r} should be a number "
                              "between 0 and 1")
        return number

    def choice(self, name: str, choices: Mapping[str, Any], default: Any) -> Any:
        """A parameter from ``choices`` (matched ignoring case), mapped to its value."""
        value = self.text(name)
        if value is None:
            return default
        for key, mapped in choices.items():
            if key.lower() == value.lower():
                return mapped
        raise bad_request("BadRequestInvalid",
                          f"{name}={value!r} should be one of {list(choices)}")

    # -- the body --------------------------------------------------------------------------
    def json(self, *, empty: Any = None, kind: type | None = dict) -> Any:
        data = parse_json(self.body, empty=empty)
        if kind is not None and data is not None and not isinstance(data, kind):
            raise bad_request("BadRequest", f"the request body should be a JSON "
                              f"{'object' if kind is dict else kind.__name__}")
        return data
