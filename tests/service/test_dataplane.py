"""The data plane's fast path decides as the schemas do: a body the direct look takes is one
the marshmallow schema takes too, giving back the same rows; and both protocols give the
same answers for the same rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.dataplane import _usual_rows, _usual_tensor
from service.schemas.predict import PredictRequest
from service.schemas.v2 import DATATYPES, InferRequest

SCALARS = st.none() | st.booleans() | st.integers(-300, 300) | st.floats(allow_nan=False) | st.text(max_size=4)
JSON = st.recursive(SCALARS,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=8)
NEAR = st.sampled_from([None, 1, "input", "x", [], [1, 3], [1.0, 3], [True, 3], [-1, 3], [1, 3, 1], "INT64", {}])
TENSORS = st.fixed_dictionaries(
    {}, optional={"name": st.sampled_from(["input", "x"]) | JSON, "datatype": st.sampled_from([*DATATYPES, "BF16"]),
                  "shape": NEAR | st.lists(st.integers(-1, 4), max_size=3), "data": st.lists(JSON, max_size=4) | JSON,
                  "parameters": JSON})
# Mostly the usual shape, with one part or another wrong: the direct look's edges.
NEAR_USUAL = st.fixed_dictionaries(
    {"name": st.just("input") | JSON, "datatype": st.sampled_from(DATATYPES) | JSON,
     "shape": st.lists(st.integers(-1, 4), min_size=2, max_size=2) | NEAR,
     "data": st.lists(SCALARS, max_size=6) | JSON},
    optional={"parameters": JSON})
BODIES = st.fixed_dictionaries(
    {}, optional={"inputs": st.lists(TENSORS | JSON, max_size=2) | JSON, "id": st.text(max_size=3) | JSON,
                  "outputs": JSON, "parameters": JSON, "extra": JSON}) | JSON
USUAL_BODIES = st.fixed_dictionaries({"inputs": st.lists(NEAR_USUAL, min_size=1, max_size=2)},
                                     optional={"id": st.text(max_size=3) | JSON, "extra": JSON})
GOOD = {"name": "input", "datatype": "INT64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES | USUAL_BODIES)
@example({"inputs": [GOOD]})
@example({"id": "a", "inputs": [GOOD]})
def test_a_v2_body_the_direct_look_takes_the_schema_takes_alike(body):
    tensor = _usual_tensor(body)
    if tensor is None:
        return  # the schema decides (the slow path runs it)
    loaded = InferRequest().load(body)
    assert loaded["inputs"][0] == tensor and loaded.get("id") == body.get("id") and not loaded.get("outputs")


@settings(max_examples=300)
@given(st.fixed_dictionaries({}, optional={"inputs": JSON | st.lists(JSON), "extra": JSON}) | JSON)
@example({"inputs": [[255, 0, 0]]})
def test_a_native_body_the_direct_look_takes_the_schema_takes_alike(body):
    rows = _usual_rows(body)
    try:
        loaded = PredictRequest().load(body)
    except ValidationError:
        assert rows is None
        return
    assert rows is not None and loaded["inputs"] == rows


def test_the_usual_shapes_take_the_direct_look():
    good = {"name": "input", "datatype": "INT64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}
    assert _usual_tensor({"inputs": [good]}) is good
    assert _usual_tensor({"id": "a", "inputs": [good]}) is good


@pytest.mark.parametrize("n", [1, 7, 300])
def test_both_protocols_answer_alike_for_the_same_rows(client, n):
    rows = np.random.default_rng(n).integers(0, 256, size=(n, 3)).tolist()
    native = client.post("/predict/red", json={"inputs": rows}).json
    flat = [v for row in rows for v in row]
    for data in (flat, rows):  # flat and nested
        v2 = client.post("/v2/models/red/infer", data=json.dumps({"inputs": [
            {"name": "input", "datatype": "INT64", "shape": [n, 3], "data": data}]}),
            content_type="application/json").json
        out = {o["name"]: o for o in v2["outputs"]}
        assert out["label"]["data"] == [p["label"] for p in native["predictions"]]
        proba = np.asarray(out["probabilities"]["data"]).reshape(n, 2)
        expected = np.array([[p["probabilities"]["red"], p["probabilities"]["not_red"]] for p in native["predictions"]])
        np.testing.assert_array_equal(proba, expected)  # the same batch: the same kernel, the same bits


def test_observers_get_what_was_served_after_the_answer_and_never_change_it(app, client):
    from service import extensions

    seen = []

    def failing(served):
        raise RuntimeError("an observer's own trouble")

    extensions.observers(app).extend([failing, seen.append])
    r = client.post("/predict/red", json={"inputs": [[255, 0, 0], [0, 0, 255]]})
    assert r.status_code == 200 and r.json["predictions"][0]["label"] == "red"
    assert seen == []  # not before the answer has gone (the server closes it once written)
    r.close()
    [served] = seen
    assert served.request_id == r.json["id"] and served.model.version == r.json["version"]
    assert served.X.tolist() == [[255, 0, 0], [0, 0, 255]] and len(served.prediction) == 2
    refused = client.post("/predict/red", json={"inputs": [[1, 2]]})
    refused.close()
    assert refused.status_code == 422 and len(seen) == 1  # a refused request served nothing


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.text(max_size=8), JSON, max_size=4))
def test_any_body_is_an_answer_never_a_crash(client, body):  # the client is not changed by a request
    # what marshmallow says of any body (fields named "" or "a.b", nested faults) is turned
    # into one message; never a 500
    for path in ("/predict/red", "/v2/models/red/infer"):
        r = client.post(path, data=json.dumps(body), content_type="application/json")
        assert r.status_code in (200, 400, 413, 422), (path, body, r.json)


def test_errors_cap_what_they_echo_of_the_body(client):
    long = "x" * 50_000  # within the test app's body limit (64 KiB)
    r = client.post("/predict/red", json={"inputs": [[255, 0, 0]], long: 1})
    assert r.status_code == 422 and len(r.get_data()) < 2_000, len(r.get_data())
    r = client.post("/v2/models/red/infer", json={"inputs": [{"name": "input", "datatype": "INT64", "shape": [1, 3],
                                                              "data": [255, 0, 0]}], "outputs": [{"name": long}]})
    assert r.status_code == 400 and "unknown output" in r.json["error"] and len(r.get_data()) < 2_000
