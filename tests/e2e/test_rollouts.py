"""Rollouts across replicas, with real processes: three gunicorns (two workers each, their own
ports and metrics folders) on one models folder and one PostgreSQL. Every replica routes a
key to the same arm and reports the same figures, which equal an offline replay; the guard
rolls back a candidate that answers the opposite class, once, with no failed request and
every answer from the stable."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from core.rollouts.figures import Comparer
from core.store import ModelStore
from harness.processes import ROOT, Gunicorn
from harness.stores import publish_nudged, publish_opposite
from tests.e2e.conftest import call

TOKEN = "rollout-e2e-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RELOAD = 0.2


@pytest.fixture
def cluster(seeded_store_dir, tmp_path, database_url):
    models = tmp_path / "models"
    shutil.copytree(seeded_store_dir, models)
    store = ModelStore(models)
    assert publish_opposite(store, "red").version == 2
    assert publish_nudged(store, "red", 0.5, seed=3).version == 3
    env = {"TINYMLP_DATABASE_URL": database_url, "TINYMLP_TRAIN_TOKEN": TOKEN, "TINYMLP_RELOAD_INTERVAL": str(RELOAD),
           "TINYMLP_STATE_DIR": str(tmp_path / "unused-state")}
    replicas = [Gunicorn(models, workers=2, log_path=tmp_path / f"api{i}.log", env=env) for i in range(3)]
    try:
        for r in replicas:
            r.start()
        yield replicas, models, env
    finally:
        for r in replicas:
            r.stop()
    assert not (tmp_path / "unused-state").exists()  # every count went to PostgreSQL


def _predict(base, rows, key=None):
    headers = {"Content-Type": "application/json", **({"X-Routing-Key": key} if key else {})}
    req = urllib.request.Request(base + "/predict/red", data=json.dumps({"inputs": rows}).encode(), method="POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.loads(r.read())
        assert r.headers["X-Model-Version"] == str(body["version"])
        return body


def _figures(replicas):
    """Each replica's answer once every worker has flushed; they must be one."""
    time.sleep(0.5)
    answers = [call(r.base, "GET", "/models/red/rollout") for r in replicas]
    assert all(status == 200 for status, _ in answers), answers
    first = answers[0][1]
    assert all(body == first for _, body in answers), answers
    return first


def test_every_replica_routes_alike_and_reports_the_same_figures(cluster):
    replicas, models, env = cluster
    status, started = call(replicas[1].base, "PUT", "/models/red/rollout",
                           {"candidate": 3, "percent": 10, "min_rows": 10**9}, AUTH)
    assert status == 201, started
    time.sleep(RELOAD * 5)  # every worker of every replica routes by it from its next scan
    rng = np.random.default_rng(0)
    sent, answered = [], []
    for i in range(1500):  # unkeyed, round robin
        rows = rng.integers(0, 256, size=(1, 3)).tolist()
        sent.append(rows)
        answered.append(_predict(replicas[i % 3].base, rows)["version"])
    assert set(answered) == {1, 3} and 135 <= answered.count(3) <= 165  # 10% within a point
    keyed = {}
    for i in range(600):  # 200 keys, each asked of every replica
        key = f"user-{i % 200}"
        rows = rng.integers(0, 256, size=(1 + i % 3, 3)).tolist()
        version = _predict(replicas[i % 3].base, rows, key=key)["version"]
        keyed.setdefault(key, set()).add(version)
        sent.append(rows)
        answered.append(version)
    assert all(len(v) == 1 for v in keyed.values()), keyed  # the same arm on every replica
    f = _figures(replicas)
    assert f["requests"] == {"stable": answered.count(1), "candidate": answered.count(3)}
    # an offline replay of the rows the candidate answered, through both versions
    store = ModelStore(models)
    s, c = store.open("red", 1), store.open("red", 3)
    comparer = Comparer.of(s.info.output, c.info.output, None)
    n = agreed = 0
    for rows, version in zip(sent, answered):
        if version == 3:
            X = np.asarray(rows, dtype=float)
            k, a, _, _ = comparer.rows(s.network.predict_proba(X), c.network.predict_proba(X))
            n, agreed = n + k, agreed + a
    assert (f["rows_compared"], f["rows_agreed"]) == (n, agreed) and 0 < agreed < n
    for r in replicas:  # the metrics, read from the database at each scrape, agree too
        with urllib.request.urlopen(r.base + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert f'tinymlp_rollout_rows_compared_total{{model="red"}} {float(n)}' in text
        assert f'tinymlp_rollout_requests_total{{arm="candidate",model="red"}} {float(answered.count(3))}' in text
    cli = subprocess.run([sys.executable, "-m", "trainer", "--models-dir", str(models), "rollout", "red", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env={**env, "PATH": "/usr/bin:/bin"})
    assert cli.returncode == 0 and json.loads(cli.stdout) == f, cli.stderr


def test_the_guard_rolls_back_the_opposite_class_once_while_the_stable_answers_everything(cluster):
    replicas, models, _ = cluster
    status, started = call(replicas[0].base, "PUT", "/models/red/rollout", {"candidate": 2, "mode": "shadow"}, AUTH)
    assert status == 201 and started["guards"]["min_rows"] == 200, started
    time.sleep(RELOAD * 5)
    versions, failures, stop = [], [], threading.Event()

    def client(n):
        rng = np.random.default_rng(n)
        while not stop.is_set():
            try:
                versions.append(_predict(replicas[n % 3].base, rng.integers(0, 256, size=(1, 3)).tolist())["version"])
            except Exception as e:  # any failure is what this test counts
                failures.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while call(replicas[2].base, "GET", "/models/red/rollout")[1]["status"] == "running":
        assert time.monotonic() < deadline, "never rolled back"
        time.sleep(0.05)
    time.sleep(RELOAD * 5)  # requests go on after it: the stable still answers them
    stop.set()
    for t in threads:
        t.join(30)
    assert failures == [] and set(versions) == {1} and len(versions) > 250
    f = _figures(replicas)
    assert f["status"] == "rolled_back" and f["guard"] == "min_agreement" and f["agreement"] == 0
    assert 200 <= f["rows_compared"] <= 300  # min_rows + 100: frozen where the guard tripped
    logs = "".join((models.parent / f"api{i}.log").read_text() for i in range(3))
    assert len(re.findall(r"rolled_back: guard min_agreement", logs)) == 1, logs[-3000:]  # one writer won
    endings = 0.0
    for r in replicas:
        with urllib.request.urlopen(r.base + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert 'tinymlp_rollout_status{model="red",status="rolled_back"} 1.0' in text
        found = re.search(r'tinymlp_rollout_endings_total\{guard="min_agreement",model="red",status="rolled_back"\} '
                          r'(\S+)', text)
        endings += float(found.group(1)) if found else 0.0
    assert endings == 1.0
