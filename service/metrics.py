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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

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


# -- rollouts -------------------------------------------------------------------------------

ROLLOUT_ENDINGS = Counter("tinymlp_rollout_endings_total", "Rollouts this process ended by itself or on request "
                          "(counted where the ending was claimed), by what came of them and the guard that decided",
                          ["model", "status", "guard"])
ROLLOUT_EXPOSED_BUCKETS = 4  # of the rollout histogram's fine buckets, every 4th (each doubling) is exposed


class RolloutCollector:
    """Every model's rollout (running, or its last) as the database counts it, at each scrape:
    the same on every replica. ``source()`` gives (model, rollout, totals)."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        from core.rollouts.figures import ARMS, BUCKETS

        found = self.source()
        running = GaugeMetricFamily("tinymlp_rollout_running", "1 while a rollout of the model runs", labels=["model"])
        status = GaugeMetricFamily("tinymlp_rollout_status", "1 for the status of the model's rollout (running or "
                                   "last): running, promoted, rolled_back or ended", labels=["model", "status"])
        share = GaugeMetricFamily("tinymlp_rollout_percent", "The candidate's share of unpinned requests (split), or "
                                  "the share it shadows (shadow)", labels=["model", "mode"])
        versions = GaugeMetricFamily("tinymlp_rollout_version", "The versions a rollout compares",
                                     labels=["model", "arm"])
        requests = CounterMetricFamily("tinymlp_rollout_requests", "Unpinned requests routed to each arm",
                                       labels=["model", "arm"])
        errors = CounterMetricFamily("tinymlp_rollout_errors", "Runs of each arm that failed (an exception, an output "
                                     "that was not finite, rows it refused)", labels=["model", "arm"])
        compared = CounterMetricFamily("tinymlp_rollout_rows_compared", "Rows both versions answered",
                                       labels=["model"])
        agreed = CounterMetricFamily("tinymlp_rollout_rows_agreed", "Compared rows on which they agree (the same "
                                     "label; a regressor's values within the tolerance)", labels=["model"])
        agreement = GaugeMetricFamily("tinymlp_rollout_agreement", "rows_agreed / rows_compared", labels=["model"])
        for name, rollout, totals in found:
            running.add_metric([name], 1 if rollout.running else 0)
            for s in ("running", "promoted", "rolled_back", "ended"):
                status.add_metric([name, s], 1 if rollout.status.value == s else 0)
            share.add_metric([name, rollout.mode.value], rollout.percent)
            versions.add_metric([name, "stable"], rollout.stable)
            versions.add_metric([name, "candidate"], rollout.candidate)
            for i, arm in enumerate(ARMS):
                requests.add_metric([name, arm], totals.requests[i])
                errors.add_metric([name, arm], totals.errors[i])
            compared.add_metric([name], totals.compared)
            agreed.add_metric([name], totals.agreed)
            if totals.agreement is not None:
                agreement.add_metric([name], totals.agreement)
        yield from (running, status, share, versions, requests, errors, compared, agreed, agreement)
        latency = HistogramMetricFamily("tinymlp_rollout_latency_seconds", "Seconds each version took to predict "
                                        "a request's rows, answering or beside the one that did",
                                        labels=["model", "arm"])
        for name, _, totals in found:
            for i, arm in enumerate(ARMS):
                counts, running_total, buckets = totals.latency[i], 0, []
                for b, n in enumerate(counts[:len(BUCKETS)]):
                    running_total += n
                    if b % ROLLOUT_EXPOSED_BUCKETS == 0:
                        buckets.append((f"{BUCKETS[b]:g}", running_total))
                buckets.append(("+Inf", sum(counts)))
                latency.add_metric([name, arm], buckets, totals.seconds[i])
        yield latency


def render(job_table=None, jobs_known: bool = False, collectors=()) -> tuple[bytes, str]:
    """Every worker's samples added up, (``jobs_known``: training is on) the job queue, and
    ``collectors`` read at this scrape (rollouts, live quality and drift)."""
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
        extra = CollectorRegistry()
        for collector in collectors:
            extra.register(collector)
        text += generate_latest(extra)
    return text, CONTENT_TYPE_LATEST
