"""Every TINYMLP_* variable is declared once in core.settings (type, default, readers, doc),
read and checked through it, each process's typed config built from it, and the README's
configuration table is the declaration's."""

from __future__ import annotations

import dataclasses
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
    ("TINYMLP_TRAIN_TOKEN", "s3cret-0123456789", "s3cret-0123456789"),
    ("TINYMLP_TRAIN_TOKEN", "", None),
    ("TINYMLP_MODELS_DIR", "", "models"),
    ("TINYMLP_DATABASE_URL", "postgresql://u:p@db:5432/jobs", "postgresql://u:p@db:5432/jobs"),
])
def test_values_are_read_in_any_case_and_empty_means_the_default(name, raw, value):
    assert read(name, {name: raw}) == value


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("TINYMLP_LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("TINYMLP_WORKERS", "two", "must be a whole number"),
    ("TINYMLP_WORKERS", "0", "from 1 to 64"),
    ("TINYMLP_TRAIN_TOKEN", "s3cret-0123456789 ", "spaces or newlines around it"),
    ("TINYMLP_TRAIN_TOKEN", " ", "blank"),
    ("TINYMLP_TRAIN_TOKEN", "s3cret-0123456789\n", "spaces or newlines around it"),
    ("TINYMLP_TRAIN_TOKEN", "a", "at least 16"),
    ("TINYMLP_TRAIN_TOKEN", "replace-with-a-long-random-secret", "placeholder"),
    ("TINYMLP_TRAIN_TOKEN", "CHANGEME-please-0123456789", "placeholder"),
    ("TINYMLP_TRAIN_TOKEN", "s\u00e9cret-0123456789abc", "printable ASCII"),
    ("TINYMLP_TRAIN_TOKEN", "two words-0123456789abc", "printable ASCII"),
    ("TINYMLP_BIND", "8000", "host:port"),
    ("TINYMLP_DATABASE_URL", "mysql://u:hunter2@db/jobs", "postgresql://user:password@host:5432/dbname"),
    ("TINYMLP_URL", "localhost:8000", "http:// or https://"),
])
def test_a_value_that_cannot_work_is_refused_naming_the_variable(name, raw, says):
    with pytest.raises(SettingError, match=re.escape(says)) as e:
        read(name, {name: raw})
    assert name in str(e.value)
    assert "hunter2" not in str(e.value)  # a password is never echoed


def test_the_readmes_configuration_table_is_the_declaration():
    # `python -m core.settings` prints the table to paste
    readme = (ROOT / "README.md").read_text()
    assert settings.markdown_table() in readme


def test_each_process_config_has_a_field_per_variable_it_reads_with_its_one_default():
    from service.config import Config
    from trainer.worker import WorkerConfig

    for cls, process in ((Config, "service"), (WorkerConfig, "worker")):
        config = cls()
        for var in settings.read_by(process):
            assert getattr(config, var.field) == var.default, var.name
        fields = {f.name for f in dataclasses.fields(cls)} - {"unusable", "start_reloader"}
        assert fields == {v.field for v in settings.read_by(process)}


def test_a_config_from_the_environment_reads_every_variable():
    from service.config import Config

    env = {"TINYMLP_MAX_ROWS": "17", "TINYMLP_RELOAD_INTERVAL": "0.5", "TINYMLP_TRAIN_TOKEN": "t" * 20}
    config = Config.from_env(env)
    assert (config.max_rows, config.reload_interval, config.train_token) == (17, 0.5, "t" * 20)
    with pytest.raises(SettingError, match="TINYMLP_MAX_ROWS"):
        Config.from_env({"TINYMLP_MAX_ROWS": "many"})
    with pytest.raises(SettingError, match="at least 16"):
        Config(train_token="short")  # given in code: checked the same


def test_a_bad_job_database_url_is_recorded_not_raised_by_the_service_config():
    from service.config import Config

    config = Config.from_env({"TINYMLP_DATABASE_URL": "mysql://u:hunter2@db/jobs"})
    assert config.database_url is None
    assert "must look like postgresql://" in config.unusable["TINYMLP_DATABASE_URL"]
    assert "hunter2" not in config.unusable["TINYMLP_DATABASE_URL"]


def test_the_clients_defaults_are_the_declared_ones():
    # The client imports nothing of the server's packages, so it keeps its default itself.
    from client.api import DEFAULT_URL

    assert settings.default("TINYMLP_URL") == DEFAULT_URL
    from client.jobs import DEFAULT_EPOCHS, RELOAD_INTERVAL
    from trainer.pipeline import CONTINUE_EPOCHS

    assert DEFAULT_EPOCHS == CONTINUE_EPOCHS  # what a job asked for no epochs runs
    assert settings.default("TINYMLP_RELOAD_INTERVAL") <= RELOAD_INTERVAL  # waiting longer is safe, shorter is not
    assert {v.name for v in settings.read_by("client")} == {"TINYMLP_URL", "TINYMLP_TRAIN_TOKEN",
                                                            "TINYMLP_FEEDBACK_TOKEN"}


def test_nothing_but_the_settings_module_reads_tinymlp_variables():
    readers = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "tests", "build") or rel == Path("core/settings.py"):
            continue
        for line in path.read_text().splitlines():
            if re.search(r"(environ\.get|environ\[|getenv)\(?\s*[\"']TINYMLP_", line):
                readers.append(f"{rel}: {line.strip()}")
    # the client reads its variables itself: it imports nothing of the server's packages
    assert all(r.startswith("client/") for r in readers), readers
