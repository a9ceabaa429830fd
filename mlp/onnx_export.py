"""A network as an ONNX graph: raw rows in, plain tensors out.

``to_onnx(network, metadata={...})`` returns the serialized ``ModelProto``:

- one input ``input``, FP32 ``[N, n_features]``, taking raw rows as the service does: the
  input normalisation (and a regressor's target normalisation) is folded into the first and
  last layers' weights exactly as ``Network.forward`` folds them, so both run the same numbers;
- a classifier answers ``probabilities`` FP32 ``[N, n_classes]`` (columns in the order of
  the labels, mapped from the output layer as ``network.scores_to_proba`` maps them) and
  ``label`` INT64 ``[N]`` (the index of the largest probability, the first on a tie, as
  numpy's argmax); a regressor answers ``value`` FP32 ``[N, n_outputs]``. Never ZipMap or
  sequences: Triton and most runtimes take only tensors.
- a float64 network computes in float64 inside the graph and casts its outputs to FP32, so
  it matches ``predict_proba`` number for number; a float32 network computes in float32.
- the labels, features, output kind and the caller's ``metadata`` (name, version, task)
  are the model's ``metadata_props``; strings as they are, anything else as JSON.

``OPSET`` is 17 with IR version 8 (ONNX 1.12): every ONNX Runtime since 1.12, and so the
ONNX Runtime backend of every Triton release since 22.07, loads it. Activations that opset
lacks (swish, gelu, mish, parametric_elu, step) are built from its operators; one this
module does not know is refused with an ``ExportError`` naming it. ``onnx`` is imported
only when a graph is built.
"""

from __future__ import annotations

import json

import numpy as np

from mlp.activations import (
    ELU,
    GELU,
    SELU,
    Activation,
    LeakyReLU,
    Linear,
    Mish,
    ParametricELU,
    ReLU,
    Sigmoid,
    Sign,
    Softmax,
    Step,
    Swish,
    Tanh,
)
from mlp.errors import MLPError
from mlp.network import Network

OPSET = 17
IR_VERSION = 8
INPUT = "input"
PROBABILITIES, LABEL, VALUE = "probabilities", "label", "value"


class ExportError(MLPError):
    """A network that cannot be written as ONNX (an activation it has no operators for), or
    no ``onnx`` package to write it with."""


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install onnx") from None
    return onnx


