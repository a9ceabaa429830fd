"""Checking a matrix of input rows against a model's input spec, vectorised.

Per-element marshmallow validation costs microseconds a number and becomes the
bottleneck for large batches; here the row shapes and element types are checked
with C-speed builtins and the values with numpy, and the first offending cells
are reported with their row, column and feature name. A JSON number with no
fraction (``255.0``) is a whole number, whatever its spelling: an integer feature
takes it, on every endpoint alike.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np

from mlp import InputSpec
from service import jsonio

MAX_REPORTED = 10  # offending cells listed in one error
MAX_NAMES = 5  # unknown keys of a row named in one error (the rest counted), each cut at NAME_CHARS
NAME_CHARS = 64


class InputError(ValueError):
    """Rows that do not fit the spec; ``errors`` lists the offending cells."""

    def __init__(self, message: str, errors: list[dict], status: int = 422):
        super().__init__(message)
        self.errors = errors
        self.status = status


def _cell(row, col, spec, message, field):
    return {"field": field, "row": row, "column": col,
            "feature": spec.features[col] if col is not None else None, "message": message}


def to_matrix(rows, spec: InputSpec, max_rows: int, field: str = "inputs",
              may_hold_booleans: bool = True) -> np.ndarray:
    """JSON rows (lists in feature order, or objects keyed by feature) -> float64 (n, k).

    ``may_hold_booleans=False`` (the caller saw no ``true``/``false`` in the JSON text)
    lets numpy type the whole matrix at once: it would silently turn booleans into
    numbers, and nothing else it accepts as int64 (or float64) rows of k is invalid JSON input.
    Anything else falls through to the exact checks, which name the offending cell.
    """
    k = spec.n_features
    if not isinstance(rows, list):
        raise InputError(f"{field} must be a list of rows", [{"field": field, "message": "not a list"}])
    if not rows:
        raise InputError(f"{field} must hold at least one row", [{"field": field, "message": "empty"}])
    if len(rows) > max_rows:
        raise InputError(
            f"{field} has {len(rows)} rows; at most {max_rows} are allowed in one request, "
            "send the rest in further requests",
            [{"field": field, "message": f"{len(rows)} rows > {max_rows}"}], status=413)
    kinds = set(map(type, rows))
    if kinds == {dict} or kinds == {list, dict}:
        rows = _objects_to_lists(rows, spec, field)
    elif kinds != {list}:
        bad = next(i for i, r in enumerate(rows) if type(r) not in (list, dict))
        raise InputError(
            f"each row must be a list of {k} numbers or an object keyed by feature name "
            f"({', '.join(spec.features)}); row {bad} is {jsonio.kind(rows[bad])}",
            [_cell(bad, None, spec, "not a list or object", field)])
    if not may_hold_booleans:
        X = _typed_by_numpy(rows, spec)
        if X is not None:
            return check_matrix(X, spec, field, whole_checked=True)
    if set(map(len, rows)) != {k}:
        lengths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
        wrong = np.flatnonzero(lengths != k)
        errs = [_cell(int(i), None, spec, f"has {lengths[i]} values, expected {k}", field)
                for i in wrong[:MAX_REPORTED]]
        raise InputError(f"each row must have {k} values ({', '.join(spec.features)}); "
                         f"row {wrong[0]} has {lengths[wrong[0]]}", errs)
    flat = list(itertools.chain.from_iterable(rows))
    types = set(map(type, flat))
    if not types <= NUMBERS:
        _raise_type_error(flat, spec, k, field)
    X = as_floats(flat).reshape(len(rows), k)
    return check_matrix(X, spec, field, whole_checked=float not in types)


def as_floats(values: list) -> np.ndarray:
    """JSON numbers as float64; an integer past float64's range becomes inf (which the bounds
    check then names), not an OverflowError."""
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        return np.array([float(v) if abs(v) < 1e308 else math.copysign(math.inf, v) for v in values])


def check_matrix(X: np.ndarray, spec: InputSpec, field: str = "inputs", whole_checked: bool = False) -> np.ndarray:
    """A typed matrix (n, k) against the spec: whole numbers for integer features (unless the
    caller knows they are), every value finite and within its feature's bounds. X, or
    InputError naming the first offending cells. Native rows and V2 tensors both end here."""
    if spec.dtype == "int" and not whole_checked:
        _check_whole(X, spec, field)
    if not _within_bounds(X, spec):
        _raise_bounds_error(X, spec, field)
    return X


NUMBERS = {int, float}


def _typed_by_numpy(rows: list, spec: InputSpec) -> np.ndarray | None:
    """The rows as float64 when numpy types them all as integers (or, for float inputs, as
    numbers) in rows of the right length; None when it does not (ragged rows, strings,
    nulls, floats for an integer input, integers past 64 bits...)."""
    try:
        A = np.array(rows)
    except (ValueError, OverflowError):
        return None
    if A.ndim != 2 or A.shape[1] != spec.n_features or A.dtype.kind not in "if":
        return None
    if A.dtype.kind == "f" and spec.dtype == "int" and not np.array_equal(A, np.trunc(A)):
        return None  # a fraction (or a NaN/inf): the exact checks name it
    return A.astype(np.float64)


def _objects_to_lists(rows, spec, field):
    """Rows keyed by feature name (some, or all) as lists in feature order."""
    features = spec.features
    known = set(features)
    for i, r in enumerate(rows):
        if type(r) is dict and r.keys() != known:
            unknown = r.keys() - known
            missing = [f for f in features if f not in r]
            what = (f"unknown field(s) {_some_names(unknown)}" if unknown else "") + (
                ("; " if unknown else "") + f"missing {_some_names(missing)}" if missing else "")
            raise InputError(f"row {i}: {what}; the features are {', '.join(features)}",
                             [_cell(i, None, spec, what, field)])
    return [[r[f] for f in features] if type(r) is dict else r for r in rows]


def _some_names(names) -> str:
    """Key names as an error echoes them: a list as it is ordered, a set's smallest, the first
    few only, each cut short, and a count of the rest (a row with 150,000 unknown keys gets a
    short answer)."""
    first = names[:MAX_NAMES] if isinstance(names, list) else heapq.nsmallest(MAX_NAMES, names)
    first = [n if len(n) <= NAME_CHARS else n[:NAME_CHARS] + "..." for n in first]
    rest = len(names) - len(first)
    return f"{first}" + (f" and {rest:,} more" if rest else "")


def _raise_type_error(flat, spec, k, field):
    errs = []
    for idx, v in enumerate(flat):
        if type(v) not in NUMBERS:
            row, col = divmod(idx, k)
            errs.append(_cell(row, col, spec, f"{jsonio.described(v)} is not a number", field))
            if len(errs) >= MAX_REPORTED:
                break
    _raise(errs)


def _check_whole(X, spec, field):
    """Integer features take whole numbers; 255.0 is one, 255.5 is not."""
    finite = np.isfinite(X)
    bad = finite & (np.trunc(np.where(finite, X, 0)) != X)
    if bad.any():
        errs = [_cell(int(r), int(c), spec,
                      f"{float(X[r, c])!r} is not a whole number; {spec.features[c]} takes integers", field)
                for r, c in np.argwhere(bad)[:MAX_REPORTED]]
        _raise(errs)


def _raise(errs):
    first = errs[0]
    raise InputError(f"row {first['row']}, column {first['column']} ({first['feature']}): {first['message']}",
                     errs)


SMALL = 64  # cells: below this, plain Python compares faster than a chain of numpy calls


def _inside(v: float, lo: float, hi: float) -> bool:
    return lo <= v <= hi and math.isfinite(v)


def _within_bounds(X, spec) -> bool:
    if X.size <= SMALL:
        n = len(X)
        return all(map(_inside, X.ravel().tolist(), spec.low * n, spec.high * n))
    return not (~np.isfinite(X) | (spec.low_array > X) | (spec.high_array < X)).any()


def _raise_bounds_error(X, spec, field):
    bad = ~np.isfinite(X) | (spec.low_array > X) | (spec.high_array < X)
    errs = []
    for row, col in np.argwhere(bad)[:MAX_REPORTED]:
        v = X[row, col]
        lo, hi = spec.low[col], spec.high[col]
        shown = int(v) if spec.dtype == "int" and math.isfinite(v) and abs(v) < 2**63 else v
        msg = (f"{shown} is outside {_num(lo, spec)}..{_num(hi, spec)}" if math.isfinite(v)
               else f"{v} is not a finite number")
        errs.append(_cell(int(row), int(col), spec, msg, field))
    _raise(errs)


def _num(v, spec):
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return int(v) if spec.dtype == "int" else v
