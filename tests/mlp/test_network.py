"""The network: a hand-worked known answer, shapes, probabilities, folded inference."""

import numpy as np
import pytest

import mlp
from mlp.activations import get_activation
from mlp.layers import Dense, Normalizer


def tiny() -> mlp.Network:
    """2 -> 2 (relu) -> 2 (softmax) with weights chosen to work out by hand."""
    l1 = Dense(np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([0.0, 1.0]), get_activation("relu"))
    l2 = Dense(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, 0.0]), get_activation("softmax"))
    return mlp.Network([l1, l2], loss=mlp.losses.get_loss("categorical_crossentropy"),
                       labels=["a", "b"], dtype="float64")


def test_known_answer_forward_and_gradients():
    net = tiny()
    x = np.array([[1.0, 1.0]])
    # z1 = [1*1 + 1*2, 1*-1 + 1*0.5 + 1] = [3, 0.5]; relu keeps both.
    # softmax([3, 0.5]) = [1, e^-2.5] / (1 + e^-2.5)
    p_a = 1 / (1 + np.exp(-2.5))
    np.testing.assert_allclose(net.predict_proba(x), [[p_a, 1 - p_a]])
    assert list(net.predict(x)) == ["a"]
    zs, acts = net.forward_train(x)
    loss, _ = net.backward(zs, acts, np.array([[0.0, 1.0]]))
    assert loss == pytest.approx(-np.log(1 - p_a))
    # dL/dz2 = p - t = [p_a, -p_a]; dL/dW2 = a1^T (p - t)
    g = net._grad_views
    np.testing.assert_allclose(g[2], [[3 * p_a, -3 * p_a], [0.5 * p_a, -0.5 * p_a]])
    np.testing.assert_allclose(g[3], [p_a, -p_a])
    # dL/da1 = (p - t) W2^T = [p_a, -p_a]; relu passes it; dL/dW1 = x^T delta
    np.testing.assert_allclose(g[0], [[p_a, -p_a], [p_a, -p_a]])
    np.testing.assert_allclose(g[1], [p_a, -p_a])


def test_whole_network_gradient_matches_numerical():
    cfg = mlp.NetworkConfig(hidden=(5, 4), activation="tanh", dtype="float64")
    net = mlp.Network.build(cfg, 3, 3, seed=0, labels=["x", "y", "z"])
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(7, 3)), np.eye(3)[rng.integers(0, 3, 7)]
    zs, acts = net.forward_train(x)
    _, (grad,) = net.backward(zs, acts, t)
    grad = grad.copy()
    eps = 1e-6
    for i in rng.choice(net.theta.size, 20, replace=False):
        old = net.theta[i]
        net.theta[i] = old + eps
        zs, acts = net.forward_train(x)
        up = net.loss.forward(zs[-1], acts[-1], t)
        net.theta[i] = old - eps
        zs, acts = net.forward_train(x)
        down = net.loss.forward(zs[-1], acts[-1], t)
        net.theta[i] = old
        assert grad[i] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-8)


def test_folded_normalisation_equals_explicit_normalisation():
    cfg = mlp.NetworkConfig(hidden=(8,), activation="swish", dtype="float64")
    net = mlp.Network.build(cfg, 3, 2, seed=1, labels=["a", "b"])
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(50, 3))
    net.normalizer = Normalizer.standard(X)
    net.weights_changed()
    _, acts = net.forward_train(net.normalize(X))
    np.testing.assert_allclose(net.predict_proba(X), acts[-1], rtol=1e-10)


def test_predict_shapes_and_label_order():
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(4,)), 2, 3, labels=["q", "r", "s"])
    X = np.zeros((5, 2))
    proba = net.predict_proba(X)
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    pred = net.predict(X)
    assert pred.shape == (5,)
    assert all(p == net.labels[i] for p, i in zip(pred, proba.argmax(axis=1)))


def test_regressor_predict_returns_values_and_refuses_proba():
    cfg = mlp.NetworkConfig(hidden=(4,), output="linear", loss="mse")
    net = mlp.Network.build(cfg, 2, 1)
    assert net.predict(np.zeros((3, 2))).shape == (3,)
    with pytest.raises(mlp.ConfigError, match="regressor"):
        net.predict_proba(np.zeros((3, 2)))


def test_single_sigmoid_unit_gives_two_columns():
    cfg = mlp.NetworkConfig(hidden=(4,), output="sigmoid", loss="binary_crossentropy")
    net = mlp.Network.build(cfg, 2, 1, labels=["no", "yes"])
    p = net.predict_proba(np.ones((4, 2)))
    assert p.shape == (4, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": (16, 0)}, "hidden sizes must be whole numbers > 0, got \\[16, 0\\]"),
        ({"hidden": (2.5,)}, "hidden sizes"),
        ({"activation": "step"}, "cannot be trained"),
        ({"init": "bogus"}, "unknown initialiser"),
        ({"dtype": "float16"}, "dtype must be one of"),
    ],
)
def test_bad_network_configs_are_refused(kwargs, message):
    with pytest.raises(mlp.ConfigError, match=message):
        mlp.NetworkConfig(**kwargs)


def test_wrong_input_width_is_refused():
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(4,)), 3, 2, labels=["a", "b"])
    with pytest.raises(mlp.ConfigError, match=r"shape \(n, 3\)"):
        net.predict(np.zeros((2, 4)))


@pytest.mark.parametrize("name", sorted(mlp.INITIALIZERS))
def test_initialisers_are_seeded_and_shaped(name):
    init = mlp.initializers.get_initializer(name)
    a = init(np.random.default_rng(3), 4, 5, "float32")
    b = init(np.random.default_rng(3), 4, 5, "float32")
    assert a.shape == (4, 5) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)



@pytest.mark.parametrize("activation", sorted(a for a in mlp.ACTIVATIONS if a not in ("softmax", "sign", "step")))
def test_a_rows_answer_does_not_depend_on_its_batch_beyond_float32(activation):
    # The BLAS picks a kernel by the batch's shape and the CPU (OPENBLAS_CORETYPE), so a row
    # alone and the same row among others may differ in the last bits: BATCH_TOLERANCE, times
    # the row's largest output (at least 1), is what the library promises. CI runs this under
    # several CPUs' kernels. Inputs of unit scale, as the network's own normalisation makes them.
    rng = np.random.default_rng(7)
    X = rng.normal(0, 1, size=(257, 5))

    def within_tolerance(parts, whole):
        scale = np.maximum(1, np.abs(whole).max(axis=1, keepdims=True))
        assert (np.abs(parts - whole) / scale).max() <= mlp.BATCH_TOLERANCE

    for hidden in ((64, 64), (128, 128, 128)):
        net = mlp.Network.build(mlp.NetworkConfig(hidden=hidden, activation=activation, output="softmax"), 5, 4,
                                seed=3, labels=["a", "b", "c", "d"])
        whole = net.predict_proba(X)
        for size in (1, 2, 3, 8, 64):
            within_tolerance(np.vstack([net.predict_proba(X[i:i + size]) for i in range(0, len(X), size)]), whole)
        reg = mlp.Network.build(mlp.NetworkConfig(hidden=hidden, activation=activation, output="linear", loss="mse"),
                                5, 3, seed=3)
        whole = reg.forward(X)
        within_tolerance(np.vstack([reg.forward(X[i:i + 1]) for i in range(len(X))]), whole)
