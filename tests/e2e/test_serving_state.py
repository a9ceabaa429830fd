"""Serving state across real gunicorn workers: a broken model, a broken or missing default
label, a default file damaged in place while a worker restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

from core.store import ModelStore
from tests.e2e.conftest import call

RED = {"inputs": [[255, 0, 0]]}


def _worker_pids(server) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_new_model_holding_only_a_corrupt_file_does_not_take_the_service_out_of_rotation(server):
    (server.models_dir / "broken").mkdir()
    (server.models_dir / "broken" / "1.json").write_text('{"format": "tinymlp-model", "x": ')
    time.sleep(1.0)
    status, ready = call(server.base, "GET", "/readyz")
    assert status == 200 and "broken" in ready["failures"] and "red" in ready["models"], ready
    assert call(server.base, "GET", "/v2/health/ready")[0] == 200
    status, body = call(server.base, "GET", "/v2/models/broken/ready")
    assert status == 503 and "cannot be served" in body["error"]
    status, body = call(server.base, "POST", "/predict/broken", RED)
    assert status == 503 and "not valid JSON" in body["message"]
    status, body = call(server.base, "GET", "/models/broken")
    assert status == 200 and body["served_version"] is None and "1" in body["failures"]
    assert call(server.base, "POST", "/predict/red", RED)[0] == 200


def test_a_default_label_naming_a_missing_version_is_reported_and_never_the_newest(server):
    store = ModelStore(server.models_dir)
    store.publish("red", store.load("red", 1))  # version 2: the newest
    store.set_label("red", "default", 1)
    time.sleep(1.0)
    (server.models_dir / "red" / "labels.json").write_text('{"default": 999}')
    time.sleep(1.0)
    for _ in range(10):  # the workers that served version 1 keep serving it, saying why in /models
        status, body = call(server.base, "POST", "/predict/red", RED)
        assert status == 200 and body["version"] == 1, body
    detail = call(server.base, "GET", "/models/red")[1]
    assert "999" in detail["label_error"] and detail["served_version"] == 1
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as r:
        assert 'tinymlp_model_label_error{model="red"} 1.0' in r.read().decode()
    for pid in _worker_pids(server):  # restarted workers had served nothing: 503, saying why
        os.kill(pid, signal.SIGKILL)
    time.sleep(3.0)
    answers = [call(server.base, "POST", "/predict/red", RED) for _ in range(10)]
    assert all(status == 503 and "999" in body["message"] for status, body in answers), answers


def test_every_worker_answers_alike_after_a_restart_when_the_default_file_was_damaged(server):
    store = ModelStore(server.models_dir)
    for _ in range(3):
        store.publish("red", store.load("red", 1))
    store.set_label("red", "default", 2)
    time.sleep(1.0)
    assert {call(server.base, "POST", "/predict/red", RED)[1]["version"] for _ in range(10)} == {2}
    path = server.models_dir / "red" / "2.json"
    path.write_text(path.read_text().replace('"checksum":"sha256:', '"checksum":"sha256:0'))  # in place
    os.kill(_worker_pids(server)[0], signal.SIGKILL)  # one worker restarts, the other keeps running
    time.sleep(3.0)
    answers = [call(server.base, "POST", "/predict/red", RED) for _ in range(30)]
    assert {(status, body.get("version")) for status, body in answers} == {(503, None)}, answers
