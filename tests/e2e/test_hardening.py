"""What an attacker or an unlucky operator tried, against a real gunicorn: oversize chunked
bodies, encodings, requests gunicorn itself refuses, log forging, settings that cannot work."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys

import pytest

from harness.processes import ROOT, Gunicorn

OK = b'{"inputs": [[255, 0, 0]]}'


def raw(server, request: bytes) -> tuple[int, dict, bytes]:
    """Send bytes, read the whole answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def chunked(body: bytes, size: int = 65536) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Connection: close",
            *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize("tail", [b" " * 3_000_000, b"," + b",".join([b"[1, 2, 3]"] * 300_000)],
                         ids=["whitespace", "rows"])
def test_a_chunked_body_over_the_limit_is_a_413_like_one_with_a_length(server, tail):
    body = OK[:-2] + tail + b"]}" if tail.startswith(b",") else OK + tail
    status, headers, answer = raw(server, post("/predict/red", chunked(body), "Transfer-Encoding: chunked"))
    assert status == 413 and json.loads(answer)["code"] == 413 and "larger than" in json.loads(answer)["message"]
    status, _, answer = raw(server, post("/predict/red", chunked(OK), "Transfer-Encoding: chunked"))
    assert status == 200 and json.loads(answer)["predictions"][0]["label"] in ("red", "not_red")


def test_an_encoded_body_is_a_415_whether_or_not_it_is_really_encoded(server):
    for body in (gzip.compress(OK), OK):
        status, _, answer = raw(server, post("/predict/red", body, f"Content-Length: {len(body)}",
                                             "Content-Encoding: gzip"))
        assert status == 415 and "Content-Encoding 'gzip'" in json.loads(answer)["message"]
    status, _, answer = raw(server, post("/v2/models/red/infer", OK, f"Content-Length: {len(OK)}",
                                         "Content-Encoding: br"))
    assert status == 415 and "Content-Encoding" in json.loads(answer)["error"]


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBroken Header\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"NONSENSE\r\n\r\n", 400),
])
def test_what_gunicorn_refuses_itself_is_answered_in_json(server, request_bytes, status):
    got, headers, body = raw(server, request_bytes)
    assert got == status and headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == status and json.loads(body)["message"]


def test_a_path_cannot_forge_a_log_line(seeded_store_dir, tmp_path):
    with Gunicorn(seeded_store_dir, workers=1, log_path=tmp_path / "g.log",
                  env={"TINYMLP_LOG_LEVEL": "INFO", "TINYMLP_STATE_DIR": str(tmp_path / "state")}) as server:
        raw(server, b"GET /predict/%0a2026-01-01%20INFO%20tinymlp.access%20GET%20/admin%20200%1b[31m%00 HTTP/1.1"
                    b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    log = server.log_path.read_bytes()
    assert b"\x1b" not in log and b"\x00" not in log
    forged = [line for line in log.splitlines() if line.startswith(b"2026-01-01 INFO tinymlp.access GET /admin")]
    assert forged == [] and b"/predict/\\n2026-01-01 INFO" in log


def test_the_log_level_is_taken_in_any_case(seeded_store_dir, tmp_path):
    with Gunicorn(seeded_store_dir, workers=1, log_path=tmp_path / "g.log",
                  env={"TINYMLP_LOG_LEVEL": "info", "TINYMLP_STATE_DIR": str(tmp_path / "state")}) as server:
        assert raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200


@pytest.mark.parametrize(("name", "value", "says"), [
    ("TINYMLP_TRAIN_TOKEN", "s3cret ", "spaces or newlines around it"),
    ("TINYMLP_TRAIN_TOKEN", " ", "is blank"),
    ("TINYMLP_LOG_LEVEL", "loud", "TINYMLP_LOG_LEVEL must be one of"),
    ("TINYMLP_WORKERS", "lots", "TINYMLP_WORKERS must be a whole number"),
])
def test_a_setting_that_cannot_work_stops_gunicorn_with_one_line(name, value, says, tmp_path):
    run = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "service.wsgi:app"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", name: value, "TINYMLP_BIND": "127.0.0.1:1"})
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"tinymlp: {run.stderr.strip().removeprefix('tinymlp: ')}"]
    assert says in run.stderr and "Traceback" not in run.stderr


def test_an_output_that_is_not_finite_is_a_500_saying_so_never_nulls(seeded_store_dir, tmp_path):
    import shutil
    import urllib.request

    import mlp
    from core.store import ModelStore
    from tests.e2e.conftest import call

    models = tmp_path / "models"
    shutil.copytree(seeded_store_dir, models)
    # No input bounds: the file is read (its outputs are finite where it is probed), but a
    # value near the float limit overflows it.
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(4,), output="linear", loss="mse"), 2, 1, seed=1)
    ModelStore(models).publish("open", net)
    with Gunicorn(models, workers=1, log_path=tmp_path / "g.log",
                  env={"TINYMLP_STATE_DIR": str(tmp_path / "state")}) as server:
        status, body = call(server.base, "POST", "/predict/open", {"inputs": [[1.0, 2.0], [1e308, -1e308]]})
        assert status == 500 and body["code"] == 500, body
        assert "produced a non-finite output for row 1" in body["message"] and "null" not in json.dumps(body)
        status, body = call(server.base, "POST", "/v2/models/open/infer", {"inputs": [
            {"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [1e308, 1e308]}]})
        assert status == 500 and "non-finite output for row 0" in body["error"]
        status, body = call(server.base, "POST", "/predict/open", {"inputs": [[1.0, 2.0]]})
        assert status == 200 and isinstance(body["predictions"][0]["value"], float)
        with urllib.request.urlopen(server.base + "/metrics", timeout=10) as r:
            assert 'tinymlp_nonfinite_outputs_total{model="open"} 2.0' in r.read().decode()
