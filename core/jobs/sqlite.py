"""The job table in SQLite: ``$TINYMLP_STATE_DIR/jobs.sqlite3``, the one-machine default.

Times are whole microseconds since the epoch (SQLite has no time type); a claim reads the
oldest runnable job and takes it in one ``BEGIN IMMEDIATE`` transaction, which no other
process's write can interleave with. Nothing wakes an idle worker: it polls
(``TINYMLP_JOB_POLL``). The SQL is ``core/jobs/sql/sqlite/``.
"""

from __future__ import annotations

from datetime import datetime

from core.db import Unavailable as DatabaseUnavailable
from core.db import closed_on_error
from core.db.sqlite import SQLiteDatabase
from core.jobs.table import JobTable, Unavailable, from_micros, micros


class SQLiteJobTable(JobTable):
    def __init__(self, state_dir, *, max_queued: int = 32, timeout: float = 5.0):
        try:
            db = SQLiteDatabase(state_dir, timeout=timeout)
        except DatabaseUnavailable as e:
            raise Unavailable(str(e)) from None
        with closed_on_error(db):
            super().__init__(db, max_queued=max_queued)

    @property
    def path(self):
        return self.db.path

    def _claim_row(self, cur, worker: str) -> dict | None:
        row = self._one(cur, "claim_pick")
        return None if row is None else self._one(cur, "claim_take", id=row["id"], worker=worker)

    def _time(self, value) -> datetime | None:
        return None if value is None else from_micros(value)

    def _time_param(self, t: datetime) -> int:
        return micros(t)
