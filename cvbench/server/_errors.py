"""Custom Vision's error replies: a status, a code from its enum, a message.

Every error leaves the server as ``{"code": ..., "message": ...}`` with a JSON content
type, never an empty body (the SDK then raises ``TypeError``), and never a 5xx for a
client's mistake (msrest resends a GET 5xx three times and loses the body).
"""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from ..errors import CvbenchError, ImageError, ProjectError, TagError, TrainingError

__all__ = ["ApiError", "JSON_TYPE", "json_response", "error_response", "from_exception",
           "not_found", "bad_request", "unauthorized"]

_log = logging.getLogger("cvbench.server")
JSON_TYPE = "application/json; charset=utf-8"
#: The gateway's words for a refused key (Custom Vision's real 401 text).
_ACCESS_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make "
                  "sure to provide a valid key for an active subscription and use a correct "
                  "regional API endpoint for your resource.")
#: Image statuses (cvbench's, Custom Vision's ImageCreateStatus) -> the request error code.
_IMAGE_CODES = {
    "ErrorImageFormat": "BadRequestImageFormat",
    "ErrorImageSize": "BadRequestImageSizeBytes",
    "ErrorImageDimensions": "BadRequestImageDimensions",
    "ErrorSource": "BadRequestImageUrl",
}


class ApiError(Exception):
    """An error reply: HTTP ``status``, Custom Vision's ``code`` and a ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def json_response(data: object, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status_code=status, media_type=JSON_TYPE)


def error_response(status: int, code: str, message: str) -> Response:
    return json_response({"code": code, "message": message}, status)


def unauthorized() -> Response:
    """401 with Custom Vision's flat error (what the SDK parses) and the gateway's own
    ``error`` object beside it (what other clients of the real service read)."""
    return json_response({"code": "401", "message": _ACCESS_DENIED,
                          "error": {"code": "401", "message": _ACCESS_DENIED}}, 401)


def from_exception(exc: BaseException) -> ApiError:
    """The reply for an exception a handler did not turn into an :class:`ApiError`."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ImageError):
        return bad_request(_IMAGE_CODES.get(exc.status, "BadRequestImageFormat"), exc.message)
    if isinstance(exc, TrainingError):
        return bad_request("BadRequestTrainingValidationFailed", str(exc))
    if isinstance(exc, TagError):
        return bad_request("BadRequestImageTags", str(exc))
    if isinstance(exc, (ProjectError, CvbenchError)):
        return bad_request("BadRequest", str(exc))
    if isinstance(exc, ValueError):
        return bad_request("BadRequestInvalid", str(exc))
    _log.exception("unexpected error in a handler", exc_info=exc)
    return ApiError(500, "ErrorUnknown", f"{type(exc).__name__}: {exc}")
