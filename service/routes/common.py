"""What the views share: reading a JSON body strictly, finding the model a URL names, and
documenting a view with flask-smorest without wrapping it."""

from __future__ import annotations

from flask import current_app, g, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from service import extensions
from service.config import Config
from service.errors import InvalidInput, MalformedRequest, ServiceError, TooLarge, UnsupportedMediaType
from service.jsonio import MalformedJSON, loads
from service.registry import Model, Registry


def config() -> Config:
    return current_app.config["TINYMLP"]


def registry() -> Registry:
    return extensions.registry(current_app)


def lookup(name: str, version: int | None = None, label: str | None = None) -> Model:
    """The model a URL names (a domain error if there is none), noted for the request's log line."""
    model = registry().get(name, version, label)
    g.model, g.version = model.name, model.version
    return model


def body_bytes() -> bytes:
    """The request body, whole: 413 past TINYMLP_MAX_BODY_BYTES even when it comes chunked (with
    no Content-Length to refuse it by up front), 415 for an encoding this service does not decode."""
    req = request._get_current_object()
    cached = req.__dict__.get("_tinymlp_body")
    if cached is not None:
        return cached
    encoding = req.environ.get("HTTP_CONTENT_ENCODING")
    if encoding and encoding.strip().lower() != "identity":
        raise UnsupportedMediaType(f"Content-Encoding {encoding.strip()[:40]!r} is not accepted; send the JSON body "
                                   "unencoded (no Content-Encoding header)")
    limit = current_app.config["TINYMLP"].max_body_bytes
    too_large = TooLarge(f"The body is larger than {limit} bytes; send fewer rows per request.")
    try:
        stream = req.stream  # werkzeug refuses a Content-Length past the limit here
        data = stream.read()  # whole, or (chunked) cut at the limit
        if len(data) >= limit and stream.read(1):  # cut: there was more
            raise too_large
    except RequestEntityTooLarge:
        raise too_large from None
    req.__dict__["_tinymlp_body"] = data
    return data


def json_body():
    """The body, parsed strictly: 400 if it is not JSON."""
    try:
        return loads(body_bytes())
    except MalformedJSON as e:
        raise MalformedRequest(f"{e}") from None


def load_body(schema: Schema):
    """The JSON body loaded by ``schema``: 400 if broken, 422 if it does not fit."""
    data = json_body()
    try:
        return schema.load(data)
    except ValidationError as e:
        raise invalid(e.messages) from None


def invalid(messages, cls: type[ServiceError] = InvalidInput) -> ServiceError:
    """A marshmallow ``ValidationError.messages`` as a domain error naming the first fault."""
    errors = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path if k == "_schema" else [*path, k])
        elif isinstance(node, list) and all(isinstance(x, str) for x in node):
            errors.extend({"field": ".".join(map(str, path)) or None, "message": m} for m in node)
        else:
            errors.append({"field": ".".join(map(str, path)) or None, "message": str(node)})

    walk(messages, [])
    first = errors[0]
    where = f"{first['field']}: " if first.get("field") else ""
    return cls(f"{where}{first['message']}", errors=errors[:10])


def documented(*decorators):
    """Apply flask-smorest decorators (``blp.arguments``, ``blp.response``,
    ``blp.alt_response``...) for the OpenAPI entries they write, and keep the view itself
    unwrapped: each of them otherwise adds a call layer to every request, which the
    predict hot path cannot afford. The view loads its body with ``load_body``."""

    def decorator(view):
        doc = view
        for d in reversed(decorators):
            doc = d(doc)
        view._apidoc = doc._apidoc
        return view

    return decorator
