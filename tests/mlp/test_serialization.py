"""The model file: round trip, checksum and every kind of damage refused with a reason."""

import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# -- every way a document can be malformed is a refusal ---------------------------------------

def _resummed(doc: dict) -> dict:
    """The document with its checksum recomputed: only the checks past the checksum stand between it and use."""
    from mlp.serialization import checksum

    doc["checksum"] = checksum(doc)
    return doc


def _set(path):
    """A mutation that puts a value at ``path`` (keys and indices) of the document."""
    *parents, last = path

    def mutate(doc, value):
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value
        return doc

    return mutate


WRONG_TYPES = [None, True, 5, 1.5, 10**20, -1, "x", [], [1], {}, {"a": 1}, [[[[1]]]]]
PATHS = [
    ("format_version",), ("dtype",), ("input",), ("input", "features"), ("input", "features", 0),
    ("input", "low"), ("input", "low", 0), ("input", "dtype"), ("normalization",), ("normalization", "shift"),
    ("normalization", "scale", 1), ("output",), ("output", "kind"), ("output", "labels"), ("output", "labels", 0),
    ("layers",), ("layers", 0), ("layers", 0, "n_in"), ("layers", 0, "n_out"), ("layers", 0, "activation"),
    ("layers", 0, "activation", "name"), ("layers", 0, "activation", "params"), ("layers", 0, "weights"),
    ("layers", 0, "weights", 0), ("layers", 0, "weights", 0, 0), ("layers", 0, "biases"), ("layers", 0, "biases", 0),
    ("layers", 1, "activation"), ("loss",), ("architecture",), ("architecture", "hidden"),
    ("architecture", "activation_params"), ("optimizer",), ("optimizer", "name"), ("optimizer", "state"),
    ("optimizer", "state", "t"), ("optimizer", "state", "m"), ("optimizer", "state", "m", 0),
]
# What a path may hold and still be a valid model (every other value there must be refused;
# 10**20 too, past 64 bits: the parser reads it as a float, which fails the checksum).
NUMBERS = (5, 1.5, -1)
VALID = {("architecture",): (None, {}), ("optimizer",): (None,), ("normalization",): (None,), ("loss",): (None,),
         ("architecture", "hidden"): ([], [1]), ("architecture", "activation_params"): (None, {}),
         ("optimizer", "state"): ({},), ("optimizer", "state", "t"): (5,), ("optimizer", "state", "m", 0): ([1],),
         ("optimizer", "state", "m"): (None, []),
         ("input", "features", 0): ("x",), ("output", "labels", 0): ("x",), ("input", "low"): (None,),
         ("input", "low", 0): (None, 5, -1, 1.5), ("layers", 0, "weights", 0, 0): NUMBERS,
         ("layers", 0, "biases", 0): NUMBERS, ("normalization", "scale", 1): (5, 1.5),
         ("layers", 0, "activation", "params"): (None, {})}


def _valid(path, value) -> bool:
    return any(value == v and type(value) is type(v) for v in VALID.get(path, ()))


@pytest.mark.parametrize("path", PATHS, ids=[".".join(map(str, p)) for p in PATHS])
def test_a_wrong_type_anywhere_is_a_refusal_never_another_exception(trained, path):
    net, _ = trained
    for value in WRONG_TYPES:
        doc = _resummed(_set(path)(mlp.to_dict(net), value))
        if _valid(path, value):
            mlp.loads(json.dumps(doc))
            continue
        with pytest.raises(mlp.ModelFileError) as e:
            mlp.loads(json.dumps(doc))
        assert e.value.summary and "'x'" not in e.value.summary, (path, value)  # the summary quotes nothing


@pytest.mark.parametrize("raw", [
    b"NaN", b"-NaN", b"nan", b"Infinity", b"-Infinity", b"inf", b"-inf", b"1e400", b"-1e400", b"1e999999",
])
def test_nan_and_infinity_in_every_spelling_are_refused(trained, raw):
    text = mlp.dumps(trained[0]).encode()
    first = text.index(b'"biases":[') + len(b'"biases":[')
    with pytest.raises(mlp.ModelFileError, match="not valid JSON"):
        mlp.loads(text[:first] + raw + text[text.index(b",", first):])


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"format": "tinymlp-model", "x": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
    b'{"format": "tinymlp-model", "name": "\xff\xfe"}',
    b'\xef\xbb\xbf{"format": "tinymlp-model"}',
    b'{"format": "tinymlp-model", "name": "\\ud800"}',
    b'{"format": "tinymlp-model"} trailing',
])
def test_deep_nesting_bad_encodings_and_lone_surrogates_are_refused(raw):
    with pytest.raises(mlp.ModelFileError, match="not valid JSON"):
        mlp.loads(raw)


def test_metadata_nested_too_deep_is_refused_though_json_parses_it(trained):
    deep = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(mlp.ModelFileError, match="nested more than 32 levels"):
        mlp.loads(mlp.dumps(trained[0], notes=deep))
    mlp.loads(mlp.dumps(trained[0], notes=[[[[1]]]]))  # a few levels are fine


def test_unknown_keys_in_the_network_parts_are_refused(trained):
    for path in (("input",), ("output",), ("layers", 0), ("layers", 0, "activation"), ("normalization",)):
        doc = mlp.to_dict(trained[0])
        node = doc
        for key in path:
            node = node[key]
        node["extra"] = 1
        with pytest.raises(mlp.ModelFileError):
            mlp.from_dict(_resummed(doc))


