"""Models that travel, through a real gunicorn: every default model's ONNX file downloaded over
HTTP runs in onnxruntime and answers what /predict answers on 10,000 rows; a skops file
imported with the real command line (``python -m trainer import-sklearn``) is served by
every worker with the estimator's answers, and travels on as ONNX."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import onnxruntime as ort
import pytest
import skops.io as sio

from harness.processes import ROOT, Gunicorn
from tests.mlp.test_onnx_export import TOLERANCE, assert_same_labels
from tests.trainer.test_sklearn_import import fitted, probe_rows
from trainer.tasks import TASKS


def get(base, path) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def predict(base, name, X) -> dict:
    req = urllib.request.Request(f"{base}/predict/{name}", data=json.dumps({"inputs": X.tolist()}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def run_onnx(data: bytes, X: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": X.astype(np.float32)})


@pytest.fixture(scope="module")
def serving(seeded_store_dir, tmp_path_factory):
    """One gunicorn (2 workers) for the downloads, which change nothing."""
    root = tmp_path_factory.mktemp("travel")
    shutil.copytree(seeded_store_dir, root / "models")
    with Gunicorn(root / "models", workers=2, log_path=root / "gunicorn.log",
                  env={"TINYMLP_STATE_DIR": str(root / "state")}) as server:
        yield server


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_downloaded_model_runs_in_onnxruntime_like_the_service(serving, task):
    server = serving
    status, headers, data = get(server.base, f"/models/{task}/versions/1/model.onnx")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    X = TASKS[task].draw_uniform(np.random.default_rng(3), 10_000)
    answers = predict(server.base, task, X)["predictions"]
    outputs = run_onnx(data, X)
    if TASKS[task].is_classifier:
        labels = list(TASKS[task].labels)
        served = np.array([[a["probabilities"][label] for label in labels] for a in answers])
        assert np.max(np.abs(outputs[0] - served)) <= TOLERANCE
        assert_same_labels(outputs[1], served)
    else:
        served = np.array([a["value"] for a in answers])
        assert np.max(np.abs(outputs[0][:, 0] - served) / np.abs(served)) <= TOLERANCE


def test_a_skops_file_imported_with_the_command_is_served_and_exported(server, tmp_path):
    est = fitted("multiclass", "logistic", "standard")
    sio.dump(est, tmp_path / "flowers.skops")
    done = subprocess.run([sys.executable, "-m", "trainer", "--models-dir", str(server.models_dir),
                           "import-sklearn", str(tmp_path / "flowers.skops"), "--name", "flowers"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "as flowers version 1" in done.stdout
    deadline = time.monotonic() + 20
    seen = 0
    while seen < 6:  # both workers have scanned it: several answers in a row know it
        status, _, body = get(server.base, "/models")
        seen = seen + 1 if "flowers" in {m["name"] for m in json.loads(body)["models"]} else 0
        assert time.monotonic() < deadline, "the imported model was never served"
        time.sleep(0.05)
    X = probe_rows(est)
    answers = predict(server.base, "flowers", X)
    labels = [str(c) for c in est.classes_]
    served = np.array([[a["probabilities"][label] for label in labels] for a in answers["predictions"]])
    assert answers["version"] == 1
    assert np.max(np.abs(served - est.predict_proba(X))) <= 1e-6
    _, _, data = get(server.base, "/models/flowers/versions/1/model.onnx")
    proba, label = run_onnx(data, X)
    expected = est.predict_proba(X.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(proba - expected)) <= TOLERANCE
    assert_same_labels(label, expected)
