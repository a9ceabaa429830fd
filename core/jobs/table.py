"""The job table's semantics, written once for every database that holds it.

Every state change is one short transaction, and the database decides every race:

- ``submit`` inserts a ``queued`` job, refusing when the queue is full, and wakes idle
  workers (PostgreSQL: NOTIFY; SQLite's workers poll);
- ``claim`` takes the oldest queued job whose model has no running job; a unique index
  on running jobs per model makes a second one impossible, whatever the workers do;
- ``beat`` records a running job's heartbeat (and progress) and says whether to go on, stop
  because a cancel was asked for, or stop because the job is no longer this worker's;
- ``start_publishing`` is the point of no return: it succeeds only while the job is still
  this worker's and not cancelled, and from then on a cancel is refused (409);
- ``record_published`` names the version as soon as it exists; ``finish`` ends the job,
  ``requeue`` gives it back (a worker shutting down before publishing); both wake idle
  workers, since the job's model is free again;
- ``reap`` fails running jobs whose worker has gone silent, by the database's clock, so
  workers on hosts whose clocks disagree still agree on what is stale;
- ``cancel`` ends a queued job at once and asks a running one to stop; ``delete`` removes a
  finished job's record and refuses one that is queued or running; ``sweep`` removes finished
  jobs older than the retention, a small batch per call;
- ``list`` answers newest first, a page at a time: a cursor names the last job of a page
  (its submit time and id), and the next page starts strictly after it, so pages neither
  skip nor repeat jobs however many are submitted meanwhile (keyset pagination);
- ``stats`` reads counts by status and the wait and duration histograms from aggregates the
  database keeps in the same transactions that change a job (triggers), never by scanning.

Each backend brings its SQL in its own dialect (``core/jobs/sql/<backend>/``: numbered
migrations and named queries) and says how it claims and how it stores time
(``SQLiteJobTable``, ``PostgresJobTable``); the rest is here.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import orjson

from core import db as dblib
from core.jobs.records import Job, JobParams, JobStatus, Progress, Promotion

COMPONENT = "jobs"  # this component's row in the database's schema_versions
CHANNEL = "tinymlp_jobs"  # idle workers LISTEN here (PostgreSQL)
# With notifications an idle worker still looks this often, in case one was missed (its
# connection was being remade when it was sent).
NOTIFIED_POLL = 5.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(\d{1,16})-([A-Za-z0-9_-]{1,64})")
CURSOR_PATTERN = "^" + CURSOR.pattern + "$"  # for the API's document


class JobError(Exception):
    """A job-table operation that cannot be done; the message says why."""


class QueueFull(JobError):
    pass


class JobNotFound(JobError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "no such job"


class TooLateToCancel(JobError):
    """The job has finished, or has begun to publish its version."""

    def __init__(self, job: Job):
        self.job = job
        if job.status.finished:
            why = f"job {job.id} has already {job.status.value}"
            if job.published_version is not None:
                why += f" and published version {job.published_version}"
        else:
            why = f"job {job.id} is publishing its version" + (
                f" ({job.published_version})" if job.published_version is not None else "")
        super().__init__(f"{why}; there is nothing to cancel")


class StillActive(JobError):
    """Only a finished job's record can be removed."""

    def __init__(self, job: Job):
        self.job = job
        super().__init__(f"job {job.id} is {job.status.value}; cancel it first (POST /train/jobs/{job.id}/cancel), "
                         "then remove it once it has finished")


class BadCursor(JobError, ValueError):
    pass


class Unavailable(JobError):
    """The database cannot be reached or used; the message says which and what to do."""


class Beat(Enum):
    """What a heartbeat learns: go on, stop (a cancel was asked for), or stop because the job
    is not this worker's any more (it was reaped while the worker could not reach the table)."""

    GO = "go"
    CANCEL = "cancel"
    LOST = "lost"


@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    next: str | None  # the cursor of the next page; None on the last


@dataclass(frozen=True)
class QueueStats:
    """What /metrics reports, the same on every replica: jobs by status, and two histograms
    as (cumulative counts at ``buckets``, count, sum of seconds)."""

    by_status: dict[str, int]
    buckets: tuple[float, ...]
    durations: tuple[list[int], int, float]  # claim to finish, of every job that ran
    waits: tuple[list[int], int, float]  # submit to claim, of every claim


