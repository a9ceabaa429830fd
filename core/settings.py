"""Every ``TINYMLP_*`` environment variable, declared once: its name, type, default, which
processes read it, its one-line doc, and how a value is checked.

Each process's typed configuration is built from this declaration, not written again:
``config_class("service")`` is a frozen dataclass with one field per variable the service
reads (``TINYMLP_MODELS_DIR`` -> ``models_dir``), its default from here, and ``from_env``
reading and checking them all (MLServer declares its ``Settings`` the same way). The
service's ``Config``, the job worker's ``WorkerConfig``, the trainer CLI's and gunicorn's
settings are such classes. The client, which imports nothing of the server's packages,
keeps its two defaults itself and a test holds them to these.

A value that cannot work is refused with a ``SettingError`` naming the variable, what it got
and what it takes, and an empty value is the default, everywhere alike. gunicorn's master
checks every variable the service reads before a worker boots. The README's configuration
table is ``markdown_table()``; a test keeps the two identical
(``python -m core.settings`` prints it).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PROCESSES = ("service", "worker", "trainer", "gunicorn", "client", "compose")

class SettingError(ValueError):
    """A TINYMLP_* variable whose value cannot work; the message names it and what it takes."""


@dataclass(frozen=True)
class Variable:
    name: str
    kind: type  # the value's type in a typed config (None is allowed where the default is None)
    default: object  # the value when unset or empty
    parse: Callable[[str, str], object]  # (name, raw text) -> value, or SettingError
    help: str
    read_by: tuple[str, ...]  # processes, from PROCESSES
    soft: bool = False  # a bad value does not stop the process: its config records why (``unusable``)

    @property
    def field(self) -> str:
        """The attribute of a typed config that holds it: TINYMLP_MODELS_DIR -> models_dir."""
        return self.name.removeprefix("TINYMLP_").lower()


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


MIN_TOKEN_LENGTH = 16
# Values published in examples and manifests, which anyone can read: never a secret.
PLACEHOLDERS = ("replace-with", "changeme", "change-me", "change_me", "your-token", "your_token", "placeholder",
                "example", "xxxxxxxx")
_TOKEN = re.compile(r"[!-~]+")  # printable ASCII, no spaces


def _token(name: str, raw: str) -> str:
    make_one = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
    if not raw.strip():
        raise SettingError(f"{name} is blank; set it to a long random secret ({make_one}), or leave it empty "
                           "to turn that endpoint off")
    if raw != raw.strip():
        raise SettingError(f"{name} has spaces or newlines around it; clients send the token without them, "
                           "so no request could match: remove them")
    if not _TOKEN.fullmatch(raw):
        # HTTP headers carry bytes: curl sends UTF-8, Python's http.client latin-1, so a token
        # beyond ASCII would match for one client and not another.
        raise SettingError(f"{name} must be printable ASCII without spaces (a header's bytes are read "
                           f"differently by different clients); make one with {make_one}")
    if any(p in raw.lower() for p in PLACEHOLDERS):
        raise SettingError(f"{name} is a placeholder from an example, which anyone can read; set a secret of "
                           f"your own: {make_one}")
    if len(raw) < MIN_TOKEN_LENGTH:
        raise SettingError(f"{name} is {len(raw)} characters; a token must be at least {MIN_TOKEN_LENGTH} "
                           f"(make one with {make_one})")
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


_SERVICE, _WORKER, _TRAINER, _GUNICORN, _CLIENT, _COMPOSE = PROCESSES

_VARIABLES = [
    Variable("TINYMLP_MODELS_DIR", str, "models", _path, "the model store", (_TRAINER, _WORKER, _SERVICE)),
    Variable("TINYMLP_DATA_DIR", str, "data", _path,
             "generated datasets (and an iris.csv that replaces the shipped one)", (_TRAINER, _WORKER)),
    Variable("TINYMLP_STATE_DIR", str, "state", _path,
             "the SQLite database jobs.sqlite3: the job table and the rollouts' counters",
             (_WORKER, _SERVICE, _TRAINER)),
    Variable("TINYMLP_DATABASE_URL", str, None, _database_url,
             "postgresql://user:password@host:5432/dbname: the job table and the rollouts' counters in PostgreSQL "
             "instead of SQLite", (_WORKER, _SERVICE, _TRAINER), soft=True),
    Variable("TINYMLP_TRAIN_TOKEN", str, None, _token,
             f"the bearer token of /train (printable ASCII, at least {MIN_TOKEN_LENGTH} characters); unset or "
             "empty: /train answers 403 saying how to turn it on", (_SERVICE, _CLIENT)),
    Variable("TINYMLP_BIND", str, "127.0.0.1:8000", _bind, "where gunicorn listens (0.0.0.0:8000 in the image)",
             (_GUNICORN,)),
    Variable("TINYMLP_WORKERS", int, 2, _number(1, 64, int), "gunicorn worker processes", (_GUNICORN,)),
    Variable("TINYMLP_WORKER_TIMEOUT", int, 30, _number(1, 3600, int),
             "seconds a gunicorn worker may spend on one request before it is restarted", (_GUNICORN,)),
    Variable("TINYMLP_GRACEFUL_TIMEOUT", int, 20, _number(0, 3600, int),
             "seconds in-flight requests get to finish after SIGTERM", (_GUNICORN,)),
    Variable("TINYMLP_LOG_FORMAT", str, "text", _choice("text", "json"), "text, or json for one JSON object a line",
             (_SERVICE, _WORKER)),
    Variable("TINYMLP_LOG_LEVEL", str, "INFO", _choice(*LOG_LEVELS, upper=True),
             "DEBUG, INFO, WARNING, ERROR or CRITICAL, any case", (_SERVICE, _WORKER, _TRAINER, _GUNICORN)),
    Variable("TINYMLP_RELOAD_INTERVAL", float, 1.0, _number(0.05, 3600),
             "seconds between model store scans in each worker: a version promoted on the store is served by "
             "every worker and replica within it", (_SERVICE,)),
    Variable("TINYMLP_KEEP_LOADED", int, 3, _number(0, 1_000_000, int),
             "latest versions kept loaded besides the served and labelled ones; older ones load on demand",
             (_SERVICE,)),
    Variable("TINYMLP_MAX_MODEL_BYTES", int, 16 * 1024 * 1024, _number(1024, 1 << 34, int),
             "model files larger than this are refused unread", (_SERVICE, _WORKER, _TRAINER)),
    Variable("TINYMLP_MAX_BODY_BYTES", int, 2 * 1024 * 1024, _number(1024, 1 << 30, int),
             "the largest request body (the proxy's client_max_body_size matches it)", (_SERVICE,)),
    Variable("TINYMLP_MAX_ROWS", int, 10_000, _number(1, 10_000_000, int), "rows per predict request",
             (_SERVICE,)),
    Variable("TINYMLP_MAX_QUEUED_JOBS", int, 32, _number(1, 100_000, int), "queued jobs before /train answers 429",
             (_SERVICE,)),
    Variable("TINYMLP_JOB_TIME_LIMIT", float, 600.0, _number(1, 86_400), "seconds a job may train", (_WORKER,)),
    Variable("TINYMLP_JOB_STALE_AFTER", float, 30.0, _number(0.5, 3600),
             "seconds without a heartbeat before a running job is failed", (_WORKER, _SERVICE)),
    Variable("TINYMLP_JOB_POLL", float, 1.0, _number(0.01, 60),
             "seconds between looks at an empty queue in SQLite; on PostgreSQL a submit wakes idle workers at "
             "once (NOTIFY), and they also look every 5 s (or this, if longer)", (_WORKER,)),
    Variable("TINYMLP_JOB_RETENTION_DAYS", float, 30.0, _number(0, 36_500),
             "days a finished job's record is kept; then workers remove it, a small batch at a time", (_WORKER,)),
    Variable("TINYMLP_JOB_NICE", int, 10, _number(0, 19, int),
             "the worker lowers its CPU priority so serving comes first", (_WORKER,)),
    Variable("TINYMLP_WORKER_ALIVE_FILE", str, None, _path,
             "a file the worker touches while alive (the container healthcheck reads it)", (_WORKER,)),
    Variable("TINYMLP_URL", str, "http://localhost:8000", _url,
             "the service the client and the tinymlp command call", (_CLIENT,)),
    Variable("TINYMLP_PORT", int, 8000, _number(1, 65535, int), "the host port compose publishes (the proxy's)",
             (_COMPOSE,)),
    # -- the prediction log, feedback and drift (core.predlog, service.predlog) --
    Variable("TINYMLP_FEEDBACK_TOKEN", str, None, _token,
             f"the bearer token of POST /feedback (printable ASCII, at least {MIN_TOKEN_LENGTH} characters); unset "
             "or empty: /feedback answers 403 saying how to turn it on", (_SERVICE, _CLIENT)),
    Variable("TINYMLP_PREDICTION_LOG_RATE", float, 1.0, _number(0.0, 1.0),
             "the share of predict requests logged (with their rows, answers and request id) for feedback and "
             "drift; 0 turns the log off", (_SERVICE,)),
    Variable("TINYMLP_PREDICTION_LOG_DAYS", float, 7.0, _number(0.0001, 36_500),
             "days a logged prediction (and its feedback) is kept", (_SERVICE,)),
    Variable("TINYMLP_PREDICTION_LOG_MAX_ROWS", int, 1_000_000, _number(1000, 10**10, int),
             "the most predicted rows the log keeps; past it the oldest go first", (_SERVICE,)),
    Variable("TINYMLP_FEEDBACK_WINDOW", int, 1000, _number(1, 1_000_000, int),
             "live quality is also reported over this many of a version's latest feedback rows", (_SERVICE, _WORKER)),
    Variable("TINYMLP_DRIFT_WINDOW", int, 1000, _number(10, 1_000_000, int),
             "drift compares this many of the served version's latest logged rows (of every worker and replica) "
             "with its training data", (_SERVICE,)),
]


VARIABLES: dict[str, Variable] = {v.name: v for v in _VARIABLES}


def default(name: str):
    """A variable's one default."""
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


