"""One error format for everything, uncaught exceptions included.

Native endpoints answer ``{"code", "message", "errors"?, "request_id"}``; the V2
protocol's endpoints answer ``{"error": "..."}`` as that protocol says.
"""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("tinymlp.errors")

MESSAGES = {
    400: "The request is malformed.",
    404: "Nothing is at this address; see /docs for the API.",
    405: "This method is not allowed here; see /docs for the API.",
    413: "The body is too large; send fewer rows per request.",
    415: "Send JSON with the header Content-Type: application/json.",
    422: "The request's values are invalid.",
    500: "Internal error; the request id in this answer identifies it in the logs.",
}


class APIError(Exception):
    """An error a view raises on purpose, with the status and message to answer."""

    def __init__(self, status: int, message: str, errors=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def error_response(status: int, message: str, errors=None):
    if request.path.startswith("/v2"):
        resp = jsonify({"error": message})
    else:
        body = {"code": status, "message": message}
        if errors is not None:
            body["errors"] = errors
        body["request_id"] = getattr(g, "request_id", None)
        resp = jsonify(body)
    resp.status_code = status
    return resp


def _flatten_marshmallow(messages) -> list[dict]:
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list) and all(isinstance(x, str) for x in node):
            for msg in node:
                out.append({"field": ".".join(map(str, path)) or None, "message": msg})
        else:
            out.append({"field": ".".join(map(str, path)) or None, "message": str(node)})

    walk(messages, [])
    return out


def invalid(messages, status: int = 422) -> APIError:
    """A marshmallow ``ValidationError.messages`` as an APIError naming the first fault."""
    body_errors = _flatten_marshmallow(messages)
    first = body_errors[0]
    where = f"{first['field']}: " if first.get("field") else ""
    return APIError(status, f"{where}{first['message']}", body_errors)


def register(app: Flask) -> None:
    @app.errorhandler(APIError)
    def _api_error(e: APIError):
        return error_response(e.status, e.message, e.errors)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        status = e.code or 500
        data = getattr(e, "data", None) or {}
        messages = data.get("messages")  # webargs / flask-smorest validation
        if messages and status == 400:
            return error_response(400, "The body is not valid JSON; check its syntax.")
        if messages:
            e = invalid(messages.get("json", messages), status)
            return error_response(e.status, e.message, e.errors)
        message = MESSAGES.get(status, e.description or e.name)
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"The body is larger than {limit} bytes; send fewer rows per request."
        return error_response(status, message)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, MESSAGES[500])
