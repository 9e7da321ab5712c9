"""The ASGI app: every operation under both API versions, keys, body limits, errors."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import _r_images, _r_labels, _r_predict, _r_projects, _r_tags, _r_training
from ._common import Op
from ._config import ServerConfig
from ._errors import error_response, from_exception, unauthorized
from ._http import Call, read_body
from ._state import ServerState

__all__ = ["create_app", "TRAINING_OPS", "PREDICTION_OPS", "TRAINING_BASES",
           "PREDICTION_BASES"]

_log = logging.getLogger("cvbench.server")

#: Where each API answers: the SDK's version first, then the alias.
TRAINING_BASES = ("/customvision/v3.4-preview/training", "/customvision/v3.3/training")
PREDICTION_BASES = ("/customvision/v3.1/prediction", "/customvision/v3.0/prediction")
#: The 52 training operations, literal paths before the ones with an id in their place.
TRAINING_OPS: tuple[Op, ...] = (*_r_projects.OPS, *_r_tags.OPS, *_r_images.OPS,
                                *_r_labels.OPS, *_r_training.OPS, *_r_predict.TRAINING_OPS)
PREDICTION_OPS: tuple[Op, ...] = tuple(_r_predict.PREDICTION_OPS)
_KEY_HEADERS = {"training": "training-key", "prediction": "prediction-key"}
_ANY_KEY = "ocp-apim-subscription-key"


def _key_ok(request: Request, api: str, key: str) -> bool:
    """The API's own key header (any case), or Ocp-Apim-Subscription-Key; compared in
    constant time. A prediction key is never compared with the training key's routes."""
    given = request.headers.get(_KEY_HEADERS[api]) or request.headers.get(_ANY_KEY) or ""
    return hmac.compare_digest(given.encode("utf-8"), key.encode("utf-8"))


def _call(state: ServerState, request: Request, body: bytes) -> Call:
    return Call(server=state, path=dict(request.path_params), query=request.query_params,
                body=body, content_type=request.headers.get("content-type", ""),
                base_url=str(request.base_url))


def _endpoint(op: Op, api: str | None, state: ServerState
              ) -> Callable[[Request], Awaitable[Response]]:
    key = None if api is None else (state.config.training_key if api == "training"
                                    else state.config.prediction_key)

    async def endpoint(request: Request) -> Response:
        if key is not None and not _key_ok(request, api or "", key):
            return unauthorized()
        try:
            body = b""
            if op.body is not None:
                body = await read_body(request, state.config.limits.body_bytes(op.body),
                                       op.body)
            return await run_in_threadpool(op.handler, _call(state, request, body))
        except Exception as exc:  # every failure leaves as Custom Vision's error JSON
            err = from_exception(exc)
            return error_response(err.status, err.code, err.message)

    endpoint.__name__ = op.sdk
    return endpoint


def _routes(state: ServerState) -> list[Route]:
    routes: list[Route] = []
    for api, bases, ops in (("training", TRAINING_BASES, TRAINING_OPS),
                            ("prediction", PREDICTION_BASES, PREDICTION_OPS)):
        for base in bases:
            for op in ops:
                routes.append(Route(base + op.path, _endpoint(op, api, state),
                                    methods=[op.method], name=f"{base}:{op.sdk}"))
    download = Op("download", "GET", "/customvision/artifacts/{projectId}/{path:path}",
                  _r_projects.download)
    routes.append(Route(download.path, _endpoint(download, None, state), methods=["GET"]))
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(404, "NotFound", f"no operation at {request.url.path}")
    if status == 405:
        return error_response(405, "BadRequestNotSupported",
                              f"{request.method} is not an operation of {request.url.path}")
    return error_response(status, "ErrorUnknown", str(exc))


def create_app(config: ServerConfig, *, state: ServerState | None = None) -> Starlette:
    """The app for ``config``: marks the runs a stopped server left as Failed, then serves
    the projects in ``config.root``."""
    state = state or ServerState(config)
    state.recover()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        state.close()

    app = Starlette(routes=_routes(state), lifespan=lifespan,
                    exception_handlers={HTTPException: _http_error, Exception: _http_error})
    app.state.server = state
    return app


def operations() -> Sequence[tuple[str, Op]]:
    """Every operation as ``(api, op)``: 52 training and 8 prediction."""
    return [("training", op) for op in TRAINING_OPS] + \
        [("prediction", op) for op in PREDICTION_OPS]
