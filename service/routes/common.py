"""What the views share: loading a JSON body strictly by a schema, and documenting a view
with flask-smorest without wrapping it."""

from __future__ import annotations

from flask import request
from marshmallow import Schema, ValidationError

from service.errors import APIError, invalid
from service.jsonio import MalformedJSON, loads


def load_body(schema: Schema):
    """The JSON body, parsed strictly (400 if broken) and loaded by ``schema`` (422 if invalid)."""
    try:
        data = loads(request.get_data(cache=True))
    except MalformedJSON as e:
        raise APIError(400, f"{e}") from None
    try:
        return schema.load(data)
    except ValidationError as e:
        raise invalid(e.messages) from None


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
