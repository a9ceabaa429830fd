"""The database every process shares: SQLite under TINYMLP_STATE_DIR (one machine), or
PostgreSQL at TINYMLP_DATABASE_URL (several).

A ``Database`` gives short transactions (a cursor whose rows are dicts), migrations with a
schema version per component, and a way for idle processes to be woken (``Listener``).
Each component that keeps a table in it (the job table; next, the prediction log) brings
its own SQL, one file per backend in the driver's own dialect and placeholders, and its own
numbered migrations; nothing here knows what a job is. ``open_database`` picks the backend
from the settings.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from importlib import resources
from pathlib import Path


class Unavailable(Exception):
    """The database cannot be reached or used right now (down, restarting, locked, full);
    the message says which and what to do. Worth retrying later."""


class Listener(ABC):
    """Waits, in an idle process, until another process says there may be work."""

    @abstractmethod
    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return when woken, after ``timeout`` seconds, or soon after ``stop`` is set."""

    def close(self) -> None:  # noqa: B027 - a listener that holds nothing closes nothing
        pass


class Polling(Listener):
    """No wake-ups (SQLite has none): look again every ``timeout`` seconds."""

    def wait(self, timeout: float, stop: threading.Event) -> None:
        stop.wait(timeout)


class Database(ABC):
    """Connections to one database; see the module's docstring."""

    backend: str  # "sqlite" or "postgres": the folder of a component's SQL files

    @abstractmethod
    def transaction(self, write: bool = True) -> AbstractContextManager:
        """A cursor in one transaction, committed when the block ends and rolled back if it
        raises; driver errors that mean "not now" raise ``Unavailable``. ``write=False``: the
        block only reads, and a backend may run each statement on its own snapshot (as READ
        COMMITTED does inside a transaction) rather than in a transaction block."""

    @abstractmethod
    def migrate(self, component: str, steps: Mapping[int, str],
                detect: Callable[[object], int] | None = None) -> int:
        """Bring ``component``'s tables to the newest of ``steps`` ({version: script}), running
        each newer step in order in one transaction, and record the version; return it.
        ``detect(cursor)`` says which version a database holds that predates the version
        record (0: none of it)."""

    @abstractmethod
    def listener(self, channel: str) -> Listener:
        """A listener woken by ``notify`` on ``channel`` (``Polling`` where there is none)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for logs and messages (never a password)."""

    @abstractmethod
    def close(self) -> None:
        """Close its connections."""


@contextmanager
def closed_on_error(db: Database) -> Iterator[Database]:
    """For building what will own ``db``: the block's error closes it (nothing else would)."""
    try:
        yield db
    except BaseException:
        db.close()
        raise


def open_database(state_dir, url: str | None = None, **pool) -> Database:
    """PostgreSQL at ``url`` if given (``pool``: its connection pool's options), else SQLite in
    ``state_dir``."""
    if url:
        from core.db.postgres import PostgresDatabase

        return PostgresDatabase(url, **pool)
    from core.db.sqlite import SQLiteDatabase

    return SQLiteDatabase(state_dir)


# -- a component's SQL files ------------------------------------------------------------------

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def queries(package: str, backend: str) -> dict[str, str]:
    """The named statements of ``<package>/sql/<backend>/queries.sql``: each starts at a
    ``-- name: <name>`` line and runs to the next (procrastinate keeps its SQL this way)."""
    text = (resources.files(package) / "sql" / backend / "queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2])}


def migrations(package: str, backend: str) -> dict[int, str]:
    """``<package>/sql/<backend>/migrations/<version>-<what>.sql`` by version."""
    folder = resources.files(package) / "sql" / backend / "migrations"
    steps = {}
    for entry in folder.iterdir():
        name = Path(entry.name)
        if name.suffix == ".sql":
            steps[int(name.stem.split("-", 1)[0])] = entry.read_text(encoding="utf-8")
    return dict(sorted(steps.items()))


def check_version(component: str, found: int, steps: Mapping[int, str], where: str) -> None:
    newest = max(steps, default=0)
    if found > newest:
        raise Unavailable(f"{where} holds {component} schema version {found}, newer than this release knows "
                          f"({newest}); run the release that wrote it, or a newer one")
