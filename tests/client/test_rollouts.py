"""Rollouts through the client and ``tinymlp rollout``, against a real gunicorn (2 workers):
start, follow, sticky routing keys, promote and end; and answers no service sends, or errors,
as one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from client import Client, Conflict, InvalidInput, NotFound, Rollout, Unauthorized, UnexpectedAnswer
from core.store import ModelStore
from harness.processes import Gunicorn
from harness.stores import publish_opposite
from tests.client.fakes import FakeService

TOKEN = "rollout-client-token-0123456789"
RELOAD = 0.2  # TINYMLP_RELOAD_INTERVAL: every worker routes by a rollout after its next scan


@pytest.fixture(scope="module")
def service(seeded_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("rollouts")
    shutil.copytree(seeded_store_dir, root / "models")
    store = ModelStore(root / "models")
    for name in ("red", "quadrant", "xor"):
        publish_opposite(store, name)  # version 2 of each, unserved
    env = {"TINYMLP_STATE_DIR": str(root / "state"), "TINYMLP_TRAIN_TOKEN": TOKEN,
           "TINYMLP_RELOAD_INTERVAL": str(RELOAD)}
    with Gunicorn(root / "models", workers=2, log_path=root / "gunicorn.log", env=env) as server:
        yield server


@pytest.fixture
def client(service):
    with Client(service.base, token=TOKEN) as c:
        yield c


def _every_worker_routes():
    time.sleep(RELOAD * 5)


def test_start_follow_and_promote_with_the_client(client):
    started = client.rollout("red", 2, percent=50, min_rows=10**6)
    assert isinstance(started, Rollout) and started.running and (started.stable, started.candidate) == (1, 2)
    _every_worker_routes()
    arms = {}
    for _ in range(3):
        for i in range(30):
            arms.setdefault(i, set()).add(client.predict("red", [[255, 0, 0]], routing_key=f"user-{i}").version)
    assert all(len(v) == 1 for v in arms.values()) and {v for s in arms.values() for v in s} == {1, 2}
    time.sleep(0.3)  # every worker's last flush
    now = started.refresh()
    assert now.requests["candidate"] >= 30 and now.rows_compared == now.requests["candidate"]
    assert now.agreement == 0.0 and now.latency_ms["stable"]["p99"] is not None
    promoted = now.promote()
    assert promoted.status == "promoted"
    _every_worker_routes()  # every worker serves it after its next scan
    assert {client.predict("red", [[255, 0, 0]]).version for _ in range(20)} == {2}
    assert client.model("red").labels["default"] == 2
    with pytest.raises(Conflict, match="promoted"):
        promoted.end()


def test_refusals_are_the_errors_of_their_kind(client, service):
    with pytest.raises(NotFound, match="no version 9"):
        client.rollout("xor", 9)
    with pytest.raises(InvalidInput, match="percent"):
        client.rollout("xor", 2, percent=0)
    with pytest.raises(InvalidInput, match="a shadow runs beside every request"):
        client.rollout("xor", 2, percent=10, shadow=True)
    with pytest.raises(NotFound, match="no rollout"):
        client.rollout("xor")
    with pytest.raises(ValueError, match="go with a candidate"):
        client.rollout("xor", percent=5)
    with Client(service.base, token="") as anonymous, pytest.raises(Unauthorized):
        anonymous.rollout("xor", 2)
    with pytest.raises(ValueError, match="routing key"):
        client.predict("xor", [[0, 1]], routing_key="two\nlines")


def _tinymlp(service, *args, token=True):
    env = {"PATH": "/usr/bin:/bin", "TINYMLP_URL": service.base, **({"TINYMLP_TRAIN_TOKEN": TOKEN} if token else {})}
    proc = subprocess.run([sys.executable, "-m", "client", *args], capture_output=True, text=True, timeout=120,
                          env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_tinymlp_rollout_from_start_to_end(service, tmp_path):
    code, out, err = _tinymlp(service, "rollout", "quadrant", "--candidate", "2", "--shadow", "--min-rows", "1000000")
    assert code == 0 and "running (shadow, every request shadowed): v2 against v1" in out, err
    _every_worker_routes()
    for i in range(10):
        assert _tinymlp(service, "predict", "quadrant", f"{i % 5 - 2},1", "--routing-key", f"u{i}")[0] == 0
    time.sleep(0.5)
    code, out, _ = _tinymlp(service, "rollout", "quadrant")
    assert code == 0 and "requests   stable 10" in out and "compared   10 rows" in out
    code, out, _ = _tinymlp(service, "rollout", "quadrant", "--json")
    assert code == 0 and '"rows_compared": 10' in out
    code, out, _ = _tinymlp(service, "rollout", "quadrant", "--end")
    assert code == 0 and "ended" in out and "the stable stays" in out


@pytest.mark.parametrize(("args", "token", "says"), [
    (["rollout", "quadrant", "--candidate", "2"], False, "Authorization: Bearer"),
    (["rollout", "quadrant", "--percent", "5"], True, "--percent goes with --candidate"),
    (["rollout", "quadrant", "--candidate", "2", "--percent", "0"], True, "a percent above 0 and at most 100"),
    (["rollout", "quadrant", "--promote", "--end"], True, "not allowed with argument"),
    (["rollout", "quadrant", "--candidate", "2", "--shadow", "--percent", "5"], True, "not allowed with argument"),
    (["rollout", "purple"], True, "No model named 'purple'"),
    (["train", "quadrant", "--percent", "5"], True, "--percent is the share of a canary rollout"),
])
def test_tinymlp_rollout_mistakes_are_one_line_and_exit_1(service, args, token, says):
    code, out, err = _tinymlp(service, *args, token=token)
    assert code == 1 and says in err and err.count("\n") == 1 and err.startswith("error: "), err


@pytest.mark.parametrize(("body", "says"), [
    ({"id": "r"}, "the rollout has no 'model'"),
    ([], "the rollout is a list, expected an object"),
])
def test_an_answer_no_service_sends_is_unexpected(body, says):
    with FakeService({("GET", "/models/red/rollout"): lambda h: h.send_json(200, body)}) as fake, \
            Client(fake.base) as c, pytest.raises(UnexpectedAnswer, match=says):
        c.rollout("red")


def test_every_field_read_is_checked():
    good = {"id": "r", "model": "red", "status": "running", "mode": "split", "stable": 1, "candidate": 2,
            "percent": 10.0, "started_at": "2026-01-01T00:00:00.000+00:00", "requests": {"stable": 1, "candidate": 0},
            "rows_compared": 0, "rows_agreed": 0, "agreement": None, "mean_abs_diff": None, "max_abs_diff": None,
            "candidate_errors": 0, "latency_ms": {"stable": {"p50": 0.03, "p99": 0.05},
                                                  "candidate": {"p50": None, "p99": None}}}
    assert Rollout.from_json(good).percent == 10.0
    for key, value, says in (("status", "paused", "one of running"), ("requests", {"stable": 1}, "no 'candidate'"),
                             ("latency_ms", {"stable": {}, "candidate": {}}, "no 'p50'"),
                             ("agreement", "high", "a string, expected a number")):
        with FakeService({("GET", "/models/red/rollout"): lambda h, v=value, k=key: h.send_json(200, {**good, k: v})}) \
                as fake, Client(fake.base) as c, pytest.raises(UnexpectedAnswer, match=says):
            c.rollout("red")
