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


_KINDS = {type(None): "null", bool: "a boolean", str: "a string", list: "a list", dict: "an object",
          int: "a number", float: "a number"}


def kind(value) -> str:
    """What a parsed JSON value is, in JSON's words (null, a boolean, a string...), for messages:
    a client wrote JSON, not Python."""
    return _KINDS.get(type(value), type(value).__name__)


def text(value, limit: int = 40) -> str:
    """A parsed JSON value as the JSON text a client wrote (null, true, "0"), capped, for messages."""
    try:
        out = orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits
        out = str(value)
    return out if len(out) <= limit else out[:limit] + "..."


def described(value) -> str:
    """A value for a message, in JSON: ``null``, ``true (a boolean)``, ``"0" (a string)``."""
    return "null" if value is None else f"{text(value)} ({kind(value)})"


class OrjsonProvider(JSONProvider):
    def dumps(self, obj, **kwargs) -> str:
        return dumps(obj).decode()

    def loads(self, s, **kwargs):
        return loads(s)

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(dumps(obj), mimetype="application/json")
