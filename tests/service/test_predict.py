"""/predict in-process: every model, pinned versions and labels, and the bad-input table."""

from __future__ import annotations

import json
import re

import pytest

import mlp
from trainer.tasks import TASKS

GOOD = {
    "red": [[255, 0, 0], [0, 0, 255]],
    "xor": [[0.0, 1.0]],
    "sine": [[1.0, 0.5]],
    "checkerboard": [[0.5, 0.5]],
    "quadrant": [[1.0, -1.0]],
    "iris": [[5.1, 3.5, 1.4, 0.2]],
    "house_prices": [[1500, 3, 10]],
}


@pytest.mark.parametrize("name", list(TASKS))
def test_every_model_predicts(client, name):
    r = client.post(f"/predict/{name}", json={"inputs": GOOD[name]})
    assert r.status_code == 200, r.json
    body = r.json
    assert body["model"] == name and body["version"] == 1
    assert len(body["predictions"]) == len(GOOD[name])
    p = body["predictions"][0]
    if TASKS[name].is_classifier:
        assert p["label"] in TASKS[name].labels
        assert set(p["probabilities"]) == set(TASKS[name].labels)
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
    else:
        assert isinstance(p["value"], float)


def same_answer(a: dict, b: dict) -> bool:
    """One row's predictions, equal as the library promises across batches: the label, and the
    probabilities within ``mlp.BATCH_TOLERANCE`` (a row alone and in a batch may take
    different BLAS kernels, whose float32 sums differ in the last bits)."""
    return a["label"] == b["label"] and a["probabilities"] == pytest.approx(b["probabilities"], rel=0,
                                                                          abs=mlp.BATCH_TOLERANCE)


def test_rows_as_objects_keyed_by_feature(client):
    a = client.post("/predict/red", json={"inputs": [{"r": 255, "g": 0, "b": 0}]}).json
    b = client.post("/predict/red", json={"inputs": [[255, 0, 0]]}).json
    assert a["predictions"] == b["predictions"]  # the same one-row batch: the same kernel, the same bits
    mixed = client.post("/predict/red", json={"inputs": [[255, 0, 0], {"b": 0, "g": 0, "r": 255}]}).json
    assert len(mixed["predictions"]) == 2
    assert all(same_answer(p, b["predictions"][0]) for p in mixed["predictions"])


def test_pinned_versions_and_labels(client, store, app):
    from trainer import pipeline

    pipeline.continue_training(store, "xor", config=TASKS["xor"].train.replace(epochs=1), samples=500)
    store.set_label("xor", "canary", 2)
    app.extensions["tinymlp.registry"].refresh()
    assert client.post("/predict/xor", json={"inputs": [[0, 1]]}).json["version"] == 2
    assert client.post("/predict/xor/versions/1", json={"inputs": [[0, 1]]}).json["version"] == 1
    assert client.post("/predict/xor/labels/canary", json={"inputs": [[0, 1]]}).json["version"] == 2
    store.set_label("xor", "default", 1)
    app.extensions["tinymlp.registry"].refresh()
    assert client.post("/predict/xor", json={"inputs": [[0, 1]]}).json["version"] == 1
    assert client.get("/models/xor").json["served_version"] == 1


def test_every_answer_names_its_request_and_the_version_that_answered(client):
    r = client.post("/predict/red", json={"inputs": [[255, 0, 0]]}, headers={"X-Request-ID": "mine-1"})
    assert r.json["id"] == r.headers["X-Request-ID"] == "mine-1"
    assert r.headers["X-Model-Version"] == str(r.json["version"]) == "1"
    made = client.post("/predict/red", json={"inputs": [[255, 0, 0]] * 12})  # the columns' writer, past FEW_ROWS
    assert made.json["id"] == made.headers["X-Request-ID"] and len(made.json["id"]) == 32
    v2 = client.post("/v2/models/red/infer", json={"inputs": [{"name": "input", "datatype": "INT64", "shape": [1, 3],
                                                               "data": [255, 0, 0]}]})
    assert v2.json["id"] == v2.headers["X-Request-ID"] and v2.headers["X-Model-Version"] == v2.json["model_version"]


