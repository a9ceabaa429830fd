"""Drift: how far recent inputs (and predictions) have moved from a version's training data.

At training time ``reference(X, ...)`` summarises each input feature of the training data,
and the model's own predictions on it, as a ``Reference`` kept in the version's training
record. Per feature it keeps two grids of the training column, with the exact share of
training rows at or below each point (``Grid``):

- the deciles: the bins of the Population Stability Index are (-inf, d1], (d1, d2], ...,
  (d9, +inf). Tied deciles (a feature of few values, such as bedrooms 1..5) merge into one
  edge, and the share each bin really held is recorded, not assumed to be a tenth, so a
  feature of few values is binned by its values;
- the percentiles: the Kolmogorov-Smirnov statistic is the largest gap between the training
  and the window's cumulative shares measured at those points (within about a percentile
  of the exact statistic, which would need the training data itself).

A classifier's predictions are summarised by the share of training rows the model assigns
to each class; a regressor's by the grids of each output, like a feature.

``psi`` and ``ks`` compare a window of recent values with a ``Grid``; ``compare`` does every
feature and the predictions at once (``Drift``). Pure numpy, no I/O: the service feeds it
the window from the prediction log, the tests known answers.

PSI = sum over bins of (a - e) * ln(a / e), the window's share ``a`` against the training
share ``e``, each floored at ``EPSILON`` so an empty bin is a large term rather than an
infinity. Read it as usual: below 0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a
shift worth acting on. On a window of n rows drawn from the training distribution itself
PSI is about (bins - 1) / n, 0.009 for 1,000 rows and ten bins (``benchmarks.feedback``
measures how often it passes 0.2 by chance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPSILON = 1e-4  # the least share a bin is given in PSI: an empty bin weighs, but finitely
DECILES = (10, range(1, 10))  # quantiles k / m: (m, the k): exact, where 0.1 * 3 is not 0.3
PERCENTILES = (100, range(0, 101))
FORMAT = 1  # the reference's layout in a model file


class ReferenceError(ValueError):
    """A reference in a model file that is not one this module wrote; the message says where."""


@dataclass(frozen=True)
class Grid:
    """Points of a training column, ascending and distinct, and the exact share of training
    rows at or below each."""

    values: tuple[float, ...]
    cdf: tuple[float, ...]

    @classmethod
    def of(cls, column: np.ndarray, quantiles: tuple[int, range]) -> Grid:
        """The quantiles k / m of column: (n,) finite numbers, each the smallest value with at
        least that share of the column at or below it (the inverse of the empirical CDF)."""
        ordered = np.sort(np.asarray(column, dtype=np.float64))
        n, (m, ks) = len(ordered), quantiles
        index = np.clip([-(-n * k // m) - 1 for k in ks], 0, n - 1)  # ceil(n k / m) - 1, in whole numbers
        points = np.unique(ordered[index])
        cdf = np.searchsorted(ordered, points, side="right") / n
        return cls(tuple(float(v) for v in points), tuple(float(c) for c in cdf))

    def shares(self) -> np.ndarray:
        """The training share of each bin (-inf, v0], (v0, v1], ..., (v_last, +inf)."""
        cdf = np.asarray(self.cdf)
        return np.diff(np.concatenate([[0.0], cdf, [1.0]]))

    def to_dict(self) -> dict:
        return {"values": list(self.values), "cdf": list(self.cdf)}

    @classmethod
    def from_dict(cls, data, where: str) -> Grid:
        _need(isinstance(data, dict) and set(data) == {"values", "cdf"}, where, "an object of values and cdf")
        values, cdf = data["values"], data["cdf"]
        _need(_numbers(values) and _numbers(cdf) and len(values) == len(cdf) and len(values) >= 1, where,
              "values and cdf: lists of numbers of one length")
        _need(all(a < b for a, b in zip(values, values[1:])), where, "values ascending and distinct")
        _need(all(0 <= c <= 1 for c in cdf) and all(a <= b for a, b in zip(cdf, cdf[1:])), where,
              "cdf rising from 0 to 1")
        return cls(tuple(float(v) for v in values), tuple(float(c) for c in cdf))


@dataclass(frozen=True)
class FeatureReference:
    deciles: Grid  # the PSI bins
    percentiles: Grid  # the KS points

    @classmethod
    def of(cls, column: np.ndarray) -> FeatureReference:
        return cls(Grid.of(column, DECILES), Grid.of(column, PERCENTILES))

    def to_dict(self) -> dict:
        return {"deciles": self.deciles.to_dict(), "percentiles": self.percentiles.to_dict()}

    @classmethod
    def from_dict(cls, data, where: str) -> FeatureReference:
        _need(isinstance(data, dict) and set(data) == {"deciles", "percentiles"}, where,
              "an object of deciles and percentiles")
        return cls(Grid.from_dict(data["deciles"], f"{where}.deciles"),
                   Grid.from_dict(data["percentiles"], f"{where}.percentiles"))


@dataclass(frozen=True)
class Reference:
    """A version's training data, summarised for drift (see the module's docstring)."""

    rows: int
    features: dict[str, FeatureReference]  # in the model's feature order
    classes: dict[str, float] | None = None  # a classifier: label -> share of training rows predicted as it
    outputs: tuple[FeatureReference, ...] = ()  # a regressor: one per output

    def to_dict(self) -> dict:
        out: dict = {"format": FORMAT, "rows": self.rows,
                     "features": {k: v.to_dict() for k, v in self.features.items()}}
        if self.classes is not None:
            out["prediction"] = {"classes": dict(self.classes)}
        else:
            out["prediction"] = {"outputs": [o.to_dict() for o in self.outputs]}
        return out

    def misfit(self, features, labels=None, n_outputs: int = 1) -> str | None:
        """Why this reference does not fit a model of these ``features`` (in order) and
        ``labels`` (a classifier) or ``n_outputs`` (a regressor), or None if it does."""
        if list(self.features) != list(features):
            return (f"its features are {', '.join(self.features)}, the model's {', '.join(features)}"
                    if sorted(self.features) != sorted(features) else
                    f"its features are in the order {', '.join(self.features)}, the model's {', '.join(features)}")
        if labels is not None:
            if self.classes is None or sorted(self.classes) != sorted(labels):
                return (f"its classes are {', '.join(self.classes or ()) or 'none'}, the model's labels "
                        f"{', '.join(labels)}")
        elif self.classes is not None or len(self.outputs) != n_outputs:
            return f"it summarises {len(self.outputs)} outputs (or classes), the model answers {n_outputs} values"
        return None

    @classmethod
    def from_dict(cls, data, where: str = "training.reference") -> Reference:
        _need(isinstance(data, dict), where, "an object")
        _need(data.get("format") == FORMAT, f"{where}.format", f"{FORMAT}")
        rows = data.get("rows")
        _need(type(rows) is int and rows > 0, f"{where}.rows", "a whole number above 0")
        features = data.get("features")
        _need(isinstance(features, dict) and features, f"{where}.features", "an object, one entry per feature")
        prediction = data.get("prediction")
        _need(isinstance(prediction, dict) and len(prediction) == 1 and set(prediction) <= {"classes", "outputs"},
              f"{where}.prediction", "an object of classes or outputs")
        classes, outputs = prediction.get("classes"), ()
        if classes is not None:
            _need(isinstance(classes, dict) and classes and _numbers(list(classes.values()))
                  and all(0 <= s <= 1 for s in classes.values()), f"{where}.prediction.classes",
                  "an object of shares from 0 to 1")
            classes = {str(k): float(v) for k, v in classes.items()}
        else:
            listed = prediction["outputs"]
            _need(isinstance(listed, list) and listed, f"{where}.prediction.outputs", "a list, one entry per output")
            outputs = tuple(FeatureReference.from_dict(o, f"{where}.prediction.outputs[{i}]")
                            for i, o in enumerate(listed))
        return cls(rows, {str(k): FeatureReference.from_dict(v, f"{where}.features.{k}") for k, v in features.items()},
                   classes, outputs)


def _numbers(values) -> bool:
    return isinstance(values, list) and all(type(v) in (int, float) and math.isfinite(v) for v in values)


def _need(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise ReferenceError(f"{where} must be {what}")


def reference(X: np.ndarray, features, *, proba: np.ndarray | None = None, labels=None,
              values: np.ndarray | None = None) -> Reference:
    """The reference of training inputs X: (n, n_features) with the model's answers on them:
    a classifier's ``proba`` (n, n_classes) with its ``labels``, or a regressor's ``values``
    (n, n_outputs)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0 or X.shape[1] != len(features):
        raise ValueError(f"X must be (n > 0, {len(features)}), got {X.shape}")
    refs = {name: FeatureReference.of(X[:, j]) for j, name in enumerate(features)}
    if proba is not None:
        counts = np.bincount(np.asarray(proba).argmax(axis=1), minlength=len(labels))
        return Reference(len(X), refs, classes={str(k): float(c / len(X)) for k, c in zip(labels, counts)})
    values = np.asarray(values, dtype=np.float64).reshape(len(X), -1)
    return Reference(len(X), refs, outputs=tuple(FeatureReference.of(values[:, k]) for k in range(values.shape[1])))


