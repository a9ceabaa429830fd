"""Request ids and one log line per request (JSON with TINYMLP_LOG_FORMAT=json).

A line is always one line: in the text format, control characters that came with the
request (a path with %0a, %1b or %00 in it) are written escaped, as the JSON format does,
so no one can forge a log line through a URL.
"""

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

# \n, \r, \t as such; any other C0 or C1 control character, and DEL, as \xNN
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


class TextFormatter(logging.Formatter):
    def format(self, record):
        return super().format(record).translate(_ESCAPES)


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
                         TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("tinymlp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


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
        counter, latency = _series((endpoint, model, str(version), str(resp.status_code)))
        counter.inc()
        latency.observe(elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s %s %.1fms id=%s", req.method, req.path, resp.status_code, elapsed * 1e3, rid,
                     extra={"fields": {"method": req.method, "path": req.path, "status": resp.status_code,
                                       "ms": round(elapsed * 1e3, 2), "request_id": rid,
                                       "model": model or None, "version": version or None,
                                       "client": req.remote_addr,
                                       # as the proxy in front says (whatever a client sends straight
                                       # to gunicorn lands here too: a record, not a trusted fact)
                                       "forwarded_for": req.environ.get("HTTP_X_FORWARDED_FOR"),
                                       "forwarded_proto": req.environ.get("HTTP_X_FORWARDED_PROTO")}})
        return resp
