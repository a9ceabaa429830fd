"""Every ``TINYMLP_*`` environment variable: its one default, how it is checked, who reads it.

The service, the job worker, the trainer CLI and gunicorn's config all read their settings
through ``read(name)``, so a variable means the same everywhere (an empty value is the
default everywhere, for instance). A value that cannot work is refused with a
``SettingError`` naming the variable, what it got and what it takes; ``check(env)``
checks them all at once, which gunicorn's master does before any worker boots.

The README's configuration table is this table; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingError(ValueError):
    """A TINYMLP_* variable whose value cannot work; the message names it and what it takes."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: object  # the value when unset or empty
    parse: Callable[[str, str], object]  # (name, raw text) -> value, or SettingError
    help: str
    read_by: str


def _path(name: str, raw: str) -> str:
    return raw


def _number(low, high, cast=float):
    def parse(name: str, raw: str):
        try:
            value = cast(raw.strip())
        except ValueError:
            kind = "a whole number" if cast is int else "a number"
            raise SettingError(f"{name} must be {kind}, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingError(f"{name} must be from {low} to {high}, got {value}")
        return value

    return parse


def _choice(*choices: str, upper: bool = False):
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise SettingError(f"{name} must be one of {', '.join(choices)} (any case), got {raw!r}")
        return value

    return parse


def _token(name: str, raw: str) -> str:
    if not raw.strip():
        raise SettingError(f"{name} is blank; set it to a long random secret, or leave it empty to turn "
                           "training over HTTP off")
    if raw != raw.strip():
        raise SettingError(f"{name} has spaces or newlines around it; clients send the token without them, "
                           "so no request could match: remove them")
    return raw


def _bind(name: str, raw: str) -> str:
    host, sep, port = raw.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"{name} must be host:port (for instance 127.0.0.1:8000), got {raw!r}")
    return raw.strip()


def _database_url(name: str, raw: str) -> str:
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or not parts.path.strip("/"):
        raise SettingError(f"{name} must look like postgresql://user:password@host:5432/dbname, "
                           f"got {hide_password(url)!r}; "
                           "leave it empty to keep the jobs in SQLite under TINYMLP_STATE_DIR")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise SettingError(f"{name} has a port that is not a number") from None
    return url


def _url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingError(f"{name} must be an http:// or https:// address, got {raw!r}")
    return raw.strip().rstrip("/")


