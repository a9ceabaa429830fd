"""Every TINYMLP_* variable is read through core.settings, with one default each, checked,
and documented in the README's configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core import settings
from core.settings import SettingError, read

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "raw", "value"), [
    ("TINYMLP_LOG_LEVEL", "info", "INFO"),
    ("TINYMLP_LOG_LEVEL", " Warning ", "WARNING"),
    ("TINYMLP_LOG_FORMAT", "JSON", "json"),
    ("TINYMLP_WORKERS", "4", 4),
    ("TINYMLP_RELOAD_INTERVAL", "0.5", 0.5),
    ("TINYMLP_TRAIN_TOKEN", "s3cret", "s3cret"),
    ("TINYMLP_TRAIN_TOKEN", "", None),
    ("TINYMLP_MODELS_DIR", "", "models"),
    ("TINYMLP_DATABASE_URL", "postgresql://u:p@db:5432/jobs", "postgresql://u:p@db:5432/jobs"),
])
def test_values_are_read_in_any_case_and_empty_means_the_default(name, raw, value):
    assert read(name, {name: raw}) == value


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("TINYMLP_LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR"),
    ("TINYMLP_WORKERS", "two", "must be a whole number"),
    ("TINYMLP_WORKERS", "0", "from 1 to 64"),
    ("TINYMLP_TRAIN_TOKEN", "s3cret ", "spaces or newlines around it"),
    ("TINYMLP_TRAIN_TOKEN", " ", "blank"),
    ("TINYMLP_TRAIN_TOKEN", "s3cret\n", "spaces or newlines around it"),
    ("TINYMLP_BIND", "8000", "host:port"),
    ("TINYMLP_DATABASE_URL", "mysql://u:hunter2@db/jobs", "postgresql://user:password@host:5432/dbname"),
    ("TINYMLP_URL", "localhost:8000", "http:// or https://"),
])
def test_a_value_that_cannot_work_is_refused_naming_the_variable(name, raw, says):
    with pytest.raises(SettingError, match=re.escape(says)) as e:
        read(name, {name: raw})
    assert name in str(e.value)
    assert "hunter2" not in str(e.value)  # a password is never echoed


def test_the_readme_documents_every_variable_with_its_default():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(TINYMLP_[A-Z_]+)` \| ([^|]+) \|", readme, re.M))
    assert set(rows) == set(settings.VARIABLES), set(rows) ^ set(settings.VARIABLES)
    for name, var in settings.VARIABLES.items():
        if var.default is not None:
            assert str(var.default) in rows[name].replace(",", ""), (name, rows[name])


def test_nothing_but_the_settings_module_reads_tinymlp_variables():
    readers = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "build") or rel == Path("trainer/settings.py"):
            continue
        for line in path.read_text().splitlines():
            if re.search(r"(environ\.get|environ\[|getenv)\(?\s*[\"']TINYMLP_", line):
                readers.append(f"{rel}: {line.strip()}")
    # the client reads its two variables itself: it imports nothing of the server's packages
    assert all(r.startswith("client/") for r in readers), readers
