"""The SQLite job table: one claim per job, one running job per model, heartbeats, reaping."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from trainer.jobs import JobNotFound, JobStore, QueueFull


@pytest.fixture
def jobs(tmp_path):
    return JobStore(tmp_path / "state", max_queued=5)


def test_submit_claim_beat_finish(jobs):
    job = jobs.submit("red", {"epochs": 2}, parent_version=1)
    assert job["status"] == "queued" and job["params"] == {"epochs": 2} and job["parent_version"] == 1
    claimed = jobs.claim("w1")
    assert claimed["id"] == job["id"] and claimed["status"] == "running" and claimed["worker"] == "w1"
    assert jobs.beat(job["id"], "w1", [{"epoch": 1, "loss": 0.5}]) is False
    assert jobs.get(job["id"])["progress"] == [{"epoch": 1, "loss": 0.5}]
    assert jobs.finish(job["id"], "w1", "succeeded", published_version=2, promoted=True, promotion={"why": "x"})
    done = jobs.get(job["id"])
    assert done["status"] == "succeeded" and done["promoted"] is True and done["published_version"] == 2
    assert jobs.claim("w1") is None


def test_the_database_is_in_wal_mode(jobs):
    db = jobs._connect()
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_one_running_job_per_model(jobs):
    a = jobs.submit("red", {}, 1)
    b = jobs.submit("red", {}, 1)
    c = jobs.submit("xor", {}, 1)
    assert jobs.claim("w1")["id"] == a["id"]
    assert jobs.claim("w2")["id"] == c["id"]  # red is busy; xor is not
    assert jobs.claim("w3") is None
    jobs.finish(a["id"], "w1", "failed", error="x")
    assert jobs.claim("w3")["id"] == b["id"]


def test_queue_limit(jobs):
    for _ in range(5):
        jobs.submit("red", {}, 1)
    with pytest.raises(QueueFull, match="TINYMLP_MAX_QUEUED_JOBS"):
        jobs.submit("red", {}, 1)


def test_cancel_queued_at_once_running_by_request(jobs):
    a = jobs.submit("red", {}, 1)
    b = jobs.submit("xor", {}, 1)
    jobs.claim("w1")
    assert jobs.cancel(b["id"])["status"] == "cancelled"
    running = jobs.cancel(a["id"])
    assert running["status"] == "running" and running["cancel_requested"]
    assert jobs.beat(a["id"], "w1") is True  # the worker learns it at its next beat
    with pytest.raises(JobNotFound):
        jobs.cancel("nope")


def test_reap_fails_silent_jobs_and_their_worker_finds_out(jobs):
    a = jobs.submit("red", {}, 1)
    jobs.claim("w1")
    assert jobs.reap(stale_after=60) == []
    time.sleep(0.3)
    assert jobs.reap(stale_after=0.2) == [a["id"]]
    job = jobs.get(a["id"])
    assert job["status"] == "failed" and "heartbeat" in job["error"]
    assert jobs.beat(a["id"], "w1") is True  # a late worker is told to stop
    assert jobs.finish(a["id"], "w1", "succeeded") is False  # and cannot overwrite the verdict


def test_requeue(jobs):
    a = jobs.submit("red", {}, 1)
    jobs.claim("w1")
    assert jobs.requeue(a["id"], "w1")
    assert jobs.get(a["id"])["status"] == "queued"
    assert jobs.claim("w2")["id"] == a["id"]


def _claim_all(path, worker, out):
    store = JobStore(path)
    got = []
    while (job := store.claim(worker)) is not None:
        got.append(job["id"])
        store.finish(job["id"], worker, "succeeded")
    out.put(got)


def test_concurrent_workers_never_take_the_same_job(tmp_path):
    store = JobStore(tmp_path, max_queued=100)
    ids = {store.submit(f"m{i % 7}", {}, 1)["id"] for i in range(60)}
    out = multiprocessing.get_context("spawn").Queue()
    procs = [multiprocessing.get_context("spawn").Process(target=_claim_all, args=(tmp_path, f"w{i}", out))
             for i in range(4)]
    for p in procs:
        p.start()
    taken = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    flat = [j for got in taken for j in got]
    assert len(flat) == len(set(flat)) == 60 and set(flat) == ids
