"""/models/<name>/rollout bodies: what starts a rollout (checked strictly), and the rollout
with its figures as every replica answers it (``core.rollouts.figures.figures`` writes it;
a test holds the two together, field for field)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.rollouts.records import Guard, Mode, Status
from core.store import MAX_VERSION
from service.schemas.common import Answer, Real, Whole

MAX_ROWS_GUARD = 10**12


class RolloutRequest(Schema):
    class Meta:
        unknown = RAISE

    candidate = Whole(required=True, validate=validate.Range(1, MAX_VERSION),
                      metadata={"description": "the version to roll out; the stable is the version served now"})
    mode = fields.Enum(Mode, by_value=True, load_default=Mode.SPLIT, metadata={
        "description": "split: the candidate answers its share of unpinned requests; shadow: the stable answers "
                       "every request and the candidate runs on the same rows, unseen"})
    percent = Real(validate=validate.Range(0, 100, min_inclusive=False), metadata={
        "description": "split only: the candidate's share of unpinned requests (default 10); a shadow runs "
                       "beside every request", "exclusiveMinimum": 0})
    min_rows = Whole(validate=validate.Range(1, MAX_ROWS_GUARD),
                     metadata={"description": "compared rows before any guard acts (default 200)"})
    min_agreement = Real(validate=validate.Range(0, 1), metadata={
        "description": "rolled back when the share of compared rows on which the two agree falls below it "
                       "(default 0.9)"})
    max_p99_ratio = Real(allow_none=True, validate=validate.Range(1, 1e6), metadata={
        "description": "rolled back when the candidate's p99 latency exceeds this many times the stable's "
                       "(default 3; null: no latency guard)"})
    auto_promote_after = Whole(allow_none=True, validate=validate.Range(1, MAX_ROWS_GUARD), metadata={
        "description": "promoted by itself once this many rows were compared with every guard holding "
                       "(default null: only on request)"})
    tolerance = Real(allow_none=True, validate=validate.Range(min=0), metadata={
        "description": "regressors: the largest difference of a value that still counts as agreeing (default: "
                       "the stable's held-out RMSE); classifiers agree on the label and ignore it"})

    @validates_schema
    def _percent_is_a_splits(self, data, **kwargs):
        if data.get("mode") is Mode.SHADOW and "percent" in data:
            raise ValidationError("percent is a split's share; a shadow runs beside every request: leave it out",
                                  "percent")


# A rule of two fields the declaration above cannot say in the document (service.openapi adds it):
# percent comes with a split only.
DOCUMENT_RULES = {"RolloutRequest": {"dependentSchemas": {"percent": {"properties": {"mode": {"const": "split"}}}}}}


class ArmCounts(Answer):
    stable = fields.Integer(required=True)
    candidate = fields.Integer(required=True)


class Percentiles(Answer):
    p50 = fields.Float(required=True, allow_none=True)
    p99 = fields.Float(required=True, allow_none=True)


class ArmLatency(Answer):
    stable = fields.Nested(Percentiles, required=True)
    candidate = fields.Nested(Percentiles, required=True)


class GuardsOut(Answer):
    min_rows = fields.Integer(required=True)
    min_agreement = fields.Float(required=True)
    max_p99_ratio = fields.Float(required=True, allow_none=True)
    auto_promote_after = fields.Integer(required=True, allow_none=True)


class RolloutAnswer(Answer):
    """A model's rollout (running, or its last) and its figures, the same on every worker and
    replica: every worker's counts added up in the shared database."""

    id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.Enum(Status, by_value=True, required=True)
    mode = fields.Enum(Mode, by_value=True, required=True)
    stable = fields.Integer(required=True, metadata={"description": "the version served when it started"})
    candidate = fields.Integer(required=True)
    percent = fields.Float(required=True, metadata={"description": "split: the candidate's share; shadow: 100"})
    started_at = fields.String(required=True, metadata={"format": "date-time"})
    ended_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    started_by = fields.String(required=True, allow_none=True, metadata={"description": "api, cli or job <id>"})
    requests = fields.Nested(ArmCounts, required=True, metadata={
        "description": "unpinned requests routed to each arm (a candidate that failed counts; the stable answered)"})
    rows_compared = fields.Integer(required=True, metadata={"description": "rows both versions answered"})
    rows_agreed = fields.Integer(required=True, metadata={
        "description": "compared rows on which they agree: the same label, or values within the tolerance"})
    agreement = fields.Float(required=True, allow_none=True, metadata={"description": "rows_agreed / rows_compared"})
    mean_abs_diff = fields.Float(required=True, allow_none=True, metadata={
        "description": "the mean over compared rows of the largest |difference| of a class probability (or value)"})
    max_abs_diff = fields.Float(required=True, allow_none=True)
    candidate_errors = fields.Integer(required=True, metadata={
        "description": "the candidate's failed runs: an exception, an output that is not finite, rows it refused"})
    errors = fields.Nested(ArmCounts, required=True, metadata={"description": "failed runs of each arm"})
    runs = fields.Nested(ArmCounts, required=True, metadata={
        "description": "times each arm ran on a request's rows, answering or beside the one that did"})
    latency_ms = fields.Nested(ArmLatency, required=True, metadata={
        "description": "the time each version took to predict a request's rows (p50, p99; null before any)"})
    guards = fields.Nested(GuardsOut, required=True)
    tolerance = fields.Float(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True, metadata={"description": "why it ended"})
    guard = fields.Enum(Guard, by_value=True, required=True, allow_none=True,
                        metadata={"description": "the guard that ended it by itself"})
