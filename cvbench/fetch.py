"""Downloading an image from a URL, with a guard for requests made on someone else's behalf.

    data = fetch_url("https://example.com/cat.jpg", max_bytes=6 * 2**20)
    data = fetch_url(url, max_bytes=..., allow_private=False)   # a public page or the server

Only ``http`` and ``https``; the whole download is bounded in bytes and in time; at most
:data:`MAX_REDIRECTS` redirects, each one checked again. With ``allow_private=False`` the
host name is resolved first and the request is refused when any of its addresses is not a
public (globally routable) one: loopback, private, link-local, carrier-grade NAT,
multicast, reserved and unspecified ranges, IPv4 addresses mapped into IPv6 included. The
connection is then made to the address that was checked, so a name that resolves
differently the second time (DNS rebinding) cannot slip through. Proxies from the
environment are not used on that path.

A local user's own faces (the Python API, the workbench) fetch anything; a page anyone is
given and ``cvbench serve`` pass ``allow_private=False``. Every refusal and failure raises
:class:`URLError`, an :class:`~cvbench.errors.ImageError` with Custom Vision's status
``ErrorSource`` (``ErrorImageSize`` when the image is too large).

Hand-written on the standard library's ``urllib`` because the check has to sit between
name resolution and ``connect`` (requests/httpx offer no hook there without a transport
of their own).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from .errors import ImageError
from .store.images import size_text

__all__ = ["URLError", "fetch_url", "is_public_address", "check_url", "MAX_REDIRECTS",
           "DEFAULT_TIMEOUT", "REFUSED_MESSAGE"]

#: Redirects followed at most, each checked like the first address.
MAX_REDIRECTS = 5
#: Seconds for the whole download (connect, redirects, body).
DEFAULT_TIMEOUT = 20.0
#: What a public page says for every URL it refuses or cannot fetch: the same words for
#: a server path, a ``file://`` URL, a private address and a host that does not answer, so
#: that the page does not tell which of them exist.
REFUSED_MESSAGE = ("Only an uploaded image, or the http(s) address of an image on the public "
                   "internet, can be tested here.")
_CHUNK = 64 * 1024
_SCHEMES = ("http", "https")


class URLError(ImageError):
    """A URL was refused or could not be downloaded.

    ``reason`` says which: ``"scheme"``, ``"address"`` (not public), ``"resolve"``,
    ``"network"``, ``"http"``, ``"size"``, ``"truncated"``, ``"timeout"`` or ``"redirects"``.
    """

    def __init__(self, status: str, message: str, reason: str) -> None:
        super().__init__(status, message)
        self.reason = reason


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP address as text) is globally routable: not loopback,
    private, link-local, shared (100.64/10), multicast, reserved or unspecified; an IPv4
    address mapped into IPv6 (``::ffff:127.0.0.1``) is judged as the IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved


def check_url(url: str) -> urllib.parse.SplitResult:
    """``url`` split, if it is an absolute http(s) URL with a host; :class:`URLError`
    otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise URLError("ErrorSource", f"{url!r} is not a valid URL", "scheme") from None
    if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        raise URLError(
            "ErrorSource",
            f"{url!r} is not an http:// or https:// address; only those are downloaded",
            "scheme",
        )
    return parts


def _resolve(host: str, port: int, allow_private: bool) -> list[tuple[Any, ...]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise URLError("ErrorSource", f"the host {host!r} could not be resolved ({exc})",
                       "resolve") from None
    if not infos:
        raise URLError("ErrorSource", f"the host {host!r} has no address", "resolve")
    if not allow_private:
        for info in infos:
            address = str(info[4][0])
            if not is_public_address(address):
                raise URLError(
                    "ErrorSource",
                    f"the host {host!r} is at {address}, which is not a public address; "
                    "only images on the public internet are downloaded here",
                    "address",
                )
    return infos


def _guarded_connect(allow_private: bool) -> Callable[..., socket.socket]:
    """A ``socket.create_connection`` that resolves the host itself, checks every address,
    and connects to the checked ones only."""

    def connect(address: tuple[str, int], timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]
                source_address: Any = None) -> socket.socket:
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _name, sockaddr in _resolve(host, port, allow_private):
            sock = socket.socket(family, kind, proto)
            try:
                if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or OSError(f"could not connect to {host}")

    return connect


def _connection_class(base: type[http.client.HTTPConnection], allow_private: bool
                      ) -> type[http.client.HTTPConnection]:
    class Guarded(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = _guarded_connect(allow_private)

    return Guarded


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self._class = _connection_class(http.client.HTTPConnection, allow_private)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._class, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self._class = _connection_class(http.client.HTTPSConnection, allow_private)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._class, req, context=self._context)  # type: ignore[attr-defined]


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        # the scheme again (the address is checked when it connects)
        target = headers.get("Location") or headers.get("URI")
        if target:
            check_url(urllib.parse.urljoin(req.full_url, target))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(allow_private: bool) -> urllib.request.OpenerDirector:
    # only these handlers: no file://, ftp:// or data: handler, no proxy from the environment
    opener = urllib.request.OpenerDirector()
    for handler in (_HTTPHandler(allow_private), _HTTPSHandler(allow_private),
                    _RedirectHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def fetch_url(url: str, *, max_bytes: int, timeout: float = DEFAULT_TIMEOUT,
              allow_private: bool = True) -> bytes:
    """The body of ``url`` (http or https), at most ``max_bytes`` long, downloaded within
    ``timeout`` seconds (checked between reads; a single wait on the network is bounded
    by ``timeout`` as well, so the whole takes at most about twice that). With ``allow_private=False``, addresses that are not
    public are refused, after name resolution and again at every redirect.

    Raises :class:`URLError` (status ``ErrorSource``, or ``ErrorImageSize`` above
    ``max_bytes``) with a message that names the problem.
    """
    check_url(url)
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": "cvbench"})
    try:
        with _opener(allow_private).open(request, timeout=timeout) as resp:
            promised = resp.headers.get("Content-Length", "")
            if promised.isdigit() and int(promised) > max_bytes:
                raise URLError(
                    "ErrorImageSize",
                    f"{url} is {size_text(int(promised))}, above the limit of "
                    f"{size_text(max_bytes)}", "size")
            chunks: list[bytes] = []
            size = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise URLError("ErrorSource", f"the download of {url} took longer than "
                                   f"{timeout:.0f} s; try again later", "timeout")
                chunk = resp.read(min(_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise URLError("ErrorImageSize", f"{url} is larger than the limit of "
                                   f"{size_text(max_bytes)}", "size")
    except URLError:
        raise
    except urllib.error.HTTPError as exc:
        if exc.code in (301, 302, 303, 307, 308):
            raise URLError("ErrorSource", f"{url} redirects more than {MAX_REDIRECTS} times",
                           "redirects") from None
        raise URLError("ErrorSource", f"could not download {url} (HTTP {exc.code} "
                       f"{exc.reason})", "http") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, URLError):
            raise exc.reason from None
        reason = "timeout" if isinstance(exc.reason, TimeoutError) else "network"
        raise URLError("ErrorSource", f"could not download {url} ({exc.reason})",
                       reason) from None
    except TimeoutError:
        raise URLError("ErrorSource", f"the download of {url} took longer than "
                       f"{timeout:.0f} s; try again later", "timeout") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise URLError("ErrorSource", f"could not download {url} ({exc})", "network") from None
    data = b"".join(chunks)
    if promised.isdigit() and len(data) < int(promised):
        raise URLError("ErrorSource", f"the download of {url} stopped after {len(data)} of "
                       f"{promised} bytes; try again", "truncated")
    return data
