"""The job table in SQLite (WAL): ``$TINYMLP_STATE_DIR/jobs.sqlite3``, the one-machine default.

Shared by every API worker and job worker on one machine (or one local volume; WAL needs
one host's filesystem, so several machines use PostgreSQL). Write transactions start with
``BEGIN IMMEDIATE``, so a check and the write that follows it never interleave with
another process's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.jobs.table import SCHEMA_VERSION, JobTable, Unavailable

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
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""

# Each step takes the schema from the version before it to its own.
MIGRATIONS = {
    2: """
ALTER TABLE jobs ADD COLUMN publishing_at REAL;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_model ON jobs (model) WHERE status = 'running';
""",
}


class SQLiteJobTable(JobTable):
    param = "?"
    NOW = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, state_dir, *, max_queued: int = 32, timeout: float = 30.0):
        super().__init__(max_queued=max_queued)
        self.dir = Path(state_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise Unavailable(f"cannot create the state folder {self.dir} ({e.strerror}); "
                              "set TINYMLP_STATE_DIR to a writable folder") from None
        self.path = self.dir / "jobs.sqlite3"
        self.timeout = timeout
        try:
            self._migrate()
        except sqlite3.Error as e:
            raise Unavailable(f"cannot use the job table {self.path}: {e}") from None

    def describe(self) -> str:
        return f"SQLite {self.path}"

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    def _migrate(self) -> None:
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            # A table made before schema versions existed is version 1.
            version = row[0] if row else 1
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in filter(str.strip, MIGRATIONS[target].split(";")):
                    db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        try:
            db = self._connect()
        except sqlite3.Error as e:
            raise Unavailable(f"cannot open the job table {self.path}: {e}") from None
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db.cursor()
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _claim_row(self, cur, worker: str) -> dict | None:
        row = self._one(cur, "SELECT id FROM jobs WHERE status = 'queued' AND model NOT IN "
                             "(SELECT model FROM jobs WHERE status = 'running') ORDER BY submitted_at, rowid LIMIT 1")
        if row is not None:
            self._run(cur, "UPDATE jobs SET status = 'running', worker = ?, started_at = NOW(), "
                           "heartbeat_at = NOW() WHERE id = ?", (worker, row["id"]))
        return row
