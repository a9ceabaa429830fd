"""What the store knows about a model version, as typed records.

A model file holds a network (``mlp`` reads that part) and the trainer's metadata: name,
version, parent, task, when and how it was trained, its held-out metrics. ``VersionInfo``
is that metadata read once, checked and typed, so the worker, the CLI and the service
never read nested dicts by string keys. ``ModelVersion`` pairs it with the network.

Reading is strict: a value of the wrong type anywhere in the metadata (``training.curve: 5``,
a string for a version) is an ``mlp.ModelFileError`` naming the key, the same refusal as a
malformed network, so whoever reads a version refuses it whole instead of failing later.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import mlp
from core.drift import Reference, ReferenceError


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
    # The training data's quantiles and the predictions on it, for drift (core.drift); None:
    # a version trained before they were recorded, or an import.
    reference: Reference | None = None

    @classmethod
    def from_dict(cls, data) -> TrainingRecord | None:
        """From a model file's ``training`` object (None: no record); keys it does not know are
        ignored, a known one of the wrong type is refused."""
        if data is None:
            return None
        _check(isinstance(data, dict), "training must be an object or null")
        values = {k: _typed(data, k, kind, f"training.{k}") for k, kind in _TRAINING_FIELDS.items() if k in data}
        curve = data.get("curve")
        _check(curve is None or isinstance(curve, list), "training.curve must be a list of epochs")
        values["curve"] = tuple(_epoch(r, i) for i, r in enumerate(curve or ()))
        if data.get("reference") is not None:
            try:
                values["reference"] = Reference.from_dict(data["reference"])
            except ReferenceError as e:
                _check(False, str(e))
        if values.get("trained_by") is None:
            values["trained_by"] = "unknown"
        return cls(**values)

    def train_config(self) -> mlp.TrainConfig | None:
        return mlp.TrainConfig.from_dict(self.config) if self.config else None

    def to_dict(self, with_curve: bool = True, with_reference: bool = True) -> dict:
        bare = dataclasses.replace(self, curve=(), reference=None)  # asdict copies; those two write themselves
        out = {k: v for k, v in dataclasses.asdict(bare).items() if v is not None and k != "curve"}
        if with_reference and self.reference is not None:
            out["reference"] = self.reference.to_dict()
        if with_curve:
            out["curve"] = [{k: v for k, v in dataclasses.asdict(r).items() if v is not None} for r in self.curve]
        return out


# What each kind of value may be in a file: JSON numbers are int or float, never bool.
_STR, _INT, _NUMBER, _BOOL, _OBJECT = "a string", "a whole number", "a number", "true or false", "an object"
_TRAINING_FIELDS = {
    "trained_by": _STR, "task": _STR, "config": _OBJECT, "network": _OBJECT, "seed": _INT, "samples": _INT,
    "epochs_run": _INT, "best_epoch": _INT, "stopped_early": _BOOL, "duration_s": _NUMBER, "data_hash": _STR,
    "job": _STR, "examples": _INT, "source": _STR, "source_sha256": _STR, "estimator": _STR, "sklearn_version": _STR,
}
_EPOCH_FIELDS = {"epoch": _INT, "loss": _NUMBER, "metric": _NUMBER, "lr": _NUMBER, "val_loss": _NUMBER,
                 "val_metric": _NUMBER}
_HEADLINE_FIELDS = {"metric": _STR, "eval_set": _STR, "value": _NUMBER, "bar": _NUMBER, "met": _BOOL}


def _is(value, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _INT:
        return type(value) is int
    if kind == _NUMBER:
        return type(value) in (int, float)
    if kind == _BOOL:
        return type(value) is bool
    return isinstance(value, dict)


def _typed(data: dict, key: str, kind: str, where: str):
    """``data[key]``, which must be ``kind`` or null."""
    value = data.get(key)
    _check(value is None or _is(value, kind), f"{where} must be {kind} or null")
    return value


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise mlp.ModelFileError(f"metadata: {what}", f"its metadata is malformed: {what}")


def _epoch(r, i: int) -> EpochRecord:
    _check(isinstance(r, dict), f"training.curve[{i}] must be an object")
    values = {k: _typed(r, k, kind, f"training.curve[{i}].{k}") for k, kind in _EPOCH_FIELDS.items()}
    for k in ("epoch", "loss", "metric"):
        _check(values[k] is not None, f"training.curve[{i}].{k} is missing")
    return EpochRecord(**values)


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
        _check(isinstance(meta.get("name"), str), "name must be a string")
        _check(type(meta.get("version")) is int, "version must be a whole number")
        metrics = _typed(meta, "metrics", _OBJECT, "metrics") or {}
        head = _typed(metrics, "headline", _OBJECT, "metrics.headline")
        headline = None
        if head is not None:
            values = {k: _typed(head, k, kind, f"metrics.headline.{k}") for k, kind in _HEADLINE_FIELDS.items()}
            if values["metric"]:
                headline = Headline(**{**values, "eval_set": values["eval_set"] or "test"})
        return cls(
            name=meta["name"],
            version=meta["version"],
            parent=_typed(meta, "parent", _INT, "parent"),
            created_at=_typed(meta, "created_at", _STR, "created_at"),
            task=_typed(meta, "task", _STR, "task"),
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
