"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint

from service import metrics
from service.lookup import registry
from service.routes.common import documented
from service.schemas import Health, NotReady, Ready

blp = Blueprint("health", __name__, description="Liveness, readiness, metrics")


@blp.route("/healthz", methods=["GET"])
@documented(blp.response(200, Health))
def healthz():
    """200 while the process lives."""
    return jsonify(status="ok")


@blp.route("/readyz", methods=["GET"])
@documented(blp.response(200, Ready), blp.alt_response(503, schema=NotReady))
def readyz():
    """200 once the store is readable and every model has a servable version; else 503."""
    snap = registry().snapshot
    if snap.ready:
        return jsonify(status="ready", models={n: e.served for n, e in snap.models.items()})
    if not snap.loaded:
        why = "models are still loading"
    elif snap.store_error:
        why = snap.store_error
    elif not snap.models:
        why = "the model store holds no models; train them with `make train`"
    else:
        why = "no servable version for: " + ", ".join(n for n, e in snap.models.items() if e.served is None)
    resp = jsonify(code=503, status="not ready", message=why)
    resp.status_code = 503
    return resp


@blp.route("/metrics", methods=["GET"])
@documented(blp.response(200, content_type="text/plain", description="Prometheus text format"))
def prometheus():
    """Prometheus text format, aggregated over every gunicorn worker."""
    body, ctype = metrics.render()
    return Response(body, content_type=ctype)
