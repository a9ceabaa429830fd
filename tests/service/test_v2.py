"""The V2 protocol in-process: every malformed body is a 400 {"error"} naming what is wrong
(never a 500), the outputs asked for are honoured, and the next good request works."""

from __future__ import annotations

import pytest

GOOD = {"name": "input", "datatype": "INT64", "shape": [1, 3], "data": [255, 0, 0]}


def infer(client, body, path="/v2/models/red/infer"):
    return client.post(path, json=body)


# (what, body, fragment of the error)
MALFORMED = [
    ("a row beside a number", {"inputs": [{**GOOD, "shape": [2, 3], "data": [[255, 0, 0], 5]}]}, "flat"),
    ("a null row", {"inputs": [{**GOOD, "shape": [2, 3], "data": [[255, 0, 0], None]}]}, "element 1 is null"),
    ("a null value", {"inputs": [{**GOOD, "data": [255, None, 0]}]}, "element 1 is null, not a number"),
    ("an output name that is a list", {"inputs": [GOOD], "outputs": [{"name": []}]}, "outputs.0.name"),
    ("an output that is a string", {"inputs": [GOOD], "outputs": ["label"]}, 'such as {"name": "label"}'),
    ("an unknown output", {"inputs": [GOOD], "outputs": [{"name": "logits"}]}, "unknown output"),
    ("no inputs", {}, "inputs"),
    ("inputs not a list", {"inputs": GOOD}, "inputs"),
    ("two tensors", {"inputs": [GOOD, GOOD]}, "exactly one tensor"),
    ("a tensor that is a number", {"inputs": [5]}, "must be a tensor object"),
    ("a wrong tensor name", {"inputs": [{**GOOD, "name": "x"}]}, "named 'input'"),
    ("an unknown datatype", {"inputs": [{**GOOD, "datatype": "BF16"}]}, "datatype"),
    ("BYTES data", {"inputs": [{**GOOD, "datatype": "BYTES"}]}, "datatype"),
    ("a shape of one number", {"inputs": [{**GOOD, "shape": [3]}]}, "[N, n_features]"),
    ("a shape of strings", {"inputs": [{**GOOD, "shape": ["1", "3"]}]}, "shape"),
    ("a shape of booleans", {"inputs": [{**GOOD, "shape": [True, 3]}]}, "shape"),
    ("a wrong feature count", {"inputs": [{**GOOD, "shape": [1, 2], "data": [255, 0]}]}, "[N, 3]"),
    ("too few values", {"inputs": [{**GOOD, "shape": [2, 3]}]}, "needs 6"),
    ("rows of the wrong length", {"inputs": [{**GOOD, "shape": [2, 3], "data": [[1, 2], [3, 4]]}]}, "2 rows of 3"),
    ("data not a list", {"inputs": [{**GOOD, "data": "255,0,0"}]}, "data"),
    ("a string value", {"inputs": [{**GOOD, "data": [255, "0", 0]}]}, "\"0\" (a string), not a number"),
    ("a boolean value", {"inputs": [{**GOOD, "data": [255, True, 0]}]}, "true (a boolean), not a number"),
    ("a fraction in an INT tensor", {"inputs": [{**GOOD, "data": [255, 0.5, 0]}]}, "not a INT64"),
    ("out of a UINT8's range", {"inputs": [{**GOOD, "datatype": "UINT8", "data": [256, 0, 0]}]}, "UINT8"),
    ("out of the model's bounds", {"inputs": [{**GOOD, "data": [256, 0, 0]}]}, "outside 0..255"),
    ("a fraction for red in FP32", {"inputs": [{**GOOD, "datatype": "FP32", "data": [0.5, 0, 0]}]}, "whole number"),
    ("an unknown top-level field", {"inputs": [GOOD], "extra": 1}, "'extra' is not a field here"),
    ("an id that is a number", {"inputs": [GOOD], "id": 5}, "id"),
    ("parameters that are a list", {"inputs": [GOOD], "parameters": [1]}, "parameters"),
    ("a nested parameter", {"inputs": [GOOD], "parameters": {"a": {"b": 1}}}, "string, number or boolean"),
    ("binary input data", {"inputs": [{**GOOD, "parameters": {"binary_data_size": 24}}]}, "binary"),
    ("the body is a list", [GOOD], "JSON object"),
]


@pytest.mark.parametrize(("what", "body", "fragment"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_body_is_a_400_naming_what_is_wrong(client, what, body, fragment):
    r = infer(client, body)
    assert r.status_code == 400, (what, r.json)
    assert set(r.json) == {"error"} and fragment in r.json["error"], (what, r.json)
    assert infer(client, {"inputs": [GOOD]}).status_code == 200


def test_broken_json_and_an_unknown_model(client):
    r = client.post("/v2/models/red/infer", data=b'{"inputs": [', content_type="application/json")
    assert r.status_code == 400 and "not valid JSON" in r.json["error"]
    r = infer(client, {"inputs": [GOOD]}, "/v2/models/nope/infer")
    assert r.status_code == 404 and "nope" in r.json["error"]


def test_the_outputs_asked_for_are_the_outputs_answered(client):
    both = infer(client, {"inputs": [GOOD]}).json["outputs"]
    assert [o["name"] for o in both] == ["probabilities", "label"]
    only = infer(client, {"inputs": [GOOD], "outputs": [{"name": "label"}]}).json["outputs"]
    assert only == [both[1]]
    r = infer(client, {"id": "abc", "inputs": [{**GOOD, "shape": [2, 3], "data": [[255, 0, 0], [0, 0, 255]]}]})
    assert r.json["id"] == "abc" and r.json["outputs"][1]["data"] == ["red", "not_red"]


def test_a_real_model_takes_real_datatypes_only(client):
    good = {"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [0.1, 0.9]}
    assert infer(client, {"inputs": [good]}, "/v2/models/xor/infer").status_code == 200
    r = infer(client, {"inputs": [{**good, "datatype": "INT64", "data": [0, 1]}]}, "/v2/models/xor/infer")
    assert r.status_code == 400 and "FP32, FP64" in r.json["error"]
