"""The prediction log's typed records: a prediction as logged and read back, a user's true
answer for one of its rows, live quality, and the retraining policy."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson

from core.records import OutputSpec


@dataclass(frozen=True, slots=True)
class Logged:
    """A prediction request as the log holds it: the version that answered, its checked rows
    X: (n, n_features) and its outputs: (n, n_classes) probabilities or (n, n_outputs) values."""

    seq: int
    request_id: str
    version: int
    X: np.ndarray
    outputs: np.ndarray

    @classmethod
    def of_row(cls, row: dict) -> Logged:
        n = row["n_rows"]
        X = np.frombuffer(bytes(row["inputs"]), dtype=row["in_dtype"]).reshape(n, -1).astype(np.float64)
        out = np.frombuffer(bytes(row["outputs"]), dtype=row["out_dtype"]).reshape(n, -1)
        return cls(row["seq"], row.get("request_id", ""), row["version"], X, out)

    def __len__(self) -> int:
        return len(self.X)


def truth_text(output: OutputSpec, truth) -> str:
    """A true answer as the log stores it: a classifier's label as it is, a regressor's values
    as a JSON list (so the same values are the same text)."""
    if output.is_classifier:
        return truth
    return orjson.dumps([float(v) for v in truth]).decode()


@dataclass(frozen=True, slots=True)
class Judged:
    """One feedback row: what the version answered for row ``row_index`` of a logged request,
    against the truth a user sent."""

    request_id: str
    row_index: int
    version: int
    input: bytes  # the row, float64 little-endian
    truth: str  # truth_text
    predicted: str
    correct: int | None = None  # classifiers
    abs_err: float | None = None  # regressors: mean |error| over the outputs
    sq_err: float | None = None  # regressors: mean squared error over the outputs

    @classmethod
    def of(cls, logged: Logged, row: int, output: OutputSpec, truth) -> Judged:
        """``truth``: a label (classifier) or the values, one per output (regressor)."""
        x = np.ascontiguousarray(logged.X[row], dtype="<f8").tobytes()
        out = logged.outputs[row]
        if output.is_classifier:
            predicted = output.labels[int(np.argmax(out))]  # the first of equals, as the answer chose
            return cls(logged.request_id, row, logged.version, x, truth, predicted, correct=int(predicted == truth))
        with np.errstate(over="ignore", invalid="ignore"):  # an error too large to measure: the caller refuses it
            error = np.asarray(truth, dtype=np.float64) - out.astype(np.float64)
            abs_err, sq_err = float(np.mean(np.abs(error))), float(np.mean(error * error))
        return cls(logged.request_id, row, logged.version, x, truth_text(output, truth),
                   truth_text(output, out.tolist()), abs_err=abs_err, sq_err=sq_err)

    @property
    def key(self) -> tuple[str, int]:
        return self.request_id, self.row_index


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one feedback row: ``new``, ``unchanged`` (the same truth again: counted
    once) or ``replaced`` (a different truth: ``previous`` was)."""

    request_id: str
    row_index: int
    version: int
    outcome: str
    truth: str
    previous: str | None = None


@dataclass(frozen=True)
class Quality:
    """A version's live quality over some feedback rows: accuracy and recall per true label
    (classifiers) or MAE and RMSE (regressors); None where there are no rows."""

    feedback_rows: int
    accuracy: float | None = None
    recall: dict[str, float] | None = None
    mae: float | None = None
    rmse: float | None = None

    @classmethod
    def of_classes(cls, rows: list[dict]) -> Quality:
        """From (truth, n, hits) per true label."""
        n = sum(int(r["n"]) for r in rows)
        if not n:
            return cls(0, None, {})
        hits = sum(int(r["hits"]) for r in rows)
        return cls(n, hits / n, {r["truth"]: int(r["hits"]) / int(r["n"]) for r in sorted(rows, key=_truth)})

    @classmethod
    def of_rows(cls, rows: list[dict], classifier: bool) -> Quality:
        """From feedback rows themselves (truth, correct, abs_err, sq_err)."""
        if classifier:
            per: dict[str, list[int]] = {}
            for r in rows:
                t = per.setdefault(r["truth"], [0, 0])
                t[0] += 1
                t[1] += int(r["correct"])
            return cls.of_classes([{"truth": k, "n": n, "hits": h} for k, (n, h) in per.items()])
        return cls.of_values(len(rows), math.fsum(float(r["abs_err"]) for r in rows),
                             math.fsum(float(r["sq_err"]) for r in rows))

    @classmethod
    def of_values(cls, n: int, abs_sum: float, sq_sum: float) -> Quality:
        if not n:
            return cls(0)
        return cls(n, mae=abs_sum / n, rmse=math.sqrt(max(sq_sum, 0.0) / n))

    def to_dict(self, classifier: bool) -> dict:
        if classifier:
            return {"feedback_rows": self.feedback_rows, "accuracy": self.accuracy, "recall": self.recall or {}}
        return {"feedback_rows": self.feedback_rows, "mae": self.mae, "rmse": self.rmse}