def psi_of_shares(actual: np.ndarray, expected: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    a = np.maximum(np.asarray(actual, dtype=np.float64), EPSILON)
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(grid: Grid, window: np.ndarray) -> float:
    """PSI of the values in ``window`` (n > 0,) against the training shares of ``grid``'s bins."""
    window = np.asarray(window, dtype=np.float64)
    bins = np.searchsorted(np.asarray(grid.values), window, side="left")  # (v[i-1], v[i]] -> i
    actual = np.bincount(bins, minlength=len(grid.values) + 1) / len(window)
    return psi_of_shares(actual, grid.shares())


def ks(grid: Grid, window: np.ndarray) -> float:
    """The largest gap between the training and the window's share at or below each point of
    ``grid`` (the percentiles)."""
    ordered = np.sort(np.asarray(window, dtype=np.float64))
    at_or_below = np.searchsorted(ordered, np.asarray(grid.values), side="right") / len(ordered)
    return float(np.max(np.abs(at_or_below - np.asarray(grid.cdf))))


@dataclass(frozen=True)
class Drift:
    rows: int  # rows in the window
    features: dict[str, tuple[float, float]]  # name -> (psi, ks)
    prediction_psi: float


def compare(ref: Reference, X: np.ndarray, *, label_index: np.ndarray | None = None,
            values: np.ndarray | None = None, labels=None) -> Drift:
    """Every feature of the window X: (n > 0, n_features) against ``ref``, and the predictions:
    a classifier's chosen class per row (``label_index``: (n,), into ``labels``, the model's
    labels: default the reference's classes in their order) or a regressor's ``values``
    (n, n_outputs). The predictions' PSI of a regressor with several outputs is the largest of
    its outputs'. ``Reference.misfit`` says first whether the reference fits the model."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0 or X.shape[1] != len(ref.features):
        raise ValueError(f"the window must be (n > 0, {len(ref.features)}), got {X.shape}")
    features = {name: (psi(f.deciles, X[:, j]), ks(f.percentiles, X[:, j]))
                for j, (name, f) in enumerate(ref.features.items())}
    if ref.classes is not None:
        order = list(ref.classes) if labels is None else list(labels)
        counts = np.bincount(np.asarray(label_index), minlength=len(order)) / len(X)
        prediction = psi_of_shares(counts, np.asarray([ref.classes[k] for k in order]))
    else:
        values = np.asarray(values, dtype=np.float64).reshape(len(X), -1)
        prediction = max(psi(o.deciles, values[:, k]) for k, o in enumerate(ref.outputs))
    return Drift(len(X), features, prediction)
