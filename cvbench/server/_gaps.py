"""The facade methods the server needs and cvbench does not offer yet.

Each use goes through :func:`call` or :func:`value`, so that they are easy to find
(``grep -n "_gaps\\." cvbench/server``) and so that a missing method answers the client
with a clear 400 instead of a crash. ``FACADE_GAPS.md`` beside this file says what each
method must do. Once the facade has them all, the calls become plain method calls and
this module goes away.
"""

from __future__ import annotations

from typing import Any

from ._errors import ApiError

__all__ = ["call", "value", "missing", "require"]


def missing(obj: Any, name: str) -> bool:
    return not callable(getattr(obj, name, None))


def _refuse(obj: Any, name: str) -> ApiError:
    owner = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    return ApiError(400, "BadRequestNotSupported",
                    f"this operation needs {owner}.{name}(), which cvbench's "
                    "facade does not offer yet (see cvbench/server/FACADE_GAPS.md)")


def call(obj: Any, name: str, /, *args: Any, **kwargs: Any) -> Any:
    """``obj.name(*args, **kwargs)``, or a 400 ``BadRequestNotSupported`` naming the gap."""
    method = getattr(obj, name, None)
    if not callable(method):
        raise _refuse(obj, name)
    return method(*args, **kwargs)


def require(obj: Any, name: str) -> None:
    """Refuse before doing anything when ``obj.name`` is missing (nothing half-done)."""
    if missing(obj, name):
        raise _refuse(obj, name)


def value(obj: Any, name: str, default: Any) -> Any:
    """An attribute shown to clients (a description, metadata): ``default`` until the
    facade has it."""
    return getattr(obj, name, default)