class _Graph:
    """Nodes and constants in the compute dtype; each method returns its output's name."""

    def __init__(self, onnx, dtype: np.dtype):
        self.onnx = onnx
        self.dtype = dtype
        self.nodes, self.initializers = [], []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint: str = "c", dtype=None) -> str:
        name = self._name(hint)
        array = np.asarray(value, dtype=dtype or self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, output: str | None = None, **attrs) -> str:
        out = output or self._name(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    # the arithmetic the activations are written in
    def mul(self, a, b):
        return self.op("Mul", a, b)

    def add(self, a, b):
        return self.op("Add", a, b)

    def where_positive(self, x, then, otherwise):
        return self.op("Where", self.op("Greater", x, self.const(0.0)), then, otherwise)

    def expm1_of_min0(self, x):
        # e^min(z, 0) - 1: the negative branch of the elu family, finite for every z
        return self.op("Sub", self.op("Exp", self.op("Min", x, self.const(0.0))), self.const(1.0))


# -- activations: one builder per class, each the graph form of its ``forward`` --------------

def _sigmoid(g: _Graph, x: str) -> str:
    return g.op("Sigmoid", x)


def _leaky_relu(g: _Graph, x: str, act: LeakyReLU) -> str:
    return g.where_positive(x, x, g.mul(x, g.const(act.alpha)))


def _elu(g: _Graph, x: str, act: ELU) -> str:
    return g.where_positive(x, x, g.mul(g.const(act.alpha), g.expm1_of_min0(x)))


def _parametric_elu(g: _Graph, x: str, act: ParametricELU) -> str:
    return g.where_positive(x, g.mul(g.const(act.alpha), x), g.mul(g.const(act.beta), g.expm1_of_min0(x)))


def _selu(g: _Graph, x: str, act: SELU) -> str:
    return g.mul(g.const(act.scale), _elu(g, x, ELU(act.alpha)))


def _swish(g: _Graph, x: str, act: Swish) -> str:
    return g.mul(x, _sigmoid(g, g.mul(g.const(act.alpha), x)))


def _gelu(g: _Graph, x: str, act: GELU) -> str:
    # the tanh approximation mlp.activations.GELU computes (opset 20's Gelu is newer than OPSET)
    cube = g.mul(g.mul(x, x), x)
    inner = g.mul(g.const(np.sqrt(2.0 / np.pi)), g.add(x, g.mul(g.const(0.044715), cube)))
    return g.mul(g.mul(g.const(0.5), x), g.add(g.const(1.0), g.op("Tanh", inner)))


def _softplus(g: _Graph, x: str) -> str:
    # max(z, 0) + log(1 + e^-|z|): never overflows (ONNX's Softplus is log(e^z + 1))
    tail = g.op("Log", g.add(g.const(1.0), g.op("Exp", g.op("Neg", g.op("Abs", x)))))
    return g.add(g.op("Relu", x), tail)


def _mish(g: _Graph, x: str, act: Mish) -> str:
    return g.mul(x, g.op("Tanh", _softplus(g, x)))


def _step(g: _Graph, x: str, act: Step) -> str:
    return g.where_positive(x, g.const(1.0), g.const(0.5))


ACTIVATION_BUILDERS = {
    Linear: lambda g, x, act: x,
    Sigmoid: lambda g, x, act: _sigmoid(g, x),
    Tanh: lambda g, x, act: g.op("Tanh", x),
    ReLU: lambda g, x, act: g.op("Relu", x),
    LeakyReLU: _leaky_relu,
    ELU: _elu,
    ParametricELU: _parametric_elu,
    SELU: _selu,
    Swish: _swish,
    GELU: _gelu,
    Mish: _mish,
    Softmax: lambda g, x, act: g.op("Softmax", x, axis=1),
    Sign: lambda g, x, act: g.op("Sign", x),
    Step: _step,
}


def _activation(g: _Graph, x: str, act: Activation) -> str:
    build = ACTIVATION_BUILDERS.get(type(act))
    if build is None:
        raise ExportError(f"activation {act.name or type(act).__name__!r} cannot be exported to ONNX: "
                          f"this exporter knows {', '.join(sorted(c.name for c in ACTIVATION_BUILDERS))}")
    return build(g, x, act)


def _probabilities(g: _Graph, out: str, output: Activation, k: int) -> str:
    """The graph form of ``mlp.network.scores_to_proba``."""
    if isinstance(output, Softmax):
        return out
    if isinstance(output, Sigmoid) and k == 1:
        return g.op("Concat", g.op("Sub", g.const(1.0), out), out, axis=1)
    if isinstance(output, Tanh):
        half = g.op("Div", g.add(out, g.const(1.0)), g.const(2.0))
        out = g.op("Max", g.op("Min", half, g.const(1.0)), g.const(0.0))
    elif not isinstance(output, Sigmoid):
        return g.op("Softmax", out, axis=1)
    total = g.op("ReduceSum", out, g.const([1], dtype=np.int64), keepdims=1)
    return g.where_positive(total, g.op("Div", out, total), g.const(1.0 / k))


def _prop(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def to_onnx(network: Network, *, metadata: dict | None = None) -> bytes:
    """The network as a serialized, checked ONNX model (see the module docstring).

    ``metadata``: more ``metadata_props`` (name, version, task...); ``None`` values are left out.
    Raises ``ExportError`` for an activation the exporter has no operators for."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    dtype = network.dtype
    g = _Graph(onnx, dtype)
    x = INPUT
    if dtype != np.float32:
        x = g.op("Cast", x, to=helper.np_dtype_to_tensor_dtype(dtype))
    # The layers as Network.forward runs them: the normalisers folded into the weights.
    for i, (W, b, act) in enumerate(network._folded_layers()):
        z = g.add(g.op("MatMul", x, g.const(W, f"W{i}")), g.const(b, f"b{i}"))
        x = _activation(g, z, act)

    def as_fp32(name: str, output: str) -> str:
        if dtype == np.float32:
            return g.op("Identity", name, output=output)
        return g.op("Cast", name, output=output, to=TensorProto.FLOAT)

    n = "N"
    if network.is_classifier:
        k = len(network.labels)
        proba = _probabilities(g, x, network.layers[-1].activation, network.n_outputs)
        g.op("ArgMax", proba, output=LABEL, axis=1, keepdims=0)  # before the cast, as predict does
        as_fp32(proba, PROBABILITIES)
        outputs = [helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [n, k]),
                   helper.make_tensor_value_info(LABEL, TensorProto.INT64, [n])]
    else:
        as_fp32(x, VALUE)
        outputs = [helper.make_tensor_value_info(VALUE, TensorProto.FLOAT, [n, network.n_outputs])]

    graph = helper.make_graph(
        g.nodes, "tinymlp",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [n, network.n_inputs])],
        outputs, g.initializers,
        doc_string=f"raw rows of {', '.join(network.input_spec.features)} in, "
                   + ("class probabilities and the chosen class's index out" if network.is_classifier
                      else "predicted values out"),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="tinymlp", ir_version=IR_VERSION)
    props = {"kind": "classifier" if network.is_classifier else "regressor",
             "features": list(network.input_spec.features)}
    if network.is_classifier:
        props["labels"] = list(network.labels)
    props.update({k: v for k, v in (metadata or {}).items() if v is not None})
    helper.set_model_props(model, {str(k): _prop(v) for k, v in props.items()})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


__all__ = ["ACTIVATION_BUILDERS", "IR_VERSION", "OPSET", "ExportError", "to_onnx"]
