"""Every activation's derivative matches a numerical gradient; values match their formulas."""

import math

import numpy as np
import pytest

import mlp
from mlp.activations import ACTIVATIONS, get_activation

TRAINABLE = {
    "linear": {}, "sigmoid": {}, "tanh": {}, "relu": {}, "leaky_relu": {"alpha": 0.1},
    "elu": {"alpha": 0.7}, "parametric_elu": {"alpha": 1.5, "beta": 0.8}, "selu": {},
    "swish": {"alpha": 1.3}, "gelu": {}, "mish": {}, "softmax": {},
}


def test_every_registered_activation_is_covered():
    assert set(ACTIVATIONS) == set(TRAINABLE) | {"sign", "step"}


@pytest.mark.parametrize("name", sorted(TRAINABLE))
def test_backward_matches_numerical_gradient(name):
    act = get_activation(name, TRAINABLE[name])
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, size=(5, 4))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the kinks of relu-like functions
    g = rng.normal(size=z.shape)  # an upstream gradient: checks the vector-Jacobian product
    analytic = act.backward(z, act.forward(z), g)
    eps = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        numeric[idx] = np.sum(g * (act.forward(zp) - act.forward(zm))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("name", "params", "x", "expected"),
    [
        ("sigmoid", {}, 0.0, 0.5),
        ("tanh", {}, 1.0, math.tanh(1.0)),
        ("relu", {}, -2.0, 0.0),
        ("leaky_relu", {}, -2.0, -0.02),
        ("elu", {"alpha": 2.0}, -1.0, 2.0 * (math.exp(-1) - 1)),
        ("parametric_elu", {"alpha": 1.5, "beta": 0.5}, 2.0, 3.0),
        ("parametric_elu", {"alpha": 1.5, "beta": 0.5}, -1.0, 0.5 * (math.exp(-1) - 1)),
        ("selu", {}, 1.0, 1.05070098),
        ("swish", {}, 1.0, 1.0 / (1 + math.exp(-1))),
        ("gelu", {}, 1.0, 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))),
        ("mish", {}, 1.0, math.tanh(math.log1p(math.e))),
        ("sign", {}, -3.0, -1.0),
        ("step", {}, 0.0, 0.5),
        ("step", {}, 0.1, 1.0),
    ],
)
def test_known_values(name, params, x, expected):
    out = get_activation(name, params).forward(np.array([[x]]))
    assert out[0, 0] == pytest.approx(expected, rel=1e-7)


def test_sigmoid_and_softmax_do_not_overflow():
    z = np.array([[-1000.0, 0.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = get_activation("sigmoid").forward(z)
        p = get_activation("softmax").forward(z)
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(p, [[0.0, 0.0, 1.0]])


def test_forward_only_activations_refuse_backward():
    with pytest.raises(mlp.ConfigError, match="cannot be trained"):
        get_activation("step").backward(np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", None, "unknown activation 'nope'"),
        ("elu", {"beta": 1}, "unexpected parameters"),
        ("leaky_relu", {"alpha": float("nan")}, "finite number"),
        ("swish", {"alpha": True}, "finite number"),
    ],
)
def test_bad_activation_specs_are_refused(name, params, message):
    with pytest.raises(mlp.ConfigError, match=message):
        get_activation(name, params)


def test_float32_stays_float32():
    z = np.ones((2, 3), dtype=np.float32)
    for name, params in TRAINABLE.items():
        act = get_activation(name, params)
        a = act.forward(z)
        assert a.dtype == np.float32, name
        assert act.backward(z, a, z).dtype == np.float32, name


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_into_equals_forward(name, dtype):
    act = get_activation(name, TRAINABLE.get(name, {}))
    z = np.random.default_rng(1).normal(0, 3, size=(6, 4)).astype(dtype)
    expected = act.forward(z.copy())
    got = act.forward_into(z.copy())
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
