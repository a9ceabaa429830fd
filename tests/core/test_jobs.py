"""The job table: one claim per job, one running job per model, heartbeats, reaping, cancel,
the point of no return before publishing, schema versions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time

import pytest

from core.jobs import (
    JobNotFound,
    JobParams,
    JobStatus,
    Policy,
    Progress,
    Promotion,
    QueueFull,
    Score,
    SQLiteJobTable,
    TooLateToCancel,
)

P = JobParams(epochs=2)


@pytest.fixture
def jobs(job_table):
    return job_table(max_queued=5)


def test_submit_claim_beat_finish(jobs):
    job = jobs.submit("red", P, parent_version=1)
    assert job.status is JobStatus.QUEUED and job.params == P and job.parent_version == 1
    claimed = jobs.claim("w1")
    assert claimed.id == job.id and claimed.status is JobStatus.RUNNING and claimed.worker == "w1"
    assert claimed.started_at >= claimed.submitted_at
    assert jobs.beat(job.id, "w1", [Progress(1, 0.5, 0.9, 0.1)]) is False
    assert jobs.get(job.id).progress == (Progress(1, 0.5, 0.9, 0.1),)
    assert jobs.start_publishing(job.id, "w1")
    jobs.record_published(job.id, 2)
    promotion = Promotion(Policy.IF_BETTER, True, "better", "test", "accuracy", Score(0.9, 0.3), Score(0.95, 0.2),
                          Score(0.5))
    assert jobs.finish(job.id, "w1", JobStatus.SUCCEEDED, promotion=promotion)
    done = jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.promoted is True and done.published_version == 2
    assert done.promotion == promotion and done.finished_at >= done.started_at
    assert jobs.claim("w1") is None


def test_params_and_examples_round_trip(jobs):
    from core.jobs import Example

    params = JobParams(epochs=3, learning_rate=0.01, seed=7, promote=Policy.NEVER,
                       examples=(Example((250.0, 10.0, 10.0), "red"),))
    assert jobs.get(jobs.submit("red", params, 1).id).params == params


def test_one_running_job_per_model(jobs):
    a = jobs.submit("red", P, 1)
    b = jobs.submit("red", P, 1)
    c = jobs.submit("xor", P, 1)
    assert jobs.claim("w1").id == a.id
    assert jobs.claim("w2").id == c.id  # red is busy; xor is not
    assert jobs.claim("w3") is None
    jobs.finish(a.id, "w1", JobStatus.FAILED, error="x")
    assert jobs.claim("w3").id == b.id


def test_queue_limit(jobs):
    for _ in range(5):
        jobs.submit("red", P, 1)
    with pytest.raises(QueueFull, match="TINYMLP_MAX_QUEUED_JOBS"):
        jobs.submit("red", P, 1)


def test_cancel_queued_at_once_running_by_request(jobs):
    a = jobs.submit("red", P, 1)
    b = jobs.submit("xor", P, 1)
    jobs.claim("w1")
    assert jobs.cancel(b.id).status is JobStatus.CANCELLED
    running = jobs.cancel(a.id)
    assert running.status is JobStatus.RUNNING and running.cancel_requested
    assert jobs.beat(a.id, "w1") is True  # the worker learns it at its next beat
    with pytest.raises(JobNotFound):
        jobs.cancel("nope")
    with pytest.raises(TooLateToCancel, match="already cancelled"):
        jobs.cancel(b.id)


def test_cancel_and_publishing_race_has_one_winner(jobs):
    a = jobs.submit("red", P, 1)
    jobs.claim("w1")
    jobs.cancel(a.id)
    assert jobs.start_publishing(a.id, "w1") is False  # the cancel got there first: nothing is published
    b = jobs.submit("xor", P, 1)
    jobs.claim("w1")
    assert jobs.start_publishing(b.id, "w1") is True
    with pytest.raises(TooLateToCancel, match="publishing"):  # and now it is too late to cancel
        jobs.cancel(b.id)
    jobs.record_published(b.id, 5)
    with pytest.raises(TooLateToCancel, match=r"\(5\)"):
        jobs.cancel(b.id)
    assert jobs.requeue(b.id, "w1") is False  # a publishing job is never handed to another worker


def test_reap_fails_silent_jobs_and_their_worker_finds_out(jobs):
    a = jobs.submit("red", P, 1)
    jobs.claim("w1")
    assert jobs.reap(stale_after=60) == []
    time.sleep(0.3)
    assert [j.id for j in jobs.reap(stale_after=0.2)] == [a.id]
    job = jobs.get(a.id)
    assert job.status is JobStatus.FAILED and "heartbeat" in job.error
    assert jobs.beat(a.id, "w1") is True  # a late worker is told to stop
    assert jobs.finish(a.id, "w1", JobStatus.SUCCEEDED) is False  # and cannot overwrite the verdict


def test_requeue(jobs):
    a = jobs.submit("red", P, 1)
    jobs.claim("w1")
    assert jobs.requeue(a.id, "w1")
    assert jobs.get(a.id).status is JobStatus.QUEUED
    assert jobs.claim("w2").id == a.id


def test_list_filters_newest_first(jobs):
    ids = [jobs.submit(m, P, 1).id for m in ("red", "xor", "red")]
    assert [j.id for j in jobs.list(model="red")] == [ids[2], ids[0]]
    jobs.cancel(ids[1])
    assert [j.id for j in jobs.list(status="cancelled")] == [ids[1]]
    assert len(jobs.list(limit=2)) == 2


def test_stats_count_by_status_with_durations_and_waits(jobs):
    a = jobs.submit("red", P, 1)
    jobs.submit("xor", P, 1)
    jobs.claim("w1")
    jobs.finish(a.id, "w1", JobStatus.SUCCEEDED)
    stats = jobs.stats((60.0, 3600.0))
    assert stats.by_status["succeeded"] == 1 and stats.by_status["queued"] == 1
    assert stats.durations[:2] == ([1, 1], 1) and 0 <= stats.durations[2] < 60
    assert stats.waits[:2] == ([1, 1], 1) and 0 <= stats.waits[2] < 60


def test_the_database_itself_refuses_a_second_running_job_of_a_model(jobs):
    a = jobs.submit("red", P, 1)
    b = jobs.submit("red", P, 1)
    jobs.claim("w1")
    with pytest.raises(Exception, match="(?i)unique"), jobs._tx() as cur:  # whatever a buggy worker tries
        jobs._run(cur, "UPDATE jobs SET status = 'running', worker = 'w2' WHERE id = ?", (b.id,))
    assert jobs.get(b.id).status is JobStatus.QUEUED and jobs.get(a.id).status is JobStatus.RUNNING


def _claim_all(factory, worker, out):
    table = factory()
    got = []
    while (job := table.claim(worker)) is not None:
        got.append(job.id)
        table.finish(job.id, worker, JobStatus.SUCCEEDED)
    out.put(got)


def test_concurrent_workers_never_take_the_same_job(job_table):
    table = job_table(max_queued=100)
    ids = {table.submit(f"m{i % 7}", P, 1).id for i in range(60)}
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(job_table.factory, f"w{i}", out)) for i in range(4)]
    for p in procs:
        p.start()
    taken = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    flat = [j for got in taken for j in got]
    assert len(flat) == len(set(flat)) == 60 and set(flat) == ids


def test_the_sqlite_database_is_in_wal_mode(tmp_path):
    table = SQLiteJobTable(tmp_path)
    db = table._connect()
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_a_table_of_the_previous_release_is_migrated(tmp_path):
    # jobs.sqlite3 as the first release wrote it: no schema version, no publishing_at
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    db.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, model TEXT NOT NULL, status TEXT NOT NULL, params TEXT NOT NULL,
            submitted_at REAL NOT NULL, started_at REAL, finished_at REAL, heartbeat_at REAL, worker TEXT,
            parent_version INTEGER, published_version INTEGER, promoted INTEGER, promotion TEXT,
            progress TEXT NOT NULL DEFAULT '[]', error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
        INSERT INTO jobs (id, model, status, params, submitted_at) VALUES ('old1', 'red', 'queued', '{"epochs": 3}', 1);
    """)
    db.close()
    table = SQLiteJobTable(tmp_path)
    old = table.get("old1")
    assert old.status is JobStatus.QUEUED and old.params.epochs == 3 and old.publishing_at is None
    assert table.claim("w1").id == "old1"
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    db.close()
