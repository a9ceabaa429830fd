"""Job.wait against a scripted service: waiting until every replica serves a promoted version
(the service's reload interval from /readyz, plus a margin, then GET /models/<name>), and the
bar of epochs. A real service and worker: tests/client/test_client.py."""

from __future__ import annotations

import pytest

from client import Client, Job
from client.jobs import RELOAD_INTERVAL, SERVED_MARGIN
from tests.client.fakes import FakeService, answer, job_json, model_json


def serving(*versions: int):
    """GET /models/red answering these served versions in turn, the last one from then on."""
    left = list(versions)
    return lambda h: h.send_json(200, model_json(served_version=left.pop(0) if len(left) > 1 else left[0]))


def ready(interval: float | None):
    body = {"status": "ready", "models": {"red": 1}, "failures": {}}
    return answer(200, body if interval is None else {**body, "reload_interval": interval})


def test_served_waits_the_reload_interval_then_sees_the_version_served():
    routes = {("GET", "/train/jobs/j1"): answer(200, job_json()), ("GET", "/readyz"): ready(0.2),
              ("GET", "/models/red"): serving(1, 1, 2)}
    with FakeService(routes) as fake, Client(fake.base, token="t") as client:
        job = client.job("j1")
        assert job.served_within() == pytest.approx(0.2 + SERVED_MARGIN)
        assert job.wait(served=True, timeout=30, poll=0.05) is job
    assert fake.paths()[-3:] == ["GET /models/red"] * 3  # polled until v2 was served


def test_a_newer_version_served_also_counts():
    routes = {("GET", "/train/jobs/j1"): answer(200, job_json()), ("GET", "/readyz"): ready(0.1),
              ("GET", "/models/red"): serving(5)}
    with FakeService(routes) as fake, Client(fake.base, token="t") as client:
        client.job("j1").wait(served=True, timeout=30)


def test_without_reload_interval_the_default_is_assumed():
    with FakeService({("GET", "/readyz"): ready(None)}) as fake, Client(fake.base) as client:
        assert Job.from_json(job_json(), client).served_within() == RELOAD_INTERVAL + SERVED_MARGIN


def test_served_says_what_it_saw_when_the_version_never_comes():
    routes = {("GET", "/train/jobs/j1"): answer(200, job_json()), ("GET", "/readyz"): ready(0.1),
              ("GET", "/models/red"): serving(1)}
    with FakeService(routes) as fake, Client(fake.base, token="t") as client:
        with pytest.raises(TimeoutError, match=r"job j1 promoted red v2, but http://127\.0\.0\.1:\d+/models/red "
                                               r"still serves v1 [\d.]+ s after the job finished \(promised "
                                               r"within 1\.1 s\)"):
            client.job("j1").wait(served=True, timeout=2, poll=0.1)
        with pytest.raises(TimeoutError, match="within 1.1 s, which is past this wait's timeout"):
            client.job("j1").wait(served=True, timeout=0.5)


@pytest.mark.parametrize("job", [job_json(promoted=False), job_json(status="failed", error="boom"),
                                 job_json(status="cancelled", published_version=None, promoted=None)])
def test_served_has_nothing_to_wait_for_unless_the_job_promoted(job):
    with FakeService({("GET", "/train/jobs/j1"): answer(200, job)}) as fake, Client(fake.base, token="t") as client:
        assert client.job("j1").wait(served=True, timeout=5).status == job["status"]
    assert fake.paths() == ["GET /train/jobs/j1"] * 2


def test_the_bar_never_shows_a_queued_job_at_full_count(capsys):
    queued = job_json(status="queued", progress=[], published_version=None, promoted=None,
                      params={"epochs": 2, "promote": "if_better"})
    states = [queued, queued, job_json()]  # the job ran whole between two polls
    route = lambda h: h.send_json(200, states.pop(0) if len(states) > 1 else states[0])  # noqa: E731
    with FakeService({("GET", "/train/jobs/j1"): route}) as fake, Client(fake.base, token="t") as client:
        Job.from_json(queued, client).wait(progress=True, poll=0.15, timeout=30)  # > tqdm's mininterval
    frames = [f for f in capsys.readouterr().err.replace("\r", "\n").splitlines() if f.strip()]
    assert frames and all("0/2" in f for f in frames if "queued" in f), frames
    assert any("succeeded" in f and "2/2" in f for f in frames), frames
