"""The real stack that `docker compose up` runs (trainer, api, worker, proxy), exercised over
HTTP through its one published port, with the project's own client.

.ci/run starts it (docker-compose.yml + docker/compose.ci.yml) and runs this file with
TINYMLP_STACK_URL and TINYMLP_TRAIN_TOKEN set; without them these tests skip, saying so.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request

import pytest

from client import Client, TooLarge, Unauthorized

URL = os.environ.get("TINYMLP_STACK_URL")
TOKEN = os.environ.get("TINYMLP_TRAIN_TOKEN")

pytestmark = pytest.mark.skipif(not URL or not TOKEN, reason="no compose stack: .ci/run starts one "
                                "and sets TINYMLP_STACK_URL and TINYMLP_TRAIN_TOKEN")


@pytest.fixture
def tinymlp():
    with Client(URL, token=TOKEN) as client:
        yield client


def test_ready_with_every_default_model(tinymlp):
    ready = tinymlp.ready()
    assert ready and set(ready.models) >= {"red", "xor", "sine", "checkerboard", "quadrant", "iris", "house_prices"}
    assert ready.failures == {}


def test_red_answers_rgb_triples(tinymlp):
    assert tinymlp.predict("red", [[255, 0, 0], [0, 0, 255]]).labels == ["red", "not_red"]


def test_training_job_publishes_a_version_that_answers(tinymlp):
    with pytest.raises(Unauthorized), Client(URL, token="") as anonymous:  # no token, not even $TINYMLP_TRAIN_TOKEN
        anonymous.train("xor", epochs=1)
    # force: a 2-epoch job may well be much worse than its parent, which "always" refuses
    job = tinymlp.train("xor", epochs=2, samples=1000, promote="force").wait(timeout=180, served=True)
    assert job.status == "succeeded" and job.promoted is True, job
    assert {tinymlp.predict("xor", [[0, 1]]).version for _ in range(6)} == {job.published_version}
    assert tinymlp.predict("xor", [[0, 1]], version=job.published_version).version == job.published_version


def test_everything_goes_through_the_proxy(tinymlp):
    with urllib.request.urlopen(urllib.request.Request(URL + "/", headers={"X-Request-ID": "stack-1"}),
                                timeout=10) as r:
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Request-ID"] == "stack-1"
    huge = Client(URL, batch_size=400_000, retries=0)
    with pytest.raises(TooLarge, match="larger than") as e:  # refused by the proxy, before gunicorn
        huge._call("POST", "/predict/red", json={"inputs": [[1, 2, 3]] * 400_000})
    assert e.value.status == 413


def test_the_images_tinymlp_command_asks_the_stack():
    # The image compose built, its own client on the host's network (CI's engine has no bridge).
    run = subprocess.run(["docker", "run", "--rm", "--network", "host", "tinymlp:local",
                          "tinymlp", "--url", URL, "predict", "red", "255,0,0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\t")[1] == "red", run.stdout
