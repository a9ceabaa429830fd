"""The service's configuration: its TINYMLP_* settings (read through ``core.settings``),
checked at start. A value that cannot work stops the service with a message naming the
variable. Tests build a ``Config`` directly, pointing at a temporary folder; its defaults
are the settings table's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core import settings
from core.settings import default


@dataclass(frozen=True)
class Config:
    models_dir: str = default("TINYMLP_MODELS_DIR")
    state_dir: str = default("TINYMLP_STATE_DIR")
    database_url: str | None = None  # jobs in PostgreSQL; None: SQLite under state_dir
    database_error: str | None = None  # TINYMLP_DATABASE_URL cannot work: /train says so (serving goes on)
    train_token: str | None = None
    log_format: str = default("TINYMLP_LOG_FORMAT")
    log_level: str = default("TINYMLP_LOG_LEVEL")
    reload_interval: float = default("TINYMLP_RELOAD_INTERVAL")  # seconds between store scans in each worker
    keep_loaded: int = default("TINYMLP_KEEP_LOADED")  # latest versions kept loaded besides served and labelled
    max_model_bytes: int = default("TINYMLP_MAX_MODEL_BYTES")
    max_body_bytes: int = default("TINYMLP_MAX_BODY_BYTES")
    max_rows: int = default("TINYMLP_MAX_ROWS")
    max_queued_jobs: int = default("TINYMLP_MAX_QUEUED_JOBS")
    job_stale_after: float = default("TINYMLP_JOB_STALE_AFTER")  # a running job silent this long is failed
    start_reloader: bool = True  # tests that drive reloads by hand turn it off

    def __post_init__(self):
        if self.train_token is not None:
            settings.read("TINYMLP_TRAIN_TOKEN", {"TINYMLP_TRAIN_TOKEN": self.train_token})

    @classmethod
    def from_env(cls, env=None) -> Config:
        def read(name):
            return settings.read(name, env)

        database_url, database_error = None, None
        try:
            database_url = read("TINYMLP_DATABASE_URL")
        except settings.SettingError as e:
            database_error = str(e)
        return cls(
            models_dir=read("TINYMLP_MODELS_DIR"),
            state_dir=read("TINYMLP_STATE_DIR"),
            database_url=database_url,
            database_error=database_error,
            train_token=read("TINYMLP_TRAIN_TOKEN"),
            log_format=read("TINYMLP_LOG_FORMAT"),
            log_level=read("TINYMLP_LOG_LEVEL"),
            reload_interval=read("TINYMLP_RELOAD_INTERVAL"),
            keep_loaded=read("TINYMLP_KEEP_LOADED"),
            max_model_bytes=read("TINYMLP_MAX_MODEL_BYTES"),
            max_body_bytes=read("TINYMLP_MAX_BODY_BYTES"),
            max_rows=read("TINYMLP_MAX_ROWS"),
            max_queued_jobs=read("TINYMLP_MAX_QUEUED_JOBS"),
            job_stale_after=read("TINYMLP_JOB_STALE_AFTER"),
        )

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)
