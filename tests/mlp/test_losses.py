"""Losses: fused gradients match numerical ones, values are stable, bad pairs are refused."""

import numpy as np
import pytest

import mlp
from mlp.activations import get_activation
from mlp.losses import LOSSES, get_loss

CASES = {
    "mse": ("linear", lambda rng: rng.normal(size=(6, 3))),
    "mae": ("linear", lambda rng: rng.normal(size=(6, 3))),
    "binary_crossentropy": ("sigmoid", lambda rng: rng.integers(0, 2, size=(6, 3)).astype(float)),
    "categorical_crossentropy": ("softmax", lambda rng: np.eye(3)[rng.integers(0, 3, 6)]),
}


def test_every_loss_is_covered():
    assert set(CASES) == set(LOSSES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_gradient_matches_numerical(name):
    out_name, make_target = CASES[name]
    loss, act = get_loss(name), get_activation(out_name)
    rng = np.random.default_rng(1)
    z, t = rng.normal(size=(6, 3)), make_target(rng)
    analytic = loss.backward(z, act.forward(z), t)
    eps = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        numeric[idx] = (loss.forward(zp, act.forward(zp), t) - loss.forward(zm, act.forward(zm), t)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_known_values():
    z = np.array([[0.0, 0.0]])
    t = np.array([[1.0, 0.0]])
    assert get_loss("categorical_crossentropy").forward(z, None, t) == pytest.approx(np.log(2))
    assert get_loss("binary_crossentropy").forward(z, None, t) == pytest.approx(2 * np.log(2))
    a = np.array([[1.0, 3.0]])
    assert get_loss("mse").forward(a, a, np.array([[0.0, 0.0]])) == pytest.approx(5.0)
    assert get_loss("mae").forward(a, a, np.array([[0.0, 0.0]])) == pytest.approx(4.0)


def test_cross_entropies_are_finite_for_extreme_logits():
    z = np.array([[1000.0, -1000.0]])
    t = np.array([[0.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        cce = get_loss("categorical_crossentropy").forward(z, None, t)
        bce = get_loss("binary_crossentropy").forward(z, None, t)
    assert cce == pytest.approx(2000.0)
    assert bce == pytest.approx(2000.0)


@pytest.mark.parametrize(
    ("output", "loss"),
    [("sigmoid", "mse"), ("softmax", "binary_crossentropy"), ("linear", "categorical_crossentropy"),
     ("tanh", "mse")],
)
def test_mismatched_output_and_loss_are_refused_when_built(output, loss):
    with pytest.raises(mlp.ConfigError, match="the pairs that work are: linear \\+ mse"):
        mlp.NetworkConfig(output=output, loss=loss)
