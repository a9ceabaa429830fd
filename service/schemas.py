"""Request and response schemas: one declaration gives the check and the OpenAPI document.

The structural part (an object with ``inputs``, nothing else) is checked by
marshmallow; the matrix itself is checked per model, vectorised, by
``service.validation.to_matrix`` inside the ``Rows`` field's model-aware pass.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields

ROW_DOC = {
    "oneOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 1,
         "description": "values in the model's feature order"},
        {"type": "object", "additionalProperties": {"type": "number"},
         "description": "values keyed by feature name"},
    ]
}


class Rows(fields.Raw):
    """A list of input rows, passed through as parsed JSON: checking each element with
    marshmallow costs microseconds a number, so the rows are checked against the
    model's input spec in one vectorised pass (``to_matrix``) instead."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return value

    default_error_messages = {"invalid": "Must be a list of rows."}


class PredictRequest(Schema):
    class Meta:
        unknown = RAISE

    inputs = Rows(required=True, metadata={"type": "array", "minItems": 1, "items": ROW_DOC,
                                           "description": "rows to predict, at most TINYMLP_MAX_ROWS"})


class Prediction(Schema):
    label = fields.String(metadata={"description": "classifiers: the most probable class"})
    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(),
                                metadata={"description": "classifiers: one probability per class"})
    value = fields.Raw(metadata={"description": "regressors: a number, or a list for several outputs"})


class PredictResponse(Schema):
    model = fields.String(required=True)
    version = fields.Integer(required=True)
    predictions = fields.List(fields.Nested(Prediction), required=True)


class ErrorBody(Schema):
    code = fields.Integer(required=True)
    message = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "for validation: the offending field, row and column"})
    request_id = fields.String()


class VersionSummary(Schema):
    version = fields.Integer()
    created_at = fields.String(allow_none=True)
    parent = fields.Integer(allow_none=True)
    metrics = fields.Raw()


class ModelSummary(Schema):
    name = fields.String()
    task = fields.String(allow_none=True)
    served_version = fields.Integer(allow_none=True)
    versions = fields.List(fields.Integer())
    labels = fields.Dict(keys=fields.String(), values=fields.Integer())
    failures = fields.Dict(keys=fields.String(), values=fields.String())
    input = fields.Raw()
    output = fields.Raw()


class ModelList(Schema):
    models = fields.List(fields.Nested(ModelSummary))
