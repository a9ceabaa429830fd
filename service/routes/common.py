"""What the views share: the app's configuration and registry, finding the model a URL
names, reading a body whole, and answering a predict request through the data plane."""

from __future__ import annotations

import hmac

from flask import Response, current_app, g, request
from marshmallow import Schema
from werkzeug.exceptions import RequestEntityTooLarge

from service import dataplane, extensions
from service.config import Config
from service.errors import TooLarge, Unauthorized, UnsupportedMediaType
from service.registry import Model, Registry
from service.schemas.common import ErrorBody


def error_answers(errors: dict[int, str]) -> dict:
    """An operation's error answers for the OpenAPI document: {status: what it means}."""
    return {status: (ErrorBody, what) for status, what in errors.items()}


def bearer_refusal(token: str | None, what: str, variable: str) -> Unauthorized | None:
    """The 401 for a request that sends no bearer token, or (``token`` set) another one than
    ``token``, the value of ``variable``; None if it may go on. Whether the endpoint is off
    (``token`` unset) is its caller's to say, before or after."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return Unauthorized(f"Send the {what} token as the header 'Authorization: Bearer <token>' "
                            f"(the value of {variable}).")
    if token and not hmac.compare_digest(given.encode(), token.encode()):
        return Unauthorized(f"The bearer token is wrong; send the value of {variable} as the header "
                            "'Authorization: Bearer <token>'.")
    return None


def config() -> Config:
    return current_app.config["TINYMLP"]


def registry() -> Registry:
    return extensions.registry(current_app)


def lookup(name: str, version: int | None = None, label: str | None = None) -> Model:
    """The model a URL names (a domain error if there is none), noted for the request's log line."""
    model = registry().get(name, version, label)
    g.model, g.version = model.name, model.version
    return model


def body_bytes(json_only: bool = True) -> bytes:
    """The request body, whole: 415 unless it is JSON (``json_only``; V2 takes any content type)
    or if it comes encoded (this service decodes no Content-Encoding); 413 past
    TINYMLP_MAX_BODY_BYTES, even when it comes chunked (with no Content-Length to refuse it by
    up front)."""
    req = request._get_current_object()
    environ = req.environ
    if json_only and not _is_json(environ.get("CONTENT_TYPE", "")):
        raise UnsupportedMediaType("Send a JSON body with the header Content-Type: application/json.")
    encoding = environ.get("HTTP_CONTENT_ENCODING")
    if encoding and encoding.strip().lower() != "identity":
        raise UnsupportedMediaType(f"Content-Encoding {encoding.strip()[:40]!r} is not accepted; send the JSON body "
                                   "unencoded (no Content-Encoding header)")
    limit = current_app.config["TINYMLP"].max_body_bytes
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit() and not environ.get("wsgi.input_terminated"):
        # The usual request: read exactly what it says it sends, straight from the server's input.
        if int(length) > limit:
            raise _too_large(limit)
        data = environ["wsgi.input"].read(int(length))
    else:
        try:
            stream = req.stream  # werkzeug frames a chunked body and refuses a Content-Length past the limit
            data = stream.read()  # whole, or (chunked) cut at the limit
            if len(data) >= limit and stream.read(1):  # cut: there was more
                raise _too_large(limit)
        except RequestEntityTooLarge:
            raise _too_large(limit) from None
    return data


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"The body is larger than {limit} bytes; send fewer rows per request.")


def _is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON (application/json, or application/<anything>+json), as
    werkzeug's ``Request.is_json`` says, without parsing the header's parameters."""
    mimetype = content_type.partition(";")[0].strip().lower()
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def load_body(schema: Schema):
    """The JSON body loaded by ``schema``: 400 if it is not JSON, 422 if it does not fit."""
    return dataplane.load(schema, dataplane.parse(body_bytes()))


def respond(protocol, name: str, version: int | None = None, label: str | None = None) -> Response:
    """A predict request, whole: the version that answers (the router's pick: a rollout may
    send an unpinned request to its candidate, ``dataplane.Routed``), the data plane's answer
    to the body, and ``X-Model-Version`` saying which version answered. The app's observers get what was
    served once the answer has gone (``call_on_close``: after the last byte is written)."""
    app = current_app._get_current_object()
    ctx = g._get_current_object()
    model = extensions.router(app)(name, version, label, request.headers.get("X-Routing-Key"))
    model, run = (model, None) if not isinstance(model, dataplane.Routed) else model
    ctx.model, ctx.version = model.name, model.version
    raw = body_bytes(json_only=protocol.json_only)
    payload, served = dataplane.answer(protocol, raw, model, max_rows=app.config["TINYMLP"].max_rows,
                                       request_id=ctx.request_id, run=run)
    ctx.version = served.model.version  # the version that answered
    ctx.request_id = served.request_id  # a V2 body's own id, if it sent one (X-Request-ID says it too)
    resp = app.response_class(payload, mimetype="application/json")
    resp.headers["X-Model-Version"] = str(served.model.version)
    observers = extensions.observers(app)
    if observers:
        resp.call_on_close(lambda: extensions.notify(observers, served))
    return resp