_VARIABLES = [
    Variable("TINYMLP_MODELS_DIR", "models", _path, "the model store", "trainer, worker, service"),
    Variable("TINYMLP_DATA_DIR", "data", _path, "generated datasets (and an iris.csv that replaces the shipped one)",
             "trainer"),
    Variable("TINYMLP_STATE_DIR", "state", _path, "the SQLite job table jobs.sqlite3", "worker, service"),
    Variable("TINYMLP_DATABASE_URL", None, _database_url,
             "postgresql://user:password@host:5432/dbname: the job table in PostgreSQL instead of SQLite",
             "worker, service"),
    Variable("TINYMLP_TRAIN_TOKEN", None, _token,
             "the bearer token of /train; unset or empty: /train answers 403 saying how to turn it on",
             "service, client"),
    Variable("TINYMLP_BIND", "127.0.0.1:8000", _bind, "where gunicorn listens (0.0.0.0:8000 in the image)",
             "gunicorn config"),
    Variable("TINYMLP_WORKERS", 2, _number(1, 64, int), "gunicorn worker processes", "gunicorn config"),
    Variable("TINYMLP_WORKER_TIMEOUT", 30, _number(1, 3600, int),
             "seconds a gunicorn worker may spend on one request before it is restarted", "gunicorn config"),
    Variable("TINYMLP_GRACEFUL_TIMEOUT", 20, _number(0, 3600, int),
             "seconds in-flight requests get to finish after SIGTERM", "gunicorn config"),
    Variable("TINYMLP_LOG_FORMAT", "text", _choice("text", "json"), "text, or json for one JSON object a line",
             "service, worker"),
    Variable("TINYMLP_LOG_LEVEL", "INFO", _choice(*LOG_LEVELS, upper=True), "DEBUG, INFO, WARNING or ERROR, any case",
             "service, worker, gunicorn config"),
    Variable("TINYMLP_RELOAD_INTERVAL", 1.0, _number(0.05, 3600), "seconds between model store scans in each worker",
             "service"),
    Variable("TINYMLP_KEEP_LOADED", 3, _number(0, 1_000_000, int),
             "latest versions kept loaded besides the served and labelled ones; older ones load on demand",
             "service"),
    Variable("TINYMLP_MAX_MODEL_BYTES", 16 * 1024 * 1024, _number(1024, 1 << 34, int),
             "model files larger than this are refused unread", "service, trainer"),
    Variable("TINYMLP_MAX_BODY_BYTES", 2 * 1024 * 1024, _number(1024, 1 << 30, int),
             "the largest request body (the proxy's client_max_body_size matches it)", "service"),
    Variable("TINYMLP_MAX_ROWS", 10_000, _number(1, 10_000_000, int), "rows per predict request", "service"),
    Variable("TINYMLP_MAX_QUEUED_JOBS", 32, _number(1, 100_000, int), "queued jobs before /train answers 429",
             "service"),
    Variable("TINYMLP_JOB_TIME_LIMIT", 600.0, _number(1, 86_400), "seconds a job may train", "worker"),
    Variable("TINYMLP_JOB_STALE_AFTER", 30.0, _number(0.5, 3600),
             "seconds without a heartbeat before a running job is failed", "worker, service"),
    Variable("TINYMLP_JOB_POLL", 1.0, _number(0.01, 60), "seconds between looks at an empty queue", "worker"),
    Variable("TINYMLP_JOB_NICE", 10, _number(0, 19, int), "the worker lowers its CPU priority so serving comes first",
             "worker"),
    Variable("TINYMLP_WORKER_ALIVE_FILE", None, _path, "a file the worker touches while alive (the container "
             "healthcheck reads it)", "worker"),
    Variable("TINYMLP_URL", "http://localhost:8000", _url, "the service the client and the tinymlp command call",
             "client"),
    Variable("TINYMLP_PORT", 8000, _number(1, 65535, int), "the host port compose publishes (the proxy's)",
             "compose"),
]
VARIABLES: dict[str, Variable] = {v.name: v for v in _VARIABLES}


def default(name: str):
    """A variable's one default (``Config``, ``WorkerConfig`` and the store take theirs from here)."""
    return VARIABLES[name].default


def hide_password(url: str) -> str:
    """A database URL with its password hidden, for messages and logs."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def read(name: str, env: Mapping[str, str] | None = None):
    """The checked value of one variable; its default when unset or empty."""
    var = VARIABLES[name]
    raw = (os.environ if env is None else env).get(name)
    if raw is None or raw == "":
        return var.default
    return var.parse(name, raw)


def check(env: Mapping[str, str] | None = None, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """Every variable (but ``skip``) checked; the first bad one raises."""
    return {name: read(name, env) for name in VARIABLES if name not in skip}


def unknown(env: Mapping[str, str] | None = None) -> list[str]:
    """TINYMLP_* names set but never read (a typo such as TINYMLP_WORKER=4), for a warning."""
    env = os.environ if env is None else env
    return sorted(k for k in env if k.startswith("TINYMLP_") and k not in VARIABLES and k not in EXTERNAL)


# Read by tools around the project, not by its code: the compose file's build argument,
# and the test suite's switches.
EXTERNAL = ("TINYMLP_BASE_IMAGE", "TINYMLP_STACK_URL", "TINYMLP_STACK_SCALE", "TINYMLP_REQUIRE_BROWSER",
            "TINYMLP_REQUIRE_NGINX", "TINYMLP_REQUIRE_POSTGRES", "TINYMLP_TEST_OUTPUT")
