"""Domain errors to HTTP, in one place: one error format for everything, uncaught exceptions
and werkzeug's own (404 routing, 405 with ``Allow``, 413) included.

Native endpoints answer ``{"code", "message", "errors"?, "request_id"}``; the V2 protocol's
endpoints answer ``{"error": "..."}`` as that protocol says, and the protocol's 400 where a
native endpoint would say 422.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from service.errors import MethodNotAllowed, ServiceError, shown

log = logging.getLogger("tinymlp.errors")

MESSAGES = {
    400: "The request is malformed.",
    404: "Nothing is at this address; see /docs for the API.",
    413: "The body is too large; send fewer rows per request.",
    415: "Send JSON with the header Content-Type: application/json.",
    500: "Internal error; the request id in this answer identifies it in the logs.",
}


def native_error(e: ServiceError):
    body = {"code": e.status, "message": e.message}
    if e.errors is not None:
        body["errors"] = e.errors
    body["request_id"] = g.get("request_id")
    return _respond(body, e)


def v2_error(e: ServiceError):
    # The protocol answers malformed and invalid input alike with 400.
    status = 400 if e.status == 422 else e.status
    return _respond({"error": e.message}, e, status)


def _respond(body: dict, e: ServiceError, status: int | None = None):
    resp = jsonify(body)
    resp.status_code = status or e.status
    resp.headers.update(e.headers)
    return resp


def _is_v2() -> bool:
    return request.blueprint == "v2" or request.path == "/v2" or request.path.startswith("/v2/")


def respond(e: ServiceError):
    return v2_error(e) if _is_v2() else native_error(e)


def _from_werkzeug(e: HTTPException) -> ServiceError:
    status = e.code or 500
    if status == 405:
        allowed = sorted(m for m in (getattr(e, "valid_methods", None) or []))
        return MethodNotAllowed(f"{request.method} is not allowed on {shown(request.path)}; "
                                f"allowed: {', '.join(allowed)}.", allowed)
    error = ServiceError(MESSAGES.get(status, e.description or e.name))
    error.status = status
    return error


def register(app: Flask) -> None:
    app.register_error_handler(ServiceError, respond)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        return respond(_from_werkzeug(e))

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        error = ServiceError(MESSAGES[500])
        return respond(error)
