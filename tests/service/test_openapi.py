"""The OpenAPI document describes each served model under its own paths, exactly."""

from __future__ import annotations

import shutil

from service import apidoc
from service.openapi import Document
from service.registry import Snapshot


def _doc(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json


def _resolve(doc, node):
    while "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_each_model_has_its_own_paths_and_no_generic_ones_remain(client):
    paths = _doc(client)["paths"]
    for name in ("red", "xor", "iris", "house_prices"):
        for path in (f"/predict/{name}", f"/predict/{name}/versions/{{version}}", f"/predict/{name}/labels/{{label}}",
                     f"/v2/models/{name}/infer", f"/v2/models/{name}/versions/{{version}}/infer", f"/train/{name}"):
            assert path in paths, path
    assert not [p for p in paths if "{name}" in p]


def test_reds_rows_are_exactly_three_integers_0_to_255(client):
    doc = _doc(client)
    body = doc["paths"]["/predict/red"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    inputs = _resolve(doc, body)["properties"]["inputs"]
    array, obj = _resolve(doc, inputs["items"])["oneOf"]
    byte = {"type": "integer", "minimum": 0, "maximum": 255}
    assert array["type"] == "array" and array["minItems"] == array["maxItems"] == 3
    assert array["items"] == byte
    assert [{k: v for k, v in p.items() if k != "title"} for p in array["prefixItems"]] == [byte] * 3
    assert [p["title"] for p in array["prefixItems"]] == ["r", "g", "b"]
    assert obj["required"] == ["r", "g", "b"] and obj["additionalProperties"] is False
    assert all({k: v for k, v in obj["properties"][f].items() if k != "title"} == byte for f in "rgb")


def test_answers_name_the_labels_or_the_value(client):
    doc = _doc(client)
    ok = doc["paths"]["/predict/red"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    prediction = _resolve(doc, _resolve(doc, ok)["properties"]["predictions"]["items"])
    assert prediction["properties"]["label"]["enum"] == ["red", "not_red"]
    assert prediction["properties"]["probabilities"]["required"] == ["red", "not_red"]
    ok = doc["paths"]["/predict/house_prices"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert _resolve(doc, _resolve(doc, ok)["properties"]["predictions"]["items"])["properties"]["value"] == {
        "type": "number"}


def test_per_feature_bounds_of_a_mixed_model(client):
    doc = _doc(client)
    row = doc["components"]["schemas"]["Row-house_prices"]["oneOf"][0]
    lows = [p.get("minimum") for p in row["prefixItems"]]
    assert lows == [500, 1, 0] and [p["title"] for p in row["prefixItems"]] == ["sqft", "bedrooms", "age"]


def test_the_document_follows_the_store(client, store_dir, app):
    shutil.copytree(store_dir / "xor", store_dir / "xor2")
    for f in (store_dir / "xor2").glob("*.json"):  # the same files, named for the new model (pictures aside)
        f.write_text(f.read_text().replace('"name":"xor"', '"name":"xor2"'))
    assert "/predict/xor2" not in _doc(client)["paths"]
    app.extensions["tinymlp.registry"].refresh()
    assert "/predict/xor2" in _doc(client)["paths"]


def test_a_405_says_what_is_allowed(client):
    r = client.put("/predict/red", json={})
    assert r.status_code == 405 and r.headers["Allow"] == "OPTIONS, POST" and "POST" in r.json["message"]
    r = client.post("/train/jobs", json={})
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_each_snapshot_gets_its_own_document_even_where_ids_collide(app, monkeypatch):
    # A reload frees the old snapshot, and the allocator may give the next one its address:
    # a document cached by id() would then describe the old models. Whether an address is
    # reused is the allocator's business, so here every id() is made the same (the worst case)
    # and each snapshot must still get its own document, and the same snapshot the cached one.
    import service.openapi

    monkeypatch.setattr(service.openapi, "id", lambda obj: 1, raising=False)
    snapshot = app.extensions["tinymlp.registry"].snapshot
    document = Document(apidoc.build(app, description="test"), 100)
    for name in ("red", "xor", "iris", "red"):
        only = Snapshot({name: snapshot.models[name]}, True)
        doc = document.for_snapshot(only)
        assert sorted(p for p in doc["paths"] if p.startswith("/predict/")) == [
            f"/predict/{name}", f"/predict/{name}/labels/{{label}}", f"/predict/{name}/versions/{{version}}"]
        assert document.for_snapshot(only) is doc  # built once per snapshot
