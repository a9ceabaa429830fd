"""Schemas of the /train endpoints: what a training job takes, and the job it answers."""

from __future__ import annotations

import math
import numbers

from marshmallow import RAISE, Schema, fields, validate

from service.schemas import Answer
from trainer.promotion import POLICIES

MAX_EPOCHS = 500
MAX_SAMPLES = 200_000
MAX_EXAMPLES = 1_000


class Whole(fields.Integer):
    """An integer and nothing else: no strings, floats or booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not int:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Real(fields.Float):
    """A finite JSON number: no strings or booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise self.make_error("invalid")
        return float(value)


class Example(Schema):
    class Meta:
        unknown = RAISE

    input = fields.Raw(required=True, metadata={"type": "array", "items": {"type": "number"},
                                                "description": "one row, in the model's feature order"})
    label = fields.String(metadata={"description": "classifiers: one of the model's labels"})
    value = Real(metadata={"description": "regressors: the target value"})


class TrainRequest(Schema):
    class Meta:
        unknown = RAISE

    epochs = Whole(validate=validate.Range(1, MAX_EPOCHS), metadata={"description": "default 10"})
    learning_rate = Real(validate=validate.Range(0, 1, min_inclusive=False),
                         metadata={"description": "default: the parent's"})
    batch_size = Whole(validate=validate.Range(1, 4096), metadata={"description": "default: the parent's"})
    samples = Whole(validate=validate.Range(100, MAX_SAMPLES),
                    metadata={"description": "fresh rows drawn from the task; default: the task's"})
    seed = Whole(validate=validate.Range(0, 2**32 - 1), metadata={"description": "default: from the job id"})
    from_version = Whole(validate=validate.Range(min=1), metadata={"description": "default: the served version"})
    examples = fields.List(fields.Nested(Example), validate=validate.Length(max=MAX_EXAMPLES),
                           metadata={"description": "labelled rows mixed into the training data"})
    promote = fields.String(validate=validate.OneOf(POLICIES), load_default="if_better",
                            metadata={"description": "if_better: move the default label only if the held-out "
                                                     "metric improves; always; never"})


class JobQuery(Schema):
    class Meta:
        unknown = RAISE

    model = fields.String()
    status = fields.String(validate=validate.OneOf(("queued", "running", "succeeded", "failed", "cancelled")))
    limit = fields.Integer(validate=validate.Range(1, 1000), load_default=100)


class Job(Answer):
    id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.String(required=True)
    params = fields.Dict(required=True)
    parent_version = fields.Integer(allow_none=True)
    published_version = fields.Integer(allow_none=True)
    promoted = fields.Boolean(allow_none=True)
    promotion = fields.Dict(allow_none=True, metadata={"description": "policy, reason, held-out scores of both"})
    progress = fields.List(fields.Dict(), required=True, metadata={"description": "loss and metric per epoch"})
    error = fields.String(allow_none=True)
    cancel_requested = fields.Boolean(required=True)
    worker = fields.String(allow_none=True)
    submitted_at = fields.String(required=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    heartbeat_at = fields.String(allow_none=True)


class JobList(Answer):
    jobs = fields.List(fields.Nested(Job), required=True)
