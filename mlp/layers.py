"""Dense layers and input normalisation.

A ``Dense`` layer computes ``a = f(x @ W + b)`` for a whole batch at once:
``x: (n_samples, n_in)``, ``W: (n_in, n_out)``, ``b: (n_out,)``.
``forward`` and ``backward`` sit side by side; ``backward`` returns the
gradients of W and b and the gradient to pass to the layer below.
"""

from __future__ import annotations

import numpy as np

from mlp.activations import Activation
from mlp.errors import ConfigError


class Dense:
    def __init__(self, weights: np.ndarray, biases: np.ndarray, activation: Activation):
        self.W = weights
        self.b = biases
        self.activation = activation

    @property
    def n_in(self) -> int:
        return self.W.shape[0]

    @property
    def n_out(self) -> int:
        return self.W.shape[1]

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: (n, n_in) -> (z, a), both (n, n_out)."""
        z = x @ self.W
        z += self.b
        return z, self.activation.forward(z)

    def backward(self, x: np.ndarray, delta: np.ndarray, dW: np.ndarray, db: np.ndarray,
                 need_input_grad: bool):
        """delta = dL/dz: (n, n_out). Writes dL/dW into dW and dL/db into db; returns dL/dx."""
        np.matmul(x.T, delta, out=dW)
        # A row of ones times delta sums over the batch faster than delta.sum(axis=0).
        np.matmul(np.ones(len(delta), dtype=delta.dtype), delta, out=db)
        return delta @ self.W.T if need_input_grad else None


class Normalizer:
    """x -> (x - shift) / scale, per feature; fitted on training data and stored in the model."""

    def __init__(self, shift, scale):
        self.shift = np.asarray(shift, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        if self.shift.shape != self.scale.shape or self.shift.ndim != 1:
            raise ConfigError("normaliser shift and scale must be lists of one number per feature")
        if not (np.all(np.isfinite(self.shift)) and np.all(np.isfinite(self.scale))):
            raise ConfigError("normaliser shift and scale must be finite numbers")
        if np.any(self.scale <= 0):
            raise ConfigError("normaliser scale must be > 0 for every feature")

    @classmethod
    def standard(cls, X: np.ndarray) -> Normalizer:
        """Zero mean, unit variance; a constant feature keeps scale 1."""
        X = np.asarray(X, dtype=np.float64)
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    @classmethod
    def min_max(cls, low, high) -> Normalizer:
        """Maps [low, high] to [0, 1] (what the original project's iris and house models expect)."""
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        return cls(low, np.where(high > low, high - low, 1.0))

    def __call__(self, X: np.ndarray, dtype) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.shift) / self.scale).astype(dtype, copy=False)

    def to_dict(self) -> dict:
        return {"shift": self.shift.tolist(), "scale": self.scale.tolist()}
