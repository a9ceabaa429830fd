"""Feedback end to end, on each job backend (SQLite under the state folder, and a real
PostgreSQL): a real gunicorn (2 workers) logs every prediction, takes feedback by request id
and reports live quality and drift the same from either worker; a real job worker turns a
model's feedback into a guarded retraining job.

- Corrections that relabel a region of colours the served version gets wrong (it was taught
  that deep reds are not red) drive a job that wins on held-out data and on the held-back
  feedback: promoted, and the region answers red.
- Corrections that relabel a region against the truth (pure blues are "red") drive a job that
  wins on the held-back feedback but loses on held-out data: not promoted, and the reason
  says both.
- A stream of random labels never leads to a promoted version.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

from harness.processes import Gunicorn, TrainerWorker
from tests.e2e.conftest import call
from trainer import pipeline
from trainer.tasks import TASKS

FEEDBACK_TOKEN = "e2e-feedback-0123456789abcdef"
TRAIN_TOKEN = "e2e-training-0123456789abcdef"
FB = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}
TRAIN = {"Authorization": f"Bearer {TRAIN_TOKEN}"}
JOB = {"epochs": 5, "samples": 20_000}


def _deep_reds(rng, n):
    """Colours well inside red's sphere: red by the task's truth."""
    return np.column_stack([rng.integers(200, 256, n), rng.integers(0, 51, n), rng.integers(0, 51, n)])


def _blues(rng, n):
    return np.column_stack([rng.integers(0, 51, n), rng.integers(0, 51, n), rng.integers(200, 256, n)])


@pytest.fixture(scope="session")
def retraining_store(tmp_path_factory):
    """red (trained as `make train` trains it), rednoise (the same network), and redfix: the
    same, then taught that deep reds are not red (version 2, served)."""
    root = tmp_path_factory.mktemp("retraining") / "models"
    from core.store import ModelStore

    store = ModelStore(root)
    good = pipeline.train_task(TASKS["red"], store)
    meta = {k: v for k, v in good.network.metadata.items() if k not in ("name", "version")}
    for name in ("redfix", "rednoise"):
        store.publish(name, good.network, **meta)
    lies = _deep_reds(np.random.default_rng(0), 400)
    pipeline.continue_training(store, "redfix", examples=(lies, ["not_red"] * len(lies)), example_share=0.3)
    return root


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request, retraining_store, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(retraining_store, models)
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
           "TINYMLP_TRAIN_TOKEN": TRAIN_TOKEN, "TINYMLP_RELOAD_INTERVAL": "0.2"}
    if request.param == "postgres":
        env["TINYMLP_DATABASE_URL"] = request.getfixturevalue("database_url")
    with Gunicorn(models, workers=2, log_path=tmp_path / "gunicorn.log", env=env) as server, \
            TrainerWorker(models, tmp_path / "state", log_path=tmp_path / "worker.log", env=env) as worker:
        yield server, worker


def api(server, method, path, body=None, headers=None):
    return call(server.base, method, path, body, headers)


def _predict(server, model, rows, per_request=50):
    """Predict in several requests (either worker answers); each row's answer and request id."""
    out = []
    for start in range(0, len(rows), per_request):
        status, body = api(server, "POST", f"/predict/{model}", {"inputs": rows[start:start + per_request].tolist()})
        assert status == 200, body
        out.extend((body["id"], i, p["label"], body["version"]) for i, p in enumerate(body["predictions"]))
    return out


def _feedback(server, model, answered, truths):
    """Every row's truth, one item per request; each request's rows in order."""
    items: dict[str, list] = {}
    for (rid, _, _, _), truth in zip(answered, truths):
        items.setdefault(rid, []).append(truth)
    status, body = api(server, "POST", f"/feedback/{model}",
                       [{"request_id": rid, "labels": labels} for rid, labels in items.items()], FB)
    assert status == 200, body
    return body


