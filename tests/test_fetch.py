"""The URL guard: schemes, public addresses after resolution, redirects, size and time."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from cvbench import fetch
from cvbench.fetch import URLError, fetch_url, is_public_address


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True),
    ("93.184.216.34", True),
    ("2606:4700:4700::1111", True),
    ("127.0.0.1", False),
    ("127.8.9.10", False),
    ("10.1.2.3", False),
    ("172.16.0.1", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),  # cloud metadata
    ("100.64.0.1", False),  # carrier-grade NAT
    ("0.0.0.0", False),
    ("224.0.0.1", False),
    ("240.0.0.1", False),
    ("255.255.255.255", False),
    ("::1", False),
    ("::", False),
    ("fe80::1%eth0", False),
    ("fc00::1", False),
    ("::ffff:127.0.0.1", False),  # IPv4 loopback mapped into IPv6
    ("::ffff:8.8.8.8", True),
    ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ("not an address", False),
])
def test_public_addresses(address, public):
    assert is_public_address(address) is public


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.hits.append(self.path)
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x" * 10)
                self.wfile.flush()
                time.sleep(0.1)
            return
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch) -> Iterator[str]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    _Handler.hits = []
    _Handler.routes = {
        "/image": (200, {}, b"\xff\xd8 image bytes"),
        "/big": (200, {}, b"x" * 5000),
        "/lying": (200, {"Content-Length": "999999"}, b"x" * 10),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/to-private": (302, {"Location": f"http://127.0.0.2:{httpd.server_address[1]}/image"},
                        b""),
        "/to-image": (302, {"Location": "/image"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
    }
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()


def test_a_local_user_fetches_loopback(server):
    assert fetch_url(f"{server}/image", max_bytes=1000) == b"\xff\xd8 image bytes"
    assert fetch_url(f"{server}/to-image", max_bytes=1000) == b"\xff\xd8 image bytes"


@pytest.mark.parametrize("make_url", [
    lambda base: f"{base}/image",
    lambda base: base.replace("127.0.0.1", "localhost") + "/image",
    lambda base: base.replace("127.0.0.1", "[::ffff:127.0.0.1]") + "/image",
    lambda base: base.replace("127.0.0.1", "0.0.0.0") + "/image",
])
def test_private_addresses_are_refused_before_any_request(server, make_url):
    with pytest.raises(URLError) as info:
        fetch_url(make_url(server), max_bytes=1000, allow_private=False)
    assert info.value.reason == "address" and info.value.status == "ErrorSource"
    assert "not a public address" in info.value.message
    assert _Handler.hits == []  # refused before connecting


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg",
                                 "data:image/png;base64,AAAA", "/etc/passwd", "C:\\boot.ini",
                                 "javascript:alert(1)", "http://", "http://host:port/x", ""])
def test_only_http_and_https_urls(url):
    with pytest.raises(URLError) as info:
        fetch_url(url, max_bytes=1000)
    assert info.value.reason == "scheme"


def test_redirects_are_checked_again(server, monkeypatch):
    # 127.0.0.1 stands in for a public host; 127.0.0.2 for a private one
    monkeypatch.setattr(fetch, "is_public_address", lambda a: a == "127.0.0.1")
    assert fetch_url(f"{server}/to-image", max_bytes=1000, allow_private=False)
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/to-private", max_bytes=1000, allow_private=False)
    assert info.value.reason == "address" and "127.0.0.2" in info.value.message
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/to-file", max_bytes=1000, allow_private=False)
    assert info.value.reason == "scheme"
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/loop", max_bytes=1000, allow_private=False)
    assert info.value.reason == "redirects"
    assert 1 < _Handler.hits.count("/loop") <= fetch.MAX_REDIRECTS + 1


def test_size_is_bounded(server):
    assert len(fetch_url(f"{server}/big", max_bytes=5000)) == 5000
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/big", max_bytes=4999)
    assert info.value.status == "ErrorImageSize" and info.value.reason == "size"
    with pytest.raises(URLError) as info:  # refused on the promise, before reading
        fetch_url(f"{server}/lying", max_bytes=1000)
    assert info.value.reason == "size"
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/lying", max_bytes=10**6)
    assert info.value.reason == "truncated"


def test_time_is_bounded(server):
    with pytest.raises(URLError) as info:  # a server that sends 100 bytes a second
        fetch_url(f"{server}/slow", max_bytes=10**6, timeout=1.0)
    assert info.value.reason == "timeout"


def test_a_host_that_does_not_answer(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once it is closed
    with pytest.raises(URLError) as info:
        fetch_url(f"http://127.0.0.1:{port}/x", max_bytes=1000)
    assert info.value.reason == "network"
    with pytest.raises(URLError) as info:
        fetch_url(f"{server}/missing", max_bytes=1000)
    assert info.value.reason == "http" and "HTTP 404" in info.value.message
    with pytest.raises(URLError) as info:
        fetch_url("http://no-such-host.invalid/x.jpg", max_bytes=1000, allow_private=False)
    assert info.value.reason == "resolve"
