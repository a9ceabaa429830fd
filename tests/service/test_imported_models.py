"""A model imported from scikit-learn has no task: the service lists, serves, describes and
exports it, refuses to train it (409, saying why) and draws no pictures of it."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from service import create_app
from service.config import Config
from tests.mlp.test_onnx_export import assert_same_labels
from tests.trainer.test_sklearn_import import fitted, probe_rows
from trainer.sklearn_import import import_sklearn

TOKEN = "test-token-1234567890"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def estimator():
    return fitted("multiclass", "tanh", "minmax")


@pytest.fixture
def client(store, store_dir, estimator):
    import_sklearn(store, estimator, name="flowers", features=["a", "b", "c"])
    cfg = Config(models_dir=str(store_dir), state_dir=str(store_dir.parent / "state"), start_reloader=False,
                 log_level="WARNING", train_token=TOKEN)
    return create_app(cfg).test_client()


def test_listed_and_described_with_no_task(client):
    listed = {m["name"]: m for m in client.get("/models").json["models"]}
    assert listed["flowers"]["task"] is None and listed["flowers"]["served_version"] == 1
    assert listed["flowers"]["output"] == {"kind": "classifier", "labels": ["setosa", "versicolor", "virginica"]}
    detail = client.get("/models/flowers/versions/1").json
    assert detail["task"] is None and detail["metrics"] == {} and detail["curve"] == []
    assert detail["training"]["trained_by"] == "imported"
    assert client.get("/v2/models/flowers").json["inputs"][0]["shape"] == [-1, 3]
    doc = client.get("/openapi.json").json
    assert "/predict/flowers" in doc["paths"] and "/models/flowers/versions/{version}/model.onnx" in doc["paths"]


def test_training_it_is_refused_saying_why(client):
    resp = client.post("/train/flowers", json={"epochs": 1}, headers=AUTH)
    assert resp.status_code == 409
    assert resp.json["message"] == ("flowers version 1 has no task (it was imported), so there is no data to "
                                    "train it further with; import a new version instead.")
    assert client.get("/train/jobs", headers=AUTH).json["jobs"] == []  # no job was queued
    assert client.post("/train/red", json={"epochs": 1}, headers=AUTH).status_code == 202


def test_the_dashboard_opens_and_draws_no_regions(client):
    with client.get("/ui/models/flowers") as page:
        assert page.status_code == 200
    resp = client.get("/ui/models/flowers/versions/1/regions.png")
    assert resp.status_code == 404 and "names no known task" in resp.json["message"]


def test_its_onnx_file_answers_what_the_estimator_answers(client, estimator):
    X = probe_rows(estimator)
    resp = client.get("/models/flowers/versions/1/model.onnx")
    proba, label = ort.InferenceSession(resp.data, providers=["CPUExecutionProvider"]).run(
        None, {"input": X.astype(np.float32)})
    expected = estimator.predict_proba(X.astype(np.float32).astype(np.float64))
    assert np.max(np.abs(proba - expected)) <= 1e-5
    assert_same_labels(label, expected)
