"""A real gunicorn (2 workers) on 127.0.0.1 and a free port, stopped by its pid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture
def server(seeded_store_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(seeded_store_dir, models)
    port = free_port()
    env = {**os.environ, "TINYMLP_MODELS_DIR": str(models), "TINYMLP_STATE_DIR": str(tmp_path / "state"),
           "TINYMLP_BIND": f"127.0.0.1:{port}", "TINYMLP_WORKERS": "2", "TINYMLP_RELOAD_INTERVAL": "0.2",
           "TINYMLP_LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 -- lives as long as the server; closed below
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "service.wsgi:app"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if call(base, "GET", "/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("gunicorn did not become ready:\n" + (tmp_path / "gunicorn.log").read_text())
        time.sleep(0.1)
    try:
        yield {"base": base, "models": models, "proc": proc, "log": tmp_path / "gunicorn.log"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
