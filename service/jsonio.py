"""Strict, fast JSON for requests and responses.

orjson parses (no NaN or Infinity literals, no invalid UTF-8, bounded nesting);
integers beyond 64 bits fall back to the standard parser so that a huge number is
reported as out of range rather than as broken JSON.
"""

from __future__ import annotations

import json

import numpy as np
import orjson
from flask.json.provider import JSONProvider


class MalformedJSON(ValueError):
    pass


def _refuse_constant(name):
    raise MalformedJSON(f"{name} is not valid JSON; send numbers only")


def loads(data):
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if "exceeds 64-bit range" not in str(e):
            raise MalformedJSON(f"The body is not valid JSON ({e}).") from None
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise MalformedJSON(f"The body is not valid JSON ({e}).") from None


def _default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(obj) -> bytes:
    return orjson.dumps(obj, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


class OrjsonProvider(JSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        return dumps(obj).decode()

    def loads(self, s, **kwargs):
        return loads(s)

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(dumps(obj), mimetype="application/json")