def _truth(row: dict) -> str:
    return row["truth"]


CURVE_POINTS = 20  # the live curve splits the window's rows into this many runs


@dataclass(frozen=True)
class Live:
    """Live quality of a version: over its latest ``window`` feedback rows, and over every one
    since it started serving; ``curve``: the window's rows, oldest first, in up to
    ``CURVE_POINTS`` consecutive runs, each run's quality and how many rows end it."""

    window: int
    recent: Quality
    since_serving: Quality
    curve: tuple[tuple[int, Quality], ...] = ()

    @classmethod
    def of_rows(cls, window: int, rows: list[dict], since_serving: Quality, classifier: bool) -> Live:
        size = max(1, -(-len(rows) // CURVE_POINTS))
        curve = tuple((min(i + size, len(rows)), Quality.of_rows(rows[i:i + size], classifier))
                      for i in range(0, len(rows), size))
        return cls(window, Quality.of_rows(rows, classifier), since_serving, curve)

    def to_dict(self, classifier: bool) -> dict:
        figure = "accuracy" if classifier else "rmse"
        return {**self.recent.to_dict(classifier), "window": self.window,
                "since_serving": self.since_serving.to_dict(classifier),
                "curve": [{"rows": end, figure: getattr(q, figure)} for end, q in self.curve]}


class PolicyError(ValueError):
    """A retraining policy that cannot work; the message says which field and why."""


@dataclass(frozen=True)
class RetrainingPolicy:
    """When feedback queues a training job of a model (trainer.retraining), and what job:

    - ``after_feedback``: once this many feedback rows have arrived since the last such job
      (or since the policy was set);
    - ``accuracy_below``: once the served version's live accuracy over its latest
      TINYMLP_FEEDBACK_WINDOW feedback rows is below it, judged when at least
      ``min_feedback`` new rows have arrived (classifiers);
    - the job trains the served version further on the newest ``max_rows`` feedback rows,
      holding ``holdout`` of them back to judge it by, for ``epochs`` on ``samples`` fresh
      rows (None: the defaults of a /train job), and promotes by ``promote``.
    """

    after_feedback: int | None = None
    accuracy_below: float | None = None
    min_feedback: int = 100
    holdout: float = 0.2
    max_rows: int = 5000
    epochs: int | None = None
    samples: int | None = None
    promote: str = "if_better"

    def __post_init__(self):
        if self.after_feedback is None and self.accuracy_below is None:
            raise PolicyError("a policy needs after_feedback (a number of new feedback rows) or accuracy_below "
                              "(a live accuracy), or both")
        if self.after_feedback is not None and not 1 <= self.after_feedback <= 10_000_000:
            raise PolicyError(f"after_feedback must be from 1 to 10000000, got {self.after_feedback}")
        if self.accuracy_below is not None and not 0 < self.accuracy_below <= 1:
            raise PolicyError(f"accuracy_below must be above 0 and at most 1, got {self.accuracy_below}")
        if not 1 <= self.min_feedback <= 1_000_000:
            raise PolicyError(f"min_feedback must be from 1 to 1000000, got {self.min_feedback}")
        if not 0.05 <= self.holdout <= 0.5:
            raise PolicyError(f"holdout must be from 0.05 to 0.5 (the share of feedback held back), got "
                              f"{self.holdout}")
        if not 10 <= self.max_rows <= 100_000:
            raise PolicyError(f"max_rows must be from 10 to 100000, got {self.max_rows}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RetrainingPolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class PolicyState:
    """A model's retraining policy and where it stands."""

    model: str
    policy: RetrainingPolicy
    consumed: int  # feedback up to this sequence number has been used (or predates the policy)
    new_feedback: int  # feedback rows since
    last_job: str | None
    last_reason: str | None
    last_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class FeedbackRow:
    """A feedback row as a training job reads it: the input and its true answer."""

    seq: int
    request_id: str
    row_index: int
    version: int
    input: np.ndarray  # (n_features,)
    truth: str  # truth_text