def _load(value):
    """A JSON column: text in SQLite, already parsed from PostgreSQL's jsonb."""
    return orjson.loads(value) if isinstance(value, str) else value


def micros(t: datetime) -> int:
    """Whole microseconds since the epoch, exactly."""
    return (t - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    seconds, us = divmod(us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=us)


def encode_cursor(job: Job) -> str:
    return f"{micros(job.submitted_at)}-{job.id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    m = CURSOR.fullmatch(cursor)
    if m is None:
        raise BadCursor("cursor is not one that GET /train/jobs gave (its 'next'); leave it out for the first page")
    return from_micros(int(m.group(1))), m.group(2)


class JobTable:
    """A job table; see the module's docstring for what each operation guarantees."""

    def __init__(self, db: dblib.Database, *, max_queued: int = 32, owns_db: bool = True):
        self.db = db
        self.owns_db = owns_db
        self.max_queued = max_queued
        self.sql = dblib.queries("core.jobs", db.backend)
        self._listener: dblib.Listener | None = None
        self._listener_lock = threading.Lock()
        steps = dblib.migrations("core.jobs", db.backend)
        self._first_version = min(steps)
        try:
            self.db.migrate(COMPONENT, steps, detect=self._detect)
        except dblib.Unavailable as e:
            raise Unavailable(str(e)) from None

    @classmethod
    def on(cls, db: dblib.Database, *, max_queued: int = 32) -> JobTable:
        """This backend's table in a database that other components share (its opener closes it)."""
        table = cls.__new__(cls)
        JobTable.__init__(table, db, max_queued=max_queued, owns_db=False)
        return table

    def describe(self) -> str:
        """Where the jobs live, for logs (never a password)."""
        return self.db.describe()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.owns_db:
            self.db.close()

    # -- what a backend gives -------------------------------------------------------

    def _claim_row(self, cur, worker: str) -> dict | None:
        """Inside a transaction: mark the oldest runnable queued job running for ``worker``."""
        return self._one(cur, "claim", worker=worker)

    def _time(self, value) -> datetime | None:
        """A time as the database returns it."""
        return None if value is None else value.astimezone(UTC)

    def _time_param(self, t: datetime):
        """A time as the database takes it."""
        return t

    # -- helpers ----------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator:
        try:
            with self.db.transaction(write) as cur:
                yield cur
        except dblib.Unavailable as e:
            raise Unavailable(str(e)) from None

    def _execute(self, cur, query: str, params: dict):
        cur.execute(self.sql[query], params)
        return cur

    def _one(self, cur, query: str, /, **params) -> dict | None:
        return self._execute(cur, query, params).fetchone()

    def _all(self, cur, query: str, /, **params) -> list[dict]:
        return self._execute(cur, query, params).fetchall()

    def _run(self, cur, query: str, /, **params) -> int:
        return self._execute(cur, query, params).rowcount

    def _detect(self, cur) -> int:
        """The version of a table made before schema_versions: the one its own one-row table
        recorded, or the first (a table older than that record), or none."""
        if self._one(cur, "table_exists", name="schema_version"):
            row = self._one(cur, "legacy_version")
            return row["version"] if row else self._first_version
        return self._first_version if self._one(cur, "table_exists", name="jobs") else 0

    def _wake(self, cur, model: str) -> None:
        if "wake" in self.sql:  # a backend that notifies (PostgreSQL); SQLite's workers poll
            self._run(cur, "wake", model=model)

    def _job(self, row: dict | None) -> Job | None:
        if row is None:
            return None
        progress = _load(row["progress"]) or ()
        return Job(
            id=row["id"], model=row["model"], status=JobStatus(row["status"]),
            params=JobParams.from_dict(_load(row["params"]) or {}), submitted_at=self._time(row["submitted_at"]),
            parent_version=row["parent_version"], published_version=row["published_version"],
            promoted=None if row["promoted"] is None else bool(row["promoted"]),
            promotion=Promotion.from_dict(_load(row["promotion"])),
            progress=tuple(Progress(**p) for p in progress), error=row["error"],
            cancel_requested=bool(row["cancel_requested"]), worker=row["worker"],
            started_at=self._time(row["started_at"]), finished_at=self._time(row["finished_at"]),
            heartbeat_at=self._time(row["heartbeat_at"]), publishing_at=self._time(row["publishing_at"]),
        )

    def _get(self, cur, job_id: str, lock: bool = False) -> Job:
        job = self._job(self._one(cur, "get_locked" if lock else "get", id=job_id))
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    @staticmethod
    def _progress(progress: list[Progress] | None) -> str | None:
        return None if progress is None else json.dumps([p.__dict__ for p in progress])

    # -- the service's side -------------------------------------------------------------

    def submit(self, model: str, params: JobParams, parent_version: int | None) -> Job:
        job_id = uuid.uuid4().hex[:16]
        with self._tx() as cur:
            if "lock_submits" in self.sql:  # SQLite's write transactions are serial already
                self._one(cur, "lock_submits")
            queued = self._one(cur, "queued")["n"]
            if queued >= self.max_queued:
                raise QueueFull(f"{queued} jobs are queued, the most allowed (TINYMLP_MAX_QUEUED_JOBS); "
                                "wait for some to finish, then submit again")
            self._run(cur, "insert", id=job_id, model=model, params=json.dumps(params.to_dict()),
                      parent_version=parent_version)
            self._wake(cur, model)
            return self._get(cur, job_id)

    def get(self, job_id: str) -> Job:
        with self._tx(write=False) as cur:
            return self._get(cur, job_id)

    def list(self, *, model: str | None = None, status: JobStatus | str | None = None, limit: int = 100,
             cursor: str | None = None) -> Page:
        """Jobs newest first, ``limit`` at most, after ``cursor`` (a page's ``next``)."""
        before_at, before_id = (None, "") if cursor is None else decode_cursor(cursor)
        query = "page" + ("_model" if model is not None else "") + ("_status" if status is not None else "")
        with self._tx(write=False) as cur:
            rows = self._all(cur, query, model=model, status=None if status is None else JobStatus(status).value,
                             before_at=None if before_at is None else self._time_param(before_at),
                             before_id=before_id, limit=limit + 1)
        jobs = [self._job(r) for r in rows[:limit]]
        return Page(jobs, encode_cursor(jobs[-1]) if len(rows) > limit else None)

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one between its next batches. A job
        that has finished or begun publishing raises TooLateToCancel."""
        with self._tx() as cur:
            job = self._get(cur, job_id, lock=True)  # a worker's start_publishing waits for this, or wins
            if job.status.finished or job.publishing_at is not None:
                raise TooLateToCancel(job)
            self._run(cur, "cancel_queued" if job.status is JobStatus.QUEUED else "request_cancel", id=job_id)
            return self._get(cur, job_id)

    def delete(self, job_id: str) -> Job:
        """Remove a finished job's record; the job as it was. StillActive if it is queued or
        running."""
        with self._tx() as cur:
            job = self._get(cur, job_id, lock=True)
            if not job.status.finished:
                raise StillActive(job)
            self._one(cur, "delete_finished", id=job_id)
            return job

    # -- the worker's side --------------------------------------------------------------

    def claim(self, worker: str) -> Job | None:
        """The oldest queued job of a model with no running job, now running for ``worker``."""
        with self._tx() as cur:
            return self._job(self._claim_row(cur, worker))

    def beat(self, job_id: str, worker: str, progress: list[Progress] | None = None) -> Beat:
        """Record a heartbeat (and the progress so far); say whether the job goes on."""
        with self._tx() as cur:
            row = self._one(cur, "beat", id=job_id, worker=worker, progress=self._progress(progress))
        if row is None:
            return Beat.LOST
        return Beat.CANCEL if row["cancel_requested"] else Beat.GO

    def start_publishing(self, job_id: str, worker: str) -> bool:
        """The point of no return: True (and cancels are refused from now on) if the job is
        still this worker's, running and not cancelled; False otherwise."""
        with self._tx() as cur:
            return self._run(cur, "start_publishing", id=job_id, worker=worker) == 1

    def record_published(self, job_id: str, version: int) -> None:
        """Name the version a job published, the moment it exists (whatever happens next)."""
        with self._tx() as cur:
            self._run(cur, "record_published", id=job_id, version=version)

    def finish(self, job_id: str, worker: str, status: JobStatus, *, progress: list[Progress] | None = None,
               promotion: Promotion | None = None, error: str | None = None) -> bool:
        """End a running job of ``worker``; False if it was not (reaped meanwhile)."""
        if not status.finished:
            raise ValueError(f"finish needs a final status, got {status}")
        with self._tx() as cur:
            job = self._job(self._one(cur, "get", id=job_id))
            if job is None:  # reaped and then removed meanwhile: not this worker's any more
                return False
            done = self._run(cur, "finish", id=job_id, worker=worker, status=status.value,
                             progress=self._progress(progress),
                             promotion=None if promotion is None else json.dumps(promotion.to_dict()),
                             promoted=None if promotion is None else int(promotion.promoted), error=error) == 1
            if done:
                self._wake(cur, job.model)
            return done

    def requeue(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (its worker is shutting down before publishing)."""
        with self._tx() as cur:
            job = self._job(self._one(cur, "get", id=job_id))
            if job is None:  # removed meanwhile
                return False
            done = self._run(cur, "requeue", id=job_id, worker=worker) == 1
            if done:
                self._wake(cur, job.model)
            return done

    def reap(self, stale_after: float) -> list[Job]:
        """Fail running jobs whose worker has been silent for ``stale_after`` seconds."""
        gone = f"its worker stopped answering (no heartbeat for {stale_after:g} s); "
        with self._tx() as cur:
            rows = self._all(cur, "reap", stale_after=float(stale_after),
                             unpublished=gone + "nothing was published; submit the job again",
                             publishing=gone + "it died while publishing; see published_version")
            reaped = [self._get(cur, row["id"]) for row in rows]
            for model in sorted({j.model for j in reaped}):
                self._wake(cur, model)
            return reaped

    def sweep(self, keep_seconds: float, batch: int = 500) -> int:
        """Remove at most ``batch`` jobs that finished more than ``keep_seconds`` ago, oldest
        first; how many were removed."""
        with self._tx() as cur:
            return self._run(cur, "sweep", keep_seconds=float(keep_seconds), batch=batch)

    def wait_for_work(self, poll: float, stop: threading.Event) -> None:
        """Idle until woken by a submit or a job's end (PostgreSQL), or for ``poll`` seconds
        where nothing wakes a worker (SQLite); soon after ``stop`` is set either way."""
        with self._listener_lock:
            if self._listener is None:
                self._listener = self.db.listener(CHANNEL)
        notified = not isinstance(self._listener, dblib.Polling)
        self._listener.wait(max(poll, NOTIFIED_POLL) if notified else poll, stop)

    # -- for operators ------------------------------------------------------------------

    def stats(self) -> QueueStats:
        """Jobs by status, and how many took at most each bucket's seconds to run (claim to
        finish) and to be claimed (submit to claim): cumulative, for histograms."""
        with self._tx(write=False) as cur:
            counts = {r["status"]: int(r["n"]) for r in self._all(cur, "counts")}
            rows = self._all(cur, "histograms")
        hist: dict[str, list[tuple[float, int, float]]] = {}
        for r in rows:
            hist.setdefault(r["name"], []).append((float(r["le"]), int(r["n"]), float(r["total"])))

        def cumulative(name: str) -> tuple[list[int], int, float]:
            running, out = 0, []
            for le, n, _ in hist.get(name, []):
                running += n
                if le != float("inf"):
                    out.append(running)
            return out, running, sum(t for _, _, t in hist.get(name, []))

        buckets = tuple(le for le, _, _ in hist.get("wait", []) if le != float("inf"))
        return QueueStats({s.value: counts.get(s.value, 0) for s in JobStatus}, buckets,
                          cumulative("duration"), cumulative("wait"))
