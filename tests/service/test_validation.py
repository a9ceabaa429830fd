"""to_matrix: numpy's one-shot typing (taken when the JSON text holds no booleans) accepts
and refuses exactly what the exact, cell-by-cell checks do, with the same messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlp import InputSpec
from service.validation import InputError, to_matrix

RGB = InputSpec(features=("r", "g", "b"), dtype="int", low=(0, 0, 0), high=(255, 255, 255))
PLANE = InputSpec(features=("x", "y"), dtype="float", low=(-5, -5), high=(5, 5))
OPEN = InputSpec(features=("x", "y"), dtype="float")

CASES = [
    (RGB, [[255, 0, 0], [12, 200, 40]]),
    (RGB, [[255, 0, 0.0]]),
    (RGB, [[255, 0, 0.5]]),
    (RGB, [[255, 0, "0"]]),
    (RGB, [[255, 0, None]]),
    (RGB, [[255, 0], [1, 2, 3]]),
    (RGB, [[255, 0, 0, 0]]),
    (RGB, [[[255], 0, 0]]),
    (RGB, [[256, 0, 0]]),
    (RGB, [[-1, 0, 0]]),
    (RGB, [[2**70, 0, 0]]),
    (RGB, [[2**63, 0, 0]]),
    (RGB, [[]]),
    (RGB, [{"r": 1, "g": 2, "b": 3}]),
    (RGB, [[1, 2, 3], {"r": 1, "g": 2, "b": 3}]),
    (PLANE, [[1, 2.5], [-5, 5]]),
    (PLANE, [[1, 5.0001]]),
    (PLANE, [[1, "2"]]),
    (OPEN, [[1e308, -1e308]]),
    (OPEN, [[math.inf, 0]]),
]


def _outcome(rows, spec, **kw):
    try:
        return ("ok", to_matrix(rows, spec, 100, **kw).tolist())
    except InputError as e:
        return ("error", e.status, str(e), e.errors)


@pytest.mark.parametrize(("spec", "rows"), CASES, ids=[str(c[1])[:40] for c in CASES])
def test_fast_and_exact_paths_agree(spec, rows):
    assert _outcome(rows, spec, may_hold_booleans=False) == _outcome(rows, spec, may_hold_booleans=True)


def test_booleans_are_refused_on_the_exact_path():
    with pytest.raises(InputError, match=r"true \(a boolean\) is not a number"):
        to_matrix([[True, 0, 0]], RGB, 100, may_hold_booleans=True)
    # The fast path would have taken it as 1: that is why callers only skip the exact
    # path when the JSON text holds no true or false.
    assert np.array([[True, 0, 0]]).dtype.kind == "i"


def test_an_error_echoes_a_few_unknown_keys_and_counts_the_rest():
    row = {f"k{i:06d}": 1 for i in range(150_000)} | {"x" * 1000: 1, "r": 1}
    with pytest.raises(InputError) as e:
        to_matrix([row], RGB, 100)
    shown = "['k000000', 'k000001', 'k000002', 'k000003', 'k000004'] and 149,996 more"
    assert str(e.value) == f"row 0: unknown field(s) {shown}; missing ['g', 'b']; the features are r, g, b"
    assert e.value.errors == [{"field": "inputs", "row": 0, "column": None, "feature": None,
                               "message": f"unknown field(s) {shown}; missing ['g', 'b']"}]


def test_a_long_unknown_key_is_cut_short():
    with pytest.raises(InputError) as e:
        to_matrix([{"r": 1, "g": 2, "b": 3, "y" * 10_000: 4}], RGB, 100)
    assert str(e.value) == f"row 0: unknown field(s) ['{'y' * 64}...']; the features are r, g, b"
