"""Bodies and answers of the feedback, drift and retraining-policy endpoints.

A feedback body is one item or a list of them; an item names a logged request by its id and
gives either every row's truth (``labels``, or ``values`` for a regressor) or one row's
(``row`` and ``label`` or ``value``). The structure is checked here; the truths against the
model, and the rows against what was logged, by the view.
"""

from __future__ import annotations

import math
import numbers

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.jobs import Policy
from core.predlog import RetrainingPolicy
from service.schemas.common import Answer, Real, Text, Timestamp, Whole

MAX_ITEMS = 10_000
MAX_TARGET = 1e15  # a regressor's true value, in magnitude: its squared error and the running totals stay exact
REQUEST_ID = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]{1,128}$",
              "description": "the id of the predict request: its answer's X-Request-ID header, or id in its body"}
_NUMBER = {"type": "number", "minimum": -MAX_TARGET, "maximum": MAX_TARGET}
TARGET_DOC = {"oneOf": [_NUMBER, {"type": "array", "items": _NUMBER, "minItems": 1}],
              "description": "a regressor's true value (a list, for several outputs), at most 1e15 in magnitude"}
ITEM_DOC = {"oneOf": [
    {"type": "object", "required": ["request_id", "labels"], "additionalProperties": False,
     "properties": {"request_id": REQUEST_ID, "labels": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                                         "description": "the true label of every row, in order"}}},
    {"type": "object", "required": ["request_id", "values"], "additionalProperties": False,
     "properties": {"request_id": REQUEST_ID, "values": {"type": "array", "items": TARGET_DOC, "minItems": 1,
                                                         "description": "the true value of every row, in order"}}},
    {"type": "object", "required": ["request_id", "row", "label"], "additionalProperties": False,
     "properties": {"request_id": REQUEST_ID, "row": {"type": "integer", "minimum": 0},
                    "label": {"type": "string", "description": "that row's true label"}}},
    {"type": "object", "required": ["request_id", "row", "value"], "additionalProperties": False,
     "properties": {"request_id": REQUEST_ID, "row": {"type": "integer", "minimum": 0}, "value": TARGET_DOC}},
]}
FEEDBACK_DOC = {"oneOf": [ITEM_DOC, {"type": "array", "items": ITEM_DOC, "minItems": 1}],
                "description": f"the true answers for rows of earlier predictions, by their request id; at most "
                               f"{MAX_ITEMS} items and TINYMLP_MAX_ROWS rows in a body: more are refused with 413"}
REQUEST_ID_PATTERN = REQUEST_ID["pattern"]


