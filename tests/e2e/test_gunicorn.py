"""End to end against a real gunicorn with two workers."""

from __future__ import annotations

import json
import signal
import socket
import time

import numpy as np
import pytest

from core.store import ModelStore
from tests.e2e.conftest import call
from tests.service.test_predict import BAD, GOOD
from trainer import pipeline
from trainer.tasks import TASKS


def test_every_model_predicts(server):
    for name, rows in GOOD.items():
        status, body = call(server.base, "POST", f"/predict/{name}", {"inputs": rows})
        assert status == 200 and body["model"] == name and len(body["predictions"]) == len(rows)


def _versions_seen(base, n=30):
    return [call(base, "POST", "/predict/xor", {"inputs": [[0, 1]]})[1]["version"] for _ in range(n)]


def test_a_new_version_reaches_every_worker_within_two_seconds(server):
    store = ModelStore(server.models_dir)
    assert set(_versions_seen(server.base)) == {1}
    pipeline.continue_training(store, "xor", config=TASKS["xor"].train.replace(epochs=1), samples=300)
    time.sleep(2.0)
    # every worker answers with the new version: 40 requests over keep-alive-less
    # connections land on both workers
    assert set(_versions_seen(server.base, 40)) == {2}


def test_labels_and_pinned_versions_on_every_worker(server):
    store = ModelStore(server.models_dir)
    pipeline.continue_training(store, "quadrant", config=TASKS["quadrant"].train.replace(epochs=1), samples=300)
    store.set_label("quadrant", "default", 1)
    store.set_label("quadrant", "canary", 2)
    time.sleep(2.0)
    for _ in range(10):
        assert call(server.base, "POST", "/predict/quadrant", {"inputs": [[1, 1]]})[1]["version"] == 1
        assert call(server.base, "POST", "/predict/quadrant/labels/canary", {"inputs": [[1, 1]]})[1]["version"] == 2
        assert call(server.base, "POST", "/predict/quadrant/versions/2", {"inputs": [[1, 1]]})[1]["version"] == 2


def test_a_corrupt_file_is_reported_and_the_good_version_keeps_serving(server):
    (server.models_dir / "red" / "2.json").write_text('{"format": "tinymlp-model", "broken": ')
    time.sleep(2.0)
    status, body = call(server.base, "GET", "/models/red")
    assert status == 200 and body["served_version"] == 1 and "2" in body["failures"]
    for _ in range(10):
        status, body = call(server.base, "POST", "/predict/red", {"inputs": [[255, 0, 0]]})
        assert status == 200 and body["version"] == 1
    assert call(server.base, "GET", "/readyz")[0] == 200
    text = _metrics(server.base)
    assert 'tinymlp_model_load_failures_total{model="red"}' in text


def _metrics(base):
    import urllib.request

    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        return r.read().decode()


def test_metrics_add_up_across_workers(server):
    for _ in range(20):
        call(server.base, "POST", "/predict/red", {"inputs": [[255, 0, 0], [0, 0, 0]]})
    text = _metrics(server.base)
    line = next(x for x in text.splitlines() if x.startswith('tinymlp_rows_predicted_total{model="red"'))
    assert float(line.split()[-1]) == 40.0
    assert "tinymlp_request_seconds_bucket" in text and 'tinymlp_served_version{model="red"} 1.0' in text


@pytest.mark.parametrize(("what", "path", "body", "ctype", "status", "fragment"),
                         [b for b in BAD if isinstance(b[2], dict) and b[3] is None][:12],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_over_http_then_a_good_request(server, what, path, body, ctype, status, fragment):
    got, answer = call(server.base, "POST", path, body)
    assert got == status and fragment in answer["message"] + str(answer.get("errors"))
    ok, good = call(server.base, "POST", "/predict/red", {"inputs": [[255, 0, 0]]})
    assert ok == 200


def test_large_batch(server):
    X = TASKS["red"].draw_uniform(np.random.default_rng(0), 10_000).tolist()
    big_server_rows = call(server.base, "POST", "/predict/red", {"inputs": X}, timeout=30)
    assert big_server_rows[0] == 200 and len(big_server_rows[1]["predictions"]) == 10_000


def test_sigterm_lets_the_request_in_flight_finish(server):
    body = json.dumps({"inputs": [[255, 0, 0]]}).encode()
    head = (f"POST /predict/red HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(head + body[:5])  # a worker is now inside this request, waiting for the rest
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        s.sendall(body[5:])
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["predictions"][0]["label"] == "red"
    assert server.proc.wait(timeout=30) == 0


def test_readiness_says_how_often_each_worker_rescans_the_store(server):
    # What a client waits for after a promotion (Job.wait(served=True)): every worker serves
    # the new version after its next scan, and this is how often each one scans.
    for _ in range(4):  # either worker
        status, body = call(server.base, "GET", "/readyz")
        assert status == 200 and body["reload_interval"] == 0.2
