"""The job table in PostgreSQL (``TINYMLP_DATABASE_URL``): for API replicas and job workers
on several hosts.

The same semantics as SQLite's table (``core.jobs.table``), with PostgreSQL deciding every
race: a claim takes its row ``FOR UPDATE SKIP LOCKED`` (two workers never take one job) and
a unique index over running jobs per model refuses a second running job of a model; a
cancel locks the job's row, so it and the worker's step into publishing never interleave;
submits take an advisory lock, so the queue limit holds. Times are ``timestamptz`` by the
server's clock (``now()``), so workers on hosts whose clocks disagree agree on what is stale.
A submit and a job's end NOTIFY idle workers (LISTEN), which claim at once instead of
waiting for their next look. Connections come from a pool (``core.db.postgres``). The SQL
is ``core/jobs/sql/postgres/``.
"""

from __future__ import annotations

from psycopg import errors as pg_errors

from core.db import Unavailable as DatabaseUnavailable
from core.db import closed_on_error
from core.db.postgres import PostgresDatabase
from core.jobs.records import Job
from core.jobs.table import JobTable, Unavailable


class PostgresJobTable(JobTable):
    def __init__(self, url: str, *, max_queued: int = 32, timeout: float = 5.0):
        try:
            db = PostgresDatabase(url, timeout=timeout)
        except DatabaseUnavailable as e:
            raise Unavailable(str(e)) from None
        with closed_on_error(db):
            super().__init__(db, max_queued=max_queued)

    def claim(self, worker: str) -> Job | None:
        # Two workers may pick queued jobs of one model at once; the unique index lets the
        # first become running and refuses the second, which then looks again.
        for _ in range(5):
            try:
                return super().claim(worker)
            except pg_errors.UniqueViolation:
                continue
        return None