class Target(fields.Field):
    """A regressor's true value: a finite number, or a list of them (several outputs), at most
    ``MAX_TARGET`` in magnitude (a larger one's squared error overflows, or swamps the running
    totals live quality is kept in)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            if not value or not all(_finite(v) for v in value):
                raise ValidationError("must be a list of finite numbers")
            _not_too_large(value)
            return [float(v) for v in value]
        if not _finite(value):
            raise ValidationError("must be a finite number, or a list of them")
        _not_too_large([value])
        return float(value)


def _not_too_large(values: list) -> None:
    for v in values:
        if abs(v) > MAX_TARGET:
            raise ValidationError(f"{v!r} is too large: a true value must be at most {MAX_TARGET:g} in magnitude")


def _finite(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, numbers.Real) and math.isfinite(v)


class FeedbackItem(Schema):
    class Meta:
        unknown = RAISE

    request_id = Text(required=True, validate=validate.Regexp(REQUEST_ID_PATTERN, error=(
        "not a request id: the X-Request-ID of a predict answer (letters, digits and ._:- only, 1 to 128)")))
    labels = fields.List(Text(), validate=validate.Length(min=1))
    values = fields.List(Target(), validate=validate.Length(min=1))
    row = Whole(validate=validate.Range(min=0))
    label = Text()
    value = Target()

    @validates_schema
    def _one_form(self, data, **kwargs):
        given = [k for k in ("labels", "values", "label", "value") if k in data]
        if len(given) != 1:
            raise ValidationError("give one of labels (every row's, in order), values (a regressor's), or row with "
                                  "label or value" + (f"; got {', '.join(given)}" if given else ""))
        if given[0] in ("label", "value") and "row" not in data:
            raise ValidationError(f"{given[0]} is one row's: give its row (0 for the first)", "row")
        if given[0] in ("labels", "values") and "row" in data:
            raise ValidationError(f"{given[0]} covers every row: leave out row, or give label or value", "row")


class Replacement(Answer):
    request_id = fields.String(required=True)
    row = fields.Integer(required=True)
    version = fields.Integer(required=True)
    previous = fields.Raw(required=True, metadata={"description": "the truth given before"})
    now = fields.Raw(required=True, metadata={"description": "the truth that replaced it"})


class FeedbackAnswer(Answer):
    model = fields.String(required=True)
    rows = fields.Integer(required=True, metadata={"description": "feedback rows in the body"})
    new = fields.Integer(required=True)
    unchanged = fields.Integer(required=True, metadata={"description": "the same truth as before: counted once"})
    replaced = fields.Integer(required=True, metadata={"description": "a different truth: it replaces the one "
                                                                      "before (listed under replacements)"})
    replacements = fields.List(fields.Nested(Replacement), required=True)
    versions = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                           metadata={"description": "request id -> the version that answered it, which the "
                                                    "feedback counts for"})


class DriftFigures(Answer):
    psi = fields.Float(allow_none=True, required=True, metadata={"description": "population stability index "
                                                                               "over the training deciles"})
    ks = fields.Float(allow_none=True, required=True, metadata={"description": "Kolmogorov-Smirnov statistic at "
                                                                             "the training percentiles"})


class PredictionDrift(Answer):
    psi = fields.Float(allow_none=True, required=True)


class DriftAnswer(Answer):
    model = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the served version"})
    available = fields.Boolean(required=True, metadata={"description": "false: the version records no reference "
                                                                       "quantiles (see reason)"})
    window = fields.Integer(required=True, metadata={"description": "TINYMLP_DRIFT_WINDOW"})
    window_rows = fields.Integer(required=True, metadata={"description": "rows compared: the served version's "
                                                                         "latest, of every worker and replica"})
    reference_rows = fields.Integer(metadata={"description": "training rows the reference summarises"})
    features = fields.Dict(keys=fields.String(), values=fields.Nested(DriftFigures), required=True)
    prediction = fields.Nested(PredictionDrift, allow_none=True, required=True,
                               metadata={"description": "PSI of the predictions (a classifier's classes, a "
                                                        "regressor's values) against those on the training data"})
    reason = fields.String(metadata={"description": "why there are no figures"})


LIVE_DOC = {"type": "object", "description": (
    "live quality from feedback: over the latest TINYMLP_FEEDBACK_WINDOW feedback rows (feedback_rows, accuracy "
    "and recall per true label; mae and rmse for a regressor), and since_serving: the same over every feedback row "
    "the version has had; error: the prediction log could not be read"),
    "properties": {"feedback_rows": {"type": "integer"}, "accuracy": {"type": ["number", "null"]},
                   "recall": {"type": "object", "additionalProperties": {"type": "number"}},
                   "mae": {"type": ["number", "null"]}, "rmse": {"type": ["number", "null"]},
                   "window": {"type": "integer"}, "since_serving": {"type": "object"}, "error": {"type": "string"}}}

PROMOTE_CHOICES = [p.value for p in Policy if p not in (Policy.ALWAYS, Policy.FORCE)]  # a guard that always wins?


class RetrainingRequest(Schema):
    class Meta:
        unknown = RAISE

    after_feedback = Whole(validate=validate.Range(1, 10_000_000), metadata={
        "description": "queue a job once this many feedback rows have arrived since the last one"})
    accuracy_below = Real(validate=validate.Range(0, 1, min_inclusive=False), metadata={
        "description": "queue a job once the served version's live accuracy over its latest TINYMLP_FEEDBACK_WINDOW "
                       "feedback rows is below this (classifiers)", "exclusiveMinimum": 0})
    min_feedback = Whole(validate=validate.Range(1, 1_000_000), metadata={
        "description": "new feedback rows needed before accuracy_below is judged (default 100)"})
    holdout = Real(validate=validate.Range(0.05, 0.5), metadata={
        "description": "the share of the feedback held back to judge the new version by (default 0.2)"})
    max_rows = Whole(validate=validate.Range(10, 100_000), metadata={
        "description": "the newest feedback rows a job uses (default 5000)"})
    epochs = Whole(validate=validate.Range(1, 500), metadata={"description": "default: a /train job's"})
    samples = Whole(validate=validate.Range(100, 200_000), metadata={"description": "default: the task's"})
    promote = Text(validate=validate.OneOf(PROMOTE_CHOICES), metadata={
        "enum": PROMOTE_CHOICES, "description": "if_better (default): promoted only if the new version beats the "
                                                "served one on held-out data and on the held-back feedback; never"})


RETRAINING_DOC = {"allOf": [RetrainingRequest, {"anyOf": [{"required": ["after_feedback"]},
                                                          {"required": ["accuracy_below"]}]}],
                  "description": "when feedback queues a job: after_feedback, accuracy_below, or both"}


class PolicyOut(Answer):
    after_feedback = fields.Integer(allow_none=True, required=True)
    accuracy_below = fields.Float(allow_none=True, required=True)
    min_feedback = fields.Integer(required=True)
    holdout = fields.Float(required=True)
    max_rows = fields.Integer(required=True)
    epochs = fields.Integer(allow_none=True, required=True)
    samples = fields.Integer(allow_none=True, required=True)
    promote = fields.String(required=True)


class RetrainingAnswer(Answer):
    model = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    policy = fields.Nested(PolicyOut, allow_none=True, required=True)
    new_feedback = fields.Integer(allow_none=True, metadata={"description": "feedback rows since the last job "
                                                                            "(or since the policy was set)"})
    last_job = fields.String(allow_none=True, metadata={"description": "the job the policy last queued"})
    last_reason = fields.String(allow_none=True, metadata={"description": "why it queued it"})
    last_at = Timestamp(allow_none=True)
    updated_at = Timestamp(allow_none=True)


def policy_of(body: dict) -> RetrainingPolicy:
    """A loaded RetrainingRequest as the policy (PolicyError if it cannot work)."""
    return RetrainingPolicy(**body)
