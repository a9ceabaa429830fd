"""The buffering proxy (docker/nginx, Debian's nginx) in front of a real gunicorn: slow clients
hold nginx, never a worker; its own errors are the service's JSON, their code the status sent;
an empty path segment is a 404, never a redirect; no Location names the client's Host; it
passes request ids and forwarding headers, adds security headers to the pages and slows
clients looping on pictures.

Without nginx these tests skip, saying so; .ci/run installs it and sets TINYMLP_REQUIRE_NGINX=1,
which turns that skip into a failure.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness.clients import SlowClients
from harness.processes import Gunicorn, Nginx
from tests.e2e.conftest import call

NGINX = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx")
if not NGINX and os.environ.get("TINYMLP_REQUIRE_NGINX"):
    raise RuntimeError("TINYMLP_REQUIRE_NGINX is set but nginx is missing: apt-get install nginx")
pytestmark = pytest.mark.skipif(not NGINX, reason="Debian's nginx is not installed: apt-get install nginx")

RED = {"inputs": [[255, 0, 0]]}


@pytest.fixture
def stack(seeded_store_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(seeded_store_dir, models)
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_LOG_LEVEL": "INFO", "TINYMLP_LOG_FORMAT": "json"}
    with Gunicorn(models, workers=2, log_path=tmp_path / "gunicorn.log", env=env) as api, \
            Nginx(f"127.0.0.1:{api.port}") as proxy:
        yield api, proxy


def _good(base: str, timeout: float) -> int | None:
    try:
        return call(base, "POST", "/predict/red", RED, timeout=timeout)[0]
    except OSError:
        return None  # not answered


def test_slow_clients_hold_the_proxy_never_a_worker(stack):
    api, proxy = stack
    with SlowClients(api.port, 4):  # straight at gunicorn, 4 slow clients hold both workers
        assert _good(api.base, timeout=3) is None
    with SlowClients(proxy.port, 20):  # through the proxy, 20 of them hold nothing that matters
        answers = [_good(proxy.base, timeout=30) for _ in range(10)]
    assert answers == [200] * 10


def test_the_proxys_own_errors_are_json(stack):
    api, proxy = stack
    big = b'{"inputs": [' + b"[1, 2, 3]," * 300_000 + b"[1, 2, 3]]}"
    for path, key in (("/predict/red", "message"), ("/v2/models/red/infer", "error")):
        req = urllib.request.Request(proxy.base + path, data=big, headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=20)
        body = json.loads(e.value.read())
        assert e.value.code == 413 and e.value.headers["Content-Type"] == "application/json"
        assert "larger than 2097152 bytes" in body[key]
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = s.recv(65536)
    assert b" 414 " in answer.split(b"\r\n")[0] and b"application/json" in answer
    api.stop()
    status, body = call(proxy.base, "GET", "/healthz")
    assert status == 502 and "did not answer" in body["message"]


def test_request_ids_and_forwarding_headers_reach_the_service(stack):
    api, proxy = stack
    req = urllib.request.Request(proxy.base + "/healthz", headers={"X-Request-ID": "trace-42"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["X-Request-ID"] == "trace-42"
    with urllib.request.urlopen(proxy.base + "/healthz", timeout=10) as r:
        made = r.headers["X-Request-ID"]
    assert len(made) == 32  # nginx made one, and the service answered it
    time.sleep(0.3)
    lines = [json.loads(line) for line in api.log_path.read_text().splitlines() if line.startswith("{")]
    seen = {line["request_id"]: line for line in lines if line.get("path") == "/healthz"}
    assert seen["trace-42"]["forwarded_for"] == "127.0.0.1" and seen["trace-42"]["forwarded_proto"] == "http"
    assert made in seen


def test_pages_carry_security_headers_and_the_api_does_not_need_them(stack):
    _, proxy = stack
    for path in ("/", "/ui/models/red", "/docs"):
        with urllib.request.urlopen(proxy.base + path, timeout=10) as r:
            csp = r.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    with urllib.request.urlopen(proxy.base + "/models", timeout=10) as r:
        assert "Content-Security-Policy" not in r.headers


def test_a_client_looping_on_pictures_is_slowed_at_the_proxy(stack):
    """Pictures are files: a dashboard's worth (and more) passes, a client looping on them does not."""
    _, proxy = stack
    served = by_proxy = 0
    for i in range(140):
        b = (0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 255)[i % 17]
        try:
            with urllib.request.urlopen(f"{proxy.base}/ui/models/red/versions/1/regions-b{b}.png", timeout=10) as r:
                served += r.status == 200 and r.read().startswith(b"\x89PNG")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert e.code == 429 and e.headers["Retry-After"] == "1" and body["code"] == 429
            by_proxy += "Too many requests for pictures" in body["message"]
    assert served >= 100 and by_proxy >= 25 and served + by_proxy == 140  # a burst of 100, then 5 a second


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is (no client library tidies it) and read the answer until nginx
    closes: status, headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def request(method: str, path: str, *headers: str, body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    lines = [f"{method} {path} {version}", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# What nginx refuses before gunicorn sees a byte, and the status it must say so with: the
# status gunicorn itself answers where it has one (431 for a header too large, 501 for a
# transfer coding it does not know, 405 for TRACE).
REFUSED = {
    "a 9 KB header": (request("GET", "/healthz", "Host: x", "X-Big: " + "a" * 9000), 431),
    "headers of 35 KB in all": (request("GET", "/healthz", "Host: x", *(f"X-H{i}: {'a' * 7000}" for i in range(5))),
                                431),
    "Transfer-Encoding: xchunked": (request("POST", "/predict/red", "Host: x", "Transfer-Encoding: xchunked",
                                            body=b"0\r\n\r\n"), 501),
    "TRACE": (request("TRACE", "/", "Host: x"), 405),
    "HTTP/2.0 in plain text": (request("GET", "/healthz", "Host: x", version="HTTP/2.0"), 505),
    "no Host": (request("GET", "/healthz"), 400),
    "a broken escape": (request("GET", "/%zz", "Host: x"), 400),
    "Content-Length and chunked": (request("POST", "/predict/red", "Host: x", "Content-Length: 5",
                                           "Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    "an address of 40,000 characters": (request("GET", "/" + "a" * 40_000, "Host: x"), 414),
}


@pytest.mark.parametrize("name", REFUSED)
def test_what_the_proxy_refuses_itself_is_json_whose_code_is_the_status_sent(stack, name):
    _, proxy = stack
    sent, expected = REFUSED[name]
    status, headers, body = raw(proxy.port, sent)
    assert headers["content-type"] == "application/json", body[:200]
    answer = json.loads(body)
    assert status == expected and answer["code"] == expected, (status, answer)
    assert answer["message"] and answer["request_id"] == headers["x-request-id"]
    assert "<html" not in body.decode()


def test_v2_addresses_get_the_protocols_error_shape_from_the_proxy_too(stack):
    _, proxy = stack
    for sent, expected in ((request("GET", "/v2/health/live", "Host: x", "X-Big: " + "a" * 9000), 431),
                           (request("TRACE", "/v2/models/red", "Host: x"), 405)):
        status, headers, body = raw(proxy.port, sent)
        assert status == expected and headers["content-type"] == "application/json"
        assert set(json.loads(body)) == {"error"}


def _seen_paths(api) -> list[str]:
    # No wait: the service writes a request's line before its answer leaves (an after_request
    # hook), and nginx answers the client only after gunicorn has answered nginx.
    lines = [json.loads(line) for line in api.log_path.read_text().splitlines() if line.startswith("{")]
    return [line["path"] for line in lines if "path" in line]


@pytest.mark.parametrize("path", ["/train//red", "/train/%2Fred", "/train/%2fred", "//predict/red",
                                  "/predict//versions/1", "/v2//models/red/infer"])
def test_an_empty_path_segment_is_a_json_404_never_a_redirect_to_the_clients_host(stack, path):
    api, proxy = stack
    status, headers, body = raw(proxy.port, request(
        "POST", path, "Host: evil.example", "Content-Type: application/json", "Content-Length: 2", body=b"{}"))
    assert status == 404 and "location" not in headers and headers["content-type"] == "application/json"
    answer = json.loads(body)
    if path.startswith("/v2"):
        assert "'//'" in answer["error"]
    else:
        assert answer["code"] == 404 and "'//'" in answer["message"]
    assert not [p for p in _seen_paths(api) if "//" in p]  # refused before gunicorn


def test_a_double_slash_in_the_query_is_no_empty_segment(stack):
    _, proxy = stack
    status, body = call(proxy.base, "POST", "/predict/red?next=//x", RED)
    assert status == 200 and body["predictions"][0]["label"] == "red"


class _Redirecting(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect built from its Host header, the way a WSGI router
    builds an absolute one (werkzeug's merge_slashes 308 did, before the proxy refused '//')."""

    def do_GET(self):
        self.send_response(308)
        self.send_header("Location", f"http://{self.headers['Host']}/models/red?x=1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_no_location_from_behind_the_proxy_names_the_clients_host():
    # The service sends no absolute redirect today; this upstream does, so that the proxy's
    # own rule is what the test pins.
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        with Nginx(f"127.0.0.1:{upstream.server_address[1]}") as proxy:
            status, headers, _ = raw(proxy.port, request("GET", "/models/red", "Host: evil.example:8443"))
    finally:
        upstream.shutdown()
        upstream.server_close()
        thread.join(timeout=10)
    assert status == 308 and headers["location"] == "/models/red?x=1"
