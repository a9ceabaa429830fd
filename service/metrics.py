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
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

REQUESTS = Counter("tinymlp_requests_total", "HTTP requests handled",
                   ["endpoint", "model", "version", "status"])
LATENCY = Histogram("tinymlp_request_seconds", "HTTP request latency",
                    ["endpoint", "model", "version", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ROWS = Counter("tinymlp_rows_predicted_total", "Rows predicted", ["model", "version"])
LOAD_FAILURES = Counter("tinymlp_model_load_failures_total", "Model files that failed their checks",
                        ["model"])
NONFINITE = Counter("tinymlp_nonfinite_outputs_total", "Predict requests refused because the model's output "
                    "was not finite", ["model"])
SERVED = Gauge("tinymlp_served_version", "The version each model serves by default", ["model"],
               multiprocess_mode="livemostrecent")
LABEL_ERROR = Gauge("tinymlp_model_label_error", "1 while a model's labels.json is unreadable or its default "
                    "label names a missing or broken version", ["model"], multiprocess_mode="livemax")
SERVABLE = Gauge("tinymlp_model_servable", "1 while a model has a version this process can serve", ["model"],
                 multiprocess_mode="livemin")


# A label value per version would let clients grow every scrape without bound (each pinned
# version of a model with thousands is a series of its own, in every worker's files): only the
# versions a worker keeps loaded (served, labelled, the newest few) are named; any other
# version a request asks for is counted under "other".
OTHER_VERSION = "other"
_NAMED_VERSIONS: dict[str, frozenset[int]] = {}  # model -> the versions named in labels
_ROWS_BY_VERSION: dict[tuple[str, str], Counter] = {}


def version_label(name: str, version) -> str:
    """The label value of a model's version in every metric: its number if the registry keeps
    it loaded, else ``other``; empty where a request named no model."""
    if version == "" or version is None:
        return ""
    return str(version) if version in _NAMED_VERSIONS.get(name, ()) else OTHER_VERSION


def count_rows(name: str, version: int, n: int) -> None:
    """Add ``n`` to the rows predicted by a version. The labelled child is looked up once
    per label value: ``labels()`` takes a lock and builds its key on every call."""
    key = (name, version_label(name, version))
    child = _ROWS_BY_VERSION.get(key)
    if child is None:
        child = _ROWS_BY_VERSION.setdefault(key, ROWS.labels(*key))
    child.inc(n)


def observe_snapshot(snapshot) -> None:
    """The registry's new view of the store, as gauges, and the versions metrics may name."""
    global _NAMED_VERSIONS
    _NAMED_VERSIONS = {name: frozenset(entry.loaded) for name, entry in snapshot.models.items()}  # one swap
    for name, entry in snapshot.models.items():
        if entry.served is not None:
            SERVED.labels(name).set(entry.served)
        LABEL_ERROR.labels(name).set(1 if entry.label_error else 0)
        SERVABLE.labels(name).set(1 if entry.served is not None else 0)


class JobTableCollector:
    """The job queue as the job table says it is, at each scrape: every replica reports the
    same numbers, whichever worker ran the jobs. The table keeps them as aggregates in the
    transactions that change a job, so a scrape reads a dozen rows however many jobs it
    holds (benchmarks.jobs_scale)."""

    def __init__(self, table):
        self.table = table

    def collect(self):
        from core.jobs import JobError

        up = GaugeMetricFamily("tinymlp_job_table_up", "1 while the job table answers")
        try:
            stats = self.table.stats() if self.table is not None else None
        except JobError:
            stats = None
        up.add_metric([], 0 if stats is None else 1)
        yield up
        if stats is None:
            return
        jobs = GaugeMetricFamily("tinymlp_jobs", "Jobs in the job table, by status", labels=["status"])
        for status, n in stats.by_status.items():
            jobs.add_metric([status], n)
        yield jobs
        for name, what, (counts, total, seconds) in (
                ("tinymlp_job_duration_seconds", "Seconds from claim to finish, of every job that ran",
                 stats.durations),
                ("tinymlp_job_wait_seconds", "Seconds from submit to claim, of every claim", stats.waits)):
            buckets = [(f"{b:g}", n) for b, n in zip(stats.buckets, counts)] + [("+Inf", total)]
            yield HistogramMetricFamily(name, what, buckets=buckets, sum_value=seconds)


def render(job_table=None, jobs_known: bool = False, collectors=()) -> tuple[bytes, str]:
    """Every worker's samples added up, and (``jobs_known``: training is on) the job queue, and
    what ``collectors`` read at the scrape (live quality and drift, from the prediction log)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if jobs_known:
        queue = CollectorRegistry()
        queue.register(JobTableCollector(job_table))
        text += generate_latest(queue)
    if collectors:
        scraped = CollectorRegistry()
        for collector in collectors:
            scraped.register(collector)
        text += generate_latest(scraped)
    return text, CONTENT_TYPE_LATEST
