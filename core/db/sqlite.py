"""The shared database in SQLite (WAL): ``$TINYMLP_STATE_DIR/jobs.sqlite3``, the one-machine
default (named when it held only the jobs).

Every API worker and job worker on one machine (or one local volume: WAL needs one host's
filesystem, so several machines use PostgreSQL) opens it; each thread keeps one connection
(opening one costs more than a short transaction), made again after a failure. A write
transaction starts with ``BEGIN IMMEDIATE``, so a check and the write that follows it never
interleave with another process's; a busy database is waited on for ``timeout`` seconds,
then ``Unavailable``.
SQLite has no clock finer than a millisecond and no notifications: ``now_us()`` is this
host's clock in microseconds (the database lives on this host, so it is the database's
clock too), and idle processes poll.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from core.db import Database, Listener, Polling, Unavailable, check_version

FILE = "jobs.sqlite3"


def _now_us() -> int:
    return time.time_ns() // 1000


def _dict_row(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row)}


def statements(script: str) -> Iterator[str]:
    """A script's statements one by one (a trigger's body holds semicolons of its own)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer
            buffer = ""
    rest = "\n".join(x for x in buffer.splitlines() if not x.strip().startswith("--")).strip()
    if rest and not sqlite3.complete_statement(rest + ";"):
        raise ValueError(f"an incomplete statement at the end of a script: {rest[:80]!r}")
    if rest:
        yield rest  # the last one may go without its semicolon


def _unavailable(e: sqlite3.Error) -> bool:
    # locked, busy, full, read-only, I/O errors, not a database: worth trying again later.
    # Constraint violations and SQL mistakes are not.
    return type(e) in (sqlite3.OperationalError, sqlite3.DatabaseError)


class SQLiteDatabase(Database):
    backend = "sqlite"

    def __init__(self, state_dir, *, timeout: float = 5.0):
        self.path = Path(state_dir) / FILE
        self.timeout = timeout
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []  # every thread's, for close()
        self._guard = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            try:
                db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            finally:
                db.close()
        except (OSError, sqlite3.Error) as e:
            raise Unavailable(f"cannot use the database {self.path}: {getattr(e, 'strerror', None) or e}") from None

    def describe(self) -> str:
        return f"SQLite {self.path}"

    def _connect(self) -> sqlite3.Connection:
        # each connection is used by the thread that made it; close() may come from another
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        db.row_factory = _dict_row
        db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")
        db.create_function("now_us", 0, _now_us)
        return db

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # never a connection made before a fork
            db = self._local.db = self._connect()
            self._local.pid = os.getpid()
            with self._guard:
                self._open.append(db)
        return db

    def _forget(self) -> None:
        db, self._local.db = getattr(self._local, "db", None), None
        if db is not None:
            with self._guard:
                self._open = [c for c in self._open if c is not db]
            db.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[sqlite3.Cursor]:
        try:
            db = self._connection()
        except sqlite3.Error as e:
            raise Unavailable(f"cannot open the database {self.path}: {e}") from None
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db.cursor()
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as e:
            if db.in_transaction:
                db.rollback()
            if not _unavailable(e):
                raise
            self._forget()  # the next transaction starts on a fresh connection
            raise Unavailable(f"the database {self.path} failed: {e}") from None

    def close(self) -> None:
        with self._guard:
            dbs, self._open = self._open, []
        for db in dbs:
            db.close()
        self._local = threading.local()

    def migrate(self, component: str, steps: Mapping[int, str],
                detect: Callable[[sqlite3.Cursor], int] | None = None) -> int:
        with self.transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_versions "
                        "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            row = cur.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
            version = row["version"] if row else (detect(cur) if detect else 0)
            check_version(component, version, steps, str(self.path))
            for target, script in steps.items():
                if target > version:
                    for statement in statements(script):
                        cur.execute(statement)
                    version = target
            cur.execute("INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                        "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (component, version))
        return version

    def listener(self, channel: str) -> Listener:
        return Polling()
