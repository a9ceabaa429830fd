"""/train in-process: auth, validation (a bad body never creates a job), queue, status, pages,
cancel and delete."""

from __future__ import annotations

import pytest

TOKEN = "test-token-1234567890"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def trainable(app):
    app.config["TINYMLP"] = app.config["TINYMLP"].replace(train_token=TOKEN, max_queued_jobs=3)
    return app.test_client()


def _count(client):
    return len(client.get("/train/jobs", headers=AUTH).json["jobs"])


def test_off_without_a_configured_token(client):
    r = client.post("/train/red", json={}, headers=AUTH)
    assert r.status_code == 403 and "TINYMLP_TRAIN_TOKEN" in r.json["message"]
    assert client.get("/train/jobs", headers=AUTH).status_code == 403
    # no Authorization header at all: 401 saying how to authenticate, whether or not training is on
    for r in (client.get("/train/jobs"), client.post("/train/red", json={})):
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}])
def test_missing_or_wrong_token_is_401(trainable, headers):
    r = trainable.post("/train/red", json={"epochs": 1}, headers=headers)
    assert r.status_code == 401 and "Authorization: Bearer" in r.json["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert trainable.get("/train/jobs", headers=headers).status_code == 401
    assert _count(trainable) == 0


def test_the_token_never_reaches_the_log(trainable, caplog):
    with caplog.at_level("INFO", logger="tinymlp"):
        trainable.post("/train/red", json={"epochs": 1}, headers=AUTH)
        trainable.post("/train/red", json={"epochs": 1}, headers={"Authorization": "Bearer guess-1"})
    assert TOKEN not in caplog.text and "guess-1" not in caplog.text


BAD = [
    ("epochs zero", {"epochs": 0}, "epochs"),
    ("epochs too many", {"epochs": 100_000}, "epochs"),
    ("epochs as string", {"epochs": "5"}, "epochs"),
    ("epochs as float", {"epochs": 2.5}, "epochs"),
    ("epochs as bool", {"epochs": True}, "epochs"),
    ("learning rate zero", {"learning_rate": 0}, "learning_rate"),
    ("learning rate huge", {"learning_rate": 5}, "learning_rate"),
    ("learning rate string", {"learning_rate": "0.1"}, "learning_rate"),
    ("batch size zero", {"batch_size": 0}, "batch_size"),
    ("samples too many", {"samples": 10**9}, "samples"),
    ("negative seed", {"seed": -1}, "seed"),
    ("unknown promote", {"promote": "sometimes"}, "promote"),
    ("unknown field", {"epochs": 1, "bogus": 1}, "bogus"),
    ("examples not a list", {"examples": {"input": [1, 2, 3]}}, "examples"),
    ("example without label", {"examples": [{"input": [255, 0, 0]}]}, "label"),
    ("example unknown label", {"examples": [{"input": [255, 0, 0], "label": "blue"}]}, "not a label"),
    ("example out of range", {"examples": [{"input": [255, 0, 256], "label": "red"}]}, "outside 0..255"),
    ("example wrong length", {"examples": [{"input": [255, 0], "label": "red"}]}, "3 values"),
    ("example float for red", {"examples": [{"input": [255, 0, 0.5], "label": "red"}]}, "whole number"),
    ("example unknown key", {"examples": [{"input": [255, 0, 0], "label": "red", "x": 1}]}, "x"),
    ("too many examples", {"examples": [{"input": [255, 0, 0], "label": "red"}] * 1001}, "examples"),
    ("body a list", [1, 2], "Invalid input type"),
]


@pytest.mark.parametrize(("what", "body", "fragment"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_body_never_creates_a_job(trainable, what, body, fragment):
    r = trainable.post("/train/red", json=body, headers=AUTH)
    assert r.status_code == 422, r.json
    text = r.json["message"] + " ".join(str(e) for e in r.json.get("errors", []))
    assert fragment in text, r.json
    assert _count(trainable) == 0


def test_malformed_json_and_wrong_content_type(trainable):
    json_type, text_type = {**AUTH, "Content-Type": "application/json"}, {**AUTH, "Content-Type": "text/plain"}
    assert trainable.post("/train/red", data=b"{", headers=json_type).status_code == 400
    assert trainable.post("/train/red", data=b"{}", headers=text_type).status_code == 415
    assert _count(trainable) == 0


def test_unknown_model_or_version_is_404(trainable):
    assert trainable.post("/train/nope", json={}, headers=AUTH).status_code == 404
    r = trainable.post("/train/red", json={"from_version": 99}, headers=AUTH)
    assert r.status_code == 404 and "99" in r.json["message"]
    assert trainable.get("/train/jobs/nope", headers=AUTH).status_code == 404
    assert _count(trainable) == 0


def test_submit_status_list_cancel_and_a_full_queue(trainable):
    r = trainable.post("/train/red", json={"epochs": 2, "samples": 500, "promote": "never"}, headers=AUTH)
    assert r.status_code == 202
    job = r.json
    assert r.headers["Location"] == f"/train/jobs/{job['id']}"
    assert job["status"] == "queued" and job["parent_version"] == 1 and job["params"]["promote"] == "never"
    got = trainable.get(r.headers["Location"], headers=AUTH).json
    assert got["id"] == job["id"] and got["submitted_at"].endswith("+00:00")
    for _ in range(2):
        assert trainable.post("/train/xor", json={}, headers=AUTH).status_code == 202
    full = trainable.post("/train/xor", json={}, headers=AUTH)
    assert full.status_code == 429 and full.headers["Retry-After"] and "queued" in full.json["message"]
    assert [j["model"] for j in trainable.get("/train/jobs?model=red", headers=AUTH).json["jobs"]] == ["red"]
    queued = trainable.delete(f"/train/jobs/{job['id']}", headers=AUTH)
    assert queued.status_code == 409 and f"POST /train/jobs/{job['id']}/cancel" in queued.json["message"]
    cancelled = trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "already cancelled" in again.json["message"]
    assert trainable.post("/train/xor", json={}, headers=AUTH).status_code == 202  # room again


def test_delete_removes_a_finished_job_and_only_a_finished_one(trainable):
    job = trainable.post("/train/xor", json={"epochs": 1}, headers=AUTH).json
    assert trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH).status_code == 200
    removed = trainable.delete(f"/train/jobs/{job['id']}", headers=AUTH)
    assert removed.status_code == 200 and removed.json["id"] == job["id"] and removed.json["status"] == "cancelled"
    assert trainable.get(f"/train/jobs/{job['id']}", headers=AUTH).status_code == 404
    assert trainable.delete(f"/train/jobs/{job['id']}", headers=AUTH).status_code == 404
    assert trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH).status_code == 404
    assert _count(trainable) == 0


def test_a_running_job_is_not_deleted(trainable, app):
    from service import extensions

    job = trainable.post("/train/xor", json={"epochs": 1}, headers=AUTH).json
    extensions.jobs(app).claim("w1")
    r = trainable.delete(f"/train/jobs/{job['id']}", headers=AUTH)
    assert r.status_code == 409 and "is running; cancel it first" in r.json["message"]
    assert trainable.get(f"/train/jobs/{job['id']}", headers=AUTH).json["status"] == "running"


def test_pages_follow_next_newest_first_with_filters(trainable, app):
    from core.jobs import JobParams

    table = extensions_jobs(app)
    table.max_queued = 100
    ids = [table.submit(m, JobParams(epochs=1), 1).id for m in ("red", "xor") * 4]
    seen, url = [], "/train/jobs?limit=3"
    while url:
        page = trainable.get(url, headers=AUTH).json
        assert len(page["jobs"]) <= 3
        seen += [j["id"] for j in page["jobs"]]
        url = page["next"] and f"/train/jobs?limit=3&cursor={page['next']}"
    assert seen == ids[::-1]
    first = trainable.get("/train/jobs?model=red&limit=2", headers=AUTH).json
    rest = trainable.get(f"/train/jobs?model=red&limit=2&cursor={first['next']}", headers=AUTH).json
    assert [j["id"] for j in first["jobs"] + rest["jobs"]] == ids[-2::-2] and rest["next"] is None
    whole = trainable.get("/train/jobs?limit=8", headers=AUTH).json
    assert len(whole["jobs"]) == 8 and whole["next"] is None


@pytest.mark.parametrize("cursor", ["x", "12-", "-abc", "1.5-abc", "12-a/b", "1" * 17 + "-abc"])
def test_a_cursor_it_never_gave_is_422(trainable, cursor):
    r = trainable.get(f"/train/jobs?cursor={cursor}", headers=AUTH)
    assert r.status_code == 422 and "cursor" in r.json["message"] + str(r.json.get("errors")), r.json


def test_any_well_formed_cursor_is_a_place_in_the_list(trainable):
    # the document's pattern is all a client (or a fuzzer) can know: every string it admits is a page
    job = trainable.post("/train/xor", json={"epochs": 1}, headers=AUTH).json
    for cursor, expected in (("0-a", []), ("9999999999999999-zzzz", [job["id"]])):
        r = trainable.get(f"/train/jobs?cursor={cursor}", headers=AUTH)
        assert r.status_code == 200 and [j["id"] for j in r.json["jobs"]] == expected, r.json


def extensions_jobs(app):
    from service import extensions

    return extensions.jobs(app)


def test_examples_are_taken_as_predict_takes_rows(trainable):
    r = trainable.post("/train/red", headers=AUTH, json={"epochs": 1, "examples": [
        {"input": {"r": 250, "g": 10, "b": 10}, "label": "red"}, {"input": [0, 0, 255.0], "label": "not_red"}]})
    assert r.status_code == 202, r.json
    assert r.json["params"]["examples"] == [{"input": [250.0, 10.0, 10.0], "label": "red"},
                                            {"input": [0.0, 0.0, 255.0], "label": "not_red"}]
    assert r.json["examples"] == 2
    listed = trainable.get("/train/jobs", headers=AUTH).json["jobs"][0]
    assert "examples" not in listed["params"] and listed["examples"] == 2  # lists leave the rows out
    half = {"examples": [{"input": {"r": 250, "g": 10}, "label": "red"}]}
    bad = trainable.post("/train/red", headers=AUTH, json=half)
    assert bad.status_code == 422 and "missing ['b']" in bad.json["message"]


def test_a_finished_job_cannot_be_cancelled(trainable, app):
    from core.jobs import JobStatus
    from service import extensions

    job = trainable.post("/train/xor", json={"epochs": 1}, headers=AUTH).json
    table = extensions.jobs(app)
    table.claim("w1")
    assert table.start_publishing(job["id"], "w1")
    table.record_published(job["id"], 2)
    r = trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 409 and "publishing its version (2)" in r.json["message"], r.json
    assert trainable.delete(f"/train/jobs/{job['id']}", headers=AUTH).status_code == 409  # nor removed yet
    table.finish(job["id"], "w1", JobStatus.SUCCEEDED)
    r = trainable.post(f"/train/jobs/{job['id']}/cancel", headers=AUTH)
    assert r.status_code == 409 and "already succeeded and published version 2" in r.json["message"], r.json


def test_an_unreachable_job_database_is_a_503_saying_so(app):
    app.config["TINYMLP"] = app.config["TINYMLP"].replace(
        train_token=TOKEN, database_url="postgresql://tinymlp:hunter2@127.0.0.1:1/jobs")
    client = app.test_client()
    for r in (client.post("/train/red", json={"epochs": 1}, headers=AUTH), client.get("/train/jobs", headers=AUTH)):
        assert r.status_code == 503, r.json
        assert "cannot reach the database postgresql://tinymlp:***@127.0.0.1:1/jobs" in r.json["message"]
        assert "hunter2" not in r.get_data(as_text=True)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "tinymlp_job_table_up 0.0" in metrics
    assert client.post("/predict/red", json={"inputs": [[255, 0, 0]]}).status_code == 200  # serving goes on


def test_a_database_url_that_cannot_work_stops_training_not_serving(store_dir):
    from service import create_app
    from service.config import Config

    config = Config.from_env({"TINYMLP_MODELS_DIR": str(store_dir), "TINYMLP_TRAIN_TOKEN": TOKEN,
                              "TINYMLP_DATABASE_URL": "mysql://tinymlp:hunter2@db/jobs"})
    client = create_app(config.replace(start_reloader=False, log_level="WARNING")).test_client()
    r = client.post("/train/red", json={"epochs": 1}, headers=AUTH)
    assert r.status_code == 503 and "TINYMLP_DATABASE_URL must look like postgresql://" in r.json["message"]
    assert "hunter2" not in r.get_data(as_text=True)
    assert client.post("/predict/red", json={"inputs": [[255, 0, 0]]}).status_code == 200


def test_a_page_writes_each_job_exactly_as_its_schema_would(trainable, app):
    # pages skip marshmallow for speed (service.schemas.train.brief); the document is JobBrief
    from core.jobs import Example, JobParams, JobStatus, Policy, Progress, Promotion, Score
    from service.schemas.train import JobBrief, brief

    table = extensions_jobs(app)
    table.max_queued = 100
    queued = table.submit("red", JobParams(epochs=3, learning_rate=0.01, seed=7, promote=Policy.FORCE,
                                           examples=(Example((250.0, 10.0, 10.0), "red"),)), 1)
    running = table.submit("xor", JobParams(), 1)
    table.claim("w1")
    table.beat(running.id, "w1", [Progress(1, 0.5, 0.9, 0.25)])
    done = table.submit("sine", JobParams(batch_size=8), 2)
    table.claim("w2")
    table.start_publishing(done.id, "w2")
    table.record_published(done.id, 3)
    table.finish(done.id, "w2", JobStatus.SUCCEEDED, progress=[Progress(1, 0.5, 0.9, 0.25)], promotion=Promotion(
        Policy.ALWAYS, False, "why", "test", "accuracy", Score(0.9, 0.2), Score(0.8, 0.3), Score(0.5), "pinned",
        "much_worse"))
    failed = table.submit("iris", JobParams(), 1)
    table.cancel(failed.id)
    jobs = table.list().jobs
    assert {j.id for j in jobs} == {queued.id, running.id, done.id, failed.id}
    for job in jobs:
        assert brief(job) == JobBrief().dump(job)
    assert trainable.get("/train/jobs", headers=AUTH).json["jobs"] == [JobBrief().dump(j) for j in jobs]
