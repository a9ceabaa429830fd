"""Request and response schemas: one declaration gives the check and the OpenAPI document.

The structural part (an object with ``inputs``, nothing else) is checked by
marshmallow; the matrix itself is checked against the model the URL names,
vectorised, by ``service.validation.to_matrix`` inside the ``Rows`` field.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from flask import current_app, request
from marshmallow import EXCLUDE, RAISE, Schema, fields

from service.errors import APIError
from service.lookup import find
from service.registry import Model
from service.validation import InputError, to_matrix

ROW_DOC = {
    "oneOf": [
        {"type": "array", "items": {"type": "number"}, "minItems": 1,
         "description": "values in the model's feature order"},
        {"type": "object", "additionalProperties": {"type": "number"},
         "description": "values keyed by feature name"},
    ]
}


class Batch(NamedTuple):
    model: Model
    X: np.ndarray


class Rows(fields.Raw):
    """A list of input rows, checked against the input spec of the model the URL names
    (``/predict/<name>[/versions/<v> | /labels/<l>]``) and loaded as a ``Batch``: the
    model and a float matrix. Checking each element with marshmallow costs
    microseconds a number, so ``to_matrix`` checks the rows in one vectorised pass."""

    def _deserialize(self, value, attr, data, **kwargs):
        model = find(**request.view_args)
        raw = request.get_data(cache=True)
        try:
            return Batch(model, to_matrix(value, model.spec, current_app.config["TINYMLP"].max_rows, attr,
                                          may_hold_booleans=b"true" in raw or b"false" in raw))
        except InputError as e:
            raise APIError(e.status, str(e), e.errors) from None


class PredictRequest(Schema):
    class Meta:
        unknown = RAISE

    inputs = Rows(required=True, metadata={"type": "array", "minItems": 1, "items": ROW_DOC,
                                           "description": "rows to predict, at most TINYMLP_MAX_ROWS"})


class Answer(Schema):
    """A documented answer: the fields listed are always there; clients ignore others."""

    class Meta:
        unknown = EXCLUDE


class Prediction(Answer):
    label = fields.String(metadata={"description": "classifiers: the most probable class"})
    probabilities = fields.Dict(keys=fields.String(), values=fields.Float(),
                                metadata={"description": "classifiers: one probability per class"})
    value = fields.Raw(metadata={"description": "regressors: a number, or a list for several outputs"})


class PredictResponse(Answer):
    model = fields.String(required=True)
    version = fields.Integer(required=True)
    predictions = fields.List(fields.Nested(Prediction), required=True)


class ErrorBody(Answer):
    code = fields.Integer(required=True)
    message = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "for validation: the offending field, row and column"})
    request_id = fields.String(allow_none=True)


class Health(Answer):
    status = fields.String(required=True)


class Ready(Answer):
    status = fields.String(required=True)
    models = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True),
                         metadata={"description": "the version each model serves"})


class NotReady(Answer):
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "why, and what to do"})


class ModelSummary(Answer):
    name = fields.String(required=True)
    task = fields.String(allow_none=True)
    served_version = fields.Integer(allow_none=True)
    versions = fields.List(fields.Integer(), required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    failures = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": "version -> why its file failed its checks"})
    label_error = fields.String(allow_none=True)
    input = fields.Raw(allow_none=True)
    output = fields.Raw(allow_none=True)


class ModelList(Answer):
    models = fields.List(fields.Nested(ModelSummary), required=True)


class VersionDetail(Answer):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    task = fields.String(allow_none=True)
    parent = fields.Integer(allow_none=True)
    created_at = fields.String(allow_none=True)
    input = fields.Raw(required=True)
    output = fields.Raw(required=True)
    layers = fields.List(fields.Dict(), required=True)
    metrics = fields.Raw(allow_none=True)
    training = fields.Dict(allow_none=True)
    curve = fields.Raw(allow_none=True, metadata={"description": "loss and metric per epoch"})
