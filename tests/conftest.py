"""Shared fixtures: a temporary model store and the original project's seed files."""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

import pytest

from core.store import ModelStore
from harness.stores import build_store

SEED_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "seed"


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


@pytest.fixture
def seed_dir() -> Path:
    if not SEED_DIR.is_dir():
        pytest.skip(f"the original project's seed files are not at {SEED_DIR} (../shared/seed)")
    return SEED_DIR


@pytest.fixture(scope="session")
def seeded_store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded") / "models"
    build_store(root)
    return root


class _Tables:
    """Opens job tables on one backend; ``factory`` (picklable) opens one more, in another process."""

    def __init__(self, factory):
        self.factory = factory
        self.opened = []

    def __call__(self, **options):
        table = self.factory(**options)
        self.opened.append(table)
        return table

    def close(self):
        for table in self.opened:
            table.close()


def require_postgres() -> None:
    """Skip, saying so, where Debian's PostgreSQL is not installed, unless
    TINYMLP_REQUIRE_POSTGRES is set (CI), which makes that a failure."""
    from harness.processes import postgres_bin

    if not postgres_bin("initdb"):
        if os.environ.get("TINYMLP_REQUIRE_POSTGRES"):
            raise RuntimeError("TINYMLP_REQUIRE_POSTGRES is set but PostgreSQL is missing: apt-get install postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); the PostgreSQL tests skip")


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL (Debian's package) for the session (see ``require_postgres``)."""
    from harness.processes import Postgres

    require_postgres()
    with Postgres() as server:
        yield server


@pytest.fixture
def database_url(postgres, request):
    """A database of its own on the session's PostgreSQL."""
    return postgres.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgres"])
def job_table(request, tmp_path):
    """The job table on each backend, empty: ``job_table(max_queued=5)`` opens it."""
    if request.param == "sqlite":
        from core.jobs import SQLiteJobTable

        tables = _Tables(functools.partial(SQLiteJobTable, tmp_path / "state"))
    else:
        from core.jobs.postgres import PostgresJobTable

        tables = _Tables(functools.partial(PostgresJobTable, request.getfixturevalue("database_url")))
    yield tables
    tables.close()
