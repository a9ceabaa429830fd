"""The answers written from numpy (native JSON, V2 tensors) match what the network computes, row by row."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from core.records import OutputSpec
from mlp import InputSpec, Network, NetworkConfig
from service.dataplane import predict
from service.encoding import native_json, output_specs, v2_outputs


def _model(name, n_outputs, labels=None, **kw):
    spec = InputSpec(features=("a", "b"), dtype="float", low=(-1, -1), high=(1, 1))
    net = Network.build(NetworkConfig(hidden=(4,), **kw), 2, n_outputs, seed=3, labels=labels, input_spec=spec)
    return SimpleNamespace(name=name, version=7, network=net)


def predictions_json(model, X):
    return native_json(predict(model, X), "r1")


X = np.random.default_rng(0).uniform(-1, 1, (257, 2))


@pytest.mark.parametrize("labels", [("no", "yes"), ("a,b", 'q"uote', "ü", "50%s")])
def test_classifier_rows_match_predict_proba(labels):
    kind = {"output": "sigmoid", "loss": "binary_crossentropy"} if len(labels) == 2 else {}
    model = _model("clf", 1 if len(labels) == 2 else len(labels), labels=labels, **kind)
    body = json.loads(predictions_json(model, X))
    assert body["model"] == "clf" and body["version"] == 7 and len(body["predictions"]) == len(X)
    proba = model.network.predict_proba(X)
    got = np.array([[p["probabilities"][lab] for lab in labels] for p in body["predictions"]])
    np.testing.assert_allclose(got, proba, rtol=1e-6)
    assert [p["label"] for p in body["predictions"]] == model.network.predict(X).tolist()


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor_values_match_forward(n_outputs):
    model = _model("reg", n_outputs, output="linear", loss="mse")
    preds = json.loads(predictions_json(model, X[:5]))["predictions"]
    out = model.network.forward(X[:5])
    got = np.array([p["value"] if n_outputs > 1 else [p["value"]] for p in preds])
    np.testing.assert_allclose(got, out, rtol=1e-6)


def test_v2_outputs_match_predict_proba_and_honour_the_outputs_asked_for():
    model = _model("clf", 3, labels=("a", "b", "c"))
    prediction = predict(model, X[:4])
    model.info = SimpleNamespace(output=SimpleNamespace(is_classifier=True))
    out = {o["name"]: o for o in v2_outputs(prediction)}
    assert out["probabilities"]["shape"] == [4, 3] and out["label"]["shape"] == [4]
    np.testing.assert_allclose(np.asarray(out["probabilities"]["data"]).reshape(4, 3),
                               model.network.predict_proba(X[:4]), rtol=1e-6)
    assert out["label"]["data"] == model.network.predict(X[:4]).tolist()
    assert [o["name"] for o in v2_outputs(prediction, ["label"])] == ["label"]


@pytest.mark.parametrize("kind", [{"labels": ("a", "b", "c")}, {"output": "linear", "loss": "mse"}])
def test_v2_outputs_are_the_tensors_the_metadata_announces(kind):
    model = _model("m", 3, **kind)
    model.info = SimpleNamespace(output=OutputSpec.of(model.network))
    written = v2_outputs(predict(model, X[:4]))
    announced = output_specs(model)
    assert [(o["name"], o["datatype"]) for o in written] == [(o["name"], o["datatype"]) for o in announced]
    assert [o["shape"] for o in written] == [[4 if d == -1 else d for d in o["shape"]] for o in announced]


@pytest.mark.parametrize(("kind", "n_outputs", "labels"), [
    ({}, 3, ("a", "b", "c")), ({"output": "sigmoid", "loss": "binary_crossentropy"}, 1, ("no", 'y"es')),
    ({"output": "linear", "loss": "mse"}, 1, None), ({"output": "linear", "loss": "mse"}, 3, None)])
def test_a_few_rows_and_many_are_written_alike(kind, n_outputs, labels):
    # Up to FEW_ROWS the answer is built a dict a row, past it from the columns' texts: the
    # same bytes either way, row for row, whatever the floats.
    from service import encoding

    model = _model("m", n_outputs, labels=labels, **kind)
    rows = np.random.default_rng(1).uniform(-1, 1, (encoding.FEW_ROWS + 3, 2)) * 1e3
    for n in range(1, encoding.FEW_ROWS + 3):
        prediction = predict(model, rows[:n])
        assert encoding._few_rows_json(prediction, "r-1") == encoding._columns_json(prediction, "r-1"), n
