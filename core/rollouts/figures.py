"""What a rollout counts, and what the counts say.

- ``Comparer``: per row, whether the two versions agree (classifiers: the same label;
  regressors: every output within the rollout's tolerance) and how far apart they are (the
  largest |difference| of a class probability, or of an output value).
- ``Tally``: one process's counts since its last flush (requests and runs per arm, errors,
  a latency histogram per arm, rows compared and agreed, the sum and largest difference).
  Tallies add up: the database holds their sum (``core.rollouts.table``), so every worker
  and replica reports the same totals, and they equal an offline replay of the same rows.
- ``Totals``: that sum, and what it says: agreement, error rates, latency percentiles,
  and the guards' verdict (``verdict``).

Latency is the time a version takes to predict a request's rows (the forward pass), whether
it answered or ran beside the one that did: like for like in both modes. The histogram has
fixed buckets, four per doubling from 1 microsecond (so a percentile is known to within
19%), the same in every process, so histograms add up.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from core.records import OutputSpec
from core.rollouts.records import Guard, Guards, Rollout, Status

ARMS = ("stable", "candidate")
STABLE, CANDIDATE = 0, 1
BUCKETS = tuple(1e-6 * 2 ** (k / 4) for k in range(97))  # upper edges, 1 us .. 16.8 s; one more bucket past them
MIN_TIMED = 100  # runs of each arm before the latency guard compares their p99s


def bucket(seconds: float) -> int:
    """The histogram bucket of a duration: the first whose upper edge holds it."""
    return bisect.bisect_left(BUCKETS, seconds)


def percentile(counts, q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram (counts per bucket), in seconds, interpolated
    within its bucket as Prometheus' histogram_quantile does; None when it is empty."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    running = 0
    for i, n in enumerate(counts):
        if n and running + n >= rank:
            low = BUCKETS[i - 1] if i > 0 else 0.0
            high = BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1] * 2
            return low + (high - low) * (rank - running) / n
        running += n
    return BUCKETS[-1]


class Incompatible(ValueError):
    """Two versions whose answers cannot be compared row by row; the message says why."""


@dataclass(frozen=True)
class Comparer:
    """Compares the stable's and the candidate's outputs for the same rows."""

    classifier: bool
    columns: tuple[int, ...] | None = None  # the candidate's column of each stable label
    tolerance: float = 0.0

    @classmethod
    def of(cls, stable: OutputSpec, candidate: OutputSpec, tolerance: float | None) -> Comparer:
        if stable.kind != candidate.kind:
            raise Incompatible(f"the stable is a {stable.kind} and the candidate a {candidate.kind}")
        if stable.is_classifier:
            if sorted(stable.labels) != sorted(candidate.labels):
                raise Incompatible(f"the candidate's labels {list(candidate.labels)} are not the stable's "
                                   f"{list(stable.labels)}")
            return cls(True, tuple(candidate.labels.index(label) for label in stable.labels))
        if stable.n_outputs != candidate.n_outputs:
            raise Incompatible(f"the candidate answers {candidate.n_outputs} values a row, the stable "
                               f"{stable.n_outputs}")
        return cls(False, tolerance=float(tolerance or 0.0))

    def rows(self, stable: np.ndarray, candidate: np.ndarray) -> tuple[int, int, float, float]:
        """(rows, rows that agree, sum and largest of the per-row difference) for the stable's
        and the candidate's outputs on the same rows: probabilities (n, k) of a classifier in
        each one's own column order, or values (n, m) of a regressor."""
        if len(stable) <= FEW_ROWS:
            return self._few(stable.tolist(), candidate.tolist())
        return self._many(stable, candidate)

    def _many(self, stable: np.ndarray, candidate: np.ndarray) -> tuple[int, int, float, float]:
        if self.classifier:
            candidate = candidate[:, self.columns]  # in the stable's label order
            agree = stable.argmax(axis=1) == candidate.argmax(axis=1)
        diff = np.abs(np.asarray(stable, np.float64) - np.asarray(candidate, np.float64)).max(axis=1)
        if not self.classifier:
            agree = diff <= self.tolerance
        return len(diff), int(agree.sum()), float(diff.sum()), float(diff.max(initial=0.0))


    def _few(self, stable: list, candidate: list) -> tuple[int, int, float, float]:
        """``rows`` for a few rows in plain Python, where numpy's dozen calls (each with its own
        overhead) would cost more than the arithmetic; ``benchmarks.rollout`` measures a shadow's
        whole cost per request. The same numbers: the first largest output is the label (as
        argmax takes it), differences in float64, summed in order (as numpy sums fewer than 8)."""
        agreed, total, largest = 0, 0.0, 0.0
        for s, c in zip(stable, candidate):
            if self.classifier:
                c = [c[j] for j in self.columns]
            diff = max(abs(a - b) for a, b in zip(s, c))
            if (s.index(max(s)) == c.index(max(c))) if self.classifier else diff <= self.tolerance:
                agreed += 1
            total += diff
            largest = max(largest, diff)
        return len(stable), agreed, total, largest


