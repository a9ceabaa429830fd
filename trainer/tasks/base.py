"""What a task is: its inputs, its labels, how to draw data, how to judge a model.

A task knows the ground truth (``truth(X)``), draws training data (``sample``),
draws fresh evaluation sets (``evaluation_sets``), and carries the default
architecture and training config that ``python -m trainer train`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlp import InputSpec, NetworkConfig, TrainConfig


@dataclass(frozen=True)
class Target:
    """The judging metric and the bar a default model must reach on ``eval_set``."""

    metric: str  # "accuracy" (higher is better) or "rmse" (lower is better)
    bar: float
    eval_set: str = "test"

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "rmse"

    def met(self, value: float) -> bool:
        return value >= self.bar if self.higher_is_better else value <= self.bar


class Task:
    name: str = ""
    description: str = ""
    features: tuple[str, ...] = ()
    dtype: str = "float"  # "int" or "float": what the model accepts
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    labels: tuple[str, ...] | None = None  # None: a regression task
    network: NetworkConfig = NetworkConfig()
    train: TrainConfig = TrainConfig()
    train_samples: int = 10_000
    target: Target = Target("accuracy", 0.99)
    # The original project fed some models inputs pre-scaled to [0, 1]; importing
    # such a model folds that scaling in, from this (low, high) per feature.
    legacy_input_range: tuple | None = None

    @property
    def is_classifier(self) -> bool:
        return self.labels is not None

    @property
    def n_outputs(self) -> int:
        return len(self.labels) if self.labels else 1

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(self.features, self.dtype, self.low, self.high)

    def truth(self, X: np.ndarray) -> np.ndarray:
        """The true label (or noiseless value) of each row of raw input X: (n, n_features)."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n training rows (X raw, y labels or values), drawn from the training distribution."""
        X = self.draw_uniform(rng, n)
        return X, self.truth(X)

    def evaluation_sets(self, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Named sets drawn fresh for judging; ``target.eval_set`` names the one that decides."""
        X = self.draw_uniform(rng, 20_000)
        return {"test": (X, self.truth(X))}

    def draw_uniform(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform over the input box (integers for int tasks)."""
        low, high = np.asarray(self.low, float), np.asarray(self.high, float)
        if self.dtype == "int":
            return rng.integers(low.astype(int), high.astype(int) + 1, size=(n, len(low)))
        return rng.uniform(low, high, size=(n, len(low)))

