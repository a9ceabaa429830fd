"""/train bodies: what a training job takes (checked strictly; the examples' rows are then
checked against the model like predict input), and the job it answers, dumped from the
job table's typed ``Job`` record.

A page of jobs is written by ``brief`` rather than by ``JobBrief().dump``: marshmallow spends
about 150 microseconds on each job's 40-odd fields, most of a page of 100's budget
(``benchmarks.jobs_scale``). ``JobBrief`` stays the declaration the document shows, and a
test holds ``brief`` to it, field for field, for jobs in every state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, post_dump, validate

from core.jobs import Job as JobRecord
from core.jobs import JobStatus, Policy
from core.jobs.table import CURSOR_PATTERN
from service.schemas.common import Answer, Real, Text, Timestamp, Whole

MAX_EPOCHS = 500
MAX_SAMPLES = 200_000
MAX_EXAMPLES = 1_000


class ExampleRow(fields.Raw):
    """One row, as predict takes it: a list in feature order or an object keyed by feature."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list | dict):
            raise ValidationError("must be a row: a list in the model's feature order, or an object keyed by "
                                  "feature name")
        return value


class Example(Schema):
    class Meta:
        unknown = RAISE

    input = ExampleRow(required=True, metadata={"description": "one row, as predict takes it"})
    label = Text(metadata={"description": "classifiers: one of the model's labels"})
    value = Real(metadata={"description": "regressors: the target value"})


class TrainRequest(Schema):
    class Meta:
        unknown = RAISE

    epochs = Whole(validate=validate.Range(1, MAX_EPOCHS), metadata={"description": "default 10"})
    learning_rate = Real(validate=validate.Range(0, 1, min_inclusive=False),
                         metadata={"description": "default: a tenth of the parent's (a continued run fine-tunes)",
                                   "exclusiveMinimum": 0})
    batch_size = Whole(validate=validate.Range(1, 4096), metadata={"description": "default: the parent's"})
    samples = Whole(validate=validate.Range(100, MAX_SAMPLES),
                    metadata={"description": "fresh rows drawn from the task; default: the task's"})
    seed = Whole(validate=validate.Range(0, 2**32 - 1), metadata={"description": "default: from the job id"})
    from_version = Whole(validate=validate.Range(min=1), metadata={"description": "default: the served version"})
    examples = fields.List(fields.Nested(Example), validate=validate.Length(max=MAX_EXAMPLES),
                           metadata={"description": "labelled rows mixed into the training data"})
    promote = fields.Enum(Policy, by_value=True, load_default=Policy.IF_BETTER,
                          metadata={"description": "if_better: move the default label only if the held-out "
                                                   "metric improves; always: whether or not it beats its parent, "
                                                   "unless it is much worse than its parent; force: even then; "
                                                   "never; canary: not moved, a rollout of the new version "
                                                   "starts instead (a share of requests, compared live with the "
                                                   "served version: GET /models/<name>/rollout). No policy "
                                                   "promotes (or rolls out) a version that does no better than "
                                                   "the trivial model. promotion.rule says which rule decided."})
    percent = Real(validate=validate.Range(0, 100, min_inclusive=False), metadata={
        "description": "promote=canary only: the new version's share of unpinned requests (default 10)",
        "exclusiveMinimum": 0})


class JobQuery(Schema):
    class Meta:
        unknown = RAISE

    model = fields.String(validate=validate.Length(1, 64))
    status = fields.Enum(JobStatus, by_value=True)
    limit = fields.Integer(validate=validate.Range(1, 1000), load_default=100,
                           metadata={"description": "jobs per page"})
    cursor = fields.String(validate=validate.Regexp(CURSOR_PATTERN, error="not a cursor that GET /train/jobs gave "
                                                                          "(its 'next'); leave it out for the first "
                                                                          "page"),
                           metadata={"description": "where the page starts: the previous page's 'next' (opaque)"})


class ExampleOut(Answer):
    input = fields.List(fields.Float(), required=True)
    label = fields.String()
    value = fields.Float()

    @post_dump
    def _drop_none(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None}


class ParamsBrief(Answer):
    epochs = fields.Integer(allow_none=True)
    learning_rate = fields.Float(allow_none=True)
    batch_size = fields.Integer(allow_none=True)
    samples = fields.Integer(allow_none=True)
    seed = fields.Integer(allow_none=True)
    from_version = fields.Integer(allow_none=True)
    promote = fields.Enum(Policy, by_value=True, required=True)
    percent = fields.Float(allow_none=True, metadata={"description": "promote=canary: the rollout's share"})
    feedback = fields.Function(lambda p: _feedback(p.feedback), allow_none=True, metadata={
        "type": ["object", "null"], "description": "a job a retraining policy queued: the feedback it trains on "
                                                   "(through, max_rows, holdout) and why it was queued (reason)"})


class Params(ParamsBrief):
    examples = fields.List(fields.Nested(ExampleOut), required=True)


