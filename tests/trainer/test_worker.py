"""The job worker in-process: publish with parent and job, promotion policies, cancel,
time limit, failures; nothing is published by a job that does not succeed."""

from __future__ import annotations

import shutil

import pytest

from trainer import pipeline
from trainer.store import ModelStore
from trainer.tasks import TASKS
from trainer.worker import Worker, WorkerConfig

QUICK = {"epochs": 1, "samples": 500}


@pytest.fixture
def worker(seeded_store_dir, tmp_path):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    return Worker(WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"),
                               stale_after=5, poll=0.05), worker_id="test-worker")


def _run(worker, model, params):
    job = worker.jobs.submit(model, params, parent_version=worker.store.resolve(model))
    worker.run(once=True)
    return worker.jobs.get(job["id"])


def test_a_job_publishes_a_child_naming_its_parent_and_job(worker):
    job = _run(worker, "xor", {**QUICK, "promote": "always"})
    assert job["status"] == "succeeded", job["error"]
    assert job["published_version"] == 2 and job["promoted"] is True
    assert [p["epoch"] for p in job["progress"]] == [1] and "loss" in job["progress"][0]
    child = worker.store.load("xor", 2)
    assert child.metadata["parent"] == 1
    assert child.metadata["training"]["job"] == job["id"]
    assert child.metadata["training"]["trained_by"] == "api job"
    assert worker.store.labels("xor")["default"] == 2
    scores = job["promotion"]
    assert scores["policy"] == "always" and {"parent", "new", "eval_set", "metric"} <= set(scores)


def test_never_keeps_the_served_version_serving(worker):
    job = _run(worker, "xor", {**QUICK, "promote": "never"})
    assert job["status"] == "succeeded" and job["promoted"] is False
    assert worker.store.versions("xor") == [1, 2]
    assert worker.store.resolve("xor") == 1  # the default label was pinned before publishing


def test_examples_that_contradict_the_task_are_not_promoted(worker):
    store: ModelStore = worker.store
    red = TASKS["red"]
    pipeline.train_task(red, store, config=red.train.replace(epochs=15), data=None)  # a good red: version 2
    store.set_label("red", "default", 2)
    lies = [{"input": [0, 0, 255], "label": "red"}, {"input": [10, 20, 240], "label": "red"},
            {"input": [0, 40, 200], "label": "red"}]
    job = _run(worker, "red", {"epochs": 3, "samples": 5000, "examples": lies * 10, "promote": "if_better"})
    assert job["status"] == "succeeded", job["error"]
    assert job["published_version"] == 3 and job["promoted"] is False, job["promotion"]
    assert store.resolve("red") == 2
    scores = job["promotion"]
    assert scores["new"]["value"] < scores["parent"]["value"] and scores["new"]["loss"] > scores["parent"]["loss"]


def test_cancel_stops_at_the_next_epoch_and_publishes_nothing(worker):
    job = worker.jobs.submit("xor", {"epochs": 50, "samples": 500}, parent_version=1)
    claimed = worker.jobs.claim(worker.id)
    worker.jobs.cancel(job["id"])
    worker.run_job(claimed)
    done = worker.jobs.get(job["id"])
    assert done["status"] == "cancelled" and len(done["progress"]) == 1
    assert worker.store.versions("xor") == [1]


def test_time_limit_fails_the_job_and_publishes_nothing(worker):
    worker.config = WorkerConfig(models_dir=worker.config.models_dir, state_dir=worker.config.state_dir,
                                 time_limit=1e-6)
    job = _run(worker, "xor", {"epochs": 5, "samples": 500})
    assert job["status"] == "failed" and "time limit" in job["error"]
    assert worker.store.versions("xor") == [1]


def test_a_job_that_cannot_run_fails_with_its_reason(worker):
    job = worker.jobs.submit("xor", QUICK, parent_version=9)
    worker.run(once=True)
    done = worker.jobs.get(job["id"])
    assert done["status"] == "failed" and "no version 9" in done["error"]


def test_stopping_the_worker_puts_the_job_back(worker):
    job = worker.jobs.submit("xor", {"epochs": 50, "samples": 500}, parent_version=1)
    claimed = worker.jobs.claim(worker.id)
    worker.stop()
    worker.run_job(claimed)
    assert worker.jobs.get(job["id"])["status"] == "queued"
    assert worker.store.versions("xor") == [1]


def test_a_cancelled_job_leaves_the_labels_as_they_were(worker):
    assert "default" not in worker.store.labels("xor")
    job = worker.jobs.submit("xor", {"epochs": 50, "samples": 500, "promote": "never"}, parent_version=1)
    claimed = worker.jobs.claim(worker.id)
    worker.jobs.cancel(job["id"])
    worker.run_job(claimed)
    assert worker.jobs.get(job["id"])["status"] == "cancelled"
    assert worker.store.labels("xor") == {}


def test_service_worker_and_cli_agree_on_the_store_folders(monkeypatch):
    # An empty value (`TINYMLP_MODELS_DIR=` in .env) means the default everywhere.
    from service.config import Config
    from trainer.cli import build_parser
    from trainer.worker import WorkerConfig

    for env in ({}, {"TINYMLP_MODELS_DIR": "", "TINYMLP_STATE_DIR": ""},
                {"TINYMLP_MODELS_DIR": "/m", "TINYMLP_STATE_DIR": "/s"}):
        for name in ("TINYMLP_MODELS_DIR", "TINYMLP_STATE_DIR"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        service, worker = Config.from_env(), WorkerConfig.from_env()
        cli = build_parser().parse_args(["worker"])
        assert str(service.models_dir) == str(worker.models_dir) == str(cli.models_dir), env
        assert str(service.state_dir) == str(worker.state_dir) == str(cli.state_dir), env
