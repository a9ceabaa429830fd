"""A rollout as a typed record: what ``<name>/rollout.json`` holds.

A rollout compares a candidate version with the stable one (the version served when it
started): ``split`` sends ``percent`` of the unpinned requests to the candidate, which
answers them; ``shadow`` lets the stable answer every request and runs the candidate on the
same rows, unseen (its ``percent`` is 100). Its guards say when it rolls back by itself.
Statuses: running -> promoted (the default label moved to the candidate) | rolled_back (a
guard tripped) | ended (on request, or because what it compared went away). The last
rollout's record stays in the file after it ends.

Which arm a request takes: one with a routing key goes where the hash of the rollout's id
and the key says (``share``), the same on every worker and replica, for as long as the
rollout runs; one without is spread by each worker (``service.rollouts``).

Reading is strict: a file that is not exactly such a record is a ``RecordError`` naming
what is wrong, and routes nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

import orjson

MAX_BYTES = 64 * 1024  # a record is a few hundred bytes


class RecordError(ValueError):
    """rollout.json is not a rollout record; the message says what is wrong."""


class Mode(StrEnum):
    SPLIT = "split"  # the candidate answers its share of requests
    SHADOW = "shadow"  # the stable answers every request; the candidate runs beside it, unseen


class Status(StrEnum):
    RUNNING = "running"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ENDED = "ended"


class Guard(StrEnum):
    """What ended a rollout by itself (``Rollout.guard``)."""

    MIN_AGREEMENT = "min_agreement"
    ERROR_RATE = "error_rate"
    P99_RATIO = "max_p99_ratio"
    AUTO_PROMOTE = "auto_promote_after"
    DEFAULT_MOVED = "default_moved"  # the default label left the stable: the comparison no longer holds
    CANDIDATE_GONE = "candidate_gone"  # the candidate's file went away or broke


@dataclass(frozen=True)
class Guards:
    """When a rollout ends by itself. No guard acts before ``min_rows`` rows were compared;
    then it rolls back when agreement is below ``min_agreement``, when the candidate's error
    rate exceeds the stable's, or when the candidate's p99 exceeds ``max_p99_ratio`` times the
    stable's (None: no latency guard); with ``auto_promote_after`` it is promoted once that
    many rows were compared with every guard holding."""

    min_rows: int = 200
    min_agreement: float = 0.9
    max_p99_ratio: float | None = 3.0
    auto_promote_after: int | None = None

    def __post_init__(self):
        if not (type(self.min_rows) is int and 1 <= self.min_rows <= 10**12):
            raise RecordError(f"min_rows must be a whole number from 1, got {self.min_rows!r}")
        if not (_real(self.min_agreement) and 0 <= self.min_agreement <= 1):
            raise RecordError(f"min_agreement must be a number from 0 to 1, got {self.min_agreement!r}")
        if self.max_p99_ratio is not None and not (_real(self.max_p99_ratio) and 1 <= self.max_p99_ratio <= 1e6):
            raise RecordError(f"max_p99_ratio must be a number from 1 (or null: no latency guard), "
                              f"got {self.max_p99_ratio!r}")
        if self.auto_promote_after is not None and not (
                type(self.auto_promote_after) is int and 1 <= self.auto_promote_after <= 10**12):
            raise RecordError(f"auto_promote_after must be a whole number from 1 (or null), "
                              f"got {self.auto_promote_after!r}")

    def to_dict(self) -> dict:
        return {"min_rows": self.min_rows, "min_agreement": self.min_agreement, "max_p99_ratio": self.max_p99_ratio,
                "auto_promote_after": self.auto_promote_after}


@dataclass(frozen=True)
class Rollout:
    id: str
    model: str
    status: Status
    mode: Mode
    stable: int
    candidate: int
    percent: float  # split: the candidate's share of requests; shadow: 100, every request
    started_at: datetime  # UTC
    guards: Guards = field(default_factory=Guards)
    tolerance: float | None = None  # regressors: the largest |difference| that still agrees
    started_by: str | None = None  # "api", "cli", "job <id>"
    ended_at: datetime | None = None
    reason: str | None = None  # why it ended, in words naming the guard or the request
    guard: Guard | None = None  # the guard that ended it by itself

    def __post_init__(self):
        if not (type(self.stable) is int and type(self.candidate) is int and self.stable >= 1 and self.candidate >= 1):
            raise RecordError("stable and candidate must be version numbers")
        if self.stable == self.candidate:
            raise RecordError(f"the candidate must be another version than the stable ({self.stable})")
        if not (_real(self.percent) and 0 < self.percent <= 100):
            raise RecordError(f"percent must be a number above 0 and at most 100, got {self.percent!r}")
        if self.tolerance is not None and not (_real(self.tolerance) and self.tolerance >= 0):
            raise RecordError(f"tolerance must be a number from 0, got {self.tolerance!r}")

    @property
    def running(self) -> bool:
        return self.status is Status.RUNNING

    def share(self, key: str) -> float:
        """Where a routing key falls in [0, 1): the same for the same key and rollout on every
        process (a hash, not Python's salted ``hash``)."""
        digest = hashlib.blake2b(f"{self.id}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def takes(self, key: str) -> bool:
        """Whether a request with routing key ``key`` goes to the candidate (split) or is
        shadowed by it (shadow)."""
        return self.share(key) < self.percent / 100

    def ended(self, status: Status, reason: str, guard: Guard | None = None,
              at: datetime | None = None) -> Rollout:
        return replace(self, status=status, reason=reason, guard=guard, ended_at=at or now())

    # -- the file ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"id": self.id, "model": self.model, "status": self.status.value, "mode": self.mode.value,
                "stable": self.stable, "candidate": self.candidate, "percent": self.percent,
                "guards": self.guards.to_dict(), "tolerance": self.tolerance, "started_at": _time(self.started_at),
                "started_by": self.started_by, "ended_at": _time(self.ended_at), "reason": self.reason,
                "guard": None if self.guard is None else self.guard.value}

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> Rollout | None:
        """The record in a file's bytes (None: no file); RecordError if it is not one."""
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RecordError("rollout.json is not valid JSON; fix or delete it") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data) -> Rollout:
        if not isinstance(data, dict):
            raise RecordError("rollout.json must hold an object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise RecordError(f"rollout.json has keys a rollout does not: {', '.join(map(repr, unknown[:5]))}")
        try:
            guards = data.get("guards") or {}
            if not isinstance(guards, dict) or set(guards) - _GUARD_KEYS:
                raise RecordError(f"guards must be an object of {', '.join(sorted(_GUARD_KEYS))}")
            return cls(
                id=_text(data, "id", required=True), model=_text(data, "model", required=True),
                status=Status(data.get("status")), mode=Mode(data.get("mode")),
                stable=data.get("stable"), candidate=data.get("candidate"), percent=data.get("percent"),
                started_at=_parse_time(data.get("started_at"), "started_at", required=True),
                guards=Guards(**guards), tolerance=data.get("tolerance"),
                started_by=_text(data, "started_by"), ended_at=_parse_time(data.get("ended_at"), "ended_at"),
                reason=_text(data, "reason"), guard=None if data.get("guard") is None else Guard(data["guard"]))
        except (TypeError, ValueError) as e:
            if isinstance(e, RecordError):
                raise
            raise RecordError(f"rollout.json is not a rollout record ({e})") from None


_KEYS = {"id", "model", "status", "mode", "stable", "candidate", "percent", "guards", "tolerance", "started_at",
         "started_by", "ended_at", "reason", "guard"}
_GUARD_KEYS = {"min_rows", "min_agreement", "max_p99_ratio", "auto_promote_after"}


def now() -> datetime:
    """The time now in UTC, to the millisecond (as the file holds it)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _real(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _text(data: dict, key: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise RecordError(f"{key} must be a string")
    return value


def _time(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_time(value, key: str, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    try:
        t = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise RecordError(f"{key} must be an ISO 8601 time") from None
    if t.tzinfo is None:
        raise RecordError(f"{key} must say its time zone")
    return t.astimezone(UTC)
