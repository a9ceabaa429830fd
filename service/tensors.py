"""A V2 input tensor as a matrix: its shape, datatype and data checked against each other.

The data may be flat (row-major, as the protocol and tritonclient send it) or nested in
rows; either way every value must be a number of the tensor's datatype (a whole number in
range for INT32, INT64 and UINT8) and there must be exactly N x n_features of them. The
matrix then goes through the same check as native predict input (``validation.check_matrix``:
bounds, whole numbers for integer features).

numpy types the whole tensor at once when the body holds no ``true``/``false`` (it would
take booleans for numbers silently); anything it does not type as numbers, and every body
with a boolean in it, goes through the exact checks, which name the offending element.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from service import jsonio
from service.errors import MalformedRequest, TooLarge
from service.validation import as_floats

SMALL = 64  # values: below this the exact checks in plain Python cost less than numpy's calls
INT_RANGES = {"INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 255)}
FLOAT_TYPES = ("FP32", "FP64")


@functools.lru_cache(maxsize=256)
def accepted_datatypes(spec) -> tuple[str, ...]:
    """The datatypes a model's input can arrive in: any number type for an integer input
    (whose bounds fit it), FP32 and FP64 for a real one. (A spec is immutable: asked once.)"""
    if spec.dtype != "int":
        return FLOAT_TYPES
    fits = [t for t, (lo, hi) in INT_RANGES.items() if all(lo <= b <= hi for b in (*spec.low, *spec.high)
                                                           if math.isfinite(b))]
    return (*FLOAT_TYPES, *fits)


def matrix_of(tensor: dict, spec, model_name: str, max_rows: int, may_hold_booleans: bool = True) -> np.ndarray:
    """``tensor`` (of the InputTensor schema's shape) -> a float64 matrix (N, n_features) of
    numbers of its datatype; MalformedRequest (400) names what is wrong, TooLarge (413) a
    tensor of more than ``max_rows`` rows. Bounds are the caller's (``validation.check_matrix``)."""
    datatype, (n, k), data = tensor["datatype"], tensor["shape"], tensor["data"]
    want = spec.n_features
    if datatype not in accepted_datatypes(spec):
        raise MalformedRequest(f"model {model_name} takes {', '.join(accepted_datatypes(spec))} input, "
                               f"not {datatype}")
    if k != want or n < 1:
        raise MalformedRequest(f"input shape must be [N, {want}] with N >= 1 ({', '.join(spec.features)}), "
                               f"got [{n}, {k}]")
    if n > max_rows:
        raise TooLarge(f"input has {n} rows; at most {max_rows} are allowed in one request, send the rest in "
                       "further requests")
    if not may_hold_booleans and n * k > SMALL:
        X = _typed_by_numpy(data, n, k, datatype)
        if X is not None:
            return X
    flat = _flat_values(data, n, k)
    _check_values(flat, datatype)
    return as_floats(flat).reshape(n, k)


def _typed_by_numpy(data: list, n: int, k: int, datatype: str) -> np.ndarray | None:
    """The data as an (n, k) float64 matrix when numpy types it as numbers of the right count
    and shape, each a number of ``datatype``; None for anything the exact checks must name."""
    try:
        A = np.array(data)
    except (ValueError, OverflowError):
        return None
    if A.dtype.kind not in "if" or A.shape not in ((n * k,), (n, k)):
        return None
    if datatype in INT_RANGES:
        lo, hi = INT_RANGES[datatype]
        if A.dtype.kind == "f" and not np.array_equal(A, np.trunc(A)):
            return None  # a fraction (or NaN, inf): named by the exact check
        if A.size and (A.min() < lo or A.max() > hi):
            return None
    return A.astype(np.float64).reshape(n, k)


def _flat_values(data: list, n: int, k: int) -> list:
    """The tensor's values row-major, its layout (flat, or n rows of k) checked."""
    if data and all(isinstance(row, list) for row in data):
        flat = [v for row in data for v in row]
        if len(data) != n or any(len(row) != k for row in data):
            raise MalformedRequest(f"input data given as rows must be {n} rows of {k} values, as its shape says")
    elif any(isinstance(v, list) for v in data):
        bad = next(i for i, v in enumerate(data) if isinstance(v, list) != isinstance(data[0], list))
        raise MalformedRequest(f"input data must be flat (row-major) or a list of rows, not both: element {bad} "
                               f"is {jsonio.kind(data[bad])}, element 0 is {jsonio.kind(data[0])}")
    else:
        flat = data
    if len(flat) != n * k:
        raise MalformedRequest(f"input data holds {len(flat)} values but shape [{n}, {k}] needs {n * k}")
    return flat


def _check_values(flat: list, datatype: str) -> None:
    for i, v in enumerate(flat):
        if type(v) not in (int, float):
            raise MalformedRequest(f"input data element {i} is {jsonio.described(v)}, not a number of datatype "
                                   f"{datatype}")
    if datatype in INT_RANGES:
        lo, hi = INT_RANGES[datatype]
        for i, v in enumerate(flat):
            if (type(v) is float and not v.is_integer()) or not lo <= v <= hi:
                raise MalformedRequest(f"input data element {i} is {jsonio.text(v)}, not a {datatype} "
                                       f"(a whole number from {lo} to {hi})")