FEW_ROWS = 7  # up to here ``Comparer._few``: below numpy's pairwise blocks of 8, so both sum alike


@dataclass
class Tally:
    """One process's counts for one rollout since its last flush."""

    requests: list[int] = field(default_factory=lambda: [0, 0])  # routed to each arm
    runs: list[int] = field(default_factory=lambda: [0, 0])  # each arm ran on a request's rows
    errors: list[int] = field(default_factory=lambda: [0, 0])  # ... and failed
    failed_rows: list[int] = field(default_factory=lambda: [0, 0])  # the rows of those runs
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0])  # the runs that answered, in all
    latency: list[dict[int, int]] = field(default_factory=lambda: [{}, {}])  # bucket -> runs
    compared: int = 0
    agreed: int = 0
    diff_sum: float = 0.0
    diff_max: float = 0.0

    def ran(self, arm: int, seconds: float) -> None:
        self.runs[arm] += 1
        self.seconds[arm] += seconds
        b = bucket(seconds)
        hist = self.latency[arm]
        hist[b] = hist.get(b, 0) + 1

    def failed(self, arm: int, rows: int) -> None:
        self.runs[arm] += 1
        self.errors[arm] += 1
        self.failed_rows[arm] += rows

    def compared_rows(self, n: int, agreed: int, diff_sum: float, diff_max: float) -> None:
        self.compared += n
        self.agreed += agreed
        self.diff_sum += diff_sum
        self.diff_max = max(self.diff_max, diff_max)

    def add(self, other: Tally) -> None:
        """Fold ``other`` into this one (a flush that failed gives its counts back)."""
        for arm in (STABLE, CANDIDATE):
            self.requests[arm] += other.requests[arm]
            self.runs[arm] += other.runs[arm]
            self.errors[arm] += other.errors[arm]
            self.failed_rows[arm] += other.failed_rows[arm]
            self.seconds[arm] += other.seconds[arm]
            for b, n in other.latency[arm].items():
                self.latency[arm][b] = self.latency[arm].get(b, 0) + n
        self.compared_rows(other.compared, other.agreed, other.diff_sum, other.diff_max)

    @property
    def empty(self) -> bool:
        return not (any(self.requests) or any(self.runs) or self.compared)


@dataclass(frozen=True)
class Ending:
    """How the database says a rollout ended (the first to end it wins)."""

    status: Status
    reason: str
    guard: Guard | None = None


@dataclass(frozen=True)
class Totals:
    """Every process's tallies added up, as the database holds them."""

    requests: tuple[int, int] = (0, 0)
    runs: tuple[int, int] = (0, 0)
    errors: tuple[int, int] = (0, 0)
    failed_rows: tuple[int, int] = (0, 0)
    seconds: tuple[float, float] = (0.0, 0.0)
    latency: tuple[tuple[int, ...], tuple[int, ...]] = ((0,) * (len(BUCKETS) + 1),) * 2
    compared: int = 0
    agreed: int = 0
    diff_sum: float = 0.0
    diff_max: float = 0.0
    ending: Ending | None = None

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def mean_abs_diff(self) -> float | None:
        return self.diff_sum / self.compared if self.compared else None

    def error_rate(self, arm: int) -> float | None:
        return self.errors[arm] / self.runs[arm] if self.runs[arm] else None

    def timed(self, arm: int) -> int:
        return sum(self.latency[arm])

    def p(self, arm: int, q: float) -> float | None:
        """The ``q`` quantile of an arm's latency, in seconds."""
        return percentile(self.latency[arm], q)


