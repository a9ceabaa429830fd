"""The model file: round trip, checksum and every kind of damage refused with a reason."""

import json

import numpy as np
import pytest

import mlp


@pytest.fixture
def trained():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(300, 3))
    y = np.where(X[:, 0] > 128, "hi", "lo")
    spec = mlp.InputSpec(("r", "g", "b"), "int", (0, 0, 0), (255, 255, 255))
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(6,)), 3, 2, labels=["hi", "lo"], input_spec=spec)
    mlp.fit(net, X, y, mlp.TrainConfig(epochs=2))
    return net, X


def test_round_trip_is_exact(tmp_path, trained):
    net, X = trained
    path = tmp_path / "m.json"
    mlp.save(net, path, name="red", version=3, note="hello")
    back = mlp.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))
    assert back.theta.tobytes() == net.theta.tobytes()
    assert back.labels == ["hi", "lo"]
    assert back.input_spec == net.input_spec
    assert back.metadata == {"name": "red", "version": 3, "note": "hello"}
    assert back.config == net.config
    assert back.optimizer_state["name"] == "adam"


def _damage(doc):
    doc["layers"][0]["weights"][0][0] += 1e-3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_damage, "checksum mismatch"),
        (lambda d: d.update(format="other"), "format is 'other'"),
        (lambda d: d.update(format_version=99), "format_version 99"),
        (lambda d: d.pop("layers"), "missing keys \\['layers'\\]"),
    ],
)
def test_damaged_documents_are_refused(trained, mutate, message):
    net, _ = trained
    doc = mlp.to_dict(net)
    mutate(doc)
    with pytest.raises(mlp.ModelFileError, match=message):
        mlp.from_dict(doc)


def test_wrong_shapes_are_refused_even_with_a_matching_checksum(trained):
    from mlp.serialization import checksum

    net, _ = trained
    doc = mlp.to_dict(net)
    doc["layers"][0]["weights"] = doc["layers"][0]["weights"][:-1]
    doc["checksum"] = checksum(doc)
    with pytest.raises(mlp.ModelFileError, match="do not match"):
        mlp.from_dict(doc)


def test_nan_in_weights_is_refused(tmp_path, trained):
    net, _ = trained
    text = mlp.dumps(net).replace(json.dumps(net.layers[0].b.tolist()[0]), "NaN", 1)
    with pytest.raises(mlp.ModelFileError):
        mlp.loads(text)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[]", b"null"])
def test_malformed_files_are_refused(raw):
    with pytest.raises(mlp.ModelFileError):
        mlp.loads(raw)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(mlp.ModelFileError, match="cannot read model file .*nope.json"):
        mlp.load(tmp_path / "nope.json")


def test_reserved_metadata_keys_are_refused(trained):
    with pytest.raises(mlp.ConfigError, match="reserved"):
        mlp.to_dict(trained[0], layers=[])


def test_regressor_target_normalisation_round_trips():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, (200, 2))
    y = 500 + 20 * X[:, 0]
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(4,), output="linear", loss="mse"), 2, 1)
    mlp.fit(net, X, y, mlp.TrainConfig(epochs=3))
    back = mlp.loads(mlp.dumps(net))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    assert abs(float(np.mean(back.predict(X))) - 600) < 100  # predictions come out in raw units
