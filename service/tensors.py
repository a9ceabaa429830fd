"""A V2 input tensor as rows: its shape, datatype and data checked against each other.

The data may be flat (row-major, as the protocol and tritonclient send it) or nested in
rows; either way every value must be a number of the tensor's datatype (a whole number in
range for INT32, INT64 and UINT8) and there must be exactly N x n_features of them. The
rows then go through the same check as native predict input (``dataplane.check_rows``).
"""

from __future__ import annotations

import math

from service.errors import MalformedRequest

INT_RANGES = {"INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 255)}
FLOAT_TYPES = ("FP32", "FP64")


def accepted_datatypes(spec) -> list[str]:
    """The datatypes a model's input can arrive in: any number type for an integer input
    (whose bounds fit it), FP32 and FP64 for a real one."""
    if spec.dtype != "int":
        return list(FLOAT_TYPES)
    fits = [t for t, (lo, hi) in INT_RANGES.items() if all(lo <= b <= hi for b in (*spec.low, *spec.high)
                                                           if math.isfinite(b))]
    return [*FLOAT_TYPES, *fits]


def rows_of(tensor: dict, spec, model_name: str) -> list[list]:
    """``tensor`` (loaded by the InputTensor schema) -> rows of ``spec.n_features`` numbers."""
    datatype, (n, k), data = tensor["datatype"], tensor["shape"], tensor["data"]
    want = spec.n_features
    if datatype not in accepted_datatypes(spec):
        raise MalformedRequest(f"model {model_name} takes {', '.join(accepted_datatypes(spec))} input, "
                               f"not {datatype}")
    if k != want or n < 1:
        raise MalformedRequest(f"input shape must be [N, {want}] with N >= 1 ({', '.join(spec.features)}), "
                               f"got [{n}, {k}]")
    if data and all(isinstance(row, list) for row in data):
        flat = [v for row in data for v in row]
        if len(data) != n or any(len(row) != k for row in data):
            raise MalformedRequest(f"input data given as rows must be {n} rows of {k} values, as its shape says")
    elif any(isinstance(v, list) for v in data):
        bad = next(i for i, v in enumerate(data) if isinstance(v, list) != isinstance(data[0], list))
        raise MalformedRequest(f"input data must be flat (row-major) or a list of rows, not both: element {bad} "
                               f"is {type(data[bad]).__name__}, element 0 is {type(data[0]).__name__}")
    else:
        flat = data
    if len(flat) != n * k:
        raise MalformedRequest(f"input data holds {len(flat)} values but shape [{n}, {k}] needs {n * k}")
    _check_values(flat, datatype)
    return [flat[i:i + k] for i in range(0, len(flat), k)]


def _check_values(flat: list, datatype: str) -> None:
    for i, v in enumerate(flat):
        if type(v) not in (int, float):
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:40] + "..."
            raise MalformedRequest(f"input data element {i} is {shown}, not a number of datatype {datatype}")
    if datatype in INT_RANGES:
        lo, hi = INT_RANGES[datatype]
        for i, v in enumerate(flat):
            if (type(v) is float and not v.is_integer()) or not lo <= v <= hi:
                raise MalformedRequest(f"input data element {i} is {v!r}, not a {datatype} "
                                       f"(a whole number from {lo} to {hi})")