def verdict(rollout: Rollout, totals: Totals) -> Ending | None:
    """What the guards say now: roll back (the first guard that trips), promote
    (``auto_promote_after`` reached with every guard holding), or go on (None)."""
    g: Guards = rollout.guards
    # Rows the candidate failed on count as seen: one that fails on every row is never compared.
    if totals.compared + totals.failed_rows[CANDIDATE] < g.min_rows:
        return None
    seen = f"over {totals.compared:,} compared rows"
    if totals.compared and totals.agreement < g.min_agreement:
        return Ending(Status.ROLLED_BACK, f"guard min_agreement: agreement {totals.agreement:.4f} {seen} is below "
                                          f"{g.min_agreement:g}", Guard.MIN_AGREEMENT)
    stable_rate, candidate_rate = totals.error_rate(STABLE) or 0.0, totals.error_rate(CANDIDATE) or 0.0
    if candidate_rate > stable_rate:
        return Ending(Status.ROLLED_BACK, f"guard error_rate: the candidate failed {totals.errors[CANDIDATE]:,} of "
                                          f"{totals.runs[CANDIDATE]:,} runs ({candidate_rate:.2%}), more than the "
                                          f"stable's {stable_rate:.2%}", Guard.ERROR_RATE)
    if g.max_p99_ratio is not None and min(totals.timed(STABLE), totals.timed(CANDIDATE)) >= MIN_TIMED:
        stable_p99, candidate_p99 = totals.p(STABLE, 0.99), totals.p(CANDIDATE, 0.99)
        if candidate_p99 > g.max_p99_ratio * stable_p99:
            return Ending(Status.ROLLED_BACK, f"guard max_p99_ratio: the candidate's p99 {candidate_p99 * 1e3:.3f} ms "
                                              f"is more than {g.max_p99_ratio:g} times the stable's "
                                              f"{stable_p99 * 1e3:.3f} ms", Guard.P99_RATIO)
    if g.auto_promote_after is not None and totals.compared >= max(g.auto_promote_after, g.min_rows):
        return Ending(Status.PROMOTED, f"auto_promote_after: {totals.compared:,} rows compared with every guard "
                                       f"holding (agreement {totals.agreement:.4f})", Guard.AUTO_PROMOTE)
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 4)


def figures(rollout: Rollout, totals: Totals) -> dict:
    """The rollout and its totals as ``GET /models/<name>/rollout`` answers them (and
    ``python -m trainer rollout --status --json`` prints them)."""
    return {
        "id": rollout.id, "model": rollout.model, "status": rollout.status.value, "mode": rollout.mode.value,
        "stable": rollout.stable, "candidate": rollout.candidate, "percent": rollout.percent,
        "started_at": rollout.to_dict()["started_at"], "ended_at": rollout.to_dict()["ended_at"],
        "started_by": rollout.started_by,
        "requests": {arm: totals.requests[i] for i, arm in enumerate(ARMS)},
        "rows_compared": totals.compared, "rows_agreed": totals.agreed, "agreement": totals.agreement,
        "mean_abs_diff": totals.mean_abs_diff, "max_abs_diff": totals.diff_max if totals.compared else None,
        "candidate_errors": totals.errors[CANDIDATE],
        "errors": {arm: totals.errors[i] for i, arm in enumerate(ARMS)},
        "runs": {arm: totals.runs[i] for i, arm in enumerate(ARMS)},
        "latency_ms": {arm: {"p50": _ms(totals.p(i, 0.5)), "p99": _ms(totals.p(i, 0.99))}
                       for i, arm in enumerate(ARMS)},
        "guards": rollout.guards.to_dict(), "tolerance": rollout.tolerance,
        "reason": rollout.reason, "guard": None if rollout.guard is None else rollout.guard.value,
    }
