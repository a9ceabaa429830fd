"""The shared database in PostgreSQL (``TINYMLP_DATABASE_URL``): for API replicas and job
workers on several hosts.

Everything lives in the schema ``tinymlp`` (created on first start), so the database may be
shared with other applications. Connections come from a bounded pool (psycopg_pool) that
checks each one as it is handed out and replaces a broken one, so a restarted server is
reconnected to without anyone noticing but a retried transaction; the first connection is
made at once, so an unreachable server is one clear error when the process starts. A
``PostgresListener`` holds one more connection of its own, outside the pool, to LISTEN.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.db import Database, Listener, Unavailable, check_version
from core.settings import hide_password

SCHEMA = "tinymlp"
LOCK_MIGRATE = 7_301_001  # an advisory lock key: one process migrates at a time
# A sync gunicorn worker needs one connection, a job worker two (its loop and a job's
# heartbeat); a few more absorb bursts. Bounded, so replicas x workers x this stays well
# under PostgreSQL's max_connections (100 by default).
POOL_SIZE = 4


def first_line(e: Exception) -> str:
    """What psycopg says went wrong, its first line (the rest repeats the connection details)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class PostgresDatabase(Database):
    backend = "postgres"

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE, timeout: float = 5.0):
        self.url = url
        self.timeout = timeout
        self.kwargs = {"autocommit": True, "connect_timeout": max(1, int(timeout)),
                       "options": f"-c search_path={SCHEMA}", "application_name": "tinymlp"}
        try:
            psycopg.connect(url, **self.kwargs).close()
        except psycopg.Error as e:
            raise Unavailable(f"cannot reach the database {self.describe_url()}: {first_line(e)}; "
                              "check TINYMLP_DATABASE_URL and that PostgreSQL is up") from None
        self.pool = ConnectionPool(url, kwargs=self.kwargs, min_size=1, max_size=pool_size, open=False,
                                   check=ConnectionPool.check_connection, timeout=timeout, name="tinymlp")
        self.pool.open(wait=False)

    def describe_url(self) -> str:
        return hide_password(self.url)

    def describe(self) -> str:
        return f"PostgreSQL {self.describe_url()}"

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[psycopg.Cursor]:
        """``write``: one transaction (BEGIN ... COMMIT). Reads only: the connection's own
        autocommit, each statement on its own snapshot, which is what READ COMMITTED gives
        each statement inside a transaction too, without the two round trips of BEGIN and
        COMMIT (a feedback post, a /metrics scrape and a job page read that way)."""
        try:
            with self.pool.connection() as conn, (conn.transaction() if write else nullcontext()), \
                    conn.cursor(row_factory=dict_row) as cur:
                yield cur
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            # a lost or refused connection, a server shutting down, a deadlock, no connection
            # free in time (PoolTimeout): all worth trying again
            raise Unavailable(f"the database {self.describe_url()} failed: {first_line(e)}") from None

    def migrate(self, component: str, steps: Mapping[int, str],
                detect: Callable[[psycopg.Cursor], int] | None = None) -> int:
        with self.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_MIGRATE,))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
            cur.execute("CREATE TABLE IF NOT EXISTS schema_versions "
                        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM schema_versions WHERE component = %s", (component,))
            row = cur.fetchone()
            version = row["version"] if row else (detect(cur) if detect else 0)
            check_version(component, version, steps, self.describe())
            for target, script in steps.items():
                if target > version:
                    cur.execute(script)  # several statements: no parameters, so the simple protocol
                    version = target
            cur.execute("INSERT INTO schema_versions (component, version) VALUES (%s, %s) "
                        "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (component, version))
        return version

    def listener(self, channel: str) -> Listener:
        return PostgresListener(self, channel)

    def close(self) -> None:
        self.pool.close()


class PostgresListener(Listener):
    """LISTEN on a connection of its own; ``wait`` returns as soon as a NOTIFY arrives.
    A connection (re)made returns at once too: notices sent while there was none are lost,
    so the caller looks for work again."""

    SLICE = 0.25  # seconds: how soon a stop request is seen while waiting

    def __init__(self, db: PostgresDatabase, channel: str):
        self.db, self.channel = db, channel
        self.conn: psycopg.Connection | None = None

    def wait(self, timeout: float, stop: threading.Event) -> None:
        if self.conn is None or self.conn.broken or self.conn.closed:
            self.close()
            try:
                self.conn = psycopg.connect(self.db.url, **self.db.kwargs)
                self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            except psycopg.Error:
                self.close()
                stop.wait(timeout)  # the caller's next transaction says what is wrong
            return
        deadline = time.monotonic() + timeout
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            try:
                for _ in self.conn.notifies(timeout=min(left, self.SLICE), stop_after=1):
                    return
            except psycopg.Error:
                self.close()
                return

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
