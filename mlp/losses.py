"""Losses, each fused with the output activation it belongs to.

A loss is computed from the output layer's pre-activation ``z`` (so the
cross-entropies use log-sum-exp and never take the log of 0) and its gradient
is taken with respect to ``z`` directly: for the matching pairs that gradient is
``(output - target) / n`` and no separate activation derivative is needed.
Shapes: ``z, a, target: (n_samples, n_outputs)``; losses are means over samples.

``LOSS_PAIRS`` says which output activation goes with which loss; the network
refuses any other pair when it is built.
"""

from __future__ import annotations

import numpy as np

from mlp.activations import Activation, Linear, Sigmoid, Softmax
from mlp.errors import ConfigError


class Loss:
    name = ""
    output = Activation  # the output activation class this loss is fused with

    def forward(self, z: np.ndarray, a: np.ndarray, target: np.ndarray) -> float:
        """The mean loss over the batch; ``a`` is ``output.forward(z)``."""
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, target: np.ndarray) -> np.ndarray:
        """dLoss/dz, shape (n_samples, n_outputs)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    """mean over samples of sum over outputs of (a - t)^2 / 2."""

    name = "mse"
    output = Linear

    def forward(self, z, a, target):
        d = a - target
        return float(0.5 * np.einsum("ij,ij->", d, d) / len(d))

    def backward(self, z, a, target):
        return (a - target) / len(a)


class MeanAbsoluteError(Loss):
    """mean over samples of sum over outputs of |a - t|."""

    name = "mae"
    output = Linear

    def forward(self, z, a, target):
        return float(np.abs(a - target).sum() / len(a))

    def backward(self, z, a, target):
        return np.sign(a - target) / len(a)


class BinaryCrossEntropy(Loss):
    """Sigmoid outputs, one independent probability per output unit."""

    name = "binary_crossentropy"
    output = Sigmoid

    def forward(self, z, a, target):
        # softplus(z) - t*z == -t*log(sigmoid z) - (1-t)*log(1 - sigmoid z), without log(0).
        per = np.maximum(z, 0) - target * z + np.log1p(np.exp(-np.abs(z)))
        return float(per.sum() / len(z))

    def backward(self, z, a, target):
        return (a - target) / len(a)


class CategoricalCrossEntropy(Loss):
    """Softmax outputs; targets are one-hot (or any distribution over classes)."""

    name = "categorical_crossentropy"
    output = Softmax

    def forward(self, z, a, target):
        m = z.max(axis=1, keepdims=True)
        lse = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
        return float((target * (lse - z)).sum() / len(z))

    def backward(self, z, a, target):
        return (a - target) / len(a)


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls
    for cls in (MeanSquaredError, MeanAbsoluteError, BinaryCrossEntropy, CategoricalCrossEntropy)
}

LOSS_PAIRS = ", ".join(f"{cls.output.name} + {name}" for name, cls in LOSSES.items())


def get_loss(name: str) -> Loss:
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"a loss is named by a string, got {type(name).__name__}")
    cls = LOSSES.get(name)
    if cls is None:
        raise ConfigError(f"unknown loss {name[:40]!r}; choose one of: {', '.join(LOSSES)}")
    return cls()


def check_pair(output: Activation, loss: Loss) -> None:
    """Refuse an output activation and loss that do not belong together."""
    if type(output) is not loss.output:
        raise ConfigError(
            f"output activation {output.name!r} does not go with loss {loss.name!r}; "
            f"the pairs that work are: {LOSS_PAIRS}"
        )
