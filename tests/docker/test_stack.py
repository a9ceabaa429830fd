"""The real stack that `docker compose up` runs (trainer, api, worker), exercised over HTTP.

.ci/run starts it (docker-compose.yml + docker/compose.ci.yml) and runs this file with
TINYMLP_STACK_URL and TINYMLP_TRAIN_TOKEN set; without them these tests skip, saying so.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.e2e.conftest import call

URL = os.environ.get("TINYMLP_STACK_URL")
TOKEN = os.environ.get("TINYMLP_TRAIN_TOKEN")

pytestmark = pytest.mark.skipif(not URL or not TOKEN, reason="no compose stack: .ci/run starts one "
                                "and sets TINYMLP_STACK_URL and TINYMLP_TRAIN_TOKEN")


def test_ready_with_every_default_model():
    status, body = call(URL, "GET", "/readyz")
    assert status == 200 and body["status"] == "ready"
    assert set(body["models"]) >= {"red", "xor", "sine", "checkerboard", "quadrant", "iris", "house_prices"}


def test_red_answers_rgb_triples():
    status, body = call(URL, "POST", "/predict/red", {"inputs": [[255, 0, 0], [0, 0, 255]]})
    assert status == 200, body
    assert [p["label"] for p in body["predictions"]] == ["red", "not_red"]


def test_training_job_publishes_a_version_that_answers():
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert call(URL, "POST", "/train/xor", {"epochs": 1})[0] == 401
    status, job = call(URL, "POST", "/train/xor", {"epochs": 2, "samples": 1000, "promote": "always"}, auth)
    assert status == 202, job
    deadline = time.monotonic() + 180
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = call(URL, "GET", f"/train/jobs/{job['id']}", headers=auth)[1]
    assert job["status"] == "succeeded" and job["promoted"] is True, job
    version = job["published_version"]
    deadline = time.monotonic() + 10
    while call(URL, "POST", "/predict/xor", {"inputs": [[0, 1]]})[1]["version"] != version:
        assert time.monotonic() < deadline, "the new version never answered"
        time.sleep(0.2)
    assert call(URL, "POST", f"/predict/xor/versions/{version}", {"inputs": [[0, 1]]})[0] == 200


def test_everything_goes_through_the_proxy():
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(URL + "/", headers={"X-Request-ID": "stack-1"}),
                                timeout=10) as r:
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Request-ID"] == "stack-1"
    status, body = call(URL, "POST", "/predict/red", {"inputs": [[1, 2, 3]] * 200_000})
    assert status == 413 and "larger than" in body["message"]  # refused by the proxy, before gunicorn
