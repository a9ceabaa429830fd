"""Activation functions, each with its derivative as a sibling method.

Every activation is a small class: ``forward(z)`` maps pre-activations to
activations and ``backward(z, a, grad)`` returns ``grad * f'(z)`` (for softmax,
the Jacobian-vector product). Shapes: ``z, a, grad: (n_samples, n_units)``.
``a`` is the output of ``forward(z)``, passed in so that activations whose
derivative is cheapest in terms of their output (sigmoid, tanh) reuse it.

The name -> class table ``ACTIVATIONS`` is used only at the edges (reading a
model file, validating a config); the network holds activation objects.
"""

from __future__ import annotations

import math

import numpy as np

from mlp.errors import ConfigError


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # The tanh form never overflows and costs one transcendental, no masking.
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class Activation:
    """Base class; subclasses set ``name`` and implement forward/backward."""

    name = ""
    differentiable = True

    def params(self) -> dict:
        """The activation's parameters, as stored in a model file."""
        return {}

    def forward(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, z: np.ndarray, a: np.ndarray, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward_into(self, z: np.ndarray) -> np.ndarray:
        """``forward(z)``, free to overwrite ``z`` (inference, where ``z`` is not kept):
        the cheap ones work in place and allocate nothing."""
        return self.forward(z)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.params().items()))))


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, z, a, grad):
        return grad


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        return _sigmoid(z)

    def backward(self, z, a, grad):
        return grad * a * (1 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def forward_into(self, z):
        return np.tanh(z, out=z)

    def backward(self, z, a, grad):
        return grad * (1 - a * a)


class ReLU(Activation):
    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def forward_into(self, z):
        return np.maximum(z, 0, out=z)

    def backward(self, z, a, grad):
        return grad * (z > 0)


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        self.alpha = _number("leaky_relu", "alpha", alpha, 0, 1)

    def params(self):
        return {"alpha": self.alpha}

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * z)

    def backward(self, z, a, grad):
        out = grad.copy()
        out[z <= 0] *= self.alpha
        return out


class ELU(Activation):
    name = "elu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _number("elu", "alpha", alpha, 0, PARAM_MAX)

    def params(self):
        return {"alpha": self.alpha}

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, z, a, grad):
        return grad * np.where(z > 0, 1.0, self.alpha * np.exp(np.minimum(z, 0)))


class ParametricELU(Activation):
    """alpha * z for z > 0, beta * (e^z - 1) otherwise (the original project's definition)."""

    name = "parametric_elu"

    def __init__(self, alpha: float = 1.0, beta: float = 1.0):
        self.alpha = _number("parametric_elu", "alpha", alpha, 0, PARAM_MAX)
        self.beta = _number("parametric_elu", "beta", beta, 0, PARAM_MAX)

    def params(self):
        return {"alpha": self.alpha, "beta": self.beta}

    def forward(self, z):
        return np.where(z > 0, self.alpha * z, self.beta * np.expm1(np.minimum(z, 0)))

    def backward(self, z, a, grad):
        return grad * np.where(z > 0, self.alpha, self.beta * np.exp(np.minimum(z, 0)))


class SELU(Activation):
    name = "selu"

    def __init__(self, alpha: float = 1.67326324, scale: float = 1.05070098):
        self.alpha = _number("selu", "alpha", alpha, 0, PARAM_MAX)
        self.scale = _number("selu", "scale", scale, 0, PARAM_MAX)

    def params(self):
        return {"alpha": self.alpha, "scale": self.scale}

    def forward(self, z):
        return self.scale * np.where(z > 0, z, self.alpha * np.expm1(np.minimum(z, 0)))

    def backward(self, z, a, grad):
        return grad * self.scale * np.where(z > 0, 1.0, self.alpha * np.exp(np.minimum(z, 0)))


