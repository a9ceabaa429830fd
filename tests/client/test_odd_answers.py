"""Answers no real tinymlp service sends, from a scripted local server: the library raises one
UnexpectedAnswer naming what is wrong, the command line prints one line and exits 1, and
whatever a server says is printed with its control characters shown, not obeyed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from client import Client, ClientError, NotFound, UnexpectedAnswer
from tests.client.fakes import FakeService, answer, job_json, model_json

PREDICTION = {"label": "red", "probabilities": {"red": 0.9, "not_red": 0.1}}


def tinymlp(*args, cwd) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "client", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    return proc.returncode, proc.stdout, proc.stderr


ODD_PREDICTIONS = [
    ({"model": "red", "version": 1, "predictions": [{"label": "red", "probabilities": None}]},
     "predictions[0].probabilities is null, expected an object"),
    ({"model": "red", "predictions": [PREDICTION]}, "the answer has no 'version'"),
    ([PREDICTION], "the answer is a list, expected an object"),
    ({"model": "red", "version": 1, "predictions": []}, "the answer holds 0 predictions for 1 row sent"),
    ({"model": "red", "version": 1, "predictions": [PREDICTION, PREDICTION]},
     "the answer holds 2 predictions for 1 row sent"),
    ({"model": "red", "version": "1", "predictions": [PREDICTION]}, "the answer.version is a string, expected a whole"),
    ({"model": "red", "version": 1, "predictions": [{"label": "red", "probabilities": {"red": "high"}}]},
     "predictions[0].probabilities.red is a string, expected a number"),
    ({"model": "red", "version": 1, "predictions": [{"score": 1}]}, "predictions[0] has neither a 'label' nor"),
    ({"model": "red", "version": 1, "predictions": [{"value": None}]}, "predictions[0].value is null"),
]


@pytest.mark.parametrize(("body", "says"), ODD_PREDICTIONS)
def test_an_odd_prediction_answer_is_one_clear_error(body, says, tmp_path):
    with FakeService({("POST", "/predict/red"): answer(200, body)}) as fake:
        with Client(fake.base) as client, pytest.raises(UnexpectedAnswer, match="does not send") as e:
            client.predict("red", [[255, 0, 0]])
        assert says in e.value.message and e.value.status == 200
        code, out, err = tinymlp("predict", "red", "255,0,0", "--url", fake.base, cwd=tmp_path)
    assert code == 1 and out == "" and err.startswith("error: ") and says in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_fewer_predictions_than_rows_in_any_batch_is_an_error():
    def two_of_three(h):
        h.send_json(200, {"model": "red", "version": 1, "predictions": [PREDICTION] * 2})

    with FakeService({("POST", "/predict/red"): two_of_three}) as fake, Client(fake.base, batch_size=3) as client, \
            pytest.raises(UnexpectedAnswer, match="2 predictions for 3 rows sent"):
        client.predict("red", [[1, 2, 3]] * 5)


@pytest.mark.parametrize(("route", "args", "says"), [
    (("GET", "/models"), ("models",), "the answer is a list, expected an object"),
    (("GET", "/models"), ("models",), "models[0] has no 'name'"),
    (("GET", "/train/jobs/j1"), ("job", "j1"), "the job.progress[1].loss is null, expected a number"),
    (("GET", "/train/jobs/j1"), ("job", "j1"), "the job has no 'status'"),
    (("GET", "/readyz"), ("ready",), "the answer.failures.red is a number, expected a string"),
])
def test_odd_answers_to_the_other_commands(route, args, says, tmp_path):
    bodies = {"the answer is a list, expected an object": [],
              "models[0] has no 'name'": {"models": [{"versions": [1]}]},
              "the job.progress[1].loss is null, expected a number": job_json(progress=[
                  {"epoch": 1, "loss": 0.5, "metric": 0.9, "seconds": 0.1},
                  {"epoch": 2, "loss": None, "metric": 0.9, "seconds": 0.2}]),
              "the job has no 'status'": {k: v for k, v in job_json().items() if k != "status"},
              "the answer.failures.red is a number, expected a string": {"status": "ready", "models": {},
                                                                          "failures": {"red": 3}}}
    with FakeService({route: answer(200, bodies[says])}) as fake:
        code, out, err = tinymlp(*args, "--url", fake.base, cwd=tmp_path)
    assert code == 1 and err.startswith("error: ") and says in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_job_wait_stops_at_an_odd_progress_record():
    odd = job_json(status="running", progress=[{"epoch": 1, "loss": None, "metric": 0.5, "seconds": 1}])
    with FakeService({("POST", "/train/red"): answer(202, job_json(status="queued", progress=[])),
                      ("GET", "/train/jobs/j1"): answer(200, odd)}) as fake, Client(fake.base, token="t") as client:
        job = client.train("red", epochs=2)
        with pytest.raises(UnexpectedAnswer, match=r"progress\[0\]\.loss is null"):
            job.wait(progress=True, timeout=30)


@pytest.mark.parametrize(("status", "content", "says"), [
    (200, b"<html><body>Welcome to nginx!</body></html>", "answered 200 with something that is not JSON (text/html)"),
    (200, b"", "answered 200 with something that is not JSON (text/html): an empty body"),
    (200, b"[" * 100_000, "not JSON"),  # deeper than Python's JSON reader goes
    (502, b"<html>Bad Gateway</html>", "answered 502 Bad Gateway with something that is not a tinymlp error"),
    (404, b'{"message": 5}', "answered 404 Not Found"),
])
def test_non_json_and_odd_error_bodies(status, content, says, tmp_path):
    route = lambda h: h.send_bytes(status, content, {"Content-Type": "text/html"})  # noqa: E731
    with FakeService({("GET", "/models"): route}) as fake:
        with Client(fake.base, retries=0) as client, pytest.raises(ClientError) as e:
            client.models()
        assert says in e.value.message and e.value.status == status
        code, _, err = tinymlp("models", "--url", fake.base, cwd=tmp_path)
    assert code == 1 and says in err and len(err.splitlines()) == 1


def test_control_characters_from_a_server_are_shown_not_obeyed(tmp_path):
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mNo model\r\nerror: forged line\u202e"
    odd_model = model_json(name="re\x1b[8md", labels={"default\x1b[1m": 1}, input={"features": ["r\rg", "b"]})
    routes = {("POST", "/predict/red"): answer(404, {"code": 404, "message": evil, "request_id": "id\x1b[0m"}),
              ("GET", "/models"): answer(200, {"models": [odd_model]}),
              ("GET", "/train/jobs/j1"): answer(200, job_json(error="bad\x1b[5m\nthing", status="failed"))}
    with FakeService(routes) as fake:
        with Client(fake.base) as client, pytest.raises(NotFound) as e:
            client.predict("red", [[1, 2, 3]])
        assert "\x1b" not in str(e.value) and "\\x1b]0;pwned\\x07" in e.value.message
        runs = [tinymlp("predict", "red", "1,2,3", "--url", fake.base, cwd=tmp_path),
                tinymlp("models", "--url", fake.base, cwd=tmp_path),
                tinymlp("job", "j1", "--url", fake.base, cwd=tmp_path)]
    (code, _, err), (_, models, _), (_, job, _) = runs
    assert code == 1 and len(err.splitlines()) == 1 and "\\r\\nerror: forged line\\u202e" in err
    for text in (err, models, job):
        assert not any(c in text for c in "\x1b\x07\r\u202e"), repr(text)
    assert "re\\x1b[8md" in models and "r\\rg,b" in models and "bad\\x1b[5m\\nthing" in job


def test_a_long_server_message_is_cut():
    with FakeService({("GET", "/models"): answer(422, {"code": 422, "message": "x" * 3_000_000})}) as fake, \
            Client(fake.base) as client, pytest.raises(ClientError) as e:
        client.models()
    assert len(e.value.message) < 1100 and e.value.message.endswith("more characters)")
