"""What the app holds besides its routes, attached one way and closed one way.

As Flask's tutorial attaches its database (``flaskr/db.py``: ``init_app`` registers the
resource, a teardown closes it), each resource here is made by ``init_app(app, config)``,
kept in ``app.extensions`` and given a closer; ``close(app)`` closes them all, newest first.
gunicorn's ``worker_exit`` hook closes a worker's app, and the tests' fixtures close theirs.

- the model registry, scanned once at start, and its reload thread;
- the job table (SQLite or PostgreSQL), opened on first use: serving never waits for it,
  and a job database that is down only makes /train answer 503;
- the ONNX exports of versions, built when first asked for and kept in a small LRU;
- the router, which picks the version that answers a predict request (by default the
  registry's: the served version, a pinned one or a labelled one; with rollouts, a running
  rollout's arm for an unpinned request: ``service.rollouts``);
- the observers, called with what each predict request served (``dataplane.Served``) once
  its answer has gone: work that must never delay, change or fail an answer;
- the prediction log (``service.predlog``): its background writer is an observer (unless
  TINYMLP_PREDICTION_LOG_RATE is 0), and the feedback, drift and live-quality views read it;
- the collectors /metrics runs at each scrape besides the job queue's (live quality, drift).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask

from core import jobs as joblib
from core.store import ModelStore
from service import metrics
from service.errors import Unavailable
from service.exports import OnnxExports
from service.predlog import PredictionLogs, QualityCollector
from service.registry import Registry
from service.rollouts import RolloutService

log = logging.getLogger("tinymlp.app")

REGISTRY, JOBS, CLOSERS = "tinymlp.registry", "tinymlp.jobs", "tinymlp.closers"
ROUTER, OBSERVERS, ONNX = "tinymlp.router", "tinymlp.observers", "tinymlp.onnx"
ROLLOUTS, PREDLOG, COLLECTORS = "tinymlp.rollouts", "tinymlp.predlog", "tinymlp.collectors"

# (name, version, label, routing key) -> a Model, or a dataplane.Routed (a rollout's pick)
Router = Callable[[str, "int | None", "str | None", "str | None"], object]


def on_close(app: Flask, closer: Callable[[], None]) -> None:
    app.extensions.setdefault(CLOSERS, []).append(closer)


def close(app: Flask) -> None:
    """Close every resource of ``app`` (newest first); one that fails to close is logged."""
    for closer in reversed(app.extensions.pop(CLOSERS, [])):
        try:
            closer()
        except Exception:  # the others must still close
            log.exception("closing %r failed", closer)


def init_app(app: Flask, config) -> None:
    store = ModelStore(config.models_dir, max_model_bytes=config.max_model_bytes)
    rollouts = RolloutService(store, config)
    registry = Registry(
        store,
        keep_loaded=config.keep_loaded,
        on_load_failure=lambda name, v: metrics.LOAD_FAILURES.labels(name).inc(),
        on_change=metrics.observe_snapshot,
        also_keep=rollouts.keep,
    )
    rollouts.attach(registry)
    registry.refresh()
    if config.start_reloader:
        registry.start(config.reload_interval)
    app.extensions[REGISTRY] = registry
    on_close(app, registry.stop)
    app.extensions[OBSERVERS] = []
    app.extensions[COLLECTORS] = []
    _init_rollouts(app, config, rollouts)
    app.extensions[ONNX] = OnnxExports()
    app.extensions[JOBS] = _LazyJobTable(app)
    on_close(app, app.extensions[JOBS].close)
    _init_predlog(app, config, registry)


def _init_predlog(app: Flask, config, registry: Registry) -> None:
    """The prediction log: its writer observes every answer when sampling is on."""
    logs = app.extensions[PREDLOG] = PredictionLogs(config)
    on_close(app, logs.close)
    if config.prediction_log_rate > 0:
        app.extensions[OBSERVERS].append(logs.observe)
    app.extensions[COLLECTORS].append(QualityCollector(logs, registry, config))


# -- rollouts ------------------------------------------------------------------------------


def _init_rollouts(app: Flask, config, rollouts: RolloutService) -> None:
    """A rollout's router and observer (service.rollouts), and its counters' flusher: a thread
    when the app runs its background threads (``start_reloader``), else flushed by hand."""
    app.extensions[ROLLOUTS] = rollouts
    app.extensions[ROUTER] = rollouts.route
    app.extensions[OBSERVERS].append(rollouts.observe)
    app.extensions[COLLECTORS].append(metrics.RolloutCollector(rollouts.collect))
    if config.start_reloader:
        rollouts.start()
    on_close(app, rollouts.close)


def rollouts(app: Flask) -> RolloutService:
    return app.extensions[ROLLOUTS]


class _LazyJobTable:
    """The job table, opened when first asked for by the app's configuration at that moment.
    A failed open is remembered for ``RETRY_AFTER`` seconds: a database that is down answers
    503 at once rather than holding a sync worker for a connect timeout on every /train call
    and every scrape."""

    RETRY_AFTER = 5.0

    def __init__(self, app: Flask):
        self.app = app
        self.table: joblib.JobTable | None = None
        self._failed: tuple[float, str] | None = None  # (when, why)
        self._reaped_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> joblib.JobTable:
        if self.table is not None:
            return self.table
        config = self.app.config["TINYMLP"]
        unusable = config.unusable.get("TINYMLP_DATABASE_URL")
        if unusable:
            raise Unavailable(f"The job table cannot be used: {unusable}.")
        with self._lock:
            if self.table is None:
                failed = self._failed
                if failed is not None and time.monotonic() - failed[0] < self.RETRY_AFTER:
                    raise Unavailable(failed[1], headers={"Retry-After": str(int(self.RETRY_AFTER))})
                try:
                    self.table = joblib.open_jobs(config.state_dir, config.database_url,
                                                  max_queued=config.max_queued_jobs)
                    self._failed = None
                except joblib.Unavailable as e:
                    why = f"The job table cannot be used: {e}."
                    self._failed = (time.monotonic(), why)
                    raise Unavailable(why) from None
        return self.table

    def due_for_reaping(self, every: float) -> bool:
        """Whether this process should look for dead workers' jobs now (at most every ``every``
        seconds: each look is a write transaction, too dear for every read of a job)."""
        now = time.monotonic()
        if now - self._reaped_at < every:
            return False
        self._reaped_at = now
        return True

    def close(self) -> None:
        if self.table is not None:
            self.table.close()
            self.table = None


def router(app: Flask) -> Router:
    return app.extensions[ROUTER]


def observers(app: Flask) -> list:
    return app.extensions[OBSERVERS]


def notify(observers: list, served) -> None:
    """Hand what a request served to each observer; one that fails is logged and the others
    still run (the answer has gone: nothing here may touch it)."""
    for observe in observers:
        try:
            observe(served)
        except Exception:
            log.exception("observer %r failed on request %s", observe, getattr(served, "request_id", "?"))


def prediction_logs(app: Flask) -> PredictionLogs:
    return app.extensions[PREDLOG]


def collectors(app: Flask) -> list:
    """Collectors /metrics runs at each scrape, besides the job queue's."""
    return app.extensions.get(COLLECTORS, [])


def onnx_exports(app: Flask) -> OnnxExports:
    return app.extensions[ONNX]


def registry(app: Flask) -> Registry:
    return app.extensions[REGISTRY]


def jobs(app: Flask) -> joblib.JobTable:
    """The job table (503 if it cannot be used)."""
    return app.extensions[JOBS].get()


def due_for_reaping(app: Flask, every: float) -> bool:
    return app.extensions[JOBS].due_for_reaping(every)
