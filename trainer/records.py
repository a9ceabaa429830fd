"""What the store knows about a model version, as typed records.

A model file holds a network (``mlp`` reads that part) and the trainer's metadata: name,
version, parent, task, when and how it was trained, its held-out metrics. ``VersionInfo``
is that metadata read once, checked and typed, so the worker, the CLI and the service
never read nested dicts by string keys. ``ModelVersion`` pairs it with the network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mlp


@dataclass(frozen=True)
class OutputSpec:
    """What a model answers: class labels (a classifier) or ``n_outputs`` numbers (a regressor)."""

    kind: str  # "classifier" or "regressor"
    labels: tuple[str, ...] | None
    n_outputs: int

    @classmethod
    def of(cls, network: mlp.Network) -> OutputSpec:
        if network.is_classifier:
            return cls("classifier", tuple(network.labels), len(network.labels))
        return cls("regressor", None, network.n_outputs)

    @property
    def is_classifier(self) -> bool:
        return self.kind == "classifier"


@dataclass(frozen=True)
class Layer:
    n_in: int
    n_out: int
    activation: str


@dataclass(frozen=True)
class Headline:
    """The number a version is judged by: ``metric`` on ``eval_set``, against the task's bar."""

    metric: str
    eval_set: str
    value: float | None
    bar: float | None = None
    met: bool | None = None


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    loss: float
    metric: float
    lr: float | None = None
    val_loss: float | None = None
    val_metric: float | None = None


@dataclass(frozen=True)
class TrainingRecord:
    """How a version was made: by the batch trainer, an API job, or an import."""

    trained_by: str
    task: str | None = None
    config: dict | None = None  # mlp.TrainConfig.to_dict() of the run
    network: dict | None = None  # mlp.NetworkConfig.to_dict() of the architecture
    seed: int | None = None
    samples: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    curve: tuple[EpochRecord, ...] = ()
    duration_s: float | None = None
    data_hash: str | None = None
    job: str | None = None  # the API job that made it
    examples: int | None = None  # user examples that job mixed in
    source: str | None = None  # an imported file's name
    source_sha256: str | None = None
    estimator: str | None = None  # an imported estimator: Pipeline(StandardScaler, MLPClassifier)...
    sklearn_version: str | None = None  # the scikit-learn that saved it

    @classmethod
    def from_dict(cls, data) -> TrainingRecord | None:
        if not isinstance(data, dict):
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["curve"] = tuple(_epoch(r) for r in data.get("curve") or () if isinstance(r, dict))
        values.setdefault("trained_by", "unknown")
        return cls(**values)

    def train_config(self) -> mlp.TrainConfig | None:
        return mlp.TrainConfig.from_dict(self.config) if self.config else None

    def to_dict(self, with_curve: bool = True) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "curve"}
        if with_curve:
            out["curve"] = [{k: v for k, v in dataclasses.asdict(r).items() if v is not None} for r in self.curve]
        return out


def _epoch(r: dict) -> EpochRecord:
    known = {f.name for f in dataclasses.fields(EpochRecord)}
    return EpochRecord(**{k: v for k, v in r.items() if k in known})


@dataclass(frozen=True)
class VersionInfo:
    """One version's metadata: identity, lineage, what it takes and answers, how it was made."""

    name: str
    version: int
    parent: int | None
    created_at: str | None
    task: str | None
    input: mlp.InputSpec
    output: OutputSpec
    layers: tuple[Layer, ...]
    training: TrainingRecord | None
    headline: Headline | None
    metrics: dict = field(default_factory=dict)  # per evaluation set: reports written by trainer.evaluation

    @classmethod
    def of(cls, network: mlp.Network) -> VersionInfo:
        """Read from a loaded network's metadata (the store has checked its name and version)."""
        meta = network.metadata
        metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
        head = metrics.get("headline")
        headline = None
        if isinstance(head, dict) and head.get("metric"):
            headline = Headline(head["metric"], head.get("eval_set", "test"), head.get("value"), head.get("bar"),
                                head.get("met"))
        parent = meta.get("parent")
        return cls(
            name=meta["name"],
            version=meta["version"],
            parent=parent if type(parent) is int else None,
            created_at=meta.get("created_at"),
            task=meta.get("task") if isinstance(meta.get("task"), str) else None,
            input=network.input_spec,
            output=OutputSpec.of(network),
            layers=tuple(Layer(la.n_in, la.n_out, la.activation.name) for la in network.layers),
            training=TrainingRecord.from_dict(meta.get("training")),
            headline=headline,
            metrics={k: v for k, v in metrics.items() if k != "headline"},
        )


@dataclass(frozen=True, eq=False)
class ModelVersion:
    """A loaded version: its metadata and its network (which predicts)."""

    info: VersionInfo
    network: mlp.Network

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def spec(self) -> mlp.InputSpec:
        return self.info.input