class Swish(Activation):
    """z * sigmoid(alpha * z)."""

    name = "swish"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _number("swish", "alpha", alpha, 0, PARAM_MAX)

    def params(self):
        return {"alpha": self.alpha}

    def forward(self, z):
        return z * _sigmoid(self.alpha * z)

    def backward(self, z, a, grad):
        s = _sigmoid(self.alpha * z)
        return grad * (s + self.alpha * z * s * (1 - s))


_GELU_C = math.sqrt(2.0 / math.pi)


class GELU(Activation):
    """The tanh approximation, as the original project used."""

    name = "gelu"

    def forward(self, z):
        return 0.5 * z * (1 + np.tanh(_GELU_C * (z + 0.044715 * z**3)))

    def backward(self, z, a, grad):
        t = np.tanh(_GELU_C * (z + 0.044715 * z**3))
        dt = (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)
        return grad * (0.5 * (1 + t) + 0.5 * z * dt)


class Mish(Activation):
    """z * tanh(softplus(z))."""

    name = "mish"

    def forward(self, z):
        return z * np.tanh(_softplus(z))

    def backward(self, z, a, grad):
        t = np.tanh(_softplus(z))
        return grad * (t + z * (1 - t * t) * _sigmoid(z))


class Softmax(Activation):
    """Over the last axis; shifted by the row maximum so exp never overflows."""

    name = "softmax"

    # The ufuncs' own reduce: the array methods (z.max, z.sum) go through a Python wrapper
    # that costs more than the work on the few rows of a request.
    def forward(self, z):
        e = np.exp(z - np.maximum.reduce(z, axis=1, keepdims=True))
        return e / np.add.reduce(e, axis=1, keepdims=True)

    def forward_into(self, z):
        z -= np.maximum.reduce(z, axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= np.add.reduce(z, axis=1, keepdims=True)
        return z

    def backward(self, z, a, grad):
        return a * (grad - (grad * a).sum(axis=1, keepdims=True))


class _ForwardOnly(Activation):
    differentiable = False

    def backward(self, z, a, grad):
        raise ConfigError(
            f"activation {self.name!r} has no useful derivative and cannot be trained; "
            "it is supported only for running imported models"
        )


class Sign(_ForwardOnly):
    name = "sign"

    def forward(self, z):
        return np.sign(z)


class Step(_ForwardOnly):
    """1 for z > 0, else 0.5 (the original project's definition)."""

    name = "step"

    def forward(self, z):
        return np.where(z > 0, 1.0, 0.5).astype(z.dtype, copy=False)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (
        Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, ParametricELU, SELU,
        Swish, GELU, Mish, Softmax, Sign, Step,
    )
}


# The parameters scale a unit's output or slope: past these ranges a network's outputs overflow
# for ordinary inputs (a leaky_relu alpha of 1e308 turns every negative input into -inf), and no
# known use needs more. Model files are held to them when they are read, configs when they are built.
PARAM_MAX = 100.0


def _number(act: str, key: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        got = repr(value) if isinstance(value, (int, float)) else f"a {type(value).__name__}"
        raise ConfigError(f"{act} parameter {key!r} must be a finite number, got {got}")
    if not low <= value <= high:
        raise ConfigError(f"{act} parameter {key!r} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def get_activation(name: str, params: dict | None = None) -> Activation:
    """Build an activation from its name and parameters (model files, configs)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"an activation is named by a string, got {type(name).__name__}")
    cls = ACTIVATIONS.get(name)
    if cls is None:
        raise ConfigError(
            f"unknown activation {name[:40]!r}; choose one of: {', '.join(sorted(ACTIVATIONS))}"
        )
    if params is not None and not isinstance(params, dict):
        raise ConfigError(f"activation {name!r} parameters must be an object, got {type(params).__name__}")
    params = dict(params or {})
    try:
        return cls(**params)
    except TypeError:
        allowed = list(cls().params()) or "none"
        raise ConfigError(
            f"activation {name!r} got unexpected parameters {sorted(params)}; allowed: {allowed}"
        ) from None
