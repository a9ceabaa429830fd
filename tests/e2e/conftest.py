"""A real gunicorn (2 workers) on 127.0.0.1 and a free port, stopped by its pid."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import pytest

from harness.processes import Gunicorn


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
    """gunicorn with 2 workers on a private copy of the seeded store; its log in tmp_path."""
    models = tmp_path / "models"
    shutil.copytree(seeded_store_dir, models)
    env = {"TINYMLP_STATE_DIR": str(tmp_path / "state"), "TINYMLP_RELOAD_INTERVAL": "0.2"}
    with Gunicorn(models, workers=2, log_path=tmp_path / "gunicorn.log", env=env) as server:
        yield server
