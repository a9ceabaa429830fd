"""The V2 Open Inference Protocol's bodies (JSON tensors). Requests are loaded strictly, so a
malformed structure is a 400 ``{"error"}`` naming the field, never a TypeError further in;
the tensor's values are then checked against its shape and datatype, and its rows against
the model, like every other input."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.schemas.common import Answer, Text, Whole

DATATYPES = ("FP32", "FP64", "INT32", "INT64", "UINT8")


class V2Error(Answer):
    error = fields.String(required=True)


class ServerMetadata(Answer):
    name = fields.String(required=True)
    version = fields.String(required=True)
    extensions = fields.List(fields.String(), required=True)


class ServerLive(Answer):
    live = fields.Boolean(required=True)


class ServerReady(Answer):
    ready = fields.Boolean(required=True)


class TensorMetadata(Answer):
    name = fields.String(required=True)
    datatype = fields.String(required=True)
    shape = fields.List(fields.Integer(), required=True)


class ModelMetadata(Answer):
    name = fields.String(required=True)
    versions = fields.List(fields.String(), required=True)
    platform = fields.String(required=True)
    inputs = fields.List(fields.Nested(TensorMetadata), required=True)
    outputs = fields.List(fields.Nested(TensorMetadata), required=True)


class ModelReady(Answer):
    name = fields.String(required=True)
    version = fields.String(required=True)
    ready = fields.Boolean(required=True)


class Parameters(fields.Dict):
    """Protocol parameters: an object of strings, numbers and booleans."""

    def __init__(self, **kwargs):
        super().__init__(keys=Text(), values=fields.Raw(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        out = super()._deserialize(value, attr, data, **kwargs)
        bad = [k for k, v in out.items() if not isinstance(v, str | int | float | bool)]
        if bad:
            raise ValidationError(f"parameter {bad[0]!r} must be a string, number or boolean")
        return out


class Values(fields.Raw):
    """A tensor's data: a list. Its values are the data plane's to check, against the tensor's
    shape and datatype and then the model (``service.tensors``), at numpy's speed and naming
    the element that is wrong; a marshmallow field per value cost three quarters of a
    1,000-row request."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError("must be a list of values (row-major), or of rows")
        return value


class InputTensor(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"type": 'must be a tensor object: {"name": "input", "datatype": ..., "shape": [N, k], '
                              '"data": [...]}'}

    name = Text(required=True, validate=validate.Equal("input", error="the input tensor is named 'input'"))
    datatype = Text(required=True, validate=validate.OneOf(DATATYPES))
    shape = fields.List(Whole(validate=validate.Range(min=0)), required=True,
                        validate=validate.Length(equal=2, error="must be [N, n_features]"))
    data = Values(required=True, metadata={"type": "array", "description": "row-major values, or rows"})
    parameters = Parameters()


class RequestedOutput(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"type": 'must be an object naming an output, such as {"name": "label"}'}

    name = Text(required=True)
    parameters = Parameters()


class InferRequest(Schema):
    class Meta:
        unknown = RAISE

    error_messages = {"type": "the body must be a JSON object with 'inputs'"}

    id = Text()
    parameters = Parameters()
    inputs = fields.List(fields.Nested(InputTensor), required=True,
                         validate=validate.Length(equal=1, error="must hold exactly one tensor, named 'input'"))
    outputs = fields.List(fields.Nested(RequestedOutput))


class OutputTensor(Answer):
    name = fields.String(required=True)
    datatype = fields.String(required=True)
    shape = fields.List(fields.Integer(), required=True)
    data = fields.List(fields.Raw(), required=True)


class InferResponse(Answer):
    model_name = fields.String(required=True)
    model_version = fields.String(required=True)
    id = fields.String()
    outputs = fields.List(fields.Nested(OutputTensor), required=True)
