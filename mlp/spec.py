"""What a model takes in: feature names, their kind (integer or real) and bounds.

The spec travels in the model file, so anything serving a model can check
input without knowing which task made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlp.errors import ConfigError

INPUT_DTYPES = ("int", "float")


@dataclass(frozen=True)
class InputSpec:
    features: tuple[str, ...]
    dtype: str = "float"
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def __post_init__(self):
        feats = tuple(self.features)
        object.__setattr__(self, "features", feats)
        if not feats or any(not isinstance(f, str) or not f for f in feats):
            raise ConfigError(f"input features must be non-empty names, got {list(feats)!r}")
        if len(set(feats)) != len(feats):
            raise ConfigError(f"input feature names must be unique, got {list(feats)}")
        if self.dtype not in INPUT_DTYPES:
            raise ConfigError(f"input dtype must be one of {INPUT_DTYPES}, got {self.dtype!r}")
        for name in ("low", "high"):
            vals = tuple(getattr(self, name)) or tuple(
                (-math.inf if name == "low" else math.inf) for _ in feats
            )
            if len(vals) != len(feats) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) for v in vals
            ):
                raise ConfigError(f"input {name} bounds must be {len(feats)} numbers, got {list(vals)!r}")
            object.__setattr__(self, name, tuple(float(v) for v in vals))
        if any(lo > hi for lo, hi in zip(self.low, self.high)):
            raise ConfigError(f"input low bounds {list(self.low)} exceed high bounds {list(self.high)}")

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def low_array(self) -> np.ndarray:
        return np.asarray(self.low, dtype=np.float64)

    @property
    def high_array(self) -> np.ndarray:
        return np.asarray(self.high, dtype=np.float64)

    def to_dict(self) -> dict:
        def num(v):
            return None if math.isinf(v) else (int(v) if self.dtype == "int" else v)

        return {
            "features": list(self.features),
            "dtype": self.dtype,
            "low": [num(v) for v in self.low],
            "high": [num(v) for v in self.high],
        }

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        if not isinstance(d, dict) or "features" not in d:
            raise ConfigError("input spec must be an object with 'features'")
        n = len(d["features"]) if isinstance(d["features"], list) else 0
        low = [(-math.inf if v is None else v) for v in d.get("low") or [None] * n]
        high = [(math.inf if v is None else v) for v in d.get("high") or [None] * n]
        return cls(tuple(d["features"]), d.get("dtype", "float"), tuple(low), tuple(high))

    @classmethod
    def generic(cls, n: int) -> InputSpec:
        return cls(tuple(f"x{i}" for i in range(n)))