def test_the_checksum_is_the_sha256_of_the_one_shot_canonical_text(trained):
    import hashlib

    from mlp.serialization import CHECKED_KEYS, checksum

    doc = mlp.to_dict(trained[0])
    part = {k: doc.get(k) for k in CHECKED_KEYS}
    text = json.dumps(part, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert checksum(doc) == "sha256:" + hashlib.sha256(text.encode()).hexdigest() == doc["checksum"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=JSON)
def test_the_streamed_checksum_equals_the_one_shot_text_for_any_json(value):
    import hashlib

    from mlp.serialization import CHECKED_KEYS, checksum

    doc = {"layers": [{"weights": [value, [value]]}], "input": value, "loss": value}
    text = json.dumps({k: doc.get(k) for k in CHECKED_KEYS}, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert checksum(doc) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _paths(node, prefix=()):
    """Every path (keys and indices) in a document, the long lists of numbers sampled."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i in sorted({0, len(node) - 1}) if node else ():
            yield from _paths(node[i], (*prefix, i))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_document_mutated_anywhere_and_resummed_loads_or_is_refused(trained, data):
    doc = mlp.to_dict(trained[0], name="m", version=1, training={"curve": [{"epoch": 1, "loss": 0.5}]})
    paths = sorted(_paths(doc), key=repr)[1:]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            if data.draw(st.booleans()) and isinstance(node, dict):
                del node[path[-1]]
            else:
                node[path[-1]] = data.draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the way there
    try:
        text = json.dumps(_resummed(doc))
    except (TypeError, ValueError):
        text = json.dumps(doc)
    try:
        net = mlp.loads(text)
    except mlp.ModelFileError as e:
        assert e.summary
        return
    assert np.isfinite(net.forward(np.zeros((1, net.n_inputs)))).all()


# -- outputs that are not finite -------------------------------------------------------------

def test_an_activation_parameter_outside_its_range_is_refused(trained):
    doc = mlp.to_dict(trained[0])
    doc["layers"][0]["activation"] = {"name": "leaky_relu", "params": {"alpha": 1e308}}
    with pytest.raises(mlp.ModelFileError, match="alpha' must be in"):
        mlp.from_dict(_resummed(doc))


def test_a_network_whose_outputs_overflow_on_its_input_box_is_refused(trained):
    doc = mlp.to_dict(trained[0])
    doc["layers"][0]["activation"] = {"name": "linear", "params": {}}
    doc["layers"][-1]["activation"] = {"name": "linear", "params": {}}
    doc["loss"] = "mse"
    doc["architecture"] = None
    doc["layers"][0]["weights"] = [[3e38] * len(row) for row in doc["layers"][0]["weights"]]
    doc["layers"][-1]["weights"] = [[3e38] * len(row) for row in doc["layers"][-1]["weights"]]
    with pytest.raises(mlp.ModelFileError, match="outputs are not finite"):
        mlp.from_dict(_resummed(doc))


def test_outputs_are_probed_only_within_the_declared_bounds():
    # An unbounded input can always be pushed to overflow; within the probed box it is finite.
    net = mlp.Network.build(mlp.NetworkConfig(hidden=(4,), output="linear", loss="mse"), 2, 1)
    back = mlp.loads(mlp.dumps(net))
    with np.errstate(all="ignore"):
        assert not np.isfinite(back.forward(np.array([[1e308, -1e308]]))).all()


# -- reading files -------------------------------------------------------------------------

def test_a_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    with pytest.raises(mlp.ModelFileError, match="not a regular file"):
        mlp.load(fifo)  # opened without blocking: no writer needed


def test_a_large_file_read_in_a_child_process_is_the_same_network(tmp_path, trained):
    from mlp import serialization

    path = tmp_path / "m.json"
    mlp.save(trained[0], path, name="m", version=1)
    with open(path, "rb") as f:
        here = serialization.load_file(f, str(path), isolate_above=0)
    with open(path, "rb") as f:
        there = serialization.load_file(f, str(path), isolate_above=1)
    assert there.theta.tobytes() == here.theta.tobytes() and there.metadata == here.metadata
    assert there.layers[0].W.base is there.theta  # still one flat vector under the layers
    np.testing.assert_array_equal(there.optimizer_state["state"]["m"][0], here.optimizer_state["state"]["m"][0])
    with open(path, "rb") as f:
        assert serialization.load_file(f, str(path), isolate_above=1, with_optimizer=False).optimizer_state is None


def test_a_refusal_in_a_child_process_keeps_its_message_and_summary(tmp_path, trained):
    from mlp import serialization

    doc = mlp.to_dict(trained[0])
    doc["output"] = ["classifier"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_resummed(doc)))
    with open(path, "rb") as f, pytest.raises(mlp.ModelFileError, match="output must be an object") as e:
        serialization.load_file(f, str(path), isolate_above=1)
    assert e.value.summary.startswith("it is not a valid model file: output")


def test_the_optimizer_state_survives_a_save_and_load(tmp_path, trained):
    back = mlp.loads(mlp.dumps(mlp.loads(mlp.dumps(trained[0]))))
    state, before = back.optimizer_state["state"], trained[0].optimizer_state["state"]
    assert state["t"] == before["t"]
    np.testing.assert_array_equal(state["v"][0], np.asarray(before["v"][0], dtype=np.float32))
