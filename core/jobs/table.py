"""The job table's semantics, written once for every database that holds it.

Every state change is one short transaction, and the database decides every race:

- ``submit`` inserts a ``queued`` job, refusing when the queue is full;
- ``claim`` takes the oldest queued job whose model has no running job; a unique index
  on running jobs per model makes a second one impossible, whatever the workers do;
- ``beat`` records a running job's heartbeat (and progress) and says whether to stop;
- ``start_publishing`` is the point of no return: it succeeds only while the job is still
  this worker's and not cancelled, and from then on a cancel is refused (409);
- ``record_published`` names the version as soon as it exists; ``finish`` ends the job;
- ``reap`` fails running jobs whose worker has gone silent, by the database's clock, so
  workers on hosts whose clocks disagree still agree on what is stale.

Subclasses (``SQLiteJobTable``, ``PostgresJobTable``) give the connection, the clock, the
claim and the schema; the rest is here.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.jobs.records import Job, JobParams, JobStatus, Progress, Promotion

SCHEMA_VERSION = 2


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


class Unavailable(JobError):
    """The database cannot be reached or used; the message says which and what to do."""


@dataclass(frozen=True)
class QueueStats:
    """What /metrics reports, read from the table so every replica reports the same: jobs by
    status, and two histograms as (cumulative bucket counts, count, sum of seconds)."""

    by_status: dict[str, int]
    buckets: tuple[float, ...]
    durations: tuple[list[int], int, float]  # claim to finish, of every job that ran
    waits: tuple[list[int], int, float]  # submit to claim, of every job claimed


class JobTable(ABC):
    """A job table; see the module's docstring for what each operation guarantees."""

    param = "?"  # the driver's placeholder
    NOW = ""  # an SQL expression: seconds since the epoch by the database's clock
    FOR_UPDATE = ""  # how a read locks the rows it reads until the transaction ends, where it must

    def __init__(self, *, max_queued: int = 32):
        self.max_queued = max_queued

    # -- what a backend gives -------------------------------------------------------

    @abstractmethod
    @contextmanager
    def _tx(self) -> Iterator:
        """A cursor in one write transaction, committed on success."""

    @abstractmethod
    def _claim_row(self, cur, worker: str) -> dict | None:
        """Inside a transaction: mark the oldest runnable queued job running for ``worker``."""

    @abstractmethod
    def describe(self) -> str:
        """Where the jobs live, for logs (never a password)."""

    def _lock_queue(self, cur) -> None:  # noqa: B027 - SQLite's write transactions are serial already
        """Inside a transaction: hold off other submits until it ends (the queue limit holds)."""

    def close(self) -> None:  # noqa: B027 - a backend with a pool closes it
        pass

    # -- helpers ----------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        return text.replace("?", self.param).replace("NOW()", self.NOW)

    def _one(self, cur, sql: str, args=()) -> dict | None:
        cur.execute(self._sql(sql), args)
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def _all(self, cur, sql: str, args=()) -> list[dict]:
        cur.execute(self._sql(sql), args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _run(self, cur, sql: str, args=()) -> int:
        cur.execute(self._sql(sql), args)
        return cur.rowcount

    @staticmethod
    def _job(row: dict | None) -> Job | None:
        if row is None:
            return None
        load = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731 - text or a JSON column
        progress = load(row["progress"]) or []
        return Job(
            id=row["id"], model=row["model"], status=JobStatus(row["status"]),
            params=JobParams.from_dict(load(row["params"]) or {}), submitted_at=float(row["submitted_at"]),
            parent_version=row["parent_version"], published_version=row["published_version"],
            promoted=None if row["promoted"] is None else bool(row["promoted"]),
            promotion=Promotion.from_dict(load(row["promotion"])),
            progress=tuple(Progress(**p) for p in progress), error=row["error"],
            cancel_requested=bool(row["cancel_requested"]), worker=row["worker"],
            started_at=_float(row["started_at"]), finished_at=_float(row["finished_at"]),
            heartbeat_at=_float(row["heartbeat_at"]), publishing_at=_float(row["publishing_at"]),
        )

    def _get(self, cur, job_id: str, lock: bool = False) -> Job:
        job = self._job(self._one(cur, "SELECT * FROM jobs WHERE id = ?" + (self.FOR_UPDATE if lock else ""),
                                  (job_id,)))
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    # -- the service's side -------------------------------------------------------------

    def submit(self, model: str, params: JobParams, parent_version: int | None) -> Job:
        job_id = uuid.uuid4().hex[:16]
        with self._tx() as cur:
            self._lock_queue(cur)
            queued = self._one(cur, "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'")["n"]
            if queued >= self.max_queued:
                raise QueueFull(f"{queued} jobs are queued, the most allowed (TINYMLP_MAX_QUEUED_JOBS); "
                                "wait for some to finish, then submit again")
            self._run(cur, "INSERT INTO jobs (id, model, status, params, submitted_at, parent_version) "
                           "VALUES (?, ?, 'queued', ?, NOW(), ?)",
                      (job_id, model, json.dumps(params.to_dict()), parent_version))
            return self._get(cur, job_id)

    def get(self, job_id: str) -> Job:
        with self._tx() as cur:
            return self._get(cur, job_id)

    def list(self, *, model: str | None = None, status: JobStatus | str | None = None,
             limit: int = 100) -> list[Job]:
        sql, args = "SELECT * FROM jobs WHERE 1 = 1", []
        if model is not None:
            sql, args = sql + " AND model = ?", [*args, model]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, JobStatus(status).value]
        with self._tx() as cur:
            rows = self._all(cur, sql + " ORDER BY submitted_at DESC, id LIMIT ?", (*args, limit))
        return [self._job(r) for r in rows]

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one at its next epoch. A job that has
        finished or begun publishing raises TooLateToCancel."""
        with self._tx() as cur:
            job = self._get(cur, job_id, lock=True)  # a worker's start_publishing waits for this, or wins
            if job.status.finished or job.publishing_at is not None:
                raise TooLateToCancel(job)
            if job.status is JobStatus.QUEUED:
                self._run(cur, "UPDATE jobs SET status = 'cancelled', finished_at = NOW(), "
                               "error = 'cancelled before it started; nothing was published' WHERE id = ?", (job_id,))
            else:
                self._run(cur, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
            return self._get(cur, job_id)

    # -- the worker's side --------------------------------------------------------------

    def claim(self, worker: str) -> Job | None:
        """The oldest queued job of a model with no running job, now running for ``worker``."""
        with self._tx() as cur:
            row = self._claim_row(cur, worker)
            return None if row is None else self._get(cur, row["id"])

    def beat(self, job_id: str, worker: str, progress: list[Progress] | None = None) -> bool:
        """Record a heartbeat (and the progress so far); True when the job should stop:
        cancel requested, or no longer this worker's (reaped meanwhile)."""
        sets, args = "heartbeat_at = NOW()", []
        if progress is not None:
            sets, args = sets + ", progress = ?", [json.dumps([p.__dict__ for p in progress])]
        with self._tx() as cur:
            if self._run(cur, f"UPDATE jobs SET {sets} WHERE id = ? AND worker = ? AND status = 'running'",
                         (*args, job_id, worker)) == 0:
                return True
            return bool(self._one(cur, "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))["cancel_requested"])

    def start_publishing(self, job_id: str, worker: str) -> bool:
        """The point of no return: True (and cancels are refused from now on) if the job is
        still this worker's, running and not cancelled; False otherwise."""
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET publishing_at = NOW(), heartbeat_at = NOW() WHERE id = ? "
                                  "AND worker = ? AND status = 'running' AND cancel_requested = 0",
                             (job_id, worker)) == 1

    def record_published(self, job_id: str, version: int) -> None:
        """Name the version a job published, the moment it exists (whatever happens next)."""
        with self._tx() as cur:
            self._run(cur, "UPDATE jobs SET published_version = ? WHERE id = ?", (version, job_id))

    def finish(self, job_id: str, worker: str, status: JobStatus, *, progress: list[Progress] | None = None,
               promotion: Promotion | None = None, error: str | None = None) -> bool:
        """End a running job of ``worker``; False if it was not (reaped meanwhile)."""
        if not status.finished:
            raise ValueError(f"finish needs a final status, got {status}")
        cols: dict = {"status": status.value}
        if progress is not None:
            cols["progress"] = json.dumps([p.__dict__ for p in progress])
        if promotion is not None:
            cols["promotion"] = json.dumps(promotion.to_dict())
            cols["promoted"] = int(promotion.promoted)
        if error is not None:
            cols["error"] = error
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self._tx() as cur:
            return self._run(cur, f"UPDATE jobs SET {sets}, finished_at = NOW() "
                                  "WHERE id = ? AND worker = ? AND status = 'running'",
                             (*cols.values(), job_id, worker)) == 1

    def requeue(self, job_id: str, worker: str) -> bool:
        """Give a running job back to the queue (its worker is shutting down before publishing)."""
        with self._tx() as cur:
            return self._run(cur, "UPDATE jobs SET status = 'queued', worker = NULL, started_at = NULL, "
                                  "heartbeat_at = NULL, progress = '[]' WHERE id = ? AND worker = ? "
                                  "AND status = 'running' AND publishing_at IS NULL", (job_id, worker)) == 1

    def reap(self, stale_after: float) -> list[Job]:
        """Fail running jobs whose worker has been silent for ``stale_after`` seconds."""
        gone = f"its worker stopped answering (no heartbeat for {stale_after:g} s); "
        with self._tx() as cur:
            rows = self._all(cur, "UPDATE jobs SET status = 'failed', finished_at = NOW(), error = CASE WHEN "
                                  "publishing_at IS NULL THEN ? ELSE ? END WHERE status = 'running' "
                                  "AND heartbeat_at < NOW() - ? RETURNING id",
                             (gone + "nothing was published; submit the job again",
                              gone + "it died while publishing; see published_version", stale_after))
            return [self._get(cur, row["id"]) for row in rows]

    # -- for operators ------------------------------------------------------------------

    def stats(self, buckets: tuple[float, ...]) -> QueueStats:
        """Jobs by status, and how many took at most each of ``buckets`` seconds to run
        (claim to finish) and to be claimed (submit to claim): cumulative, for histograms."""
        def counts(span: str, where: str) -> tuple[list[int], int, float]:
            ups = ", ".join(f"SUM(CASE WHEN {span} <= {float(b)!r} THEN 1 ELSE 0 END) AS le{i}"
                            for i, b in enumerate(buckets))
            row = self._one(cur, f"SELECT COUNT(*) AS n, COALESCE(SUM({span}), 0) AS total, {ups} FROM jobs "
                                 f"WHERE {where}")
            return [int(row[f"le{i}"] or 0) for i in range(len(buckets))], int(row["n"]), float(row["total"])

        with self._tx() as cur:
            by = {r["status"]: int(r["n"]) for r in self._all(
                cur, "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")}
            durations = counts("finished_at - started_at", "started_at IS NOT NULL AND finished_at IS NOT NULL")
            waits = counts("started_at - submitted_at", "started_at IS NOT NULL")
        return QueueStats({s.value: by.get(s.value, 0) for s in JobStatus}, buckets, durations, waits)


def _float(v) -> float | None:
    return None if v is None else float(v)
