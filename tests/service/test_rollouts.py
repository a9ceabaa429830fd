"""Rollouts in the service, in-process: routing (the share, sticky keys on every worker, pinned
and labelled URLs bypassing, both protocols saying who answered), comparisons that equal an
offline replay, a candidate that fails never failing an answer, the guards rolling back by
themselves, promotion, the document, the metrics, and every bad request refused."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

import mlp
from core.rollouts import control
from core.rollouts.figures import Comparer, figures
from core.rollouts.records import Status
from core.store import ModelStore
from harness.stores import publish_nudged, publish_opposite
from service import create_app, extensions
from service.config import Config
from service.schemas.rollouts import RolloutAnswer

TOKEN = "rollout-token-0123456789ab"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NEVER = {"min_rows": 10**9}  # guards that never act: figures without an ending


def _publish_changed(store: ModelStore, name: str, change) -> int:
    """A copy of the served version, changed by ``change(net)``, published unserved."""
    net = store.load(name)
    change(net)
    net.weights_changed()
    meta = {k: v for k, v in net.metadata.items() if k not in ("name", "version")}
    with store.default_pinned(name):
        return store.publish(name, net, **meta).version


@pytest.fixture
def store_dir(seeded_store_dir, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(seeded_store_dir, root)
    store = ModelStore(root)
    assert publish_opposite(store, "red").version == 2  # answers the opposite class
    assert publish_nudged(store, "red", 0.5, seed=7).version == 3  # a near copy: agrees on most rows, not all
    assert publish_nudged(store, "red", 0.0).version == 4  # the same network: agrees everywhere

    def narrow(net):  # refuses red above 100
        spec = net.input_spec
        net.input_spec = mlp.InputSpec(spec.features, spec.dtype, spec.low, (100.0, *spec.high[1:]))

    assert _publish_changed(store, "red", narrow) == 5
    return root


def _config(store_dir, **changes):
    return Config(**{"models_dir": str(store_dir), "state_dir": str(store_dir.parent / "state"),
                     "start_reloader": False, "log_level": "WARNING", "train_token": TOKEN, **changes})


@pytest.fixture
def app(store_dir):
    app = create_app(_config(store_dir))
    yield app
    extensions.close(app)


@pytest.fixture
def client(app):
    return app.test_client()


def _start(client, app, **body):
    r = client.put("/models/red/rollout", json=body, headers=AUTH)
    assert r.status_code == 201, r.json
    extensions.registry(app).refresh()
    return r.json


def _predict(client, rows, key=None, path="/predict/red"):
    with client.post(path, json={"inputs": rows}, headers={"X-Routing-Key": key} if key else {}) as r:
        assert r.status_code == 200, r.json
        assert r.headers["X-Model-Version"] == str(r.json["version"])
        return r.json


def _figures(client, app):
    extensions.rollouts(app).flush()
    r = client.get("/models/red/rollout")
    assert r.status_code == 200, r.json
    return r.json


def _rows(seed, n):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3)).tolist()


# -- routing ----------------------------------------------------------------------------------


def test_a_split_gives_the_candidate_its_share_and_a_key_always_the_same_arm(client, app, store_dir):
    _start(client, app, candidate=3, percent=10, **NEVER)
    versions = [_predict(client, [[255, 0, 0]])["version"] for _ in range(1000)]
    assert set(versions) == {1, 3} and 98 <= versions.count(3) <= 102  # spread, not a coin's +-30
    other = create_app(_config(store_dir))  # another worker (or replica) on the same store
    try:
        extensions.registry(other).refresh()
        elsewhere = other.test_client()
        for i in range(300):
            key = f"session-{i}"
            seen = {_predict(c, [[255, 0, 0]], key=key)["version"] for c in (client, client, elsewhere, client)}
            assert len(seen) == 1, key  # the same arm, every time, on every worker
    finally:
        extensions.close(other)
    rollout = control.read(ModelStore(store_dir), "red")
    keyed = sum(rollout.takes(f"session-{i}") for i in range(300))
    f = _figures(client, app)  # the other worker flushed as it closed: every request is counted
    assert f["requests"] == {"candidate": versions.count(3) + 4 * keyed, "stable": 1000 + 1200 - versions.count(3)
                             - 4 * keyed}


def test_pinned_and_labelled_urls_bypass_the_rollout_and_both_protocols_say_who_answered(client, app):
    _start(client, app, candidate=2, percent=100, **NEVER)
    assert _predict(client, [[255, 0, 0]])["version"] == 2  # every unpinned request
    assert _predict(client, [[255, 0, 0]], path="/predict/red/versions/1")["version"] == 1
    assert _predict(client, [[255, 0, 0]], path="/predict/red/labels/default")["version"] == 1
    body = {"inputs": [{"name": "input", "datatype": "INT64", "shape": [1, 3], "data": [255, 0, 0]}]}
    with client.post("/v2/models/red/infer", json=body) as r:
        assert r.status_code == 200 and r.json["model_version"] == "2" and r.headers["X-Model-Version"] == "2"
        assert {o["name"]: o for o in r.json["outputs"]}["label"]["data"] == ["not_red"]  # the opposite's answer
    with client.post("/v2/models/red/versions/1/infer", json=body) as r:
        assert r.json["model_version"] == "1" and r.headers["X-Model-Version"] == "1"
    f = _figures(client, app)
    assert f["requests"] == {"stable": 0, "candidate": 2}  # the native and the V2 unpinned requests


# -- comparisons --------------------------------------------------------------------------------


def _replay(store_dir, requests, answered_by, stable=1, candidate=3):
    """Offline: both versions on the rows of every compared request, one request at a time as
    the service ran them; (rows compared, rows agreed, sum and largest difference)."""
    store = ModelStore(store_dir)
    s, c = store.open("red", stable), store.open("red", candidate)
    comparer = Comparer.of(s.info.output, c.info.output, None)
    totals = [0, 0, 0.0, 0.0]
    for rows, version in zip(requests, answered_by):
        if version is None:
            continue
        X = np.asarray(rows, dtype=float)
        n, agreed, diff_sum, diff_max = comparer.rows(s.network.predict_proba(X), c.network.predict_proba(X))
        totals = [totals[0] + n, totals[1] + agreed, totals[2] + diff_sum, max(totals[3], diff_max)]
    return totals


@pytest.mark.parametrize("mode", ["split", "shadow"])
def test_the_figures_equal_an_offline_replay_of_the_same_rows(client, app, store_dir, mode):
    _start(client, app, candidate=3, mode=mode, **({"percent": 30} if mode == "split" else {}), **NEVER)
    requests = [_rows(i, 1 + i % 5) for i in range(400)]
    answers = [_predict(client, rows, key=f"k{i}") for i, rows in enumerate(requests)]
    rollout = control.read(ModelStore(store_dir), "red")  # a shadow compares every request
    compared = [rows if mode == "shadow" or rollout.takes(f"k{i}") else None for i, rows in enumerate(requests)]
    if mode == "split":  # the candidate answered exactly the requests whose key it takes
        assert [a["version"] for a in answers] == [3 if c is not None else 1 for c in compared]
    else:
        assert {a["version"] for a in answers} == {1}
    n, agreed, diff_sum, diff_max = _replay(store_dir, requests, compared)
    f = _figures(client, app)
    assert (f["rows_compared"], f["rows_agreed"]) == (n, agreed) and 0 < agreed < n
    assert f["mean_abs_diff"] == pytest.approx(diff_sum / n, rel=1e-9) and f["max_abs_diff"] == pytest.approx(diff_max)
    assert f["agreement"] == pytest.approx(agreed / n)
    taken = sum(c is not None for c in compared)
    assert f["requests"] == ({"stable": 400 - taken, "candidate": taken} if mode == "split"
                             else {"stable": 400, "candidate": 0})
    assert f["runs"]["candidate"] == taken and f["candidate_errors"] == 0
    assert all(f["latency_ms"][arm][q] > 0 for arm in ("stable", "candidate") for q in ("p50", "p99"))


def test_a_candidate_that_refuses_rows_is_a_candidate_error_and_the_stable_answers(client, app):
    _start(client, app, candidate=5, percent=100, **NEVER)  # v5 refuses red above 100
    high, low = _predict(client, [[200, 0, 0]]), _predict(client, [[50, 60, 70]])
    assert (high["version"], low["version"]) == (1, 5)  # never the candidate's error: the stable's answer
    assert high["predictions"][0]["label"] == _predict(client, [[200, 0, 0]], path="/predict/red/versions/1")[
        "predictions"][0]["label"]
    f = _figures(client, app)
    assert f["requests"]["candidate"] == 2 and f["candidate_errors"] == 1 and f["rows_compared"] == 1
    with client.put("/models/red/rollout", json={"candidate": 2}, headers=AUTH) as r:
        assert r.status_code == 409
    with client.delete("/models/red/rollout", headers=AUTH) as r:
        assert r.status_code == 200 and r.json["status"] == "ended"
    _start(client, app, candidate=5, mode="shadow")
    for _ in range(3):
        assert _predict(client, [[255, 0, 0]])["version"] == 1
    f = _figures(client, app)
    assert f["candidate_errors"] == 3 and f["errors"]["stable"] == 0 and f["rows_compared"] == 0


# -- guards --------------------------------------------------------------------------------------


def _endings(client) -> float:
    """tinymlp_rollout_endings_total for red rolled back by min_agreement, in this process so far."""
    found = re.search(r'tinymlp_rollout_endings_total\{guard="min_agreement",model="red",status="rolled_back"\} (\S+)',
                      client.get("/metrics").data.decode())
    return float(found.group(1)) if found else 0.0


def test_the_guard_rolls_back_a_candidate_that_answers_the_opposite_class(client, app, store_dir):
    before = _endings(client)
    _start(client, app, candidate=2, mode="shadow")
    service = extensions.rollouts(app)
    answers = []
    for i in range(30):
        answers += [_predict(client, rows)["version"] for rows in (_rows(100 * i + j, 1) for j in range(10))]
        service.flush()  # a flush every ten requests: the guards look after each
        if service.records["red"].status is not Status.RUNNING:
            break
    assert set(answers) == {1}  # every answer from the stable, none failed
    r = control.read(ModelStore(store_dir), "red")
    assert (r.status, r.guard.value) == (Status.ROLLED_BACK, "min_agreement") and "min_agreement" in r.reason
    f = _figures(client, app)
    assert f["status"] == "rolled_back" and f["agreement"] == 0 and 200 <= f["rows_compared"] <= 210
    frozen = f["rows_compared"]
    for rows in (_rows(9000 + j, 1) for j in range(20)):  # the stable keeps serving; nothing more is compared
        assert _predict(client, rows)["version"] == 1
    assert _figures(client, app)["rows_compared"] == frozen
    assert _endings(client) == before + 1  # counted once, by the worker whose claim won
    assert 'tinymlp_rollout_status{model="red",status="rolled_back"} 1.0' in client.get("/metrics").data.decode()


def test_auto_promote_after_moves_default_once_enough_rows_agree(client, app, store_dir):
    _start(client, app, candidate=4, mode="shadow", min_rows=20, auto_promote_after=30)
    for i in range(40):
        _predict(client, _rows(i, 1))
    _figures(client, app)
    store = ModelStore(store_dir)
    r = control.read(store, "red")
    assert (r.status, r.guard.value, store.labels("red")["default"]) == (Status.PROMOTED, "auto_promote_after", 4)
    extensions.registry(app).refresh()
    assert _predict(client, [[255, 0, 0]])["version"] == 4


def test_a_default_label_moved_by_hand_ends_the_rollout(client, app, store_dir):
    _start(client, app, candidate=3)
    ModelStore(store_dir).set_label("red", "default", 4)
    extensions.registry(app).refresh()
    assert _predict(client, [[255, 0, 0]])["version"] == 4  # the label wins at once
    extensions.rollouts(app).watch()
    r = control.read(ModelStore(store_dir), "red")
    assert r.status is Status.ENDED and r.guard.value == "default_moved" and "v4" in r.reason


def test_promote_moves_default_and_the_record_stays_readable(client, app, store_dir):
    _start(client, app, candidate=3, percent=50)
    for i in range(20):
        _predict(client, _rows(i, 2), key=str(i))
    with client.post("/models/red/rollout/promote", headers=AUTH) as r:
        assert r.status_code == 200 and r.json["status"] == "promoted" and r.json["reason"]
        assert r.json["requests"]["stable"] + r.json["requests"]["candidate"] == 20  # flushed before it ended
    assert ModelStore(store_dir).labels("red")["default"] == 3
    extensions.registry(app).refresh()
    assert _predict(client, [[255, 0, 0]])["version"] == 3
    for method, path in (("POST", "/models/red/rollout/promote"), ("DELETE", "/models/red/rollout")):
        with client.open(path, method=method, headers=AUTH) as r:
            assert r.status_code == 409 and "promoted" in r.json["message"]
    assert client.get("/models/red/rollout").json["status"] == "promoted"


# -- the interface ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "says"), [
    ("PUT", "/models/red/rollout", {"candidate": 2}, {}, 401, "Authorization: Bearer"),
    ("PUT", "/models/red/rollout", {"candidate": 2}, {"Authorization": "Bearer wrong-0123456789abcdef"}, 401,
     "wrong"),
    ("DELETE", "/models/red/rollout", None, {}, 401, "Authorization"),
    ("POST", "/models/red/rollout/promote", None, {}, 401, "Authorization"),
    ("PUT", "/models/purple/rollout", {"candidate": 2}, AUTH, 404, "purple"),
    ("PUT", "/models/red/rollout", {"candidate": 9}, AUTH, 404, "no version 9"),
    ("PUT", "/models/red/rollout", {"candidate": 1}, AUTH, 409, "is the stable"),
    ("PUT", "/models/red/rollout", {}, AUTH, 422, "candidate"),
    ("PUT", "/models/red/rollout", {"candidate": "2"}, AUTH, 422, "candidate"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "percent": 0}, AUTH, 422, "percent"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "percent": 100.5}, AUTH, 422, "percent"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "mode": "canary"}, AUTH, 422, "mode"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "mode": "shadow", "percent": 10}, AUTH, 422,
     "a shadow runs beside every request"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "min_agreement": 1.5}, AUTH, 422, "min_agreement"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "min_rows": 0}, AUTH, 422, "min_rows"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "max_p99_ratio": 0.5}, AUTH, 422, "max_p99_ratio"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "tolerance": -1}, AUTH, 422, "tolerance"),
    ("PUT", "/models/red/rollout", {"candidate": 2, "precent": 5}, AUTH, 422, "'precent' is not a field here"),
    ("PUT", "/models/red/rollout", b"{not json", AUTH, 400, ""),
    ("PUT", "/models/red/rollout", "text", AUTH, 415, "JSON"),
    ("GET", "/models/red/rollout", None, {}, 404, "no rollout"),
    ("GET", "/models/purple/rollout", None, {}, 404, "purple"),
    ("DELETE", "/models/red/rollout", None, AUTH, 404, "no rollout"),
    ("POST", "/models/red/rollout/promote", None, AUTH, 404, "no rollout"),
])
def test_bad_requests_are_refused_saying_why_and_change_nothing(client, store_dir, method, path, body, headers,
                                                                status, says):
    kwargs = {"headers": headers}
    if isinstance(body, bytes):
        kwargs.update(data=body, content_type="application/json")
    elif isinstance(body, str):
        kwargs.update(data=body, content_type="text/plain")
    elif body is not None:
        kwargs["json"] = body
    with client.open(path, method=method, **kwargs) as r:
        assert r.status_code == status, r.json
        assert r.json["code"] == status and says in r.json["message"], r.json
    assert not (store_dir / "red" / "rollout.json").exists()
    assert ModelStore(store_dir).labels("red") == {"default": 1}


def test_training_off_refuses_changes_but_not_reading(store_dir):
    app = create_app(_config(store_dir, train_token=None))
    try:
        with app.test_client().put("/models/red/rollout", json={"candidate": 2}, headers=AUTH) as r:
            assert r.status_code == 403 and "TINYMLP_TRAIN_TOKEN" in r.json["message"]
        with app.test_client().get("/models/red/rollout") as r:
            assert r.status_code == 404 and "no rollout" in r.json["message"]
    finally:
        extensions.close(app)


def test_the_answer_is_the_documented_one_field_for_field(client, app):
    started = _start(client, app, candidate=3, **NEVER)
    declared = set(RolloutAnswer().fields)
    assert set(started) == declared
    assert RolloutAnswer().validate(started) == {}
    doc = client.get("/openapi.json").json
    item = doc["paths"]["/models/red/rollout"]
    assert set(item) >= {"get", "put", "delete"} and "post" in doc["paths"]["/models/red/rollout/promote"]
    assert item["put"]["security"] == [{"bearerAuth": []}] and "get" in item and "security" not in item["get"]
    assert set(doc["components"]["schemas"]["RolloutAnswer"]["properties"]) == declared


def test_the_metrics_report_each_arm(client, app):
    _start(client, app, candidate=3, percent=50, **NEVER)
    for i in range(40):
        _predict(client, [[255, 0, 0]], key=str(i))
    f = _figures(client, app)
    text = client.get("/metrics").data.decode()
    for arm in ("stable", "candidate"):
        assert f'tinymlp_rollout_requests_total{{arm="{arm}",model="red"}} {float(f["requests"][arm])}' in text
        assert f'tinymlp_rollout_latency_seconds_count{{arm="{arm}",model="red"}}' in text
    assert f'tinymlp_rollout_rows_compared_total{{model="red"}} {float(f["rows_compared"])}' in text
    assert 'tinymlp_rollout_running{model="red"} 1.0' in text


def test_the_figures_are_those_of_figures_for_the_record_and_its_totals(client, app, store_dir):
    _start(client, app, candidate=3, **NEVER)
    rollout = control.read(ModelStore(store_dir), "red")
    service = extensions.rollouts(app)
    assert client.get("/models/red/rollout").json == json.loads(json.dumps(
        figures(rollout, service.table().totals(rollout.id))))


# -- promote=canary on /train ----------------------------------------------------------------------


def test_a_canary_share_goes_with_promote_canary_only(client):
    with client.post("/train/red", json={"epochs": 1, "percent": 20}, headers=AUTH) as r:
        assert r.status_code == 422 and "promote: canary" in r.json["message"]
    with client.post("/train/red", json={"epochs": 1, "promote": "canary", "percent": 0}, headers=AUTH) as r:
        assert r.status_code == 422 and "percent" in r.json["message"]
    with client.post("/train/red", json={"epochs": 1, "promote": "canary", "percent": 20}, headers=AUTH) as r:
        assert r.status_code == 202 and r.json["params"]["promote"] == "canary" and r.json["params"]["percent"] == 20
    doc = client.get("/openapi.json").json
    assert doc["components"]["schemas"]["TrainRequest-red"]["dependentSchemas"]["percent"]["properties"] == {
        "promote": {"const": "canary"}}


def test_the_document_says_percent_comes_with_a_split(client):
    rule = client.get("/openapi.json").json["components"]["schemas"]["RolloutRequest"]["dependentSchemas"]
    assert rule == {"percent": {"properties": {"mode": {"const": "split"}}}}


def test_without_its_database_a_rollout_cannot_start_and_serving_goes_on(store_dir):
    app = create_app(_config(store_dir, unusable={"TINYMLP_DATABASE_URL": "TINYMLP_DATABASE_URL must look like ..."}))
    try:
        client = app.test_client()
        with client.put("/models/red/rollout", json={"candidate": 2}, headers=AUTH) as r:
            assert r.status_code == 503 and "TINYMLP_DATABASE_URL" in r.json["message"]
        assert not (store_dir / "red" / "rollout.json").exists()
        assert _predict(client, [[255, 0, 0]])["version"] == 1
    finally:
        extensions.close(app)
