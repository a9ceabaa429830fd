"""A tiny HTTP server in a thread (the standard library's), scripted per test, for what no
real tinymlp service answers: odd bodies, redirects, trickles, huge answers, dropped
connections. It listens on 127.0.0.1 and a free port and records every request it gets.

    with FakeService({("GET", "/models"): lambda h: h.send_json(200, [])}) as fake:
        Client(fake.base).models()      # UnexpectedAnswer: a list
        fake.hits                       # [("GET", "/models", b"", {...headers})]
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn behind nginx
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms wait for an ACK

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        self.server.hits.append((self.command, path, body, dict(self.headers)))
        route = self.server.routes.get((self.command, path)) or self.server.routes.get(("*", path))
        if route is None:
            self.send_json(404, {"code": 404, "message": f"no route {self.command} {path} in this fake"})
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up: what is tested
            route(self)

    do_GET = do_POST = do_DELETE = do_PUT = _any

    def send_json(self, status: int, body, headers: dict | None = None) -> None:
        self.send_bytes(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def send_bytes(self, status: int, data: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def trickle(self, data: bytes, every: float) -> None:
        """Write ``data`` a byte at a time, ``every`` seconds apart, and record in
        ``server.trickles`` whether it was all sent ("done"), the client hung up ("cut") or
        the fake was stopped first ("stopped")."""
        outcome = "done"
        try:
            for i in range(len(data)):
                if self.server.stopping.is_set():
                    outcome = "stopped"
                    break
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            outcome = "cut"
        self.server.trickles.append((self.path, outcome))

    def log_message(self, *args) -> None:
        pass


class FakeService:
    """``routes``: (method or "*", path) -> a function of the request's Handler that answers."""

    def __init__(self, routes: dict[tuple[str, str], Callable[[Handler], None]], port: int = 0):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.routes = routes
        self.server.hits = []
        self.server.trickles = []
        self.server.stopping = threading.Event()
        self.server.handle_error = lambda request, address: None  # a client that hung up is no news here
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-service", daemon=True)

    @property
    def hits(self) -> list[tuple[str, str, bytes, dict]]:
        return self.server.hits

    def paths(self) -> list[str]:
        return [f"{method} {path}" for method, path, _, _ in self.hits]

    def __enter__(self) -> FakeService:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def answer(status: int, body, headers: dict | None = None) -> Callable[[Handler], None]:
    """A route that answers ``body`` as JSON."""
    return lambda h: h.send_json(status, body, headers)


def job_json(**changes) -> dict:
    """A job as a tinymlp service sends it (succeeded, published v2 and promoted), with ``changes``."""
    job = {"id": "j1", "model": "red", "status": "succeeded", "params": {"epochs": 2, "promote": "if_better"},
           "examples": 0, "parent_version": 1, "published_version": 2, "promoted": True,
           "promotion": {"policy": "if_better", "promoted": True, "reason": "held-out accuracy improved"},
           "progress": [{"epoch": 1, "loss": 0.5, "metric": 0.9, "seconds": 0.1},
                        {"epoch": 2, "loss": 0.4, "metric": 0.95, "seconds": 0.2}],
           "error": None, "cancel_requested": False, "worker": "w1", "submitted_at": "2024-01-01T00:00:00Z",
           "started_at": "2024-01-01T00:00:01Z", "finished_at": "2024-01-01T00:00:02Z"}
    return {**job, **changes}


def model_json(**changes) -> dict:
    model = {"name": "red", "task": "red", "served_version": 1, "versions": [1], "labels": {}, "failures": {},
             "input": {"features": ["r", "g", "b"]}, "output": {"kind": "classifier", "labels": ["red", "not_red"]}}
    return {**model, **changes}
