"""Weight initialisers: ``init(rng, fan_in, fan_out, dtype) -> (fan_in, fan_out) array``.

Biases start at zero; the initialiser decides the weights only.
"""

from __future__ import annotations

import math

import numpy as np

from mlp.errors import ConfigError


class Initializer:
    name = ""

    def params(self) -> dict:
        return {}

    def __call__(self, rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
        return self.sample(rng, fan_in, fan_out).astype(dtype)

    def sample(self, rng, fan_in, fan_out) -> np.ndarray:
        raise NotImplementedError


class HeNormal(Initializer):
    """Normal(0, sqrt(2 / fan_in)): for relu-like hidden layers."""

    name = "he"

    def sample(self, rng, fan_in, fan_out):
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), (fan_in, fan_out))


class XavierNormal(Initializer):
    name = "xavier_normal"

    def sample(self, rng, fan_in, fan_out):
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), (fan_in, fan_out))


class XavierUniform(Initializer):
    name = "xavier_uniform"

    def sample(self, rng, fan_in, fan_out):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out))


class LeCunNormal(Initializer):
    """Normal(0, sqrt(1 / fan_in)): for selu and tanh."""

    name = "lecun"

    def sample(self, rng, fan_in, fan_out):
        return rng.normal(0.0, math.sqrt(1.0 / fan_in), (fan_in, fan_out))


class Normal(Initializer):
    name = "normal"

    def __init__(self, std: float = 0.05):
        if not (isinstance(std, (int, float)) and std > 0 and math.isfinite(std)):
            raise ConfigError(f"normal initialiser std must be a positive number, got {std!r}")
        self.std = float(std)

    def params(self):
        return {"std": self.std}

    def sample(self, rng, fan_in, fan_out):
        return rng.normal(0.0, self.std, (fan_in, fan_out))


class Uniform(Initializer):
    name = "uniform"

    def __init__(self, limit: float = 0.05):
        if not (isinstance(limit, (int, float)) and limit > 0 and math.isfinite(limit)):
            raise ConfigError(f"uniform initialiser limit must be a positive number, got {limit!r}")
        self.limit = float(limit)

    def params(self):
        return {"limit": self.limit}

    def sample(self, rng, fan_in, fan_out):
        return rng.uniform(-self.limit, self.limit, (fan_in, fan_out))


class Zeros(Initializer):
    name = "zeros"

    def sample(self, rng, fan_in, fan_out):
        return np.zeros((fan_in, fan_out))


class Constant(Initializer):
    name = "constant"

    def __init__(self, value: float = 0.0):
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise ConfigError(f"constant initialiser value must be a finite number, got {value!r}")
        self.value = float(value)

    def params(self):
        return {"value": self.value}

    def sample(self, rng, fan_in, fan_out):
        return np.full((fan_in, fan_out), self.value)


INITIALIZERS: dict[str, type[Initializer]] = {
    cls.name: cls
    for cls in (HeNormal, XavierNormal, XavierUniform, LeCunNormal, Normal, Uniform, Zeros, Constant)
}


def get_initializer(name: str, params: dict | None = None) -> Initializer:
    if isinstance(name, Initializer):
        return name
    cls = INITIALIZERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown initialiser {name!r}; choose one of: {', '.join(INITIALIZERS)}")
    try:
        return cls(**(params or {}))
    except TypeError:
        raise ConfigError(f"initialiser {name!r} got unexpected parameters {sorted(params)}") from None
