"""Prometheus metrics, correct across gunicorn workers.

Under gunicorn, ``docker/gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR`` before
any worker imports this module, so every worker writes its samples to files there
and ``/metrics`` aggregates them. Without it (tests in one process) the default
registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

REQUESTS = Counter("tinymlp_requests_total", "HTTP requests handled",
                   ["endpoint", "model", "version", "status"])
LATENCY = Histogram("tinymlp_request_seconds", "HTTP request latency",
                    ["endpoint", "model", "version", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ROWS = Counter("tinymlp_rows_predicted_total", "Rows predicted", ["model", "version"])
LOAD_FAILURES = Counter("tinymlp_model_load_failures_total", "Model files that failed their checks",
                        ["model"])
SERVED = Gauge("tinymlp_served_version", "The version each model serves by default", ["model"],
               multiprocess_mode="livemostrecent")


_ROWS_BY_VERSION: dict[tuple[str, int], Counter] = {}


def count_rows(name: str, version: int, n: int) -> None:
    """Add ``n`` to the rows predicted by a version. The labelled child is looked up once
    per version: ``labels()`` takes a lock and builds its key on every call."""
    child = _ROWS_BY_VERSION.get((name, version))
    if child is None:
        child = _ROWS_BY_VERSION.setdefault((name, version), ROWS.labels(name, str(version)))
    child.inc(n)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
