"""Training jobs: typed records, and the table that holds them (SQLite, or PostgreSQL when
TINYMLP_DATABASE_URL is set), in the database every process shares (``core.db``).
``open_jobs`` picks the table from the settings."""

from __future__ import annotations

from core.db import Database
from core.jobs.records import (
    Example,
    FeedbackSource,
    Job,
    JobParams,
    JobStatus,
    Policy,
    Progress,
    Promotion,
    Score,
    SliceScore,
)
from core.jobs.sqlite import SQLiteJobTable
from core.jobs.table import (
    BadCursor,
    Beat,
    JobError,
    JobNotFound,
    JobTable,
    Page,
    QueueFull,
    QueueStats,
    StillActive,
    TooLateToCancel,
    Unavailable,
)


def open_jobs(state_dir, database_url: str | None = None, *, max_queued: int = 32,
              db: Database | None = None) -> JobTable:
    """The job table: PostgreSQL at ``database_url`` if given, else SQLite under ``state_dir``;
    or in ``db``, a database other components share (``core.db.open_database``)."""
    if db is not None:
        if db.backend == "postgres":
            from core.jobs.postgres import PostgresJobTable

            return PostgresJobTable.on(db, max_queued=max_queued)
        return SQLiteJobTable.on(db, max_queued=max_queued)
    if database_url:
        from core.jobs.postgres import PostgresJobTable

        return PostgresJobTable(database_url, max_queued=max_queued)
    return SQLiteJobTable(state_dir, max_queued=max_queued)


__all__ = ["BadCursor", "Beat", "Example", "FeedbackSource", "Job", "JobError", "JobNotFound", "JobParams",
           "JobStatus", "JobTable", "Page", "Policy", "Progress", "Promotion", "QueueFull", "QueueStats",
           "SQLiteJobTable", "Score", "SliceScore", "StillActive", "TooLateToCancel", "Unavailable", "open_jobs"]
