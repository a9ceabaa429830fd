"""Past one machine, with real processes: three gunicorn replicas (their own ports and metrics
folders) and two job workers, all on one PostgreSQL job table and one models folder."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
import urllib.request

import pytest

from core.store import ModelStore
from harness.processes import Gunicorn, TrainerWorker
from tests.e2e.conftest import call

TOKEN = "scale-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STALE_AFTER = 3.0
MODELS = ("xor", "quadrant", "checkerboard")
ROW = {"xor": [0.1, 0.9], "quadrant": [1.0, 1.0], "checkerboard": [0.5, 0.5]}


@pytest.fixture
def cluster(seeded_store_dir, tmp_path, database_url):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    env = {"TINYMLP_DATABASE_URL": database_url, "TINYMLP_TRAIN_TOKEN": TOKEN, "TINYMLP_RELOAD_INTERVAL": "0.2",
           "TINYMLP_JOB_STALE_AFTER": str(STALE_AFTER), "TINYMLP_STATE_DIR": str(tmp_path / "unused-state"),
           "TINYMLP_MAX_QUEUED_JOBS": "100"}
    replicas = [Gunicorn(tmp_path / "models", workers=1, log_path=tmp_path / f"api{i}.log", env=env) for i in range(3)]
    workers = [TrainerWorker(tmp_path / "models", tmp_path / "unused-state", log_path=tmp_path / f"worker{i}.log",
                             env=env) for i in range(2)]
    try:
        for r in replicas:
            r.start()
        for w in workers:
            w.start()
        yield replicas, workers, tmp_path / "models"
    finally:
        for p in [*workers, *replicas]:
            p.stop()
    assert not (tmp_path / "unused-state").exists()  # nothing went to SQLite


def _wait(replica, job_id, until=("succeeded", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        status, job = call(replica.base, "GET", f"/train/jobs/{job_id}", headers=AUTH)
        assert status == 200, job
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_twelve_jobs_through_three_replicas_and_two_workers(cluster):
    replicas, workers, models = cluster
    submitted = []
    for i, model in zip(range(12), itertools.cycle(MODELS)):
        status, job = call(replicas[i % 3].base, "POST", f"/train/{model}",
                           {"epochs": 2, "samples": 500, "promote": "always", "seed": i}, AUTH)
        assert status == 202, job
        submitted.append(job["id"])
    late, done = [], {}

    def watch(job_id):
        job = _wait(replicas[0], job_id)
        done[job_id] = job
        if job["status"] != "succeeded":
            return
        path = f"/predict/{job['model']}/versions/{job['published_version']}"
        deadline = time.monotonic() + 2.0  # of publishing (the job records it the moment it exists)
        for r in replicas:
            while call(r.base, "POST", path, {"inputs": [ROW[job["model"]]]})[0] != 200:
                if time.monotonic() > deadline:
                    late.append((path, r.base))
                    break
                time.sleep(0.05)

    watchers = [threading.Thread(target=watch, args=(j,)) for j in submitted]
    for t in watchers:
        t.start()
    for t in watchers:
        t.join(timeout=300)
    jobs = [done[j] for j in submitted]
    assert [j["status"] for j in jobs] == ["succeeded"] * 12, [(j["status"], j["error"]) for j in jobs]
    assert late == [], late
    assert len({j["worker"] for j in jobs}) == 2  # both workers ran jobs
    store = ModelStore(models)
    for model in MODELS:
        mine = sorted((j for j in jobs if j["model"] == model), key=lambda j: j["started_at"])
        assert sorted(j["published_version"] for j in mine) == [2, 3, 4, 5]  # each published once
        assert store.versions(model) == [1, 2, 3, 4, 5]
        for a, b in zip(mine, mine[1:]):
            assert a["finished_at"] <= b["started_at"], (a, b)  # one at a time per model
    # every replica reports the same queue, read from the table
    seen = set()
    for r in replicas:
        with urllib.request.urlopen(r.base + "/metrics", timeout=10) as resp:
            seen.add(next(line for line in resp.read().decode().splitlines()
                          if line.startswith('tinymlp_jobs{status="succeeded"}')))
    assert seen == {'tinymlp_jobs{status="succeeded"} 12.0'}


def test_a_worker_killed_mid_job_and_the_other_goes_on(cluster):
    replicas, workers, models = cluster
    status, job = call(replicas[1].base, "POST", "/train/quadrant", {"epochs": 500, "samples": 20_000}, AUTH)
    assert status == 202
    running = _wait(replicas[0], job["id"], until=("running",))
    while not call(replicas[0].base, "GET", f"/train/jobs/{job['id']}", headers=AUTH)[1]["progress"]:
        time.sleep(0.05)
    pid = int(running["worker"].split(":")[1])  # host:pid:random
    victim = next(w for w in workers if w.proc.pid == pid)
    survivor = next(w for w in workers if w is not victim)
    victim.kill()
    killed_at = time.monotonic()
    failed = _wait(replicas[2], job["id"], until=("failed", "queued"), timeout=STALE_AFTER + 15)
    assert time.monotonic() - killed_at <= STALE_AFTER + 5
    assert failed["published_version"] is None and "heartbeat" in (failed["error"] or "")
    assert ModelStore(models).versions("quadrant") == [1]
    assert not [p.name for p in (models / "quadrant").iterdir() if p.name.startswith(".")]  # no partial file
    status, nxt = call(replicas[0].base, "POST", "/train/quadrant", {"epochs": 1, "samples": 500}, AUTH)
    nxt = _wait(replicas[1], nxt["id"])
    assert nxt["status"] == "succeeded" and nxt["worker"].split(":")[1] == str(survivor.proc.pid)
