"""``python -m trainer rollout``: start (split, shadow), the figures (the same JSON the service
answers), promote and end; bad input ending in one line and exit 1, changing nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from core.store import ModelStore
from harness.stores import publish_opposite
from service import create_app, extensions
from service.config import Config
from trainer.cli import main


@pytest.fixture
def models(seeded_store_dir, tmp_path, monkeypatch):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    publish_opposite(ModelStore(tmp_path / "models"), "red")  # v2; default pinned to 1
    monkeypatch.setenv("TINYMLP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("TINYMLP_DATABASE_URL", raising=False)
    return tmp_path / "models"


@pytest.fixture
def run(models, capsys):
    def _run(*argv):
        code = main(["--models-dir", str(models), "--quiet", "rollout", *argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def test_start_follow_and_promote_from_the_command_line(run, models):
    code, out, _ = run("red", "--candidate", "2", "--percent", "20", "--min-rows", "50")
    assert code == 0 and "running (split, 20%): v2 against v1" in out and "by cli" in out
    code, out, err = run("red", "--status")
    assert code == 0 and "compared   no rows yet" in out and "min_rows 50" in out, err
    code, out, _ = run("red", "--json")
    f = json.loads(out)
    assert (f["status"], f["percent"], f["started_by"], f["guards"]["min_rows"]) == ("running", 20.0, "cli", 50)
    code, out, _ = run("red", "--promote")
    assert code == 0 and "promoted" in out and ModelStore(models).labels("red")["default"] == 2
    code, out, err = run("red", "--end")
    assert code == 1 and err.startswith("error: the rollout of red is not running (it is promoted")
    assert err.count("\n") == 1


def test_a_shadow_without_a_latency_guard_then_end_it(run, models):
    code, out, _ = run("red", "--candidate", "2", "--shadow", "--no-latency-guard", "--min-agreement", "0.5")
    assert code == 0 and "running (shadow, every request shadowed)" in out and "max_p99_ratio -" in out
    code, out, _ = run("red", "--end")
    assert code == 0 and "ended" in out and "the stable stays" in out
    assert ModelStore(models).labels("red")["default"] == 1


def test_the_figures_are_the_services_own(run, models, tmp_path):
    assert run("red", "--candidate", "2", "--shadow", "--min-rows", "100000")[0] == 0
    app = create_app(Config(models_dir=str(models), state_dir=str(tmp_path / "state"), start_reloader=False,
                            log_level="WARNING"))
    try:
        client = app.test_client()
        for i in range(25):
            client.post("/predict/red", json={"inputs": [[i * 10, 0, 0], [0, i * 10, 0]]}).close()
        extensions.rollouts(app).flush()
        served = client.get("/models/red/rollout").json
    finally:
        extensions.close(app)
    code, out, _ = run("red", "--status", "--json")
    assert code == 0 and json.loads(out) == served and served["rows_compared"] == 50


@pytest.mark.parametrize(("argv", "says"), [
    (["red"], "red has had no rollout; start one with python -m trainer rollout red --candidate V"),
    (["red", "--percent", "5"], "--percent goes with --candidate"),
    (["red", "--promote"], "red has had no rollout"),
    (["red", "--end"], "red has had no rollout"),
    (["purple"], "no model named 'purple'"),
    (["purple", "--candidate", "2"], "no model named 'purple'"),
    (["red", "--candidate", "9"], "model 'red' has no version 9"),
    (["red", "--candidate", "1"], "version 1 is the stable"),
])
def test_bad_input_is_one_line_and_exit_1(run, models, argv, says):
    code, out, err = run(*argv)
    assert code == 1 and err.startswith(f"error: {says}") and err.count("\n") == 1, err
    assert not (models / "red" / "rollout.json").exists()


@pytest.mark.parametrize("argv", [["red", "--candidate", "2", "--percent", "0"], ["red", "--candidate", "x"],
                                  ["red", "--candidate", "2", "--min-agreement", "2"],
                                  ["red", "--promote", "--end"], ["red", "--max-p99-ratio", "2", "--no-latency-guard"],
                                  ["red", "--candidate", "2", "--shadow", "--percent", "5"]])
def test_a_usage_mistake_is_refused_by_the_parser(run, models, argv):
    with pytest.raises(SystemExit) as e:
        run(*argv)
    assert e.value.code == 2
    assert not (models / "red" / "rollout.json").exists()


def test_a_second_rollout_while_one_runs_and_a_database_that_cannot_work(run, models, monkeypatch):
    assert run("red", "--candidate", "2")[0] == 0
    code, _, err = run("red", "--candidate", "2")
    assert code == 1 and "is running already" in err
    monkeypatch.setenv("TINYMLP_DATABASE_URL", "mysql://u:hunter2@db/x")
    code, _, err = run("red", "--status")
    assert code == 1 and "TINYMLP_DATABASE_URL must look like" in err and "hunter2" not in err
