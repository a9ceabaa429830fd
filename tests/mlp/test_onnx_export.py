"""ONNX export: every activation and every output kind gives onnxruntime's answers equal to
``predict_proba`` / ``forward`` on 10,000 raw rows (|Δp| <= 1e-5, the same label on every row;
regressors within 1e-5 of the output's scale), through a graph of plain tensors."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import mlp
from mlp.activations import ACTIVATIONS, Activation, get_activation
from mlp.onnx_export import IR_VERSION, OPSET, ExportError, to_onnx

TOLERANCE = 1e-5
PARAMS = {"leaky_relu": {"alpha": 0.1}, "elu": {"alpha": 0.7}, "parametric_elu": {"alpha": 1.5, "beta": 0.8},
          "swish": {"alpha": 1.3}}
HIDDEN = sorted(set(ACTIVATIONS) - {"softmax"})  # softmax is an output, tested as one
# output kind -> (output activation, loss, units, labels)
OUTPUTS = {
    "softmax": ("softmax", "categorical_crossentropy", 3, ["a", "b", "c"]),
    "one_sigmoid": ("sigmoid", "binary_crossentropy", 1, ["no", "yes"]),
    "several_sigmoids": ("sigmoid", "binary_crossentropy", 3, ["a", "b", "c"]),
    "linear_scores": ("linear", "mse", 3, ["a", "b", "c"]),
    "tanh_scores": ("tanh", None, 3, ["a", "b", "c"]),  # the original project's models: no loss
    "regressor": ("linear", "mse", 2, None),
}
LOW, HIGH = np.array([0, -5, 500, 0]), np.array([255, 5, 3000, 1])


def rows(n=10_000, seed=0) -> np.ndarray:
    """Raw rows of very different scales (the normalisation inside the graph must undo them), in FP32
    as the graph takes them."""
    return np.random.default_rng(seed).uniform(LOW, HIGH, size=(n, 4)).astype(np.float32)


def network(hidden: str, kind: str, dtype: str = "float32") -> mlp.Network:
    out, loss, units, labels = OUTPUTS[kind]
    trainable = get_activation(hidden, PARAMS.get(hidden)).differentiable
    cfg = mlp.NetworkConfig(hidden=(16, 16), activation=hidden if trainable else "relu",
                            activation_params=PARAMS.get(hidden, {}) if trainable else {},
                            output=out if loss else "linear", loss=loss or "mse", dtype=dtype)
    net = mlp.Network.build(cfg, 4, units, labels=labels, seed=7)
    layers = net.layers
    if not trainable:  # sign and step run imported models only: put them in by hand
        layers = [*(mlp.Dense(la.W, la.b, get_activation(hidden)) for la in layers[:-1]), layers[-1]]
    if loss is None:
        layers = [*layers[:-1], mlp.Dense(layers[-1].W, layers[-1].b, get_activation(out))]
    rng = np.random.default_rng(1)
    for la in layers:  # non-zero biases, so they are exercised too
        la.b[...] = rng.normal(0, 0.3, la.b.shape)
    sample = rows(2000, seed=9).astype(np.float64)
    return mlp.Network(layers, loss=mlp.losses.get_loss(loss) if loss else None, labels=labels,
                       normalizer=mlp.Normalizer.standard(sample), dtype=dtype,
                       target_normalizer=mlp.Normalizer([150.0, -3.0], [40.0, 2.0]) if labels is None else None)


def assert_same_labels(label: np.ndarray, proba: np.ndarray) -> None:
    """The graph's label is numpy's argmax on every row; where the top two probabilities lie within
    the promised precision of each other (a near tie), rounding
    in another BLAS or ONNX Runtime kernel may pick either, so there it must pick one of them."""
    expected = proba.argmax(axis=1)
    top = proba.max(axis=1)
    tied = np.sum(proba >= (top - TOLERANCE)[:, None], axis=1) > 1
    np.testing.assert_array_equal(label[~tied], expected[~tied])
    picked = proba[np.arange(len(proba)), label]
    assert np.all(picked[tied] >= top[tied] - TOLERANCE)


def run(net: mlp.Network, X: np.ndarray, **metadata) -> list[np.ndarray]:
    session = ort.InferenceSession(to_onnx(net, metadata=metadata), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": X})


def assert_parity(net: mlp.Network, X: np.ndarray) -> None:
    if net.is_classifier:
        proba, label = run(net, X)
        expected = net.predict_proba(X)
        assert proba.dtype == np.float32 and label.dtype == np.int64
        assert np.max(np.abs(proba - expected)) <= TOLERANCE
        assert_same_labels(label, expected)
    else:
        (value,) = run(net, X)
        expected = net.forward(X).astype(np.float64)
        assert value.dtype == np.float32 and value.shape == expected.shape
        scale = np.abs(expected).max(axis=0)  # float32 holds ~7 digits of the output's magnitude
        assert np.max(np.abs(value - expected) / scale) <= TOLERANCE


def test_every_activation_has_a_parity_case():
    assert set(HIDDEN) | {"softmax"} == set(ACTIVATIONS)


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_onnxruntime_matches_the_network(hidden, kind):
    assert_parity(network(hidden, kind), rows())


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
@pytest.mark.parametrize("hidden", ["tanh", "relu", "mish", "gelu", "step"])
def test_a_float64_network_is_computed_in_float64(hidden, kind):
    net = network(hidden, kind, dtype="float64")
    X = rows()
    assert_parity(net, X)
    if net.is_classifier:  # closer than float32 arithmetic could be: only the final cast to FP32 differs
        proba, _ = run(net, X)
        assert np.max(np.abs(proba - net.predict_proba(X))) <= 1e-7


def test_the_graph_has_one_input_and_plain_tensor_outputs():
    model = onnx.load_from_string(to_onnx(network("relu", "softmax"), metadata={"name": "m", "version": 3,
                                                                                "task": None}))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert "ZipMap" not in {n.op_type for n in model.graph.node}

    def shape(value_info):
        t = value_info.type.tensor_type
        return t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim]

    assert [(i.name, shape(i)) for i in model.graph.input] == [("input", (onnx.TensorProto.FLOAT, ["N", 4]))]
    assert [(o.name, shape(o)) for o in model.graph.output] == [
        ("probabilities", (onnx.TensorProto.FLOAT, ["N", 3])), ("label", (onnx.TensorProto.INT64, ["N"]))]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props.pop("labels")) == ["a", "b", "c"]
    assert json.loads(props.pop("features")) == ["x0", "x1", "x2", "x3"]
    assert props == {"kind": "classifier", "name": "m", "version": "3"}  # a task of None is left out


def test_a_regressor_answers_value_only():
    model = onnx.load_from_string(to_onnx(network("tanh", "regressor")))
    assert [o.name for o in model.graph.output] == ["value"]
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == ["N", 2]
    assert {p.key: p.value for p in model.metadata_props}["kind"] == "regressor"


def test_ties_pick_the_first_class_as_numpy_does():
    net = network("step", "softmax")
    for la in net.layers:
        la.W[...] = 0.0
        la.b[...] = 0.0
    net.weights_changed()
    proba, label = run(net, rows(100))
    np.testing.assert_array_equal(proba, np.full((100, 3), 1 / 3, dtype=np.float32))
    assert not label.any()


class Cube(Activation):
    name = "cube"

    def forward(self, z):
        return z**3


def test_an_activation_it_cannot_export_is_refused_by_name():
    net = network("relu", "softmax")
    net.layers[0].activation = Cube()
    with pytest.raises(ExportError, match="activation 'cube' cannot be exported to ONNX"):
        to_onnx(net)


def test_without_the_onnx_package_the_error_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # what `import onnx` meets where it is not installed
    with pytest.raises(ExportError, match=r"ONNX export needs the onnx package: pip install onnx"):
        to_onnx(network("relu", "softmax"))
