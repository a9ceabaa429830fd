"""Hyperparameters as frozen dataclasses, validated when built.

``NetworkConfig`` describes an architecture, ``TrainConfig`` a training run.
Both are shared by every caller (the trainer CLI, the training jobs of the
service) and stored beside the weights in a model file, so a model says how it
was made. ``from_dict`` refuses unknown keys, so a typo is an error, not a default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from mlp.activations import get_activation
from mlp.errors import ConfigError
from mlp.initializers import get_initializer
from mlp.losses import check_pair, get_loss
from mlp.optimizers import OPTIMIZERS, SCHEDULES

DTYPES = ("float32", "float64")


def _int(name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
        high is not None and value > high
    ):
        bound = f">= {low}" if high is None else f"from {low} to {high}"
        raise ConfigError(f"{name} must be a whole number {bound}, got {value!r}")


def _float(name, value, low, high, *, low_open=False, high_open=False):
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    if not bad:
        bad = value < low or value > high or (low_open and value == low) or (high_open and value == high)
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(f"{name} must be a number in {lo}{low}, {high}{hi}, got {value!r}")


class _FromDict:
    @classmethod
    def from_dict(cls, data: dict):
        """Build from a mapping (a model file, a request), refusing unknown keys."""
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be an object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} field(s) {unknown}; known fields: {sorted(names)}"
            )
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes):
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class NetworkConfig(_FromDict):
    """An architecture: hidden layer sizes, their activation, the output and its loss."""

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "relu"
    activation_params: dict = field(default_factory=dict)
    output: str = "softmax"
    loss: str = "categorical_crossentropy"
    init: str = "he"
    init_params: dict = field(default_factory=dict)
    dtype: str = "float32"

    def __post_init__(self):
        hidden = self.hidden
        if isinstance(hidden, list):
            hidden = tuple(hidden)
            object.__setattr__(self, "hidden", hidden)
        if not isinstance(hidden, tuple) or any(
            isinstance(h, bool) or not isinstance(h, int) or h <= 0 for h in hidden
        ):
            raise ConfigError(f"hidden sizes must be whole numbers > 0, got {list(self.hidden)!r}")
        if len(hidden) > 16 or any(h > 4096 for h in hidden):
            raise ConfigError(f"at most 16 hidden layers of at most 4096 units, got {list(hidden)}")
        act = get_activation(self.activation, self.activation_params)
        if not act.differentiable:
            raise ConfigError(f"hidden activation {self.activation!r} cannot be trained")
        check_pair(get_activation(self.output), get_loss(self.loss))
        get_initializer(self.init, self.init_params)
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["hidden"] = list(self.hidden)
        return d


@dataclass(frozen=True)
class TrainConfig(_FromDict):
    """One training run. ``samples_per_epoch`` draws a fresh random subset each epoch."""

    epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 0.01
    optimizer: str = "adam"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    schedule: str = "constant"
    decay: float = 0.1
    step_size: int = 10
    clip_norm: float | None = None
    clip_value: float | None = None
    samples_per_epoch: int | None = None
    validation_split: float = 0.0
    patience: int | None = None
    restore_best: bool = True
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self):
        _int("epochs", self.epochs, 1, 100_000)
        _int("batch_size", self.batch_size, 1, 1_000_000)
        _float("learning_rate", self.learning_rate, 0, 10, low_open=True)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        _float("momentum", self.momentum, 0, 1, high_open=True)
        _float("beta1", self.beta1, 0, 1, high_open=True)
        _float("beta2", self.beta2, 0, 1, high_open=True)
        _float("epsilon", self.epsilon, 0, 1, low_open=True)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        _float("decay", self.decay, 0, 1, low_open=True)
        _int("step_size", self.step_size, 1)
        if self.clip_norm is not None:
            _float("clip_norm", self.clip_norm, 0, math.inf, low_open=True, high_open=True)
        if self.clip_value is not None:
            _float("clip_value", self.clip_value, 0, math.inf, low_open=True, high_open=True)
        if self.samples_per_epoch is not None:
            _int("samples_per_epoch", self.samples_per_epoch, 1)
        _float("validation_split", self.validation_split, 0, 1, high_open=True)
        if self.patience is not None:
            _int("patience", self.patience, 1)
        for name in ("restore_best", "shuffle"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        _int("seed", self.seed, 0, 2**63 - 1)
