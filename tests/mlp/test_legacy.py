"""The importer for the original project's format, checked against its real files."""

import json
import math

import numpy as np
import pytest

import mlp

FUNCS = {  # FORMAT.md's table, transcribed one scalar at a time
    "linear": lambda x, p: x,
    "sigmoid": lambda x, p: 1 / (1 + math.exp(-x)),
    "tanh": lambda x, p: math.tanh(x),
    "relu": lambda x, p: max(0.0, x),
    "leaky_relu": lambda x, p: max(p.get("alpha", 0.01) * x, x),
    "elu": lambda x, p: x if x > 0 else p.get("alpha", 1.0) * (math.exp(x) - 1),
    "parametric_elu": lambda x, p: p.get("alpha", 1.0) * x if x > 0 else p.get("beta", 1.0) * (math.exp(x) - 1),
    "selu": lambda x, p: p.get("scale", 1.05070098) * (x if x > 0 else p.get("alpha", 1.67326324) * (math.exp(x) - 1)),
    "swish": lambda x, p: x / (1 + math.exp(-p.get("alpha", 1.0) * x)),
    "gelu": lambda x, p: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "mish": lambda x, p: x * math.tanh(math.log1p(math.exp(x))),
}


def reference_forward(doc, x):
    """The original's per-sample loop, written from FORMAT.md and nothing else."""
    a = list(map(float, x))
    for i in range(len(doc)):
        layer = doc[f"Layer_{i}"]
        if layer["layer_type"] == "input":
            continue
        z = [sum(w * v for w, v in zip(row, a)) + b for row, b in zip(layer["weights"], layer["biases"])]
        name, params = layer["activation_func"], layer.get("activation_params") or {}
        if name == "softmax":
            m = max(z)
            e = [math.exp(v - m) for v in z]
            a = [v / sum(e) for v in e]
        else:
            a = [FUNCS[name](v, params) for v in z]
    return a


def seed_models(seed_dir):
    files = sorted((seed_dir / "models").glob("*.json")) + sorted((seed_dir / "models-later").glob("*.json"))
    assert files, f"no model files under {seed_dir}"
    return files


def test_every_seed_model_imports_and_matches_the_reference(seed_dir):
    rng = np.random.default_rng(0)
    seen = set()
    for path in seed_models(seed_dir):
        doc = json.loads(path.read_text())
        seen |= {layer["activation_func"] for layer in doc.values()}
        net = mlp.load_legacy(path)
        n_in = doc["Layer_0"]["layer_size"]
        X = rng.uniform(-1, 1, size=(5, n_in)) * (255 if "red" in path.name else 3)
        expected = np.array([reference_forward(doc, x) for x in X])
        np.testing.assert_allclose(net.forward(X), expected, rtol=1e-9, atol=1e-12, err_msg=path.name)
    # the seed files between them use these activations; the importer covers them all
    assert seen >= {"leaky_relu", "tanh", "softmax", "selu", "elu", "parametric_elu", "swish", "gelu", "mish"}


def test_legacy_red_classifies_its_own_dataset(seed_dir):
    data = json.loads((seed_dir / "data" / "color_data.json").read_text())
    X = np.array(data["RGB_Values"])
    truth = np.where(np.array(data["Is_Red"])[:, 0] == 1, "red", "not_red")
    net = mlp.load_legacy(seed_dir / "models" / "model_red.json", labels=["red", "not_red"])
    assert np.mean(net.predict(X) == truth) > 0.9


def test_forward_only_and_every_listed_activation_import():
    layers = {"Layer_0": {"layer_type": "input", "previousLayer_size": 1, "layer_size": 1,
                          "weights": [[0]], "biases": [0], "activation_func": "linear"}}
    for i, name in enumerate(["sign", "step", "relu", "linear", "sigmoid"], start=1):
        layers[f"Layer_{i}"] = {"layer_type": "hidden", "previousLayer_size": 1, "layer_size": 1,
                                "weights": [[1.0]], "biases": [0.0], "activation_func": name}
    layers["Layer_5"]["layer_type"] = "output"
    net = mlp.legacy.from_legacy_dict(layers)
    # sign(-2) = -1 -> step(-1) = 0.5 -> relu 0.5 -> linear 0.5 -> sigmoid(0.5)
    assert net.forward(np.array([[-2.0]]))[0, 0] == pytest.approx(1 / (1 + math.exp(-0.5)))
    with pytest.raises(mlp.ConfigError, match="forward-only|no loss"):
        mlp.fit(net, np.zeros((2, 1)), np.zeros(2), mlp.TrainConfig(epochs=1))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "Layer_0"),
        ({"weights": []}, "unexpected keys"),
        ({"Layer_0": {"layer_type": "output", "previousLayer_size": 2, "layer_size": 1,
                      "weights": [[1, 2, 3]], "biases": [0], "activation_func": "tanh"}}, "do not match"),
        ({"Layer_0": {"layer_type": "output", "previousLayer_size": 1, "layer_size": 1,
                      "weights": [[1]], "biases": [0], "activation_func": "cosine"}}, "unknown activation"),
        ({"Layer_1": {"layer_type": "output"}}, "without gaps"),
    ],
)
def test_malformed_legacy_documents_are_refused(doc, message):
    with pytest.raises(mlp.MLPError, match=message):
        mlp.legacy.from_legacy_dict(doc)
