"""POST /predict bodies. The structure (an object holding ``inputs``, a list of rows, and
nothing else) is checked here; the rows themselves against the model the URL names, in one
vectorised pass, by the data plane. The OpenAPI document replaces the generic rows below
with each model's exact ones (``service.openapi``)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields

from service.schemas.common import Answer

ROW_DOC = {
    "oneOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 1,
         "description": "values in the model's feature order"},
        {"type": "object", "additionalProperties": {"type": "number"},
         "description": "values keyed by feature name"},
    ]
}


class Rows(fields.Raw):
    """A list; what is in it is the data plane's to check, against the model."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise ValidationError(f"{attr} must be a list of rows, such as [[255, 0, 0]]")
        return value


class PredictRequest(Schema):
    class Meta:
        unknown = RAISE

    inputs = Rows(required=True, metadata={"type": "array", "minItems": 1, "items": ROW_DOC,
                                           "description": "rows to predict, at most TINYMLP_MAX_ROWS"})


class Prediction(Answer):
    label = fields.String(metadata={"description": "classifiers: the most probable class"})
    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(),
                                metadata={"description": "classifiers: one probability per class"})
    value = fields.Raw(metadata={"description": "regressors: a number, or a list for several outputs"})


class PredictResponse(Answer):
    model = fields.String(required=True)
    version = fields.Integer(required=True)
    predictions = fields.List(fields.Nested(Prediction), required=True)
