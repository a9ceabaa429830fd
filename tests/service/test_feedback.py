"""Feedback, live quality and drift in-process, on a real SQLite prediction log: every answer
carries its request id; feedback by request id in its three forms, checked whole before
anything is written (401, 403, 404, 422), idempotent, counting for the version that answered;
live figures equal a recomputation from the log; drift per feature from the log; the log off
queues nothing; a database that is away or a full queue drops rows, counted, never a 5xx."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest
from prometheus_client import REGISTRY

from service import create_app, extensions
from service.config import Config

FEEDBACK_TOKEN = "feedback-secret-0123456789"
TRAIN_TOKEN = "training-secret-0123456789"
FB = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}
TRAIN = {"Authorization": f"Bearer {TRAIN_TOKEN}"}


def _app(store_dir, **changes):
    cfg = Config(models_dir=str(store_dir), state_dir=str(store_dir.parent / "state"), start_reloader=False,
                 log_level="WARNING", feedback_token=FEEDBACK_TOKEN, train_token=TRAIN_TOKEN)
    return create_app(cfg.replace(**changes))


@pytest.fixture
def app(store_dir):
    app = _app(store_dir)
    yield app
    extensions.close(app)


@pytest.fixture
def client(app):
    return app.test_client()


def predict(app, client, model, rows, path=None, headers=None):
    """A predict request whose answer has gone (its observers ran), and the log written."""
    r = client.post(path or f"/predict/{model}", json={"inputs": rows}, headers=headers or {})
    r.close()  # the answer is sent: the observers run
    assert r.status_code == 200, r.json
    assert extensions.prediction_logs(app).flush()
    return r


def metric(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_answer_carries_its_request_id_and_a_clients_own_is_kept(app, client):
    r = predict(app, client, "red", [[255, 0, 0]])
    assert r.json["id"] == r.headers["X-Request-ID"] and len(r.json["id"]) == 32
    mine = predict(app, client, "red", [[255, 0, 0]], headers={"X-Request-ID": "my-id.1"})
    assert mine.json["id"] == mine.headers["X-Request-ID"] == "my-id.1"
    v2 = client.post("/v2/models/red/infer", json={"inputs": [
        {"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [255, 0, 0]}]})
    v2.close()
    assert v2.json["id"] == v2.headers["X-Request-ID"]


def test_feedback_takes_its_own_token_and_is_off_without_one(store_dir):
    app = _app(store_dir, feedback_token=None)
    try:
        c = app.test_client()
        off = c.post("/feedback/red", json={"request_id": "x", "labels": ["red"]}, headers=FB)
        assert off.status_code == 403 and "TINYMLP_FEEDBACK_TOKEN" in off.json["message"]
        # Without a token to send, none is sent: still 403 saying how to turn feedback on, not a
        # 401 asking for the value of a variable that is not set.
        bare = c.post("/feedback/red", json={"request_id": "x", "labels": ["red"]})
        assert bare.status_code == 403 and "TINYMLP_FEEDBACK_TOKEN" in bare.json["message"]
    finally:
        extensions.close(app)


def test_without_the_right_token_it_is_401_and_the_training_token_is_not_it(client):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, TRAIN):
        r = client.post("/feedback/red", json={"request_id": "x", "labels": ["red"]}, headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_three_forms_and_a_replacement_the_answer_names(app, client):
    a = predict(app, client, "red", [[255, 0, 0], [0, 0, 255], [250, 10, 10]]).json
    b = predict(app, client, "red", [[10, 200, 40]]).json
    first = client.post("/feedback/red", json={"request_id": a["id"], "labels": ["red", "not_red", "red"]},
                        headers=FB)
    assert first.status_code == 200, first.json
    assert (first.json["rows"], first.json["new"], first.json["versions"]) == (3, 3, {a["id"]: 1})
    one = client.post("/feedback/red", json={"request_id": b["id"], "row": 0, "label": "not_red"}, headers=FB).json
    assert (one["rows"], one["new"]) == (1, 1)
    again = client.post("/feedback/red", headers=FB, json=[
        {"request_id": a["id"], "labels": ["red", "not_red", "red"]},  # the same again: counted once
        {"request_id": b["id"], "row": 0, "label": "red"}]).json  # a different truth: it replaces
    assert (again["rows"], again["new"], again["unchanged"], again["replaced"]) == (4, 0, 3, 1)
    assert again["replacements"] == [{"request_id": b["id"], "row": 0, "version": 1, "previous": "not_red",
                                      "now": "red"}]
    live = client.get("/models/red/versions/1").json["live"]
    assert live["feedback_rows"] == live["since_serving"]["feedback_rows"] == 4


@pytest.mark.parametrize(("item", "status", "says"), [
    ({"labels": ["red", "purple"]}, 422, "'purple' is not a label of red"),
    ({"labels": ["red"]}, 422, "predicted 2 rows; labels holds 1"),
    ({"row": 2, "label": "red"}, 422, "row 2 was not predicted"),
    ({"values": [1.0, 2.0]}, 422, "red is a classifier"),
    ({"labels": ["red", "red"], "row": 0}, 422, "leave out row"),
    ({"label": "red"}, 422, "give its row"),
])
def test_a_body_that_does_not_fit_the_logged_request_is_refused_whole(app, client, item, status, says):
    rid = predict(app, client, "red", [[255, 0, 0], [0, 0, 255]]).json["id"]
    good = {"request_id": predict(app, client, "red", [[255, 0, 0]]).json["id"], "row": 0, "label": "red"}
    r = client.post("/feedback/red", json=[good, {"request_id": rid, **item}], headers=FB)
    assert r.status_code == status and says in r.json["message"], r.json
    assert client.get("/models/red").json["live"]["feedback_rows"] == 0  # nothing was written


def test_a_row_given_twice_in_one_body_is_refused(app, client):
    rid = predict(app, client, "red", [[255, 0, 0]]).json["id"]
    r = client.post("/feedback/red", json=[{"request_id": rid, "row": 0, "label": "red"},
                                           {"request_id": rid, "labels": ["not_red"]}], headers=FB)
    assert r.status_code == 422 and "given twice" in r.json["message"]


def test_a_regressor_takes_values_and_reports_mae_and_rmse(app, client):
    r = predict(app, client, "house_prices", [[1500, 3, 10], [2500, 4, 2]]).json
    values = [p["value"] for p in r["predictions"]]
    assert client.post("/feedback/house_prices", json={"request_id": r["id"], "labels": ["a", "b"]},
                       headers=FB).status_code == 422
    ok = client.post("/feedback/house_prices", json={"request_id": r["id"], "values": [values[0] + 3, values[1] - 4]},
                     headers=FB)
    assert ok.status_code == 200, ok.json
    live = client.get("/models/house_prices").json["live"]
    assert live["feedback_rows"] == 2 and live["mae"] == pytest.approx(3.5, rel=1e-5)
    assert live["rmse"] == pytest.approx(((9 + 16) / 2) ** 0.5, rel=1e-5) and "accuracy" not in live


def test_an_unknown_or_expired_request_id_is_404_and_nothing_is_recorded(app, client):
    rid = predict(app, client, "red", [[255, 0, 0]]).json["id"]
    unknown = client.post("/feedback/red", json=[{"request_id": rid, "labels": ["red"]},
                                                 {"request_id": "never-logged", "labels": ["red"]}], headers=FB)
    assert unknown.status_code == 404 and "'never-logged'" in unknown.json["message"]
    assert client.post("/feedback/xor", json={"request_id": rid, "labels": ["1"]}, headers=FB).status_code == 404
    assert client.post("/feedback/purple", json={"request_id": rid, "labels": ["1"]}, headers=FB).status_code == 404
    assert client.get("/models/red").json["live"]["feedback_rows"] == 0
    extensions.prediction_logs(app).log().sweep(keep_seconds=0.0, max_rows=10**9)  # it expires
    expired = client.post("/feedback/red", json={"request_id": rid, "labels": ["red"]}, headers=FB)
    assert expired.status_code == 404 and "expired" in expired.json["message"]


def test_feedback_counts_for_the_version_that_answered(app, client, store):
    store.publish("red", store.load("red", 1))  # version 2, served from now on
    extensions.registry(app).refresh()
    old = predict(app, client, "red", [[255, 0, 0]], path="/predict/red/versions/1").json
    new = predict(app, client, "red", [[255, 0, 0], [0, 0, 255]]).json
    assert (old["version"], new["version"]) == (1, 2)
    r = client.post("/feedback/red", json=[{"request_id": old["id"], "labels": ["red"]},
                                           {"request_id": new["id"], "labels": ["red", "red"]}], headers=FB).json
    assert r["versions"] == {old["id"]: 1, new["id"]: 2}
    assert client.get("/models/red/versions/1").json["live"]["feedback_rows"] == 1
    assert client.get("/models/red").json["live"]["feedback_rows"] == 2  # the served one's


def _recount(state_dir, model, version, window):
    """Live quality from the log's own rows: each feedback row's truth against the label the
    logged outputs of its request give for its row."""
    db = sqlite3.connect(state_dir / "jobs.sqlite3")
    try:
        rows = db.execute(
            "SELECT f.truth, f.row_index, p.n_rows, p.outputs, p.out_dtype FROM feedback f JOIN predictions p "
            "ON p.model = f.model AND p.request_id = f.request_id WHERE f.model = ? AND f.version = ? "
            "ORDER BY f.seq", (model, version)).fetchall()
    finally:
        db.close()
    labels = ["red", "not_red"]
    pairs = [(truth, labels[int(np.frombuffer(out, dtype).reshape(n, -1)[row].argmax())])
             for truth, row, n, out, dtype in rows]

    def figures(some):
        recall = {}
        for label in sorted({t for t, _ in some}):
            mine = [p == t for t, p in some if t == label]
            recall[label] = sum(mine) / len(mine)
        return len(some), sum(t == p for t, p in some) / len(some), recall

    return figures(pairs), figures(pairs[-window:])


def test_live_quality_equals_a_recomputation_from_the_log(store_dir):
    app = _app(store_dir, feedback_window=25)
    try:
        client = app.test_client()
        rng = np.random.default_rng(7)
        for _ in range(12):
            rows = rng.integers(0, 256, size=(int(rng.integers(1, 9)), 3)).tolist()
            rid = predict(app, client, "red", rows).json["id"]
            truths = rng.choice(["red", "not_red"], size=len(rows)).tolist()
            sent = client.post("/feedback/red", json={"request_id": rid, "labels": truths}, headers=FB)
            assert sent.status_code == 200
            if rng.random() < 0.5:  # now and then a row's truth changes
                flip = int(rng.integers(0, len(rows)))
                client.post("/feedback/red", json={"request_id": rid, "row": flip,
                                                   "label": "red" if truths[flip] == "not_red" else "not_red"},
                            headers=FB)
        (n, accuracy, recall), (wn, waccuracy, wrecall) = _recount(store_dir.parent / "state", "red", 1, 25)
        for live in (client.get("/models/red/versions/1").json["live"], client.get("/models/red").json["live"]):
            since = live["since_serving"]
            assert (since["feedback_rows"], since["accuracy"], since["recall"]) == (n, accuracy, recall)
            assert (live["feedback_rows"], live["accuracy"], live["recall"]) == (wn, waccuracy, wrecall)
            assert live["window"] == 25 and live["curve"][-1]["rows"] == 25
        scraped = client.get("/metrics").data.decode()
        assert f'tinymlp_feedback_accuracy{{model="red",window="since_serving"}} {accuracy!r}' in scraped
        assert f'tinymlp_feedback_rows{{model="red",window="recent"}} {float(wn)!r}' in scraped
    finally:
        extensions.close(app)


def test_drift_is_measured_on_the_served_versions_latest_rows(app, client):
    from core.store import ModelStore

    ref = ModelStore(app.config["TINYMLP"].models_dir).open("red").info.training.reference
    rng = np.random.default_rng(3)
    empty = client.get("/models/red/drift").json
    assert empty["available"] and empty["window_rows"] == 0 and empty["features"]["r"] == {"psi": None, "ks": None}
    rows = rng.integers(0, 256, size=(600, 3))
    rows[:, 1] = rng.integers(200, 256, size=600)  # every green high
    predict(app, client, "red", rows.tolist())
    d = client.get("/models/red/drift").json
    assert (d["model"], d["version"], d["window_rows"], d["window"]) == ("red", 1, 600, 1000)
    assert d["reference_rows"] == ref.rows and set(d["features"]) == {"r", "g", "b"}
    assert d["features"]["g"]["psi"] > 1 and d["features"]["g"]["ks"] > 0.5
    assert d["features"]["g"]["psi"] > 5 * d["features"]["r"]["psi"]
    assert d["prediction"]["psi"] >= 0
    assert client.get("/models/red/drift").json == d  # read from the log: the same whoever asks
    scraped = client.get("/metrics").data.decode()
    assert f'tinymlp_drift_psi{{feature="g",model="red"}} {d["features"]["g"]["psi"]!r}' in scraped


def test_a_version_without_reference_quantiles_says_drift_is_unavailable(app, client, store):
    path = store.path("xor", 1)
    doc = json.loads(path.read_text())
    del doc["training"]["reference"]  # as a file written before references were recorded
    path.write_text(json.dumps(doc))
    extensions.registry(app).refresh()
    d = client.get("/models/xor/drift").json
    assert d["available"] is False and "no reference quantiles" in d["reason"] and d["features"] == {}
    assert client.get("/models/xor/versions/1").json["training"]["drift_reference"] is False
    assert client.get("/models/red/versions/1").json["training"]["drift_reference"] is True


def test_at_rate_zero_nothing_is_queued_and_feedback_says_the_log_is_off(store_dir):
    app = _app(store_dir, prediction_log_rate=0.0)
    try:
        client = app.test_client()
        logs = extensions.prediction_logs(app)
        assert logs.observe not in extensions.observers(app)
        rid = predict(app, client, "red", [[255, 0, 0]]).json["id"]
        assert logs._given == 0 and logs._thread is None
        r = client.post("/feedback/red", json={"request_id": rid, "labels": ["red"]}, headers=FB)
        assert r.status_code == 404 and "TINYMLP_PREDICTION_LOG_RATE=0" in r.json["message"]
    finally:
        extensions.close(app)


def test_a_database_that_cannot_be_used_drops_rows_counted_and_predictions_still_answer(store_dir, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app = _app(store_dir, state_dir=str(blocker / "state"))  # the log's SQLite file cannot be made
    try:
        client = app.test_client()
        before = metric("tinymlp_prediction_log_dropped_rows_total", reason="database")
        for _ in range(3):
            r = predict(app, client, "red", [[255, 0, 0], [1, 2, 3]])
            assert r.status_code == 200
        assert metric("tinymlp_prediction_log_dropped_rows_total", reason="database") - before == 6
        r = client.post("/feedback/red", json={"request_id": "x", "labels": ["red"]}, headers=FB)
        assert r.status_code == 503 and "prediction log cannot be used" in r.json["message"]
        assert "error" in client.get("/models/red").json["live"]
        assert "tinymlp_prediction_log_up 0.0" in client.get("/metrics").data.decode()
    finally:
        extensions.close(app)


def test_a_full_queue_drops_the_request_counted_and_it_still_answers(app, client):
    logs = extensions.prediction_logs(app)
    logs.max_pending_bytes = 100  # five rows of red hold 5 * 3 * 8 + 5 * 2 * 4 = 160 bytes
    before = metric("tinymlp_prediction_log_dropped_rows_total", reason="queue_full")
    r = predict(app, client, "red", [[1, 2, 3]] * 5)
    assert r.status_code == 200
    assert metric("tinymlp_prediction_log_dropped_rows_total", reason="queue_full") - before == 5
    assert logs.log().find("red", [r.json["id"]]) == {}


def test_a_repeated_request_id_is_logged_once_and_feedback_applies_to_the_first(app, client):
    before = metric("tinymlp_prediction_log_repeated_ids_total")
    first = predict(app, client, "red", [[255, 0, 0]], headers={"X-Request-ID": "same-id"}).json
    predict(app, client, "red", [[0, 0, 255], [0, 0, 250]], headers={"X-Request-ID": "same-id"})
    assert metric("tinymlp_prediction_log_repeated_ids_total") - before == 1
    r = client.post("/feedback/red", json={"request_id": "same-id", "labels": ["red"]}, headers=FB)
    assert r.status_code == 200 and first["id"] == "same-id"


def test_the_retraining_policy_is_set_read_and_removed_with_the_training_token(client):
    assert client.get("/models/red/retraining").json == {"model": "red", "enabled": False, "policy": None}
    assert client.put("/models/red/retraining", json={"after_feedback": 50}).status_code == 401
    assert client.put("/models/red/retraining", json={"after_feedback": 50}, headers=FB).status_code == 401
    r = client.put("/models/red/retraining", json={"after_feedback": 50, "accuracy_below": 0.9}, headers=TRAIN)
    assert r.status_code == 200 and r.json["enabled"] and r.json["policy"]["after_feedback"] == 50
    assert r.json["policy"]["holdout"] == 0.2 and r.json["new_feedback"] == 0
    assert client.get("/models/red/retraining").json["policy"] == r.json["policy"]
    bad = client.put("/models/red/retraining", json={"min_feedback": 5}, headers=TRAIN)
    assert bad.status_code == 422 and "after_feedback" in bad.json["message"]
    assert client.put("/models/red/retraining", json={"after_feedback": 5, "promote": "always"},
                      headers=TRAIN).status_code == 422
    assert client.put("/models/house_prices/retraining", json={"accuracy_below": 0.5},
                      headers=TRAIN).status_code == 409  # a regressor has no accuracy
    assert client.put("/models/purple/retraining", json={"after_feedback": 5}, headers=TRAIN).status_code == 404
    assert client.delete("/models/red/retraining", headers=TRAIN).json["enabled"] is False
    assert client.get("/models/red/retraining").json["enabled"] is False


def test_the_document_describes_feedback_with_its_own_token(client):
    doc = client.get("/openapi.json").json
    post = doc["paths"]["/feedback/red"]["post"]
    assert post["security"] == [{"feedbackAuth": []}] and {"401", "403", "404", "422"} <= set(post["responses"])
    assert "oneOf" in post["requestBody"]["content"]["application/json"]["schema"]
    assert "/models/red/drift" in doc["paths"] and "put" in doc["paths"]["/models/red/retraining"]
    assert doc["components"]["securitySchemes"]["feedbackAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("huge", [1e308, -1e200, 1e160])
def test_a_regressor_value_too_large_to_measure_is_refused_and_the_row_stays_usable(app, client, huge):
    """A finite value whose squared error overflows (or swamps the running totals) is a 422
    naming it, nothing is written, and the row still takes a sane value afterwards, never a
    500 (an infinite error in the totals made every later truth for the row a NOT NULL 500)."""
    r = predict(app, client, "house_prices", [[1500, 3, 10]]).json
    bad = client.post("/feedback/house_prices", json={"request_id": r["id"], "values": [huge]}, headers=FB)
    assert bad.status_code == 422 and "too large" in bad.json["message"], bad.json
    assert client.get("/models/house_prices").json["live"]["feedback_rows"] == 0
    value = r["predictions"][0]["value"]
    ok = client.post("/feedback/house_prices", json={"request_id": r["id"], "row": 0, "value": value + 2},
                     headers=FB)
    assert ok.status_code == 200 and ok.json["new"] == 1, ok.json
    live = client.get("/models/house_prices").json["live"]
    assert live["mae"] == pytest.approx(2, rel=1e-4) and live["since_serving"]["rmse"] == pytest.approx(2, rel=1e-4)


def test_a_v2_request_with_its_own_id_takes_feedback_by_that_id(app, client):
    """A V2 client (tritonclient's request_id) sends its id in the body and the answer's id is
    it: that id is the request's id (logged, X-Request-ID), so feedback by it is matched. An id
    that is not a safe request id is still echoed, and the request is known by X-Request-ID."""
    tensor = {"name": "input", "shape": [1, 3], "datatype": "INT64", "data": [255, 0, 0]}
    for headers in ({}, {"X-Request-ID": "the-header-id"}):
        body_id = f"triton-{len(headers)}"
        r = client.post("/v2/models/red/infer", json={"id": body_id, "inputs": [tensor]}, headers=headers)
        r.close()
        assert extensions.prediction_logs(app).flush()
        assert r.json["id"] == r.headers["X-Request-ID"] == body_id
        fb = client.post("/feedback/red", json={"request_id": body_id, "labels": ["red"]}, headers=FB)
        assert fb.status_code == 200 and fb.json["new"] == 1, fb.json
    r = client.post("/v2/models/red/infer", json={"id": "not a safe id!", "inputs": [tensor]})
    r.close()
    assert extensions.prediction_logs(app).flush()
    assert r.json["id"] == "not a safe id!" and len(r.headers["X-Request-ID"]) == 32
    fb = client.post("/feedback/red", json={"request_id": r.headers["X-Request-ID"], "labels": ["red"]}, headers=FB)
    assert fb.status_code == 200, fb.json


def test_a_request_id_of_another_model_is_404_saying_which_model_it_belongs_to(app, client):
    rid = predict(app, client, "house_prices", [[1500, 3, 10]]).json["id"]
    r = client.post("/feedback/red", json={"request_id": rid, "labels": ["red"]}, headers=FB)
    assert r.status_code == 404 and "/feedback/house_prices" in r.json["message"], r.json
    assert client.get("/models/red").json["live"]["feedback_rows"] == 0


def test_a_list_item_that_is_not_an_object_is_named(client):
    r = client.post("/feedback/red", json=[{"request_id": "a", "row": 0, "label": "red"}, 5], headers=FB)
    assert r.status_code == 422 and "item 1" in r.json["message"] and "object" in r.json["message"], r.json


@pytest.mark.parametrize("change", ["drop_feature", "swap_features", "drop_class", "extra_class"])
def test_a_reference_that_does_not_fit_the_version_says_drift_is_unavailable_never_a_500(app, client, store, change):
    """A file whose reference does not match its own features or labels (edited, or copied
    from another model) answers available: false saying why; /metrics still scrapes."""
    path = store.path("red", 1)
    doc = json.loads(path.read_text())
    ref = doc["training"]["reference"]
    if change == "drop_feature":
        del ref["features"]["b"]
    elif change == "swap_features":
        ref["features"] = {k: ref["features"][k] for k in ("g", "r", "b")}
    elif change == "drop_class":
        del ref["prediction"]["classes"]["not_red"]
    else:
        ref["prediction"]["classes"]["purple"] = 0.0
    path.write_text(json.dumps(doc))
    extensions.registry(app).refresh()
    predict(app, client, "red", [[255, 0, 0], [0, 0, 255]])  # version 1 still serves
    d = client.get("/models/red/drift")
    assert d.status_code == 200 and d.json["available"] is False and "do not fit" in d.json["reason"], d.json
    assert client.get("/metrics").status_code == 200


def test_a_regressors_live_figures_equal_a_recomputation_from_the_log_exactly(app, client):
    """MAE and RMSE, over the window and since serving, equal those recounted from the truths
    sent and the logged outputs, to the last digit: while the window holds every feedback row
    the version has had, since_serving is not the running totals' (rounded by every truth that
    was replaced)."""
    rng = np.random.default_rng(11)
    for _ in range(15):
        rows = rng.uniform([600, 1, 0], [2900, 5, 40], size=(int(rng.integers(1, 6)), 3)).round().tolist()
        r = predict(app, client, "house_prices", rows).json
        preds = [p["value"] for p in r["predictions"]]
        client.post("/feedback/house_prices", headers=FB, json={
            "request_id": r["id"], "values": [p + float(rng.normal(0, 30000)) for p in preds]})
        if rng.random() < 0.6:  # a truth replaced
            i = int(rng.integers(0, len(rows)))
            client.post("/feedback/house_prices", headers=FB, json={
                "request_id": r["id"], "row": i, "value": preds[i] + float(rng.normal(0, 50000))})
    db = sqlite3.connect(app.config["TINYMLP"].state_dir + "/jobs.sqlite3")
    try:
        rows = db.execute("SELECT f.truth, f.row_index, p.n_rows, p.outputs, p.out_dtype FROM feedback f JOIN "
                          "predictions p ON p.model = f.model AND p.request_id = f.request_id "
                          "WHERE f.model = 'house_prices' ORDER BY f.seq").fetchall()
    finally:
        db.close()
    errors = [json.loads(truth)[0] - float(np.frombuffer(out, dtype).reshape(n, -1)[row][0])
              for truth, row, n, out, dtype in rows]
    mae = math.fsum(abs(e) for e in errors) / len(errors)
    rmse = math.sqrt(math.fsum(e * e for e in errors) / len(errors))
    live = client.get("/models/house_prices").json["live"]
    assert (live["feedback_rows"], live["mae"], live["rmse"]) == (len(errors), mae, rmse)
    since = live["since_serving"]
    assert (since["feedback_rows"], since["mae"], since["rmse"]) == (len(errors), mae, rmse)
