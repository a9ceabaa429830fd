"""Request ids and one log line per request (JSON with TINYMLP_LOG_FORMAT=json; the
formats are ``core.logs``'s, which escape what came with the request)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request

from core import logs
from service import metrics

SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = logging.getLogger("tinymlp.access")

_SERIES: dict[tuple, tuple] = {}  # labels -> (counter, histogram) children: labels() locks and builds a key


def _series(labels: tuple) -> tuple:
    found = _SERIES.get(labels)
    if found is None:
        found = _SERIES.setdefault(labels, (metrics.REQUESTS.labels(*labels), metrics.LATENCY.labels(*labels)))
    return found


def register(app: Flask) -> None:
    @app.before_request
    def _start():
        ctx = g._get_current_object()
        ctx.start = time.perf_counter()
        rid = request.environ.get("HTTP_X_REQUEST_ID", "")
        ctx.request_id = rid if SAFE_ID.match(rid) else uuid.uuid4().hex
        ctx.model = ctx.version = ""

    @app.after_request
    def _finish(resp):
        ctx, req = g._get_current_object(), request._get_current_object()
        elapsed = time.perf_counter() - getattr(ctx, "start", time.perf_counter())
        rid = getattr(ctx, "request_id", "")
        resp.headers["X-Request-ID"] = rid
        endpoint = req.url_rule.rule if req.url_rule is not None else "unmatched"
        model, version = getattr(ctx, "model", ""), getattr(ctx, "version", "")
        counter, latency = _series((endpoint, model, metrics.version_label(model, version), str(resp.status_code)))
        counter.inc()
        latency.observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            fields = None
            if logs.FIELDS:  # only JSON lines write them: the text format would build them for nothing
                fields = {"fields": {"method": req.method, "path": req.path, "status": resp.status_code,
                                     "ms": round(elapsed * 1e3, 2), "request_id": rid,
                                     "model": model or None, "version": version or None,
                                     "client": req.remote_addr,
                                     # as the proxy in front says (whatever a client sends straight
                                     # to gunicorn lands here too: a record, not a trusted fact)
                                     "forwarded_for": req.environ.get("HTTP_X_FORWARDED_FOR"),
                                     "forwarded_proto": req.environ.get("HTTP_X_FORWARDED_PROTO")}}
            log.info("%s %s %s %.1fms id=%s", req.method, req.path, resp.status_code, elapsed * 1e3, rid,
                     extra=fields)
        return resp