class Progress(Answer):
    epoch = fields.Integer(required=True)
    loss = fields.Float(required=True)
    metric = fields.Float(required=True)
    seconds = fields.Float(required=True)


class Score(Answer):
    value = fields.Float(required=True)
    loss = fields.Float(allow_none=True)


class Promotion(Answer):
    policy = fields.Enum(Policy, by_value=True, required=True)
    promoted = fields.Boolean(required=True)
    reason = fields.String(required=True)
    eval_set = fields.String(required=True)
    metric = fields.String(required=True)
    parent = fields.Nested(Score, required=True)
    new = fields.Nested(Score, required=True)
    baseline = fields.Nested(Score, allow_none=True, metadata={"description": "the trivial model: the majority "
                                                                              "class, or the training mean"})
    pinned = fields.String(allow_none=True)
    rule = fields.String(allow_none=True, metadata={
        "description": "the rule that decided: trivial, never, much_worse, always, force, canary, improved, tie, "
                       "not_better; for a retraining job, also feedback_not_better or feedback_too_few"})
    feedback = fields.Function(lambda p: _slice(p.feedback), allow_none=True, metadata={
        "type": ["object", "null"], "description": "a retraining job: the versions on the feedback it held back "
                                                   "(rows, metric, parent, new, better)"})


class JobBrief(Answer):
    """A job as lists show it: everything but its examples."""

    id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.Enum(JobStatus, by_value=True, required=True)
    params = fields.Nested(ParamsBrief, required=True)
    examples = fields.Function(lambda job: len(job.params.examples), required=True,
                               metadata={"type": "integer", "description": "how many examples the job was given"})
    parent_version = fields.Integer(allow_none=True, required=True)
    published_version = fields.Integer(allow_none=True, required=True)
    promoted = fields.Boolean(allow_none=True, required=True)
    promotion = fields.Nested(Promotion, allow_none=True, required=True,
                              metadata={"description": "policy, reason, held-out scores of parent, new and baseline"})
    progress = fields.List(fields.Nested(Progress), required=True, metadata={"description": "per epoch"})
    error = fields.String(allow_none=True, required=True)
    cancel_requested = fields.Boolean(required=True)
    worker = fields.String(allow_none=True)
    submitted_at = Timestamp(required=True)
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)
    heartbeat_at = Timestamp(allow_none=True)
    publishing_at = Timestamp(allow_none=True, metadata={"description": "when it began publishing; from then on "
                                                                        "it cannot be cancelled"})


class Job(JobBrief):
    params = fields.Nested(Params, required=True)


class JobList(Answer):
    jobs = fields.List(fields.Nested(JobBrief), required=True,
                       metadata={"description": "newest first; each job's examples are left out (GET the job)"})
    next = fields.String(allow_none=True, required=True,
                         metadata={"description": "the cursor of the next page (GET /train/jobs?cursor=...), with the "
                                                  "same filters; null on the last page"})


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="milliseconds")


def _score(score) -> dict | None:
    return None if score is None else {"value": score.value, "loss": score.loss}


def _feedback(source) -> dict | None:
    return None if source is None else {"through": source.through, "max_rows": source.max_rows,
                                        "holdout": source.holdout, "reason": source.reason}


def _slice(held) -> dict | None:
    return None if held is None else {"rows": held.rows, "metric": held.metric, "parent": held.parent,
                                      "new": held.new, "better": held.better}


def brief(job: JobRecord) -> dict:
    """``JobBrief().dump(job)``, written out (see the module's docstring)."""
    p, promotion = job.params, job.promotion
    return {
        "id": job.id, "model": job.model, "status": job.status.value,
        "params": {"epochs": p.epochs, "learning_rate": p.learning_rate, "batch_size": p.batch_size,
                   "samples": p.samples, "seed": p.seed, "from_version": p.from_version, "promote": p.promote.value,
                   "percent": p.percent, "feedback": _feedback(p.feedback)},
        "examples": len(p.examples), "parent_version": job.parent_version,
        "published_version": job.published_version, "promoted": job.promoted,
        "promotion": None if promotion is None else {
            "policy": promotion.policy.value, "promoted": promotion.promoted, "reason": promotion.reason,
            "eval_set": promotion.eval_set, "metric": promotion.metric, "parent": _score(promotion.parent),
            "new": _score(promotion.new), "baseline": _score(promotion.baseline), "pinned": promotion.pinned,
            "rule": promotion.rule, "feedback": _slice(promotion.feedback)},
        "progress": [{"epoch": e.epoch, "loss": e.loss, "metric": e.metric, "seconds": e.seconds}
                     for e in job.progress],
        "error": job.error, "cancel_requested": job.cancel_requested, "worker": job.worker,
        "submitted_at": _time(job.submitted_at), "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at), "heartbeat_at": _time(job.heartbeat_at),
        "publishing_at": _time(job.publishing_at),
    }
