"""Service configuration: every TINYMLP_* variable read in one place, checked at start.

A value that cannot work stops the service with a message naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from trainer.env import EnvError
from trainer.env import choice as _choice
from trainer.env import models_dir as env_models_dir
from trainer.env import number as _number
from trainer.env import state_dir as env_state_dir

ConfigError = EnvError


@dataclass(frozen=True)
class Config:
    models_dir: str = "models"
    state_dir: str = "state"
    train_token: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    reload_interval: float = 1.0  # seconds between store scans in each worker
    max_body_bytes: int = 2 * 1024 * 1024
    max_rows: int = 10_000
    max_queued_jobs: int = 32
    job_stale_after: float = 30.0  # a running job silent this long is failed (its worker died)
    start_reloader: bool = True  # tests that drive reloads by hand turn it off

    @classmethod
    def from_env(cls, env=None) -> Config:
        env = os.environ if env is None else env
        return cls(
            models_dir=env_models_dir(env),
            state_dir=env_state_dir(env),
            train_token=env.get("TINYMLP_TRAIN_TOKEN") or None,
            log_format=_choice(env, "TINYMLP_LOG_FORMAT", "text", ("text", "json")),
            log_level=_choice(env, "TINYMLP_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            reload_interval=_number(env, "TINYMLP_RELOAD_INTERVAL", 1.0, 0.05, 3600, float),
            max_body_bytes=_number(env, "TINYMLP_MAX_BODY_BYTES", 2 * 1024 * 1024, 1024, 1 << 30, int),
            max_rows=_number(env, "TINYMLP_MAX_ROWS", 10_000, 1, 10_000_000, int),
            max_queued_jobs=_number(env, "TINYMLP_MAX_QUEUED_JOBS", 32, 1, 100_000, int),
            job_stale_after=_number(env, "TINYMLP_JOB_STALE_AFTER", 30.0, 0.5, 3600, float),
        )

    def replace(self, **changes) -> Config:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown config keys {sorted(unknown)}")
        return Config(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})
