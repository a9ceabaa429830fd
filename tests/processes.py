"""A real gunicorn serving tinymlp, and a real job worker, in child processes, for tests and
benchmarks. Each is stopped by its process id (SIGTERM, then SIGKILL if it lingers);
gunicorn listens on 127.0.0.1 and a free port and is waited on until ``/readyz`` is 200.

    with Gunicorn(models_dir, workers=2) as server:
        urllib.request.urlopen(server.base + "/healthz")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A child process running ``argv`` from the project's root, its output in ``log_path``;
    stopped by its pid: SIGTERM, then SIGKILL if it lingers."""

    argv: list[str] = []

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

    def stop(self, timeout: float = 30) -> int | None:
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
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not become ready:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 30) -> int | None:
        code = super().stop(timeout)
        self._scratch.cleanup()
        return code


class TrainerWorker(Child):
    """``python -m trainer worker`` on a model store and job table."""

    argv = ["-m", "trainer", "worker"]

    def __init__(self, models_dir, state_dir, *, log_path, env: dict | None = None):
        super().__init__(log_path, {**os.environ, "TINYMLP_MODELS_DIR": str(models_dir),
                                    "TINYMLP_STATE_DIR": str(state_dir), "TINYMLP_JOB_POLL": "0.1", **(env or {})})
