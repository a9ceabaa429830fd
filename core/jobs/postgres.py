"""The job table in PostgreSQL (``TINYMLP_DATABASE_URL``): for API replicas and job workers
on several hosts.

The same semantics as SQLite's table (``core.jobs.table``), with PostgreSQL deciding
every race: a claim takes its row ``FOR UPDATE SKIP LOCKED`` (two workers never take one
job) and a unique index over running jobs per model refuses a second running job of a
model; a cancel locks the job's row, so it and the worker's step into publishing never
interleave; submits take an advisory lock, so the queue limit holds. Time is the
database's (``now()``), so workers on hosts whose clocks disagree agree on what is stale.

Everything lives in the schema ``tinymlp`` (created on first start, with a schema version
for later migrations), so the database may be shared with other applications. Each thread
holds one connection, opened when first needed and again after it breaks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors

from core.jobs.records import Job
from core.jobs.table import SCHEMA_VERSION, JobTable, Unavailable
from core.settings import hide_password

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS tinymlp;
CREATE TABLE IF NOT EXISTS tinymlp.jobs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params JSONB NOT NULL,
    submitted_at DOUBLE PRECISION NOT NULL,
    started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    heartbeat_at DOUBLE PRECISION,
    publishing_at DOUBLE PRECISION,
    worker TEXT,
    parent_version INTEGER,
    published_version INTEGER,
    promoted INTEGER,
    promotion JSONB,
    progress JSONB NOT NULL DEFAULT '[]',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON tinymlp.jobs (status, submitted_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_model ON tinymlp.jobs (model) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS tinymlp.schema_version (version INTEGER NOT NULL)
"""

# Each step takes the schema from the version before it to its own (none yet: version 2 is
# where the PostgreSQL table began).
MIGRATIONS: dict[int, str] = {}
LOCK_MIGRATE, LOCK_SUBMIT = 7_301_001, 7_301_002  # advisory lock keys


def _first_line(e: Exception) -> str:
    """What psycopg says went wrong, its first line (the rest repeats the connection details)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class PostgresJobTable(JobTable):
    param = "%s"
    NOW = "EXTRACT(EPOCH FROM now())::double precision"
    FOR_UPDATE = " FOR UPDATE"

    def __init__(self, url: str, *, max_queued: int = 32, connect_timeout: float = 5.0):
        super().__init__(max_queued=max_queued)
        self.url = url
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self._all_connections: list[psycopg.Connection] = []
        self._guard = threading.Lock()
        self._migrate()

    def describe(self) -> str:
        return f"PostgreSQL {hide_password(self.url)}"

    def _connection(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)),
                                   options="-c search_path=tinymlp", application_name="tinymlp")
        except psycopg.Error as e:
            raise Unavailable(f"cannot reach the job database {hide_password(self.url)}: {_first_line(e)}; "
                              "check TINYMLP_DATABASE_URL and that PostgreSQL is up") from None
        self._local.conn = conn
        with self._guard:  # broken ones are closed already: forget them
            self._all_connections = [c for c in self._all_connections if not c.closed] + [conn]
        return conn

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor]:
        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.OperationalError as e:
            conn.close()  # the next use opens a new one
            raise Unavailable(f"the job database {hide_password(self.url)} failed: {_first_line(e)}") from None

    def _migrate(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_MIGRATE,))
            for statement in filter(str.strip, SCHEMA.split(";")):
                cur.execute(statement)
            cur.execute("SELECT version FROM tinymlp.schema_version")
            row = cur.fetchone()
            version = row[0] if row else SCHEMA_VERSION
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, MIGRATIONS.get(target, "").split(";")):
                    cur.execute(statement)
            cur.execute("DELETE FROM tinymlp.schema_version")
            cur.execute("INSERT INTO tinymlp.schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))

    def _lock_queue(self, cur) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_SUBMIT,))

    def _claim_row(self, cur, worker: str) -> dict | None:
        return self._one(cur, "UPDATE jobs SET status = 'running', worker = %s, started_at = NOW(), "
                              "heartbeat_at = NOW() WHERE id = (SELECT id FROM jobs WHERE status = 'queued' "
                              "AND model NOT IN (SELECT model FROM jobs WHERE status = 'running') "
                              "ORDER BY submitted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id", (worker,))

    def claim(self, worker: str) -> Job | None:
        # Two workers may pick queued jobs of one model at once; the unique index lets the
        # first become running and refuses the second, which then looks again.
        for _ in range(5):
            try:
                return super().claim(worker)
            except pg_errors.UniqueViolation:
                continue
        return None

    def close(self) -> None:
        with self._guard:
            for conn in self._all_connections:
                conn.close()
            self._all_connections.clear()