def test_request_id_is_echoed_or_made(client):
    r = client.post("/predict/xor", json={"inputs": [[0, 1]]}, headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    r = client.post("/predict/xor", json={"inputs": [[0, 1]]}, headers={"X-Request-ID": "bad id <script>"})
    assert len(r.headers["X-Request-ID"]) == 32


def nested(depth):
    return "[" * depth + "]" * depth


# (what, path, body (dict -> JSON, str/bytes -> raw), content type, status, message fragment)
BAD = [
    ("string in a row", "/predict/red", {"inputs": [[255, "0", 0]]}, None, 422, '"0" (a string) is not a number'),
    ("boolean", "/predict/red", {"inputs": [[True, 0, 0]]}, None, 422, "true (a boolean) is not a number"),
    ("null", "/predict/red", {"inputs": [[None, 0, 0]]}, None, 422, "null is not a number"),
    ("float for red", "/predict/red", {"inputs": [[255.5, 0, 0]]}, None, 422, "not a whole number"),
    ("fraction for red", "/predict/red", {"inputs": [[0, 0.001, 0]]}, None, 422, "0.001 is not a whole number"),
    ("above range", "/predict/red", {"inputs": [[256, 0, 0]]}, None, 422, "256 is outside 0..255"),
    ("below range", "/predict/red", {"inputs": [[0, -1, 0]]}, None, 422, "-1 is outside 0..255"),
    ("huge number", "/predict/red", {"inputs": [[10**30, 0, 0]]}, None, 422, "is outside 0..255"),
    ("huge float", "/predict/xor", {"inputs": [[1e308, 0]]}, None, 422, "is outside"),
    ("NaN literal", "/predict/xor", '{"inputs": [[NaN, 0]]}', None, 400, "not valid JSON"),
    ("Infinity literal", "/predict/xor", '{"inputs": [[Infinity, 0]]}', None, 400, "not valid JSON"),
    ("empty list", "/predict/red", {"inputs": []}, None, 422, "at least one row"),
    ("inputs not a list", "/predict/red", {"inputs": "255,0,0"}, None, 422, "inputs must be a list of rows"),
    ("inputs missing", "/predict/red", {}, None, 422, "inputs: Missing data"),
    ("unknown top-level field", "/predict/red", {"inputs": [[1, 2, 3]], "extra": 1}, None, 422,
     "'extra' is not a field here; the body's fields are inputs"),
    ("row too short", "/predict/red", {"inputs": [[1, 2]]}, None, 422, "row 0 has 2"),
    ("row too long", "/predict/red", {"inputs": [[1, 2, 3, 4]]}, None, 422, "row 0 has 4"),
    ("ragged rows", "/predict/red", {"inputs": [[1, 2, 3], [1, 2]]}, None, 422, "row 1 has 2"),
    ("row is a number", "/predict/red", {"inputs": [5]}, None, 422, "row 0 is a number"),
    ("row is a string", "/predict/red", {"inputs": [[1, 2, 3], "1,2,3"]}, None, 422, "row 1 is a string"),
    ("unknown feature key", "/predict/red", {"inputs": [{"r": 1, "g": 2, "b": 3, "a": 4}]}, None, 422,
     "unknown field(s) ['a']"),
    ("missing feature key", "/predict/red", {"inputs": [{"r": 1, "g": 2}]}, None, 422, "missing ['b']"),
    ("nested row", "/predict/red", {"inputs": [[[1], 2, 3]]}, None, 422, "[1] (a list) is not a number"),
    ("too many rows", "/predict/xor", {"inputs": [[0, 0]] * 1001}, None, 413, "at most 1000"),
    ("oversize body", "/predict/xor", {"inputs": [[0.123456789, 0.123456789]] * 3000}, None, 413, "larger than"),
    ("malformed JSON", "/predict/red", '{"inputs": [[1, 2, 3]', None, 400, "not valid JSON"),
    ("missing body", "/predict/red", "", None, 400, "not valid JSON"),
    ("body is a list", "/predict/red", "[[1, 2, 3]]", None, 422, "not a list: send it as {\"inputs\": <that list>}"),
    ("wrong content type", "/predict/red", '{"inputs": [[1, 2, 3]]}', "text/plain", 415, "Content-Type"),
    ("form content type", "/predict/red", "inputs=1", "application/x-www-form-urlencoded", 415, "JSON"),
    ("invalid UTF-8", "/predict/red", b'{"inputs": [[1, 2, \xff]]}', None, 400, "not valid JSON"),
    ("deeply nested JSON", "/predict/red", '{"inputs": ' + nested(5000) + "}", None, 400, "not valid JSON"),
    ("unknown model", "/predict/purple", {"inputs": [[1, 2, 3]]}, None, 404, "No model named 'purple'"),
    ("unknown version", "/predict/red/versions/99", {"inputs": [[1, 2, 3]]}, None, 404, "has no version 99"),
    ("unknown label", "/predict/red/labels/prod", {"inputs": [[1, 2, 3]]}, None, 404, "no label 'prod'"),
    ("GET on predict", "/predict/red", None, None, 405, "not allowed"),
    ("string for iris", "/predict/iris", {"inputs": [["5.1", 3.5, 1.4, 0.2]]}, None, 422, "(a string) is not a number"),
    ("iris out of bounds", "/predict/iris", {"inputs": [[-5.1, 3.5, 1.4, 0.2]]}, None, 422, "outside"),
]


@pytest.mark.parametrize(("what", "path", "body", "ctype", "status", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_table(client, what, path, body, ctype, status, fragment):
    if body is None:
        r = client.get(path)
    elif isinstance(body, dict):
        r = client.post(path, data=json.dumps(body), content_type=ctype or "application/json")
    else:
        r = client.post(path, data=body, content_type=ctype or "application/json")
    assert r.status_code == status, (what, r.json)
    assert r.json["code"] == status
    assert fragment in r.json["message"] or any(fragment in e.get("message", "") for e in r.json.get("errors", [])), \
        (what, r.json)
    assert r.headers["Content-Type"].startswith("application/json")
    # a bad request changes nothing: the next good one works
    ok = client.post("/predict/red", json={"inputs": [[255, 0, 0]]})
    assert ok.status_code == 200 and ok.json["predictions"][0]["label"] in ("red", "not_red")


def test_table_is_at_least_thirty_kinds():
    assert len(BAD) >= 30


def test_validation_errors_name_row_column_and_feature(client):
    r = client.post("/predict/red", json={"inputs": [[1, 2, 3], [4, 300, 6]]})
    assert r.status_code == 422
    assert r.json["errors"][0] == {"field": "inputs", "row": 1, "column": 1, "feature": "g",
                                   "message": "300 is outside 0..255"}


def test_whole_numbers_spelled_as_floats_are_taken_alike_by_predict_and_v2(client):
    native = client.post("/predict/red", json={"inputs": [[255.0, 0, 0.0]]})
    assert native.status_code == 200, native.json
    v2 = client.post("/v2/models/red/infer", json={"inputs": [
        {"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [255.0, 0, 0.0]}]})
    assert v2.status_code == 200, v2.json
    assert v2.json["outputs"][1]["data"] == [native.json["predictions"][0]["label"]]
    assert client.post("/predict/red", json={"inputs": [[255.5, 0, 0]]}).status_code == 422
    bad = client.post("/v2/models/red/infer", json={"inputs": [
        {"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [255.5, 0, 0]}]})
    assert bad.status_code == 400 and "not a whole number" in bad.json["error"]


def test_errors_echo_at_most_a_few_dozen_characters_of_what_the_client_sent(client, store):
    for _ in range(30):
        store.publish("xor", store.load("xor", 1))
    client.application.extensions["tinymlp.registry"].refresh()
    long = "a" * 3000
    for path in (f"/predict/xor/labels/{long}", f"/predict/{long}", f"/models/{long}"):
        r = client.post(path, json={"inputs": [[0, 1]]}) if path.startswith("/predict") else client.get(path)
        assert r.status_code == 404 and len(r.json["message"]) < 400, r.json
    r = client.post("/predict/xor/versions/999", json={"inputs": [[0, 1]]})
    assert r.status_code == 404 and "31 in all" in r.json["message"] and len(r.json["message"]) < 400, r.json


def test_metrics_name_only_the_versions_a_worker_keeps_loaded(store, store_dir, app, client):
    # 4,000 requests to pinned versions of a model with 500 versions grew /metrics 90-fold: a
    # version the worker does not keep loaded (served, labelled, the newest few) is "other".
    from trainer import pipeline

    (store_dir / "xorcard").mkdir()  # a model no other test names
    text = (store_dir / "xor" / "1.json").read_text()
    (store_dir / "xorcard" / "1.json").write_text(text.replace('"name":"xor"', '"name":"xorcard"'))
    for _ in range(7):
        pipeline.continue_training(store, "xorcard", config=TASKS["xor"].train.replace(epochs=1), samples=200)
    app.extensions["tinymlp.registry"].refresh()
    loaded = set(app.extensions["tinymlp.registry"].entry("xorcard").loaded)
    assert len(loaded) <= 4 < 8  # the served version and the newest 3 (TINYMLP_KEEP_LOADED)
    for v in range(1, 9):
        assert client.post(f"/predict/xorcard/versions/{v}", json={"inputs": [[0, 1]]}).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    named = set(re.findall(r'tinymlp_rows_predicted_total\{model="xorcard",version="([^"]+)"\}', text))
    assert named == {*map(str, loaded), "other"}
