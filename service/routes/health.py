"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from contextlib import suppress

from flask import Blueprint, Response, current_app, jsonify

from service import extensions, metrics
from service.apidoc import operation, tag
from service.errors import ServiceError
from service.routes import train
from service.routes.common import config, registry
from service.schemas.models import Health, NotReady, Ready

blp = tag(Blueprint("health", __name__), "Liveness, readiness, metrics")


@blp.route("/healthz", methods=["GET"])
@operation(responses={200: Health})
def healthz():
    """200 while the process lives."""
    return jsonify(status="ok")


@blp.route("/readyz", methods=["GET"])
@operation(responses={200: Ready, 503: NotReady})
def readyz():
    """200 once the store is scanned and readable and a model can be served. A model that
    cannot be served is listed under ``failures`` (and is itself not ready) but does not
    take the service out of rotation."""
    snap = registry().snapshot
    # Each worker rescans the store this often: a version promoted on the shared store is
    # served by every worker and replica within it (plus the time to load the file).
    interval = config().reload_interval
    if snap.ready:
        return jsonify(status="ready", models={n: e.served for n, e in sorted(snap.models.items())
                                               if e.served is not None}, failures=snap.failures,
                       reload_interval=interval)
    if not snap.loaded:
        why = "models are still loading"
    elif snap.store_error:
        why = snap.store_error
    elif not snap.models:
        why = "the model store holds no models; train them with `make train`"
    else:
        why = "no model can be served; see failures"
    resp = jsonify(code=503, status="not ready", message=why, failures=snap.failures, reload_interval=interval)
    resp.status_code = 503
    return resp


@blp.route("/metrics", methods=["GET"])
@operation(responses={200: (None, "Prometheus text format", "text/plain")})
def prometheus():
    """Prometheus text format, aggregated over every gunicorn worker; with training on, the job
    queue as the job table says it is, and every model's rollout as its counters say (both the
    same on every replica)."""
    table = None
    if config().train_token:
        with suppress(ServiceError):  # an unreachable job table is tinymlp_job_table_up 0
            table = train.jobs()
    body, ctype = metrics.render(table, jobs_known=bool(config().train_token),
                                 collectors=extensions.collectors(current_app))
    return Response(body, content_type=ctype)