def _retrained(server, model, after, timeout=120):
    """The job the model's policy queued once its last feedback arrived, when it has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        policy = api(server, "GET", f"/models/{model}/retraining")[1]
        if policy.get("last_job") and policy["last_job"] not in after:
            status, job = api(server, "GET", f"/train/jobs/{policy['last_job']}", headers=TRAIN)
            assert status == 200, job
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
        time.sleep(0.2)
    raise AssertionError(f"no retraining job of {model} finished within {timeout} s: {policy}")


def test_corrections_drive_a_job_promoted_only_when_it_wins_on_both(stack):
    server, _ = stack
    rng = np.random.default_rng(1)
    for model in ("redfix", "red"):
        status, body = api(server, "PUT", f"/models/{model}/retraining", {"after_feedback": 200, **JOB}, TRAIN)
        assert status == 200 and body["enabled"], body

    fixed = _predict(server, "redfix", _deep_reds(rng, 200))
    assert {v for *_, v in fixed} == {2}
    wrong_before = sum(label != "red" for _, _, label, _ in fixed)
    assert wrong_before > 150  # version 2 was taught they are not red
    lies = _predict(server, "red", _blues(rng, 200))
    assert all(label == "not_red" for _, _, label, _ in lies)

    # Live quality is the log's, whichever worker answers: version 2 got wrong_before of 200
    for _ in range(4):
        live = api(server, "GET", "/models/redfix/versions/2")[1]["live"]
        assert live["feedback_rows"] == 0
    _feedback(server, "redfix", fixed, ["red"] * 200)
    _feedback(server, "red", lies, ["red"] * 200)
    for _ in range(4):
        live = api(server, "GET", "/models/redfix")[1]["live"]
        assert live["feedback_rows"] == 200 and live["accuracy"] == (200 - wrong_before) / 200
        assert live["recall"] == {"red": (200 - wrong_before) / 200}

    # Drift: read from the log, the same answer from either worker
    drifts = {json.dumps(api(server, "GET", "/models/red/drift")[1], sort_keys=True) for _ in range(6)}
    assert len(drifts) == 1
    drift = json.loads(drifts.pop())
    assert drift["window_rows"] == 200 and drift["features"]["b"]["psi"] > 1

    job = _retrained(server, "redfix", after=())
    assert job["status"] == "succeeded", job["error"]
    p = job["promotion"]
    assert job["promoted"] is True and job["parent_version"] == 2, p
    assert p["feedback"]["better"] and p["feedback"]["rows"] == 40 and p["feedback"]["new"] > p["feedback"]["parent"]
    assert "held-out data" in p["reason"] and "held-back feedback rows" in p["reason"]
    assert job["params"]["feedback"]["reason"].startswith("200 new feedback rows")
    time.sleep(1.0)  # every worker rescans the store within 0.2 s
    again = _predict(server, "redfix", _deep_reds(np.random.default_rng(2), 100))
    assert {v for *_, v in again} == {3} and sum(label == "red" for _, _, label, _ in again) > 95

    job = _retrained(server, "red", after=())
    assert job["status"] == "succeeded", job["error"]
    p = job["promotion"]
    assert job["promoted"] is False and p["feedback"]["better"], p  # it learned the lie...
    assert p["new"]["value"] < p["parent"]["value"]  # ...and lost on held-out data for it
    assert p["reason"].startswith("not promoted: held-out data") and "better beyond chance" in p["reason"]
    assert api(server, "POST", "/predict/red", {"inputs": [[0, 0, 255]]})[1]["version"] == 1


def test_a_stream_of_random_labels_never_leads_to_a_promoted_version(stack):
    server, _ = stack
    status, body = api(server, "PUT", "/models/rednoise/retraining", {"after_feedback": 150, "epochs": 2,
                                                                      "samples": 5000}, TRAIN)
    assert status == 200, body
    rng = np.random.default_rng(3)
    seen: list[str] = []
    for _ in range(3):
        answered = _predict(server, "rednoise", rng.integers(0, 256, size=(150, 3)))
        _feedback(server, "rednoise", answered, rng.choice(["red", "not_red"], size=150).tolist())
        job = _retrained(server, "rednoise", after=seen)
        seen.append(job["id"])
        assert job["status"] == "succeeded", job["error"]
        assert job["promoted"] is False, job["promotion"]
        assert job["promotion"]["feedback"]["rows"] == 30 * len(seen)  # all the feedback so far, a fifth held back
    assert api(server, "GET", "/models/rednoise")[1]["served_version"] == 1


def test_a_canary_policy_rolls_out_only_a_version_that_wins_on_both(stack):
    server, _ = stack
    rng = np.random.default_rng(4)
    for model in ("redfix", "red"):
        status, body = api(server, "PUT", f"/models/{model}/retraining",
                           {"after_feedback": 200, "promote": "canary", **JOB}, TRAIN)
        assert status == 200 and body["policy"]["promote"] == "canary", body
    _feedback(server, "redfix", _predict(server, "redfix", _deep_reds(rng, 200)), ["red"] * 200)
    _feedback(server, "red", _predict(server, "red", _blues(rng, 200)), ["red"] * 200)  # a lie

    job = _retrained(server, "redfix", after=())
    assert job["status"] == "succeeded", job["error"]
    p = job["promotion"]
    assert job["promoted"] is False and p["rule"] == "canary" and p["feedback"]["better"], p
    assert "held-back feedback rows" in p["reason"] and "rolled out as a canary" in p["reason"]
    status, rollout = api(server, "GET", "/models/redfix/rollout")
    assert status == 200, rollout
    assert (rollout["status"], rollout["stable"], rollout["candidate"]) == ("running", 2, job["published_version"])

    job = _retrained(server, "red", after=())
    assert job["status"] == "succeeded", job["error"]
    p = job["promotion"]
    assert job["promoted"] is False and p["rule"] != "canary" and p["feedback"]["better"], p  # lost on held-out
    assert api(server, "GET", "/models/red/rollout")[0] == 404  # no rollout started