def read_by(process: str) -> list[Variable]:
    """The variables ``process`` reads, in declaration order."""
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; one of {PROCESSES}")
    return [v for v in _VARIABLES if process in v.read_by]


def check(env: Mapping[str, str] | None = None, *, process: str | None = None,
          skip_soft: bool = True) -> dict[str, object]:
    """Every variable (those ``process`` reads, if given) checked; the first bad one raises.
    Soft ones (a bad job database URL) are left to the config that records why."""
    variables = read_by(process) if process else _VARIABLES
    return {v.name: read(v.name, env) for v in variables if not (skip_soft and v.soft)}


def unknown(env: Mapping[str, str] | None = None) -> list[str]:
    """TINYMLP_* names set but never read (a typo such as TINYMLP_WORKER=4), for a warning."""
    env = os.environ if env is None else env
    return sorted(k for k in env if k.startswith("TINYMLP_") and k not in VARIABLES and k not in EXTERNAL)


# Read by tools around the project, not by its code: the compose file's build argument,
# and the test suite's switches.
EXTERNAL = ("TINYMLP_BASE_IMAGE", "TINYMLP_STACK_URL", "TINYMLP_STACK_SCALE", "TINYMLP_REQUIRE_BROWSER",
            "TINYMLP_REQUIRE_NGINX", "TINYMLP_REQUIRE_POSTGRES", "TINYMLP_TEST_OUTPUT")


