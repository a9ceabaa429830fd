"""A model's rollout as the client sees it: the record and its figures (``GET
/models/<name>/rollout``), refreshed, promoted or ended on demand.

    rollout = client.rollout("red", candidate=3, percent=10)     # start: v3 answers 10%
    rollout = rollout.refresh()
    print(rollout.status, rollout.rows_compared, rollout.agreement)
    rollout.promote()                                             # default -> v3

Every field the client reads is checked (``client.answers``): an answer of the wrong shape is
one ``UnexpectedAnswer``, never a KeyError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from client.answers import Malformed, dict_of, integer, nullable, number, obj, text
from client.answers import field as get

if TYPE_CHECKING:
    from client.api import Client

ARMS = ("stable", "candidate")
STATUSES = ("running", "promoted", "rolled_back", "ended")


def _per_arm(check):
    def checked(value, where: str) -> dict:
        found = obj(value, where)
        return {arm: get(found, arm, check, where) for arm in ARMS}

    return checked


def _latency(value, where: str) -> dict:
    return _per_arm(lambda v, w: {q: get(obj(v, w), q, nullable(number), w) for q in ("p50", "p99")})(value, where)


def _status(value, where: str) -> str:
    value = text(value, where)
    if value not in STATUSES:
        raise Malformed(f"{where} is {value!r}, expected one of {', '.join(STATUSES)}")
    return value


@dataclass
class Rollout:
    id: str
    model: str
    status: str
    mode: str
    stable: int
    candidate: int
    percent: float
    started_at: str
    requests: dict[str, int]
    rows_compared: int
    rows_agreed: int
    agreement: float | None
    mean_abs_diff: float | None
    max_abs_diff: float | None
    candidate_errors: int
    latency_ms: dict[str, dict[str, float | None]]
    reason: str | None = None
    ended_at: str | None = None
    started_by: str | None = None
    errors: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    guards: dict = field(default_factory=dict)
    tolerance: float | None = None
    guard: str | None = None
    _client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @classmethod
    def from_json(cls, data, client: Client | None = None, where: str = "the rollout") -> Rollout:
        d = obj(data, where)
        return cls(
            id=get(d, "id", text, where), model=get(d, "model", text, where), status=get(d, "status", _status, where),
            mode=get(d, "mode", text, where), stable=get(d, "stable", integer, where),
            candidate=get(d, "candidate", integer, where), percent=get(d, "percent", number, where),
            started_at=get(d, "started_at", text, where), requests=get(d, "requests", _per_arm(integer), where),
            rows_compared=get(d, "rows_compared", integer, where), rows_agreed=get(d, "rows_agreed", integer, where),
            agreement=get(d, "agreement", nullable(number), where),
            mean_abs_diff=get(d, "mean_abs_diff", nullable(number), where),
            max_abs_diff=get(d, "max_abs_diff", nullable(number), where),
            candidate_errors=get(d, "candidate_errors", integer, where),
            latency_ms=get(d, "latency_ms", _latency, where),
            reason=get(d, "reason", nullable(text), where, default=None),
            ended_at=get(d, "ended_at", nullable(text), where, default=None),
            started_by=get(d, "started_by", nullable(text), where, default=None),
            errors=get(d, "errors", _per_arm(integer), where, default={}),
            runs=get(d, "runs", _per_arm(integer), where, default={}),
            guards=get(d, "guards", dict_of(nullable(number)), where, default={}),
            tolerance=get(d, "tolerance", nullable(number), where, default=None),
            guard=get(d, "guard", nullable(text), where, default=None),
            _client=client)

    def to_json(self) -> dict:
        """The rollout's fields as the service named them."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def _needs_client(self) -> Client:
        if self._client is None:
            raise ValueError("this rollout was read without a client; use Client.rollout(name)")
        return self._client

    def refresh(self) -> Rollout:
        """The rollout as the service says it is now."""
        return self._needs_client().rollout(self.model)

    def promote(self) -> Rollout:
        """Move the default label to the candidate (Conflict once it is not running)."""
        return self._needs_client().promote_rollout(self.model)

    def end(self) -> Rollout:
        """End it; the stable stays served (Conflict once it is not running)."""
        return self._needs_client().end_rollout(self.model)
