"""Training jobs in SQLite (WAL): submitted by the service, run by ``python -m trainer worker``.

One file, ``$TINYMLP_STATE_DIR/jobs.sqlite3``, shared by every API worker and job worker
on one machine (or one volume). Every state change is one short transaction:

- ``submit`` inserts a ``queued`` job, refusing when the queue is full;
- ``claim`` takes the oldest queued job whose model has no running job, under
  ``BEGIN IMMEDIATE``, so two workers never take the same job or two jobs of one model;
- ``beat`` records a running job's heartbeat and progress and says whether it was
  asked to stop; ``finish`` ends it;
- ``reap`` fails running jobs whose worker has not beaten for ``stale_after`` seconds
  (a worker killed mid-job), so no job stays ``running`` for ever.

Statuses: queued -> running -> succeeded | failed | cancelled; queued -> cancelled.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat_at REAL,
    worker TEXT,
    parent_version INTEGER,
    published_version INTEGER,
    promoted INTEGER,
    promotion TEXT,
    progress TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, submitted_at);
"""

JSON_COLUMNS = ("params", "promotion", "progress")


class QueueFull(Exception):
    pass


class JobNotFound(KeyError):
    pass


class JobStore:
    def __init__(self, state_dir, *, max_queued: int = 32, timeout: float = 30.0):
        self.dir = Path(state_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"cannot create the state folder {self.dir} ({e.strerror}); "
                          "set TINYMLP_STATE_DIR to a writable folder") from None
        self.path = self.dir / "jobs.sqlite3"
        self.max_queued = max_queued
        self.timeout = timeout
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    @contextmanager
    def _write(self):
        """One write transaction, taken at once (BEGIN IMMEDIATE) so checks and writes agree."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _row(row: sqlite3.Row | None) -> dict | None:
        if row is None:
            return None
        job = dict(row)
        for col in JSON_COLUMNS:
            job[col] = json.loads(job[col]) if job[col] is not None else None
        job["promoted"] = None if job["promoted"] is None else bool(job["promoted"])
        job["cancel_requested"] = bool(job["cancel_requested"])
        return job

    # --- the service's side -------------------------------------------------------------

    def submit(self, model: str, params: dict, parent_version: int | None) -> dict:
        job_id = uuid.uuid4().hex[:16]
        with self._write() as db:
            queued = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0]
            if queued >= self.max_queued:
                raise QueueFull(f"{queued} jobs are queued, the most allowed (TINYMLP_MAX_QUEUED_JOBS); "
                                "wait for some to finish, then submit again")
            db.execute("INSERT INTO jobs (id, model, status, params, submitted_at, parent_version) "
                       "VALUES (?, ?, 'queued', ?, ?, ?)",
                       (job_id, model, json.dumps(params), time.time(), parent_version))
        return self.get(job_id)

    def get(self, job_id: str) -> dict:
        db = self._connect()
        try:
            job = self._row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        finally:
            db.close()
        if job is None:
            raise JobNotFound(job_id)
        return job

    def list(self, *, model: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
        sql, args = "SELECT * FROM jobs WHERE 1 = 1", []
        if model is not None:
            sql, args = sql + " AND model = ?", [*args, model]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        db = self._connect()
        try:
            rows = db.execute(sql + " ORDER BY submitted_at DESC LIMIT ?", (*args, limit)).fetchall()
        finally:
            db.close()
        return [self._row(r) for r in rows]

    def cancel(self, job_id: str) -> dict:
        """A queued job is cancelled at once; a running one at its next epoch."""
        with self._write() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            if row["status"] == "queued":
                db.execute("UPDATE jobs SET status = 'cancelled', finished_at = ?, "
                           "error = 'cancelled before it started' WHERE id = ?", (time.time(), job_id))
            elif row["status"] == "running":
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        return self.get(job_id)

    # --- the worker's side --------------------------------------------------------------

    def claim(self, worker: str) -> dict | None:
        """The oldest queued job of a model with no running job, now running for ``worker``."""
        with self._write() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND model NOT IN "
                "(SELECT model FROM jobs WHERE status = 'running') ORDER BY submitted_at, rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            t = time.time()
            db.execute("UPDATE jobs SET status = 'running', worker = ?, started_at = ?, heartbeat_at = ? "
                       "WHERE id = ?", (worker, t, t, row["id"]))
        return self.get(row["id"])

    def beat(self, job_id: str, worker: str, progress: list | None = None) -> bool:
        """Record a heartbeat (and the progress so far); True when the job should stop:
        cancel requested, or no longer this worker's (reaped meanwhile)."""
        with self._write() as db:
            sets, args = "heartbeat_at = ?", [time.time()]
            if progress is not None:
                sets, args = sets + ", progress = ?", [*args, json.dumps(progress)]
            cur = db.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND worker = ? AND status = 'running'",
                             (*args, job_id, worker))
            if cur.rowcount == 0:
                return True
            return bool(db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])

    def finish(self, job_id: str, worker: str, status: str, **fields) -> bool:
        """End a running job of ``worker``; False if it was not (reaped meanwhile)."""
        assert status in FINISHED, status
        cols = {"status": status, "finished_at": time.time(), **fields}
        for col in JSON_COLUMNS:
            if col in cols:
                cols[col] = json.dumps(cols[col])
        if "promoted" in cols and cols["promoted"] is not None:
            cols["promoted"] = int(cols["promoted"])
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._write() as db:
            cur = db.execute(f"UPDATE jobs SET {sets} WHERE id = ? AND worker = ? AND status = 'running'",
                             (*cols.values(), job_id, worker))
            return cur.rowcount == 1

    def requeue(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (its worker is shutting down)."""
        with self._write() as db:
            cur = db.execute("UPDATE jobs SET status = 'queued', worker = NULL, started_at = NULL, "
                             "heartbeat_at = NULL, progress = '[]' WHERE id = ? AND worker = ? AND status = 'running'",
                             (job_id, worker))
            return cur.rowcount == 1

    def reap(self, stale_after: float) -> list[str]:
        """Fail running jobs whose worker has been silent for ``stale_after`` seconds."""
        t = time.time()
        with self._write() as db:
            stale = [r["id"] for r in db.execute(
                "SELECT id FROM jobs WHERE status = 'running' AND heartbeat_at < ?", (t - stale_after,))]
            for job_id in stale:
                db.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                           (t, f"its worker stopped answering (no heartbeat for {stale_after:g} s); "
                               "nothing was published; submit the job again", job_id))
        return stale