# -- typed configurations, built from the declaration --------------------------------------


class _Config:
    """What every generated config shares: ``from_env``, ``replace``, and checking text values
    given in code (a test's ``Config(train_token="a")``) as strictly as from the environment.
    Numbers given in code are taken as they are: a test may want a time limit of a microsecond."""

    _process: str = ""
    unusable: dict  # soft variables whose value could not be used: name -> why

    def __post_init__(self):
        for var in read_by(self._process):
            value = getattr(self, var.field)
            if var.kind is str and value is not None and value != var.default:
                var.parse(var.name, value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides):
        values, unusable = {}, {}
        for var in read_by(cls._process):
            try:
                values[var.field] = read(var.name, env)
            except SettingError as e:
                if not var.soft:
                    raise
                values[var.field], unusable[var.name] = None, str(e)
        return cls(**values, unusable=unusable, **overrides)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def config_class(process: str, *, extra: Mapping[str, tuple[type, object]] | None = None,
                 namespace: Mapping[str, object] | None = None) -> type:
    """A frozen dataclass of the settings ``process`` reads (see the module's docstring), plus
    ``extra`` fields that are not environment variables ({name: (type, default)}: a test's
    switch), and ``namespace`` (properties, methods)."""
    fields = [(v.field, v.kind | None if v.default is None else v.kind, dataclasses.field(default=v.default))
              for v in read_by(process)]
    fields += [(name, kind, dataclasses.field(default=value)) for name, (kind, value) in (extra or {}).items()]
    fields.append(("unusable", dict, dataclasses.field(default_factory=dict, compare=False)))
    name = f"{process.title()}Config"
    return dataclasses.make_dataclass(name, fields, bases=(_Config,), frozen=True,
                                      namespace={"_process": process, "__module__": __name__, **(namespace or {})})


# -- the README's table ------------------------------------------------------------------


def _shown_default(var: Variable) -> str:
    return "unset" if var.default is None else f"`{var.default}`"


def markdown_table() -> str:
    """The README's configuration table, as it must read."""
    rows = ["| variable | default | what | read by |", "| --- | --- | --- | --- |"]
    rows += [f"| `{v.name}` | {_shown_default(v)} | {v.help} | {', '.join(v.read_by)} |" for v in _VARIABLES]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
