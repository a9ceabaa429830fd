"""GET /models/<name>/versions/<v>/model.onnx: every default model's file runs in onnxruntime
and answers what /predict answers (|Δp| <= 1e-5, the same label; regressors relative 1e-5)
on 10,000 rows; 404s, the LRU keyed by the version file, a 501 naming what cannot be exported,
and the OpenAPI entry."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from core.store import Stamp
from mlp.activations import ACTIVATIONS, Activation
from service import create_app
from service.config import Config
from service.exports import OnnxExports
from tests.mlp.test_onnx_export import TOLERANCE, assert_same_labels
from trainer.tasks import TASKS


@pytest.fixture
def big(store_dir):
    """An app with the default row and body limits: 10,000 rows in one request."""
    cfg = Config(models_dir=str(store_dir), state_dir=str(store_dir.parent / "state"), start_reloader=False,
                 log_level="WARNING")
    return create_app(cfg).test_client()


def served_answers(client, name, X):
    resp = client.post(f"/predict/{name}", json={"inputs": X.tolist()})
    assert resp.status_code == 200, resp.json
    return resp.json


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_download_answers_what_predict_answers(task, big):
    resp = big.get(f"/models/{task}/versions/1/model.onnx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/octet-stream"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{task}-v1.onnx"'
    session = ort.InferenceSession(resp.data, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    X = TASKS[task].draw_uniform(np.random.default_rng(11), 10_000)
    answer = served_answers(big, task, X)
    outputs = session.run(None, {"input": X.astype(np.float32)})
    if TASKS[task].is_classifier:
        labels = list(TASKS[task].labels)
        served = np.array([[p["probabilities"][label] for label in labels] for p in answer["predictions"]])
        proba, label = outputs
        assert np.max(np.abs(proba - served)) <= TOLERANCE
        assert_same_labels(label, served)
        assert [labels[i] for i in label] == [p["label"] for p in answer["predictions"]]
    else:
        served = np.array([p["value"] for p in answer["predictions"]])
        assert np.max(np.abs(outputs[0][:, 0] - served) / np.abs(served)) <= TOLERANCE
    props = {p.key: p.value for p in onnx.load_from_string(resp.data).metadata_props}
    assert (props["name"], props["version"], props["task"]) == (task, "1", task)


@pytest.mark.parametrize("path, fragment", [
    ("/models/purple/versions/1/model.onnx", "No model named 'purple'"),
    ("/models/red/versions/7/model.onnx", "Model 'red' has no version 7"),
    ("/models/red/versions/x/model.onnx", "Nothing is at this address"),
])
def test_unknown_models_and_versions_are_404(client, path, fragment):
    resp = client.get(path)
    assert resp.status_code == 404 and fragment in resp.json["message"]


def test_exports_are_kept_per_version_file(client, store):
    first = client.get("/models/red/versions/1/model.onnx").data
    assert client.get("/models/red/versions/1/model.onnx").data == first
    exports = OnnxExports(size=2)
    model = store.open("red", 1)
    stamp = Stamp.at(store.path("red", 1))
    data = exports.get(model, stamp)
    assert data == first
    assert exports.get(model, stamp) is data  # built once for this file
    assert exports.get(model, stamp._replace(mtime_ns=stamp.mtime_ns + 1)) is not data  # the file changed
    exports.get(store.open("xor", 1), Stamp.at(store.path("xor", 1)))
    assert exports.get(model, stamp) is not data  # the oldest of three went: the LRU holds two


class Cube(Activation):
    name = "cube"

    def forward(self, z):
        return z**3

    def backward(self, z, a, grad):
        return grad * 3 * z * z


def test_a_version_it_cannot_export_is_a_501_naming_the_activation(store, store_dir, monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "cube", Cube)  # an activation the exporter has no operators for
    net = store.load("xor", 1)
    net.layers[0].activation = Cube()
    store.publish("xor", net, **{k: v for k, v in net.metadata.items() if k not in ("name", "version")})
    client = create_app(Config(models_dir=str(store_dir), state_dir=str(store_dir.parent / "state"),
                               start_reloader=False, log_level="WARNING")).test_client()
    assert client.post("/predict/xor/versions/2", json={"inputs": [[0, 1]]}).status_code == 200
    resp = client.get("/models/xor/versions/2/model.onnx")
    assert resp.status_code == 501
    assert resp.json["message"].startswith("xor version 2 cannot be exported to ONNX: activation 'cube' cannot be "
                                           "exported to ONNX: this exporter knows elu, gelu")
    assert client.get("/models/xor/versions/1/model.onnx").status_code == 200


def test_documented_per_model(client):
    doc = client.get("/openapi.json").json
    entry = doc["paths"]["/models/red/versions/{version}/model.onnx"]["get"]
    assert set(entry["responses"]["200"]["content"]) == {"application/octet-stream"}
    assert {"404", "501"} <= set(entry["responses"])
    assert json.dumps(entry).count("probabilities") >= 1



def test_the_exports_kept_are_bounded_in_count_and_in_bytes(client, app):
    from service import extensions

    cache = extensions.onnx_exports(app)
    cache.max_bytes = 2 * len(client.get("/models/iris/versions/1/model.onnx").data)
    for name in ("red", "xor", "iris", "sine", "quadrant", "checkerboard"):
        assert client.get(f"/models/{name}/versions/1/model.onnx").status_code == 200
        assert cache._bytes <= cache.max_bytes and cache._bytes == sum(map(len, cache._lru.values()))
    assert len(cache._lru) < 6
