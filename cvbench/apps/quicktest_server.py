"""The public quick-test page: one long-lived process that holds one iteration's model.

    cvbench app my-project --app quicktest [--iteration production] [--port 8866]
    python -m cvbench.apps.quicktest_server my-project --port 8866     # the same server

A page anyone may be given. It is served by uvicorn from one process that loads the model
once, so a visit costs a page and one request per image, not a kernel (a Voila page costs a
Python kernel of its own, 0.6 GB or more with the model). What it can do is what its routes
do, whatever a browser sends:

* ``GET /`` — the page (self-contained: no script or style from elsewhere);
* ``GET /api/info`` — the project's and the iteration's names, kind and tags;
* ``POST /api/predict`` — the predictions of one image: an upload (multipart field
  ``image``) or ``url`` (a form field), in Custom Vision's prediction JSON.

Nothing else answers: no route tags, deletes, trains or stores; predictions are not stored.
The page reads no file of the server's: a URL must be http(s) and resolve to a public
address (:func:`cvbench.fetch.fetch_url` with ``allow_private=False``; redirects are checked
again; size and time are bounded), and every refusal of a URL gets the same neutral
message, so the page does not tell which server paths or private hosts exist.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import CvbenchError, ImageError
from ..fetch import REFUSED_MESSAGE, URLError, fetch_url
from ..project import Project, open_project
from ._serving import serving_iteration

__all__ = ["create_app", "REFUSED_URL", "main"]

_log = logging.getLogger("cvbench.apps.quicktest")

#: The one message for every URL that is refused or cannot be fetched.
REFUSED_URL = REFUSED_MESSAGE
#: Multipart overhead allowed above the image limit before a body is refused unread.
_FORM_SLACK = 64 * 1024
_URL_TIMEOUT = 15.0
_PAGE = Path(__file__).with_name("quicktest.html")
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'unsafe-inline'; img-src 'self' data: blob:; "
                               "connect-src 'self'; form-action 'none'; frame-ancestors 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status,
                        headers=_SECURITY_HEADERS)


def _warm_up(iteration: Any) -> None:
    """One prediction before the first visitor: torch sizes its buffers and thread pools
    on the first call, so the page's memory at rest is what it uses under load."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buf, "PNG")
    iteration.predict(buf.getvalue(), store=False)


def _mime(data: bytes) -> str:
    """The image's MIME type, from its header (the bytes were read as an image already)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.get_format_mimetype() or "application/octet-stream"


def create_app(project: Project | str | os.PathLike, iteration: str | None = None, *,
               allow_private_urls: bool = False) -> Starlette:
    """The quick-test app for ``iteration`` of ``project`` (see :mod:`this module
    <cvbench.apps.quicktest_server>`). The model is loaded here, once.

    ``allow_private_urls`` lets the page fetch URLs on loopback and private networks (for a
    page that only its own machine's user sees); leave it off for a page that is shared.
    """
    project = project if isinstance(project, Project) else open_project(project)
    it = serving_iteration(project, iteration)
    it.model()  # loaded once, before the server answers
    _warm_up(it)
    def limit() -> int:  # as stored now: the Settings tab may change it while this runs
        return int(project.limits.max_image_bytes)

    lock = threading.Lock()  # one prediction at a time: bounded memory on a small machine
    info = {
        "project": project.name,
        "iteration": it.name,
        "publishedName": it.published_name or "",
        "kind": it.kind,
        "tags": list(it.tag_names),
        "maxImageBytes": limit(),
    }
    page = _PAGE.read_text(encoding="utf-8").replace(
        "__CVBENCH_INFO__", html.escape(json.dumps(info), quote=True))

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=_SECURITY_HEADERS)

    async def get_info(request: Request) -> Response:
        return JSONResponse({**info, "maxImageBytes": limit()}, headers=_SECURITY_HEADERS)

    def predict(data: bytes) -> dict[str, Any]:
        with lock:
            result = it.predict(data, store=False)
        return result.to_dict()

    async def post_predict(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        max_bytes = limit()
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes + _FORM_SLACK:
            return _error(413, "BadRequestImageSizeBytes",
                          f"The image is larger than the limit of {max_bytes // 1_000_000} MB.")
        try:
            form = await request.form(max_files=1, max_fields=4,
                                      max_part_size=max_bytes + _FORM_SLACK)
        except Exception:  # malformed or oversized multipart: the client's to fix
            return _error(400, "BadRequestInvalidImage",
                          "Send one image as the form field 'image', or a 'url'.")
        try:
            upload = form.get("image")
            url = form.get("url")
            if upload is not None and not isinstance(upload, str):
                data = await upload.read(max_bytes + 1)
                if len(data) > max_bytes:
                    return _error(413, "BadRequestImageSizeBytes",
                                  f"The image is larger than the limit of "
                                  f"{max_bytes // 1_000_000} MB.")
                source = "upload"
            elif isinstance(url, str) and url.strip():
                try:
                    data = await run_in_threadpool(
                        fetch_url, url.strip(), max_bytes=max_bytes, timeout=_URL_TIMEOUT,
                        allow_private=allow_private_urls)
                except URLError as exc:
                    _log.info("quick test: URL refused (%s): %s", exc.reason, exc.message)
                    return _error(400, "BadRequestImageUrl", REFUSED_URL)
                source = "url"
            else:
                return _error(400, "BadRequestImageUrl",
                              "Upload an image, or give the http(s) address of one.")
        finally:
            await form.close()
        try:
            result = await run_in_threadpool(predict, data)
        except ImageError as exc:  # about the bytes the visitor sent: theirs to fix
            return _error(400, "BadRequestImageFormat", exc.message)
        except Exception:
            _log.exception("quick test: prediction failed")
            return _error(500, "InternalServerError",
                          "The prediction failed; the server's log has the details.")
        if source == "url":  # the page shows what was downloaded, as the model saw it
            result["image"] = f"data:{_mime(data)};base64," + \
                base64.b64encode(data).decode("ascii")
        return JSONResponse(result, headers=_SECURITY_HEADERS)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if status == 405:
            return _error(405, "MethodNotAllowed", "This page only predicts.")
        return _error(404, "NotFound", "There is nothing here: this page only predicts.")

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/info", get_info, methods=["GET"]),
            Route("/api/predict", post_predict, methods=["POST"]),
        ],
        exception_handlers={404: not_found, 405: not_found},
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cvbench.apps.quicktest_server",
        description="Serve the public quick-test page of one iteration on 127.0.0.1.")
    p.add_argument("project", help="the project folder")
    p.add_argument("--iteration", help="iteration id, name or published name (default: the "
                                       "newest published one, else the newest)")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="also fetch URLs on loopback and private networks (never on a page "
                        "that is shared)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Serve the page until SIGINT/SIGTERM (uvicorn's graceful stop)."""
    import uvicorn

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(args.project, args.iteration,
                         allow_private_urls=args.allow_private_urls)
    except (CvbenchError, ValueError, OSError) as exc:
        print(f"cvbench: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                limit_concurrency=64, timeout_keep_alive=5)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
