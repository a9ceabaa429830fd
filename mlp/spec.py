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
        """From a model file's ``input`` object: ``features``, ``dtype``, ``low`` and ``high``
        (null for no bound); anything else in it is refused."""
        if not isinstance(d, dict) or "features" not in d:
            raise ConfigError("input spec must be an object with 'features'")
        unknown = sorted(set(d) - {"features", "dtype", "low", "high"})
        if unknown:
            raise ConfigError(f"input spec has unknown keys {unknown[:5]}")
        feats = d["features"]
        if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
            raise ConfigError("input features must be a list of names")
        bounds = {}
        for name, missing in (("low", -math.inf), ("high", math.inf)):
            vals = d.get(name)
            if vals is None:
                vals = [None] * len(feats)
            if not isinstance(vals, list) or len(vals) != len(feats):
                raise ConfigError(f"input {name} bounds must be a list of {len(feats)} numbers or nulls")
            bounds[name] = tuple(missing if v is None else v for v in vals)
        dtype = d.get("dtype", "float")
        if not isinstance(dtype, str):
            raise ConfigError(f"input dtype must be one of {INPUT_DTYPES}")
        return cls(tuple(feats), dtype, bounds["low"], bounds["high"])

    def probe_rows(self, unbounded: tuple[np.ndarray, np.ndarray], n_random: int = 16,
                   max_corners: int = 64, seed: int = 0) -> np.ndarray:
        """Rows that span the declared input box: its corners (at most ``max_corners``, drawn
        at random past that), the origin and ``n_random`` rows drawn within it, (n, n_features).
        A feature with no bound takes its stand-in from ``unbounded`` (low, high arrays)."""
        lo = np.where(np.isfinite(self.low_array), self.low_array, unbounded[0])
        hi = np.where(np.isfinite(self.high_array), self.high_array, unbounded[1])
        k, rng = self.n_features, np.random.default_rng(seed)
        if k <= int(math.log2(max_corners)):
            pick = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
        else:
            pick = rng.integers(0, 2, size=(max_corners, k))
        corners = np.where(pick == 1, hi, lo)
        u = rng.random((n_random, k))
        inside = lo * (1 - u) + hi * u  # never hi - lo, which overflows for bounds near the float limit
        return np.vstack([corners, np.zeros((1, k)), inside])

    @classmethod
    def generic(cls, n: int) -> InputSpec:
        return cls(tuple(f"x{i}" for i in range(n)))
