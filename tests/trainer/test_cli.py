"""``python -m trainer``: each command, and bad input ending in one line and exit 1."""

import json
import subprocess
import sys

import pytest

from core.store import ModelStore


def files(tmp_path):
    root = tmp_path / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_train_continue_evaluate_list(run, tmp_path):
    code, out, _ = run("train", "xor", "--epochs", "3")
    assert code == 0 and "published xor version 1" in out
    code, out, _ = run("continue", "xor", "--epochs", "2", "--seed", "5")
    assert code == 0 and "published xor version 2" in out and "parent version 1" in out
    v2 = ModelStore(tmp_path / "models").load("xor", 2)
    assert v2.metadata["parent"] == 1
    assert v2.metadata["training"]["seed"] == 5
    assert len(v2.metadata["training"]["curve"]) == 2
    code, out, _ = run("evaluate", "xor", "--version", "1")
    assert code == 0
    assert "accuracy" in out and "true \\ pred" in out and "precision" in out
    assert "calibration error (ECE, 15 bins)" in out
    code, out, _ = run("list", "--json")
    assert json.loads(out) == [{"name": "xor", "versions": [1, 2], "labels": {}, "served": 2}]
    code, out, _ = run("label", "xor", "default", "1")
    assert code == 0
    code, out, _ = run("list")
    assert "served v1" in out and "default=1" in out


def test_model_file_carries_the_training_record(run, tmp_path):
    run("train", "quadrant", "--epochs", "2")
    doc = json.loads((tmp_path / "models" / "quadrant" / "1.json").read_text())
    for key in ("name", "version", "parent", "created_at", "task", "input", "normalization", "output",
                "layers", "loss", "optimizer", "training", "metrics", "checksum"):
        assert key in doc, key
    rec = doc["training"]
    assert rec["trained_by"] == "batch trainer" and rec["data_hash"].startswith("sha256:")
    assert rec["config"]["epochs"] == 2 and len(rec["curve"]) == 2
    assert set(doc["metrics"]["test"]) >= {"accuracy", "confusion_matrix", "per_class", "ece"}


def test_generate_then_train_from_the_file(run, tmp_path):
    code, out, _ = run("generate", "sine", "--samples", "500")
    assert code == 0
    data = json.loads((tmp_path / "data" / "sine.json").read_text())
    assert len(data["X"]) == 500 and set(data["y"]) == {"above", "below"}
    code, out, _ = run("train", "sine", "--epochs", "1", "--data", str(tmp_path / "data" / "sine.json"))
    assert code == 0
    assert ModelStore(tmp_path / "models").load("sine").metadata["training"]["samples"] == 500


def test_import_legacy(run, tmp_path, seed_dir):
    code, out, _ = run("import-legacy", str(seed_dir / "models" / "model_red.json"), "--name", "red-legacy",
                       "--task", "red")
    assert code == 0 and "imported" in out
    net = ModelStore(tmp_path / "models").load("red-legacy")
    assert net.labels == ["red", "not_red"] and net.metadata["training"]["trained_by"] == "imported"
    # the original's own figure: about 94.9% of uniform colours
    assert 0.93 < net.metadata["metrics"]["uniform"]["accuracy"] < 0.96


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "purple"], "unknown task 'purple'; tasks are: red, xor"),
        (["train", "xor", "--learning-rate", "-1"], "learning_rate must be a number"),
        (["train", "xor", "--learning-rate", "nan"], "learning_rate must be a number"),
        (["evaluate", "ghost"], "no model named 'ghost'"),
        (["continue", "ghost"], "no model named 'ghost'"),
        (["import-legacy", "/nonexistent.json", "--name", "x", "--task", "red"], "cannot read"),
        (["train", "xor", "--data", "/nonexistent.json"], "cannot read dataset"),
        (["label", "ghost", "default", "1"], "no model"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_writes_nothing(run, tmp_path, argv, message):
    code, out, err = run(*argv)
    assert code == 1
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"Layer_0": 5}', "must be an object"), ("[1, 2]", "Layer_0")],
)
def test_malformed_legacy_files_leave_the_store_untouched(run, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = run("import-legacy", str(bad), "--name", "x", "--task", "xor")
    assert code == 1 and message in err
    assert files(tmp_path) == []


def test_malformed_dataset_is_refused(run, tmp_path):
    bad = tmp_path / "d.json"
    bad.write_text(json.dumps({"task": "xor", "X": [[1, 2, 3]], "y": ["1"]}))
    code, _, err = run("train", "xor", "--data", str(bad))
    assert code == 1 and "rows of 2 numbers" in err
    assert files(tmp_path) == []


def test_usage_errors_exit_2():
    proc = subprocess.run([sys.executable, "-m", "trainer", "train", "xor", "--epochs", "zero"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "expected a whole number" in proc.stderr


def test_all_skips_tasks_that_have_models(run, monkeypatch):
    from trainer import cli, pipeline

    trained = []
    real = pipeline.train_task

    def quick(task, store, **kw):
        trained.append(task.name)
        return real(task, store, **{**kw, "config": task.train.replace(epochs=1)})

    run("train", "xor", "--epochs", "1")
    monkeypatch.setattr(cli.pipeline, "train_task", quick)
    monkeypatch.setattr(cli, "TASKS", {k: v for k, v in cli.TASKS.items() if k in ("xor", "quadrant")})
    code, out, _ = run("all")
    assert code == 0 and trained == ["quadrant"] and "xor: has version(s) [1], skipped" in out
    code, out, _ = run("all", "--force")
    assert code == 0 and trained == ["quadrant", "xor", "quadrant"]


def test_plot_writes_the_curve_and_the_regions(run, tmp_path):
    assert run("train", "quadrant", "--epochs", "2")[0] == 0
    code, out, err = run("plot", "quadrant", "--out", str(tmp_path / "pics"))
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert written == ["quadrant-v1-curve.png", "quadrant-v1-regions.png"]
    assert all((tmp_path / "pics" / n).read_bytes().startswith(b"\x89PNG") for n in written)
    assert run("plot", "quadrant", "--version", "7")[0] == 1


def test_prune_says_what_it_removed(run, tmp_path):
    run("train", "xor", "--epochs", "1")
    for _ in range(5):
        run("continue", "xor", "--epochs", "1")
    code, out, _ = run("prune", "xor", "--keep", "2", "--dry-run")
    assert code == 0 and "would remove 3 version(s): 1-3" in out
    assert ModelStore(tmp_path / "models").versions("xor") == list(range(1, 7))
    code, out, _ = run("prune", "xor", "--keep", "2")
    assert code == 0 and "removed 3 version(s): 1-3" in out and "kept version 4: parent of version 5" in out
    assert ModelStore(tmp_path / "models").versions("xor") == [4, 5, 6]
    code, _, err = run("prune", "nope")
    assert code == 1 and "no model named 'nope'" in err


@pytest.mark.parametrize(("url", "says"), [
    # --once (a batch run) says so and stops; a long-running worker logs it and tries again
    ("postgresql://tinymlp:hunter2@127.0.0.1:1/jobs", "cannot reach the database postgresql://tinymlp:***@127.0.0.1:1/jobs"),
    ("mysql://tinymlp:hunter2@db/jobs", "TINYMLP_DATABASE_URL must look like postgresql://"),
])
def test_the_worker_says_in_one_line_when_its_database_cannot_work(url, says, tmp_path):
    run = subprocess.run([sys.executable, "-m", "trainer", "--models-dir", str(tmp_path), "worker", "--once"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "TINYMLP_DATABASE_URL": url})
    assert run.returncode == 1 and says in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and "hunter2" not in run.stderr + run.stdout
