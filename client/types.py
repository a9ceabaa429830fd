"""What the service answers, as typed records: predictions, models, readiness, jobs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prediction:
    """One row's answer: ``label`` and ``probabilities`` (a classifier), or ``value`` (a
    regressor: a number, or a list of them); ``version`` is the model version that answered."""

    version: int
    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | list[float] | None = None

    @classmethod
    def from_json(cls, data: dict, version: int) -> Prediction:
        return cls(version, data.get("label"), data.get("probabilities"), data.get("value"))


@dataclass(frozen=True)
class Predictions:
    """The answers to every row sent, in order (however many requests that took)."""

    model: str
    predictions: list[Prediction]
    answers: list[dict] = field(default_factory=list, repr=False)  # the service's answers as they came

    @property
    def versions(self) -> set[int]:
        return {p.version for p in self.predictions}

    @property
    def version(self) -> int | None:
        """The version that answered, or None if several did (a new one was served mid-way)."""
        return next(iter(self.versions)) if len(self.versions) == 1 else None

    def __len__(self) -> int:
        return len(self.predictions)

    def __iter__(self):
        return iter(self.predictions)

    def __getitem__(self, i):
        return self.predictions[i]

    @property
    def labels(self) -> list[str | None]:
        return [p.label for p in self.predictions]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    served_version: int | None
    versions: list[int]
    labels: dict[str, int]
    task: str | None = None
    features: list[str] = field(default_factory=list)
    kind: str | None = None  # "classifier" or "regressor"
    classes: list[str] | None = None
    failures: dict[str, str] = field(default_factory=dict)
    label_error: str | None = None
    unservable: str | None = None

    @classmethod
    def from_json(cls, d: dict) -> ModelInfo:
        output = d.get("output") or {}
        return cls(d["name"], d.get("served_version"), d.get("versions", []), d.get("labels", {}), d.get("task"),
                   (d.get("input") or {}).get("features", []), output.get("kind"), output.get("labels"),
                   d.get("failures", {}), d.get("label_error"), d.get("unservable"))


@dataclass(frozen=True)
class Readiness:
    ready: bool
    models: dict[str, int]
    failures: dict[str, str]
    message: str | None = None

    def __bool__(self) -> bool:
        return self.ready
