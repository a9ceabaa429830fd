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


def _crafted_store(seeded_store_dir, root):
    """A copy of the seeded store with the files of issue 17's review dropped into it, a
    version past the size that is read in a child process, and a good model beside each."""
    import json
    import shutil

    import numpy as np

    import mlp
    from mlp import isolated
    from mlp.serialization import checksum

    shutil.copytree(seeded_store_dir, root)
    store = ModelStore(root)

    def crafted(name, change):
        doc = json.loads((root / name / "1.json").read_text())
        doc["version"] = 2
        change(doc)
        doc["checksum"] = checksum(doc)
        (root / name / "2.json").write_text(json.dumps(doc))

    crafted("xor", lambda d: d.update(layers=[1]))
    crafted("sine", lambda d: d["layers"][0].update(activation="tanh"))
    crafted("quadrant", lambda d: d.update(output=["classifier"]))
    crafted("house_prices", lambda d: d["training"].update(curve=5))
    (root / "deep").mkdir()
    (root / "deep" / "1.json").write_text('{"format": "tinymlp-model", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    os.mkfifo(root / "checkerboard" / "labels.json")
    os.mkfifo(root / "iris" / "2.json")
    # a valid model larger than what is parsed in the worker itself
    width = 150
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(width, width)), 2, 2, labels=["a", "b"])
    X = np.random.default_rng(0).normal(size=(64, 2))
    mlp.fit(net, X, np.where(X[:, 0] > 0, "a", "b"), mlp.TrainConfig(epochs=1, batch_size=64))
    store.publish("wide", net)
    assert (root / "wide" / "1.json").stat().st_size > isolated.ISOLATE_ABOVE
    return store


def _until(check, what, timeout=60.0):
    """Poll ``check()`` until true; fail saying ``what`` after ``timeout`` (a bound on a hang,
    not a speed: the promise under test is that it happens at all)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_gunicorn_boots_on_a_store_of_crafted_files_serves_the_rest_and_keeps_reloading(seeded_store_dir, tmp_path):
    from harness.processes import Gunicorn

    store = _crafted_store(seeded_store_dir, tmp_path / "models")
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_RELOAD_INTERVAL": "0.2"}
    with Gunicorn(store.root, workers=2, log_path=tmp_path / "gunicorn.log", env=env) as server:  # it boots
        status, ready = call(server.base, "GET", "/readyz")
        assert status == 200 and set(ready["failures"]) == {"deep", "checkerboard"}, ready
        assert "labels.json is refused: it is not a regular file" in ready["failures"]["checkerboard"]
        for name, row in (("xor", [0, 1]), ("sine", [1, 0]), ("quadrant", [1, 1]), ("house_prices", [1500, 3, 10]),
                          ("iris", [5.1, 3.5, 1.4, 0.2]), ("red", [255, 0, 0]), ("wide", [0.5, -0.5])):
            status, body = call(server.base, "POST", f"/predict/{name}", {"inputs": [row]})
            assert status == 200 and body["version"] == 1, (name, body)
        for name in ("xor", "sine", "quadrant", "house_prices", "iris"):
            status, body = call(server.base, "POST", f"/predict/{name}/versions/2", {"inputs": [[0, 0]]})
            assert status == 404 and "failed its checks" in body["message"], (name, body)
        assert "not a regular file" in call(server.base, "GET", "/models/iris")[1]["failures"]["2"]
        status, body = call(server.base, "POST", "/predict/checkerboard", {"inputs": [[1, 1]]})
        assert status == 503 and "labels.json" in body["message"]

        store.publish("red", store.load("red", 1))  # a promotion of another model
        store.set_label("red", "default", 2)
        _until(lambda: {call(server.base, "POST", "/predict/red", RED)[1]["version"] for _ in range(20)} == {2},
               "the promotion of red to version 2 was never served by every worker")
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Worker failed to boot" not in log and "model store scan failed" not in log
