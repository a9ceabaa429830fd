"""The Python client against a real gunicorn and a real job worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from client import Client, Conflict, InvalidInput, NotFound, RateLimited, Unauthorized, Unavailable
from harness.processes import ROOT, Gunicorn, TrainerWorker, free_port
from tests.e2e.conftest import call

TOKEN = "client-token-0123456789ab"
MAX_ROWS = 50


@pytest.fixture(scope="module")
def service(seeded_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("client")
    shutil.copytree(seeded_store_dir, root / "models")
    (root / "models" / "broken").mkdir()
    (root / "models" / "broken" / "1.json").write_text("{not json")
    env = {"TINYMLP_STATE_DIR": str(root / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN, "TINYMLP_MAX_ROWS": str(MAX_ROWS),
           "TINYMLP_RELOAD_INTERVAL": "0.2", "TINYMLP_LOG_LEVEL": "INFO", "TINYMLP_LOG_FORMAT": "json",
           "TINYMLP_MAX_QUEUED_JOBS": "3"}
    with Gunicorn(root / "models", workers=2, log_path=root / "gunicorn.log", env=env) as server, \
            TrainerWorker(root / "models", root / "state", log_path=root / "worker.log", env=env):
        yield server


@pytest.fixture
def client(service):
    with Client(service.base, token=TOKEN, retries=3) as c:
        yield c


def _service_answer(service, model, rows):
    status, body = call(service.base, "POST", f"/predict/{model}", {"inputs": rows})
    assert status == 200, body
    return body


def test_predictions_match_the_services_own(client, service):
    rows = [[255, 0, 0], [12, 200, 40], {"r": 250, "g": 10, "b": 10}]
    got = client.predict("red", rows)
    own = _service_answer(service, "red", rows)
    assert got.version == own["version"] and got.labels == [p["label"] for p in own["predictions"]]
    assert [p.probabilities for p in got] == [p["probabilities"] for p in own["predictions"]]
    value = client.predict("house_prices", [[1500, 3, 10]])[0]
    assert value.label is None and value.value == _service_answer(service, "house_prices", [[1500, 3, 10]])[
        "predictions"][0]["value"]
    assert client.predict("red", [[255, 0, 0]], version=1).version == 1


def test_batching_past_the_row_limit_keeps_the_order(client, service):
    rows = [[(i * 37) % 256, (i * 91) % 256, (i * 53) % 256] for i in range(237)]
    got = client.predict("red", rows)
    expected = [p["label"] for start in range(0, len(rows), MAX_ROWS)
                for p in _service_answer(service, "red", rows[start:start + MAX_ROWS])["predictions"]]
    assert len(got) == 237 and got.labels == expected


def test_a_name_is_one_path_segment(client):
    assert client.predict("red", [[255, 0, 0]], version=1).version == 1
    with pytest.raises(ValueError, match="holds a '/'"):  # not red's version 1
        client.predict("red/versions/1", [[255, 0, 0]])
    with pytest.raises(NotFound, match="No model named 'red#1'"):
        client.predict("red#1", [[255, 0, 0]])
    with pytest.raises(NotFound, match="No job 'x\\?limit=1'"):
        client.job("x?limit=1")


def test_each_error_status_maps_to_its_exception(client, service):
    with pytest.raises(NotFound, match="No model named 'purple'") as e:
        client.predict("purple", [[1, 2, 3]])
    assert e.value.status == 404 and e.value.request_id
    with pytest.raises(InvalidInput, match="300 is outside 0..255") as e:
        client.predict("red", [[1, 300, 3]])
    assert e.value.status == 422 and e.value.errors[0]["column"] == 1
    with pytest.raises(Unauthorized, match="token") as e, Client(service.base, token="wrong") as other:
        other.jobs()
    assert e.value.status == 401
    with pytest.raises(Unavailable, match="cannot be served") as e:
        client.predict("broken", [[1, 2, 3]])
    assert e.value.status == 503
    port = free_port()
    with pytest.raises(Unavailable, match=f"could not reach http://127.0.0.1:{port}/models: connection refused") as e, \
            Client(f"http://127.0.0.1:{port}", retries=1) as nowhere:
        nowhere.models()
    assert e.value.status is None


def _attempts(service, request_id: str) -> int:
    # No wait: the service writes a request's line before its answer leaves (an after_request
    # hook), so every attempt the client saw answered is in the log already.
    lines = [json.loads(line) for line in service.log_path.read_text().splitlines() if line.startswith("{")]
    return sum(1 for line in lines if line.get("request_id") == request_id)


def test_reads_are_retried_on_503_and_a_training_job_never_is(client, service):
    with pytest.raises(Unavailable) as read:
        client.predict("broken", [[1, 2, 3]])
    assert _attempts(service, read.value.request_id) == 4  # the first, and 3 retries
    with pytest.raises(Unavailable) as submit:
        client.train("broken", epochs=1)
    assert _attempts(service, submit.value.request_id) == 1  # never sent twice


def test_a_job_waited_for_until_served_answers_from_every_worker(client):
    job = client.train("xor", epochs=2, samples=500, promote="always", examples=[([0.9, 0.1], "1")])
    assert job.status == "queued" and job.params["examples"] == [{"input": [0.9, 0.1], "label": "1"}]
    done = job.wait(timeout=120, served=True)
    assert done is job and job.status == "succeeded" and job.published_version == 2, job
    assert job.promoted is True and job.progress and "promote=always" in job.promotion_reason
    # What the service promises once wait(served=True) returns: every worker serves it (two
    # here; gunicorn's sync workers close each connection, so the calls spread over both).
    assert {client.predict("xor", [[0.9, 0.1]]).version for _ in range(20)} == {2}
    assert client.model("xor").served_version == 2
    assert client.jobs(model="xor")[0].id == job.id
    with pytest.raises(Conflict, match="already succeeded"):
        job.cancel()


def test_a_full_queue_and_a_cancelled_job(client, service):
    queued = [client.train("quadrant", epochs=500, samples=20_000, promote="never") for _ in range(3)]
    try:
        with pytest.raises(RateLimited) as e:
            for _ in range(3):
                client.train("checkerboard", epochs=1)
        assert e.value.status == 429 and e.value.retry_after
    finally:
        for job in queued:
            if not job.refresh().finished:
                job.cancel()
    assert all(j.wait(timeout=60).status == "cancelled" for j in queued)
    # every job, newest first, page after page; and a finished job's record removed, a running one refused
    ids = [j.id for j in client.iter_jobs(page_size=2)]
    assert ids == [j.id for j in client.jobs(limit=None)] and len(ids) == len(set(ids)) >= 3
    assert [j.id for j in queued][::-1] == [i for i in ids if i in {j.id for j in queued}]
    removed = client.delete_job(queued[0].id)
    assert removed.id == queued[0].id and queued[0].id not in [j.id for j in client.jobs(limit=None)]
    with pytest.raises(NotFound):
        client.delete_job(queued[0].id)


def test_the_client_imports_neither_flask_nor_numpy_nor_the_server():
    code = ("import sys, client, client.cli; bad = {'flask', 'numpy', 'mlp', 'trainer', 'service'} & "
            "{m.split('.')[0] for m in sys.modules}; print(sorted(bad))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "[]", run.stdout + run.stderr


def test_a_version_downloads_as_onnx_and_answers_as_the_service_does(client, tmp_path):
    import numpy as np
    import onnxruntime as ort

    path = client.download("red", path=tmp_path / "red.onnx")
    assert path == tmp_path / "red.onnx" and not list(tmp_path.glob(".*.part"))
    assert client.download("red", version=1) == path.read_bytes()
    rows = [[255, 0, 0], [12, 200, 40], [130, 60, 70]]
    proba, label = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": np.asarray(rows, dtype=np.float32)})
    served = client.predict("red", rows)
    assert [["red", "not_red"][i] for i in label] == served.labels
    np.testing.assert_allclose(proba[:, 0], [p.probabilities["red"] for p in served], atol=1e-5)
    with pytest.raises(NotFound, match="no version 99"):
        client.download("red", version=99)
    with pytest.raises(ValueError, match="ONNX only"):
        client.download("red", format="pickle")
