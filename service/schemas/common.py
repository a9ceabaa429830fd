"""What every schema shares: strict number fields, documented answers, the error body."""

from __future__ import annotations

import math
import numbers
from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, fields


class Whole(fields.Integer):
    """A whole JSON number (``5`` or ``5.0``, as JSON Schema's integer): no strings, booleans or fractions."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Real(fields.Float):
    """A finite JSON number: no strings or booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise self.make_error("invalid")
        return float(value)


class Text(fields.String):
    """A string and nothing else (marshmallow's String also refuses non-strings; this says so)."""

    default_error_messages = {"invalid": "Not a valid string."}


class Timestamp(fields.Field):
    """A time (a datetime, or seconds since the epoch), dumped as an ISO 8601 time in UTC."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        when = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
        return when.astimezone(UTC).isoformat(timespec="milliseconds")


class Answer(Schema):
    """A documented answer: the fields listed are always there; clients ignore others."""

    class Meta:
        unknown = EXCLUDE


class ErrorBody(Answer):
    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    message = fields.String(required=True, metadata={"description": "what is wrong and what to do"})
    errors = fields.List(fields.Dict(), metadata={"description": "for validation: the offending field, row and "
                                                                 "column, one entry each"})
    request_id = fields.String(allow_none=True)
