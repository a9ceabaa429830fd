"""A training job as typed records: what it was asked to do, where it is, what came of it.

The job tables (SQLite, PostgreSQL) store and return these; the service's schemas dump
them; the worker reads them. Statuses: queued -> running -> succeeded | failed | cancelled,
and queued -> cancelled; running -> queued when a worker shuts down before publishing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Policy(StrEnum):
    """Whether the default label moves to the new version (see trainer.promotion)."""

    IF_BETTER = "if_better"
    ALWAYS = "always"  # unless it is much worse than its parent
    FORCE = "force"  # even then
    NEVER = "never"
    CANARY = "canary"  # not moved: a rollout of the new version starts (core.rollouts), if it beats the trivial model


@dataclass(frozen=True)
class Example:
    """A labelled row a user supplies: ``label`` for a classifier, ``value`` for a regressor."""

    input: tuple[float, ...]
    label: str | None = None
    value: float | None = None

    def to_dict(self) -> dict:
        out: dict = {"input": list(self.input)}
        if self.label is not None:
            out["label"] = self.label
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class FeedbackSource:
    """What a job queued by a retraining policy trains on (trainer.retraining): the model's
    newest ``max_rows`` feedback rows up to sequence number ``through``, ``holdout`` of them held
    back to judge the new version by; ``reason``: what triggered it."""

    through: int
    max_rows: int
    holdout: float
    reason: str

    @classmethod
    def from_dict(cls, data: dict | None) -> FeedbackSource | None:
        return None if not data else cls(int(data["through"]), int(data["max_rows"]), float(data["holdout"]),
                                         str(data["reason"]))


@dataclass(frozen=True)
class JobParams:
    """What a job was asked to do; None means the default (the parent's recipe, the task's samples)."""

    epochs: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    samples: int | None = None
    seed: int | None = None
    from_version: int | None = None
    examples: tuple[Example, ...] = ()
    promote: Policy = Policy.IF_BETTER
    percent: float | None = None  # promote=canary: the candidate's share of unpinned requests
    feedback: FeedbackSource | None = None  # a retraining policy's job: the feedback it trains on

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("examples", "promote", "feedback") and getattr(self, f.name) is not None}
        out["promote"] = self.promote.value
        if self.examples:
            out["examples"] = [e.to_dict() for e in self.examples]
        if self.feedback is not None:
            out["feedback"] = dataclasses.asdict(self.feedback)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> JobParams:
        values = {k: v for k, v in data.items() if k in _PARAMS}
        values["examples"] = tuple(Example(tuple(e["input"]), e.get("label"), e.get("value"))
                                   for e in data.get("examples") or ())
        values["promote"] = Policy(data.get("promote") or Policy.IF_BETTER.value)
        values["feedback"] = FeedbackSource.from_dict(data.get("feedback"))
        return cls(**values)


_PARAMS = frozenset(f.name for f in dataclasses.fields(JobParams))


@dataclass(frozen=True)
class Progress:
    """One finished epoch of a running job."""

    epoch: int
    loss: float
    metric: float
    seconds: float


@dataclass(frozen=True)
class Score:
    value: float
    loss: float | None = None


@dataclass(frozen=True)
class SliceScore:
    """A retraining job's versions on the feedback it held back (trainer.retraining.guard)."""

    rows: int
    metric: str
    parent: float | None
    new: float | None
    better: bool  # the new version beats the parent there, beyond chance


@dataclass(frozen=True)
class Promotion:
    """How the new version compared on one held-out set, and what the policy made of it."""

    policy: Policy
    promoted: bool
    reason: str
    eval_set: str
    metric: str
    parent: Score
    new: Score
    baseline: Score | None = None  # the trivial model: the majority class, or the training mean
    pinned: str | None = None  # the default label was pinned before publishing
    rule: str | None = None  # which rule decided (trainer.promotion.Rule)
    feedback: SliceScore | None = None  # a retraining job: on the feedback it held back

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["policy"] = self.policy.value
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict | None) -> Promotion | None:
        if not data:
            return None
        score = lambda d: Score(**d) if d else None  # noqa: E731
        held = data.get("feedback")
        return cls(Policy(data["policy"]), bool(data.get("promoted")), data["reason"], data["eval_set"],
                   data["metric"], score(data["parent"]), score(data["new"]), score(data.get("baseline")),
                   data.get("pinned"), data.get("rule"), SliceScore(**held) if held else None)


@dataclass(frozen=True)
class Job:
    id: str
    model: str
    status: JobStatus
    params: JobParams
    submitted_at: datetime  # in UTC, by the job table's clock (so are the other times)
    parent_version: int | None = None
    published_version: int | None = None
    promoted: bool | None = None
    promotion: Promotion | None = None
    progress: tuple[Progress, ...] = ()
    error: str | None = None
    cancel_requested: bool = False
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    publishing_at: datetime | None = None  # when the worker began to publish: too late to cancel
