"""The job table: one claim per job, one running job per model, heartbeats, reaping, cancel,
the point of no return before publishing, pages, delete and sweep, counts kept by the
database, wake-ups, schema versions and migrations with rows in them."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from datetime import UTC, datetime

import pytest

from core.jobs import (
    BadCursor,
    Beat,
    JobNotFound,
    JobParams,
    JobStatus,
    Policy,
    Progress,
    Promotion,
    QueueFull,
    Score,
    SQLiteJobTable,
    StillActive,
    TooLateToCancel,
    Unavailable,
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
    assert jobs.beat(job.id, "w1", [Progress(1, 0.5, 0.9, 0.1)]) is Beat.GO
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
    assert jobs.beat(a.id, "w1") is Beat.CANCEL  # the worker learns it at its next beat
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
    assert jobs.beat(a.id, "w1") is Beat.LOST  # a late worker is told the job is not its own any more
    assert jobs.finish(a.id, "w1", JobStatus.SUCCEEDED) is False  # and cannot overwrite the verdict


def test_requeue(jobs):
    a = jobs.submit("red", P, 1)
    jobs.claim("w1")
    assert jobs.requeue(a.id, "w1")
    assert jobs.get(a.id).status is JobStatus.QUEUED
    assert jobs.claim("w2").id == a.id


def test_list_filters_newest_first(jobs):
    ids = [jobs.submit(m, P, 1).id for m in ("red", "xor", "red")]
    assert [j.id for j in jobs.list(model="red").jobs] == [ids[2], ids[0]]
    jobs.cancel(ids[1])
    assert [j.id for j in jobs.list(status="cancelled").jobs] == [ids[1]]
    assert [j.id for j in jobs.list(model="red", status="queued").jobs] == [ids[2], ids[0]]
    assert len(jobs.list(limit=2).jobs) == 2


def _all_pages(jobs, **filters) -> list[str]:
    seen, cursor = [], None
    while True:
        page = jobs.list(limit=3, cursor=cursor, **filters)
        seen += [j.id for j in page.jobs]
        if page.next is None:
            return seen
        cursor = page.next


def test_pages_neither_skip_nor_repeat_while_jobs_are_submitted(job_table):
    jobs = job_table(max_queued=100)
    ids = [jobs.submit(("red", "xor")[i % 2], P, 1).id for i in range(10)]
    first = jobs.list(limit=4)
    later = [jobs.submit("red", P, 1).id for _ in range(3)]  # newer: they belong before the first page
    rest = []
    cursor = first.next
    while cursor:
        page = jobs.list(limit=4, cursor=cursor)
        rest += [j.id for j in page.jobs]
        cursor = page.next
    assert [j.id for j in first.jobs] + rest == ids[::-1]
    assert _all_pages(jobs) == (ids + later)[::-1]
    assert _all_pages(jobs, model="xor") == ids[1::2][::-1]
    assert _all_pages(jobs, status="queued", model="red") == (ids[0::2] + later)[::-1]
    assert jobs.list(limit=13).next is None and jobs.list(limit=12).next is not None


def test_a_cursor_it_never_gave_is_refused(jobs):
    for bad in ("", "x", "12", "12-", "a-b", "1-a/b"):
        with pytest.raises(BadCursor, match="cursor"):
            jobs.list(cursor=bad)


def test_delete_removes_finished_jobs_only(jobs):
    a, b = jobs.submit("red", P, 1), jobs.submit("xor", P, 1)
    with pytest.raises(StillActive, match="cancel it first"):
        jobs.delete(a.id)
    jobs.claim("w1")
    with pytest.raises(StillActive, match="is running"):
        jobs.delete(a.id)
    jobs.cancel(b.id)
    assert jobs.delete(b.id).status is JobStatus.CANCELLED
    with pytest.raises(JobNotFound):
        jobs.get(b.id)
    with pytest.raises(JobNotFound):
        jobs.delete(b.id)
    assert jobs.stats().by_status["cancelled"] == 0


def test_sweep_removes_finished_jobs_past_their_retention_a_batch_at_a_time(jobs):
    ids = [jobs.submit("red", P, 1).id for _ in range(5)]
    running = jobs.claim("w1")
    for i in ids[1:]:
        jobs.cancel(i)
    assert jobs.sweep(keep_seconds=3600) == 0  # all of them finished just now
    time.sleep(0.01)
    assert jobs.sweep(keep_seconds=0, batch=3) == 3
    assert jobs.sweep(keep_seconds=0, batch=3) == 1
    assert jobs.sweep(keep_seconds=0) == 0
    assert [j.id for j in jobs.list().jobs] == [running.id]  # a running job is never swept
    assert jobs.stats().by_status == {"queued": 0, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0}


def test_stats_count_by_status_with_durations_and_waits(jobs):
    a = jobs.submit("red", P, 1)
    jobs.submit("xor", P, 1)
    jobs.claim("w1")
    jobs.finish(a.id, "w1", JobStatus.SUCCEEDED)
    stats = jobs.stats()
    assert stats.buckets[:2] == (1.0, 5.0) and stats.buckets[-1] == 3600.0
    assert stats.by_status["succeeded"] == 1 and stats.by_status["queued"] == 1
    assert stats.durations[:2] == ([1] * len(stats.buckets), 1) and 0 <= stats.durations[2] < 60
    assert stats.waits[:2] == ([1] * len(stats.buckets), 1) and 0 <= stats.waits[2] < 60


def _counted(jobs) -> dict[str, int]:
    """Jobs by status, counted the slow way: what the aggregates must always equal."""
    counts = dict.fromkeys(s.value for s in JobStatus)
    with jobs._tx(write=False) as cur:
        cur.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        found = {r["status"]: r["n"] for r in cur.fetchall()}
    return {s: found.get(s, 0) for s in counts}


def test_the_counts_follow_every_change_a_job_goes_through(jobs):
    jobs.max_queued = 100
    a, b, c, d = (jobs.submit(m, P, 1) for m in ("red", "xor", "sine", "iris"))
    assert jobs.stats().by_status == _counted(jobs)
    jobs.claim("w1"), jobs.claim("w2"), jobs.claim("w3")
    jobs.cancel(d.id)  # queued: cancelled at once
    jobs.finish(a.id, "w1", JobStatus.SUCCEEDED)
    jobs.requeue(b.id, "w2")
    jobs.cancel(c.id)  # running: asked to stop
    assert jobs.stats().by_status == _counted(jobs)
    jobs.claim("w2")
    time.sleep(0.3)
    jobs.reap(stale_after=0.2)
    assert jobs.stats().by_status == _counted(jobs) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 2,
                                                        "cancelled": 1}
    ran = jobs.stats()
    jobs.delete(a.id)
    jobs.sweep(keep_seconds=0)
    after = jobs.stats()
    assert after.by_status == _counted(jobs) == dict.fromkeys(after.by_status, 0)
    # a histogram only ever grows (Prometheus counts, not a census): removing jobs leaves it
    assert after.durations == ran.durations and after.waits == ran.waits
    assert ran.waits[1] == 4 and ran.durations[1] == 3  # b was claimed twice; d never ran


def test_a_locked_database_is_unavailable_not_a_crash(tmp_path):
    import sqlite3

    table = SQLiteJobTable(tmp_path, timeout=0.2)
    holder = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(Unavailable, match="locked"):
            table.submit("red", P, 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert table.submit("red", P, 1).status is JobStatus.QUEUED  # and it works again after


def test_the_database_itself_refuses_a_second_running_job_of_a_model(jobs):
    a = jobs.submit("red", P, 1)
    b = jobs.submit("red", P, 1)
    jobs.claim("w1")
    with pytest.raises(Exception, match="(?i)unique"), jobs._tx() as cur:  # whatever a buggy worker tries
        cur.execute(f"UPDATE jobs SET status = 'running', worker = 'w2' WHERE id = '{b.id}'")
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
    db = table.db._connect()
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
    finally:
        db.close()


def test_a_table_of_the_first_release_is_migrated(tmp_path):
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
    assert old.submitted_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert table.claim("w1").id == "old1"
    db = sqlite3.connect(tmp_path / "jobs.sqlite3")
    assert db.execute("SELECT component, version FROM schema_versions").fetchall() == [("jobs", 3)]
    db.close()


# Version 2 on each backend, as the release before this one made it: its schema and its
# one-row schema_version table; times in seconds since the epoch.
V2 = {
    "sqlite": """
        CREATE TABLE jobs (id TEXT PRIMARY KEY, model TEXT NOT NULL, status TEXT NOT NULL, params TEXT NOT NULL,
            submitted_at REAL NOT NULL, started_at REAL, finished_at REAL, heartbeat_at REAL, worker TEXT,
            parent_version INTEGER, published_version INTEGER, promoted INTEGER, promotion TEXT,
            progress TEXT NOT NULL DEFAULT '[]', error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0,
            publishing_at REAL);
        CREATE INDEX jobs_status ON jobs (status, submitted_at);
        CREATE UNIQUE INDEX jobs_one_running_per_model ON jobs (model) WHERE status = 'running';
        CREATE TABLE schema_version (version INTEGER NOT NULL);
        INSERT INTO schema_version VALUES (2);
    """,
    "postgres": """
        CREATE SCHEMA tinymlp;
        CREATE TABLE tinymlp.jobs (id TEXT PRIMARY KEY, model TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            params JSONB NOT NULL, submitted_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION, heartbeat_at DOUBLE PRECISION, publishing_at DOUBLE PRECISION,
            worker TEXT, parent_version INTEGER, published_version INTEGER, promoted INTEGER, promotion JSONB,
            progress JSONB NOT NULL DEFAULT '[]', error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX jobs_status ON tinymlp.jobs (status, submitted_at);
        CREATE UNIQUE INDEX jobs_one_running_per_model ON tinymlp.jobs (model) WHERE status = 'running';
        CREATE TABLE tinymlp.schema_version (version INTEGER NOT NULL);
        INSERT INTO tinymlp.schema_version VALUES (2);
    """,
}
T0 = 1_760_000_000.25  # seconds since the epoch, a quarter past
V2_ROWS = [  # id, model, status, submitted, started, finished, heartbeat, publishing, published, promoted
    ("q1", "red", "queued", T0 + 40, None, None, None, None, None, None),
    ("r1", "xor", "running", T0 + 30, T0 + 31, None, T0 + 33.5, None, None, None),
    ("s1", "red", "succeeded", T0 + 10, T0 + 12, T0 + 22, T0 + 21, T0 + 20, 2, 1),
    ("f1", "sine", "failed", T0, T0 + 100, T0 + 1000, T0 + 900, None, None, None),
    ("c1", "iris", "cancelled", T0 + 5, None, T0 + 6, None, None, None, None),
]


def _make_v2(job_table, tmp_path):
    if job_table.factory.func is SQLiteJobTable:
        (tmp_path / "state").mkdir()
        db = sqlite3.connect(tmp_path / "state" / "jobs.sqlite3")
        db.executescript(V2["sqlite"])
        insert = "INSERT INTO jobs VALUES ({})"
        mark = "?"
    else:
        import psycopg

        db = psycopg.connect(job_table.factory.args[0], autocommit=True)
        db.execute(V2["postgres"])
        insert = "INSERT INTO tinymlp.jobs VALUES ({})"
        mark = "%s"
    for (job_id, model, status, sub, start, fin, beat, pub, version, promoted) in V2_ROWS:
        values = (job_id, model, status, '{"epochs": 2}', sub, start, fin, beat, pub, "w0" if start else None, 1,
                  version, promoted, None, "[]", None, 0)
        columns = ("id, model, status, params, submitted_at, started_at, finished_at, heartbeat_at, publishing_at, "
                   "worker, parent_version, published_version, promoted, promotion, progress, error, cancel_requested")
        db.execute(insert.replace("VALUES", f"({columns}) VALUES").format(", ".join([mark] * len(values))), values)
    if mark == "?":
        db.commit()
    db.close()


def test_a_version_2_table_with_rows_is_migrated(job_table, tmp_path):
    _make_v2(job_table, tmp_path)
    jobs = job_table()
    at = lambda seconds: datetime.fromtimestamp(seconds, UTC)  # noqa: E731
    for job_id, model, status, sub, start, fin, beat, pub, version, _ in V2_ROWS:
        job = jobs.get(job_id)
        assert (job.model, job.status.value, job.published_version) == (model, status, version)
        assert job.submitted_at == at(sub) and job.params.epochs == 2  # times to the microsecond
        assert (job.started_at, job.finished_at, job.heartbeat_at, job.publishing_at) == tuple(
            None if t is None else at(t) for t in (start, fin, beat, pub))
    with jobs._tx(write=False) as cur:
        cur.execute("SELECT component, version FROM schema_versions")
        assert [tuple(r.values()) for r in cur.fetchall()] == [("jobs", 3)]
    stats = jobs.stats()  # the aggregates start from the rows that were there
    assert stats.by_status == {"queued": 1, "running": 1, "succeeded": 1, "failed": 1, "cancelled": 1}
    assert stats.waits[1:] == (3, 103.0) and stats.waits[0][:2] == [1, 2]  # 1 s, 2 s and 100 s
    assert stats.durations[1:] == (2, 910.0) and stats.durations[0][:7] == [0, 0, 1, 1, 1, 1, 1]  # 10 s, 900 s
    assert [j.id for j in jobs.list().jobs] == ["q1", "r1", "s1", "c1", "f1"]
    assert jobs.claim("w1").id == "q1"
    assert jobs.delete("s1").id == "s1" and jobs.sweep(keep_seconds=0) == 2  # f1, c1
    assert jobs.stats().by_status == _counted(jobs)
    jobs.close()
    reopened = job_table()  # a second start finds version 3 and changes nothing
    assert [j.id for j in reopened.list().jobs] == ["q1", "r1"]


def test_a_database_newer_than_this_release_is_refused(job_table):
    jobs = job_table()
    with jobs._tx() as cur:
        cur.execute("UPDATE schema_versions SET version = 99 WHERE component = 'jobs'")
    with pytest.raises(Unavailable, match="schema version 99, newer than this release"):
        job_table()


def test_a_submit_wakes_an_idle_worker_on_postgres(database_url):
    # (SQLite has no notifications: its workers poll, TINYMLP_JOB_POLL)
    import functools
    import threading

    from core.jobs.postgres import PostgresJobTable

    job_table = functools.partial(PostgresJobTable, database_url)
    jobs = job_table()
    stop = threading.Event()
    jobs.wait_for_work(3600, stop)  # the first wait only starts listening, and returns to look again
    woken = threading.Thread(target=jobs.wait_for_work, args=(3600, stop))
    woken.start()
    other = job_table()  # another process's table: an API replica
    other.submit("red", P, 1)
    woken.join(timeout=60)  # an hour's poll: only the notification ends this wait
    alive = woken.is_alive()
    stop.set()
    woken.join()
    other.close()
    jobs.close()
    assert not alive


def test_another_component_can_share_the_database(job_table, tmp_path):
    # the prediction log (issue 20) will keep its table beside the jobs, with its own version
    from core.db import open_database
    from core.jobs import open_jobs

    url = None if job_table.factory.func is SQLiteJobTable else job_table.factory.args[0]
    db = open_database(tmp_path / "state", url)
    try:
        jobs = open_jobs(None, db=db)
        job = jobs.submit("red", P, 1)
        other = {1: "CREATE TABLE things (id INTEGER PRIMARY KEY, what TEXT NOT NULL)",
                 2: "ALTER TABLE things ADD COLUMN more TEXT"}
        assert db.migrate("things", {1: other[1]}) == 1
        assert db.migrate("things", other) == 2
        with db.transaction() as cur:
            cur.execute("INSERT INTO things (id, what) VALUES (1, 'x')")
            cur.execute("SELECT component, version FROM schema_versions ORDER BY component")
            assert [tuple(r.values()) for r in cur.fetchall()] == [("jobs", 3), ("things", 2)]
        assert jobs.get(job.id).submitted_at == job.submitted_at  # times read as this backend stores them
        jobs.close()  # the table does not close a database it was lent
        with db.transaction(write=False) as cur:
            cur.execute("SELECT what FROM things")
            assert cur.fetchall() == [{"what": "x"}]
    finally:
        db.close()


def test_a_job_removed_under_its_worker_is_not_this_workers_any_more(job_table):
    # reaped while its worker was cut off, then deleted: the worker's finish and requeue say
    # "not mine" (False), as for any job reaped meanwhile, and never raise
    jobs = job_table()
    job = jobs.submit("red", JobParams(epochs=1), parent_version=1)
    jobs.claim("w1")
    time.sleep(0.05)  # its heartbeat is now older than the stale period below (the database's clock)
    assert [j.id for j in jobs.reap(stale_after=0.01)] == [job.id]
    jobs.delete(job.id)
    assert jobs.finish(job.id, "w1", JobStatus.SUCCEEDED) is False
    assert jobs.requeue(job.id, "w1") is False
