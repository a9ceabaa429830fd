"""Request ids and one log line per request (JSON with TINYMLP_LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from service import metrics

SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = logging.getLogger("tinymlp.access")


class JSONFormatter(logging.Formatter):
    def format(self, record):
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("tinymlp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def register(app: Flask) -> None:
    @app.before_request
    def _start():
        g.start = time.perf_counter()
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if SAFE_ID.match(rid) else uuid.uuid4().hex
        g.model = g.version = ""

    @app.after_request
    def _finish(resp):
        elapsed = time.perf_counter() - g.get("start", time.perf_counter())
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        labels = (endpoint, g.get("model", ""), str(g.get("version", "")), str(resp.status_code))
        metrics.REQUESTS.labels(*labels).inc()
        metrics.LATENCY.labels(*labels).observe(elapsed)
        log.info("%s %s %s %.1fms id=%s", request.method, request.path, resp.status_code, elapsed * 1e3,
                 g.get("request_id"), extra={"fields": {
                     "method": request.method, "path": request.path, "status": resp.status_code,
                     "ms": round(elapsed * 1e3, 2), "request_id": g.get("request_id"),
                     "model": g.get("model") or None, "version": g.get("version") or None}})
        return resp
