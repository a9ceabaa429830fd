"""A version's pictures are drawn by the process that publishes it (each batch command, the job
worker) into the store beside it; a picture that cannot be drawn never fails the publish;
``plot`` and the next publish draw what versions from before lack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from core import pictures as picture_record
from core.jobs import JobParams, JobStatus, Policy, SQLiteJobTable
from core.pictures import PictureSet
from core.store import ModelStore
from harness.processes import ROOT
from trainer import pictures, plots
from trainer.tasks import TASKS
from trainer.worker import Worker, WorkerConfig

RED_MAPS = [f"regions-b{b}.png" for b in (*range(0, 256, 16), 255)]




def drawn(store: ModelStore, name: str, version: int) -> PictureSet:
    """The version's record, each picture it lists checked against its file."""
    record = picture_record.read(store, name, version)
    assert (record.name, record.version) == (name, version)
    for p in record.pictures:
        png = store.attachment_path(name, version, f"{p.kind}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and pictures.png_size(png) == (p.width, p.height)
    return record


def kinds(record: PictureSet) -> list[str]:
    return [p.kind for p in record.pictures]


def test_the_batch_trainer_draws_the_pictures_of_each_version_it_publishes(run, tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    assert run("train", "xor", "--epochs", "2")[0] == 0
    assert run("continue", "xor", "--epochs", "1")[0] == 0
    for v in (1, 2):
        record = drawn(store, "xor", v)
        assert kinds(record) == ["curve", "regions"] and record.missing == () and record.drawn_by == "batch trainer"
        axes = record.picture("regions").regions
        assert (axes.x.feature, axes.y.feature) == ("x", "y") and [lab for lab, _ in axes.legend] == ["1", "0"]
    from trainer import cli

    monkeypatch.setattr(cli, "TASKS", {"iris": TASKS["iris"]})
    assert run("all")[0] == 0
    iris = drawn(store, "iris", 1)
    assert kinds(iris) == ["curve"] and iris.example.input == (5.1, 3.5, 1.4, 0.2)


def test_red_gets_a_map_at_every_blue_its_dashboard_offers(run, tmp_path):
    assert run("train", "red", "--epochs", "1", "--samples", "2000")[0] == 0
    store = ModelStore(tmp_path / "models")
    record = drawn(store, "red", 1)
    assert kinds(record) == ["curve", *(m.removesuffix(".png") for m in RED_MAPS)]
    assert [p.regions.fixed for p in record.pictures[1:]] == [{"b": float(b)} for b in pictures.BLUES]
    assert record.picture("regions-b255").regions.agreement > 0.9  # no red left at b = 255: nearly all not_red


def test_an_import_gets_its_maps_and_no_curve(run, tmp_path, seed_dir):
    code, _, err = run("import-legacy", str(seed_dir / "models" / "model_red.json"), "--name", "red-legacy",
                       "--task", "red")
    assert code == 0, err
    record = drawn(ModelStore(tmp_path / "models"), "red-legacy", 1)
    assert kinds(record) == [m.removesuffix(".png") for m in RED_MAPS]  # no training record: nothing to draw
    assert record.missing == ()


def test_a_job_draws_the_pictures_of_the_version_it_publishes(seeded_store_dir, tmp_path):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"), job_poll=0.05)
    jobs = SQLiteJobTable(tmp_path / "state")
    try:
        worker = Worker(config, worker_id="test-worker", jobs=jobs)
        job = jobs.submit("quadrant", JobParams(epochs=1, samples=500, promote=Policy.NEVER), parent_version=1)
        worker.run(once=True)
        assert jobs.get(job.id).status is JobStatus.SUCCEEDED
    finally:
        jobs.close()
    record = drawn(ModelStore(tmp_path / "models"), "quadrant", 2)
    assert kinds(record) == ["curve", "regions"] and record.drawn_by == "job worker"


def _trainer(tmp_path, *argv, env=None):
    return subprocess.run([sys.executable, "-m", "trainer", "--models-dir", str(tmp_path / "models"), "--quiet",
                           *argv], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_a_picture_that_cannot_be_written_does_not_fail_the_publish(tmp_path):
    (tmp_path / "models" / "quadrant" / "1.curve.png").mkdir(parents=True)  # where the curve would go
    done = _trainer(tmp_path, "train", "quadrant", "--epochs", "1")
    assert done.returncode == 0 and "published quadrant version 1" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    assert "quadrant version 1: no curve picture" in done.stderr and "Is a directory" in done.stderr
    store = ModelStore(tmp_path / "models")
    assert store.loads("quadrant", 1)
    record = drawn(store, "quadrant", 1)
    assert kinds(record) == ["regions"] and [m.kind for m in record.missing] == ["curve"]
    assert "python -m trainer plot quadrant --version 1" in record.missing[0].reason


def test_without_matplotlib_a_publish_draws_the_maps_and_plot_draws_the_curve_later(tmp_path, run):
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    hidden = {"PYTHONPATH": f"{shadow.parent}{os.pathsep}{ROOT}"}
    done = _trainer(tmp_path, "train", "xor", "--epochs", "1", env=hidden)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    store = ModelStore(tmp_path / "models")
    record = drawn(store, "xor", 1)
    assert kinds(record) == ["regions"]
    reason = record.missing[0].reason
    assert "pip install 'tinymlp[plots]'" in reason and "the page draws it" in reason
    asked = _trainer(tmp_path, "plot", "xor", env=hidden)  # asked for, and not drawn: one line, status 1
    assert asked.returncode == 1 and asked.stderr.count("\n") == 1 and "tinymlp[plots]" in asked.stderr
    code, out, err = run("plot", "--all")  # where matplotlib is
    assert code == 0, err
    assert "xor version 1: drew the training curve and 1 decision-region map" in out
    assert drawn(store, "xor", 1).missing == ()


def _publish_bare(store: ModelStore, name: str, times: int) -> None:
    """New versions as a publisher from before this change made them: no pictures."""
    model = store.open(name, store.versions(name)[-1])
    for _ in range(times):
        meta = {k: v for k, v in model.network.metadata.items() if k not in ("name", "version")}
        store.publish(name, model.network, **meta)


def test_plot_draws_what_versions_from_before_lack(run, tmp_path):
    assert run("train", "xor", "--epochs", "1")[0] == 0
    store = ModelStore(tmp_path / "models")
    _publish_bare(store, "xor", 3)  # versions 2-4
    assert pictures.lacking(store, "xor") == [4, 3, 2]
    code, out, _ = run("plot", "xor", "--version", "2")
    assert code == 0 and "xor version 2: drew the training curve and 1 decision-region map" in out
    code, out, _ = run("plot", "xor", "--all")
    assert code == 0 and "xor version 3" in out and "xor version 4" in out and "version 2" not in out
    assert pictures.lacking(store, "xor", incomplete=True) == []
    code, out, _ = run("plot", "--all")
    assert code == 0 and out == "xor: every version has its pictures\n"
    for argv, says in [(("plot",), "name the model"), (("plot", "nope", "--all"), "no model named 'nope'"),
                       (("plot", "xor", "--all", "--version", "1"), "leave out --version")]:
        code, _, err = run(*argv)
        assert code == 1 and says in err and err.count("\n") == 1, err


def test_the_first_publish_after_an_upgrade_draws_what_the_newest_others_lack(run, tmp_path):
    assert run("train", "xor", "--epochs", "1")[0] == 0
    store = ModelStore(tmp_path / "models")
    for suffix in store.attachments("xor", 1):
        store.attachment_path("xor", 1, suffix).unlink()
    _publish_bare(store, "xor", 5)  # versions 2-6: with version 1, six versions without pictures
    assert run("continue", "xor", "--epochs", "1")[0] == 0  # version 7
    assert pictures.lacking(store, "xor") == [2, 1]  # 7 and, bounded, the newest four others: 6-3
    assert all(drawn(store, "xor", v).missing == () for v in (3, 4, 5, 6, 7))
    code, out, _ = run("all")  # `make train`/`make serve` on an upgraded store: a few more each time
    assert pictures.lacking(store, "xor") == [] and "xor: drew the pictures of version(s) [2, 1]" in out


def test_prune_removes_the_pictures_with_their_versions(run, tmp_path):
    run("train", "xor", "--epochs", "1")
    for _ in range(3):
        run("continue", "xor", "--epochs", "1")
    assert run("prune", "xor", "--keep", "1", "--drop-parents")[0] == 0
    left = sorted(p.name for p in (tmp_path / "models" / "xor").iterdir())
    assert left == ["4.curve.png", "4.json", "4.pictures.json", "4.regions.png"]


@pytest.mark.parametrize("epochs", [1, 3, 12, 40])
def test_the_curve_counts_whole_epochs(epochs):
    ax = plots.curve_figure(_network_with_curve(epochs)).axes[0]
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def _network_with_curve(epochs: int):
    import mlp

    net = mlp.Network.build(mlp.NetworkConfig(hidden=(2,)), 2, 2, labels=["a", "b"], seed=0)
    curve = [{"epoch": e, "loss": float(np.exp(-e)), "metric": 1 - float(np.exp(-e))} for e in range(1, epochs + 1)]
    net.metadata = {"name": "m", "version": 1, "training": {"trained_by": "test", "curve": curve}}
    return net


def test_the_pictures_offered_per_task():
    assert pictures.offered(TASKS["red"]) == [(f"regions-b{b}", {"b": b}) for b in (*range(0, 241, 16), 255)]
    for plane in ("xor", "sine", "checkerboard", "quadrant"):
        assert pictures.offered(TASKS[plane]) == [("regions", {})]
    assert pictures.offered(TASKS["iris"]) == pictures.offered(TASKS["house_prices"]) == []
    assert pictures.offered(None) == []  # a model whose task is not known


def test_the_record_is_json_the_service_reads(run, tmp_path):
    run("train", "quadrant", "--epochs", "1")
    raw = json.loads((tmp_path / "models" / "quadrant" / "1.pictures.json").read_text())
    assert PictureSet.from_dict(raw) == picture_record.read(ModelStore(tmp_path / "models"), "quadrant", 1)


def test_versions_that_do_not_load_never_keep_the_others_from_their_pictures(tmp_path):
    store = ModelStore(tmp_path / "models")
    task = TASKS["xor"]
    from trainer import pipeline

    for _ in range(3):
        pipeline.train_task(task, store, config=task.train.replace(epochs=1), data=task.sample(
            np.random.default_rng(0), 300))
    for f in store.folder("xor").glob("*.p*"):  # their pictures gone, as before pictures were drawn at publish
        f.unlink()
    for v in range(4, 10):  # newer, and broken
        (store.folder("xor") / f"{v}.json").write_text("{broken")
    done = pictures.backfill(store, "xor", "test", limit=2)
    drawn = [v for v, result in done.items() if not isinstance(result, str)]
    assert drawn == [3, 2] and all(isinstance(done[v], str) for v in range(4, 10))
