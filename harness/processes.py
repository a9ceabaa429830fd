"""A real gunicorn serving tinymlp, and a real job worker, in child processes, for tests and
benchmarks. Each is stopped by its process id (SIGTERM, then SIGKILL if it lingers);
gunicorn listens on 127.0.0.1 and a free port and is waited on until ``/readyz`` is 200.

    with Gunicorn(models_dir, workers=2) as server:
        urllib.request.urlopen(server.base + "/healthz")
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the project's root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A child process running ``argv`` from the project's root, its output in ``log_path``;
    stopped by its pid: SIGTERM, then SIGKILL if it lingers."""

    argv: list[str] = []
    _scratch: tempfile.TemporaryDirectory | None = None  # removed when the child stops

    def __init__(self, log_path, env: dict, cwd=ROOT):
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd  # another checkout of the project runs its own code (benchmarks.compare_commits)
        self.proc: subprocess.Popen | None = None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, *self.argv], cwd=self.cwd, env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def _wait_until(self, ready, timeout: float, what: str) -> None:
        """Poll ``ready()`` until it is true; stop the child and say why if it dies or times out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text(errors="replace")  # read before stop() removes scratch space
                self.stop()
                raise RuntimeError(f"{what}:\n{log}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int | None:
        try:
            return self._end(timeout)
        finally:
            if self._scratch is not None:
                self._scratch.cleanup()

    def _end(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Gunicorn(Child):
    argv = ["-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "service.wsgi:app"]

    def __init__(self, models_dir, *, workers: int = 2, log_path=None, env: dict | None = None,
                 ready_timeout: float = 60, cwd=ROOT):
        self.models_dir = Path(models_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._scratch = tempfile.TemporaryDirectory(prefix="tinymlp-gunicorn-")
        metrics = Path(self._scratch.name) / "metrics"
        metrics.mkdir()
        super().__init__(log_path or Path(self._scratch.name) / "gunicorn.log", {
            **os.environ, "TINYMLP_MODELS_DIR": str(models_dir), "TINYMLP_BIND": f"127.0.0.1:{self.port}",
            "TINYMLP_WORKERS": str(workers), "TINYMLP_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics), **(env or {})}, cwd)
        self.ready_timeout = ready_timeout

    def start(self) -> Gunicorn:
        super().start()
        self._wait_until(self._ready, self.ready_timeout, "gunicorn did not become ready")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


class TrainerWorker(Child):
    """``python -m trainer worker`` on a model store and job table."""

    argv = ["-m", "trainer", "worker"]

    def __init__(self, models_dir, state_dir, *, log_path, env: dict | None = None):
        super().__init__(log_path, {**os.environ, "TINYMLP_MODELS_DIR": str(models_dir),
                                    "TINYMLP_STATE_DIR": str(state_dir), "TINYMLP_JOB_POLL": "0.1", **(env or {})})


NGINX_TEMPLATE = ROOT / "docker" / "nginx" / "default.conf.template"
NGINX_DEFAULTS = {"PICTURE_RATE": "5r/s", "MAX_BODY_BYTES": "2097152"}


def nginx_server_config(values: dict[str, str]) -> str:
    """The proxy's server config from its template, as the official nginx image's entrypoint
    makes it: ${NAME} replaced where NAME is given, nginx's own $variables left alone."""
    values = {**NGINX_DEFAULTS, **values}
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), NGINX_TEMPLATE.read_text())


def nginx_main_config(prefix: Path, server_config: Path) -> str:
    """A main nginx.conf around the server config, everything under ``prefix`` (no root needed)."""
    temps = "\n".join(f"    {kind}_temp_path {prefix}/{kind};" for kind in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temps}\n    include {server_config};\n}}\n")


class Nginx(Child):
    """Debian's nginx with the proxy's config (docker/nginx), in front of ``upstream``
    (host:port), on 127.0.0.1 and a free port; waited on until it accepts connections."""

    def __init__(self, upstream: str, *, values: dict | None = None, ready_timeout: float = 20):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._scratch = tempfile.TemporaryDirectory(prefix="tinymlp-nginx-")
        prefix = Path(self._scratch.name)
        server = prefix / "default.conf"
        server.write_text(nginx_server_config({"PROXY_LISTEN": f"127.0.0.1:{self.port}", "API_UPSTREAM": upstream,
                                               **(values or {})}))
        (prefix / "nginx.conf").write_text(nginx_main_config(prefix, server))
        super().__init__(prefix / "nginx.log", dict(os.environ))
        self.argv_full = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
        self.error_log = prefix / "error.log"
        self.ready_timeout = ready_timeout

    def start(self) -> Nginx:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv_full, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until(self._accepts, self.ready_timeout, "nginx did not start")
        return self

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program from Debian's package (/usr/lib/postgresql/<v>/bin), or on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1]) if found else shutil.which(name)


class Postgres(Child):
    """A real PostgreSQL from Debian's package in a temporary folder, on 127.0.0.1 and a free
    port, for tests and benchmarks. initdb and postgres refuse to run as root, so as root
    they run as the ``postgres`` user the package creates. Stopped by its pid (SIGINT: fast
    shutdown). ``url(db)`` is a database on it, made by ``create_database``."""

    def __init__(self, *, ready_timeout: float = 60):
        self.port = free_port()
        self._scratch = tempfile.TemporaryDirectory(prefix="tinymlp-postgres-")
        self.root = Path(self._scratch.name)
        self.data = self.root / "data"
        self.user = "postgres" if os.geteuid() == 0 else None
        super().__init__(self.root / "postgres.log", {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"})
        self.ready_timeout = ready_timeout

    def _run_as(self) -> dict:
        return {"user": self.user, "group": self.user} if self.user else {}

    def start(self) -> Postgres:
        initdb, postgres = postgres_bin("initdb"), postgres_bin("postgres")
        if not initdb or not postgres:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        subprocess.run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, env=self.env, cwd=self.root, **self._run_as())
        self._launch()
        return self

    def _launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [postgres_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.root, **self._run_as())
        self._wait_until(self._ready, self.ready_timeout, "postgres did not start")

    def restart(self, down_for: float = 0.0, *, crash: bool = False) -> None:
        """Stop the server (fast shutdown; ``crash``: immediate shutdown, recovered from at the
        next start, as after a kill), keep it down ``down_for`` seconds, start it again on the
        same port and data: what a client sees of a restart."""
        self.proc.send_signal(signal.SIGQUIT if crash else signal.SIGINT)
        self.proc.wait(timeout=30)
        time.sleep(down_for)
        self._launch()

    def _ready(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.url("postgres"), connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create_database(self, db: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
        return super().stop(timeout)
