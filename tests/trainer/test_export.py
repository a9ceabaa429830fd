"""``python -m trainer export``: every default model as ONNX whose onnxruntime answers equal
``predict_proba`` (|Δp| <= 1e-5, the same label) or ``predict`` (relative 1e-5) on 10,000 rows,
and a Triton model-repository entry that Triton's own ModelConfig schema reads and whose shapes
agree with the graph's."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from core.store import ModelStore
from tests.mlp.test_onnx_export import TOLERANCE, assert_same_labels
from trainer.tasks import TASKS


@pytest.fixture
def models(seeded_store_dir, tmp_path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(seeded_store_dir, root)
    return root




def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def model_config():
    """Triton's ModelConfig message. Its module ships inside tritonclient; the package around it
    refuses to import without grpcio, which reading a config does not need, so it is loaded alone."""
    import tritonclient

    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ModelConfig


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_default_model_exports_with_parity(task, run, models, tmp_path):
    code, out, err = run("export", task, "--format", "onnx", "-o", str(tmp_path / f"{task}.onnx"))
    assert code == 0, err
    assert out.strip() == f"{task} version 1: wrote {tmp_path / f'{task}.onnx'}"
    net = ModelStore(models).load(task)
    X = TASKS[task].draw_uniform(np.random.default_rng(5), 10_000).astype(np.float32)
    outputs = session(tmp_path / f"{task}.onnx").run(None, {"input": X})
    if net.is_classifier:
        proba, label = outputs
        expected = net.predict_proba(X)
        assert np.max(np.abs(proba - expected)) <= TOLERANCE
        assert_same_labels(label, expected)
    else:
        (value,) = outputs
        expected = net.forward(X)
        assert np.max(np.abs(value - expected) / np.abs(expected)) <= TOLERANCE
    props = {p.key: p.value for p in onnx.load(tmp_path / f"{task}.onnx").metadata_props}
    assert (props["name"], props["version"], props["task"]) == (task, "1", task)
    if net.is_classifier:
        assert json.loads(props["labels"]) == list(net.labels)


def test_a_triton_entry_is_a_valid_model_config_matching_the_graph(run, tmp_path):
    from google.protobuf import text_format

    repo = tmp_path / "triton"
    code, out, err = run("export", "iris", "--version", "1", "--triton", str(repo))
    assert code == 0, err
    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()) == [
        "iris/1/model.onnx", "iris/config.pbtxt", "iris/labels.txt"]
    config = text_format.Parse((repo / "iris" / "config.pbtxt").read_text(), model_config()())
    assert config.name == "iris" and config.platform == "onnxruntime_onnx"
    assert list(config.version_policy.specific.versions) == [1]
    assert (repo / "iris" / "labels.txt").read_text().splitlines() == ["setosa", "versicolor", "virginica"]
    assert config.max_batch_size > 0
    # What Triton's ONNX Runtime backend checks: each tensor's shape in the graph is the batch
    # dimension followed by the config's dims (after any reshape).
    sess = session(repo / "iris" / "1" / "model.onnx")
    graph = {t.name: t for t in [*sess.get_inputs(), *sess.get_outputs()]}
    types = {"TYPE_FP32": "tensor(float)", "TYPE_INT64": "tensor(int64)"}
    data_type = model_config().DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"]
    declared = [*config.input, *config.output]
    assert sorted(t.name for t in declared) == sorted(graph)
    for t in declared:
        dims = list(t.reshape.shape) if t.HasField("reshape") else list(t.dims)
        assert graph[t.name].shape == ["N", *dims], t.name
        assert graph[t.name].type == types[data_type.enum_type.values_by_number[t.data_type].name]
    probabilities = next(t for t in config.output if t.name == "probabilities")
    assert probabilities.label_filename == "labels.txt"
    X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    proba, label = sess.run(None, {"input": X})
    assert proba.shape == (2, 3) and label.shape == (2,)


def test_a_regressor_entry_has_no_labels(run, tmp_path):
    from google.protobuf import text_format

    code, _, err = run("export", "house_prices", "-o", str(tmp_path / "h.onnx"), "--triton", str(tmp_path / "t"))
    assert code == 0, err
    assert not (tmp_path / "t" / "house_prices" / "labels.txt").exists()
    config = text_format.Parse((tmp_path / "t" / "house_prices" / "config.pbtxt").read_text(), model_config()())
    assert [(t.name, list(t.dims)) for t in config.output] == [("value", [1])]
    assert (tmp_path / "h.onnx").read_bytes() == (tmp_path / "t" / "house_prices" / "1" / "model.onnx").read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["export", "purple", "-o", "x.onnx"], "error: no model named 'purple'"),
    (["export", "red", "--version", "9", "-o", "x.onnx"], "error: model 'red' has no version 9"),
    (["export", "red"], "error: say where to write: -o FILE, --triton DIR, or both"),
])
def test_bad_exports_are_one_line_and_write_nothing(run, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*argv)
    assert code == 1 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert not list(tmp_path.glob("*.onnx"))


def test_an_unknown_format_is_a_usage_error(run):
    with pytest.raises(SystemExit) as e:
        run("export", "red", "--format", "pmml", "-o", "x")
    assert e.value.code == 2


@pytest.mark.parametrize("task", ["red", "checkerboard", "quadrant"])
def test_the_original_projects_models_export_with_parity(task, run, models, tmp_path, seed_dir):
    # Their tanh outputs against +-1 targets: mapped to [0, 1] and normalised per row in the graph too.
    code, _, err = run("import-legacy", str(seed_dir / "models" / f"model_{task}.json"), "--name", "old",
                       "--task", task)
    assert code == 0, err
    code, _, err = run("export", "old", "-o", str(tmp_path / "old.onnx"))
    assert code == 0, err
    net = ModelStore(models).load("old")
    X = TASKS[task].draw_uniform(np.random.default_rng(2), 10_000).astype(np.float32)
    proba, label = session(tmp_path / "old.onnx").run(None, {"input": X})
    expected = net.predict_proba(X)
    assert np.max(np.abs(proba - expected)) <= TOLERANCE
    assert_same_labels(label, expected)
