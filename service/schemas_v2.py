"""Documentation schemas of the V2 Open Inference Protocol endpoints (JSON tensors).

The V2 views check their bodies themselves, to answer protocol errors (400 with
``{"error": ...}``); these schemas describe the protocol in the OpenAPI document.
"""

from __future__ import annotations

from marshmallow import fields, validate

from service.schemas import Answer

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


class InputTensor(Answer):
    name = fields.String(required=True, validate=validate.OneOf(["input"]))
    datatype = fields.String(required=True, validate=validate.OneOf(DATATYPES))
    shape = fields.List(fields.Integer(), required=True, validate=validate.Length(equal=2),
                        metadata={"description": "[N, n_features]"})
    data = fields.List(fields.Raw(), required=True, metadata={"description": "row-major values (or rows)"})


class RequestedOutput(Answer):
    name = fields.String(required=True)


class InferRequest(Answer):
    id = fields.String()
    inputs = fields.List(fields.Nested(InputTensor), required=True, validate=validate.Length(equal=1))
    outputs = fields.List(fields.Nested(RequestedOutput))
    parameters = fields.Dict()


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
