"""The job worker in-process: publish with parent and job, promotion policies and the trivial
baseline, cancel at any point before publishing, failures after it, time limit, requeue."""

from __future__ import annotations

import errno
import json
import shutil

import pytest

from core.jobs import JobParams, JobStatus, Policy
from core.store import ModelStore
from trainer import pipeline
from trainer.tasks import TASKS
from trainer.worker import Worker, WorkerConfig

QUICK = {"epochs": 1, "samples": 500}


@pytest.fixture
def worker(seeded_store_dir, tmp_path, job_table):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"),
                          job_stale_after=5, job_poll=0.05)
    return Worker(config, worker_id="test-worker", jobs=job_table())


def _submit(worker, model, parent=None, **params):
    return worker.jobs.submit(model, JobParams(**params), parent_version=parent or worker.store.resolve(model))


def _run(worker, model, **params):
    job = _submit(worker, model, **params)
    worker.run(once=True)
    return worker.jobs.get(job.id)


def test_a_job_publishes_a_child_naming_its_parent_and_job(worker):
    job = _run(worker, "xor", **QUICK, promote=Policy.ALWAYS)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.published_version == 2 and job.promoted is True
    assert [p.epoch for p in job.progress] == [1] and job.progress[0].loss > 0
    child = worker.store.open("xor", 2).info
    assert child.parent == 1 and child.training.job == job.id and child.training.trained_by == "api job"
    assert worker.store.labels("xor")["default"] == 2
    assert job.promotion.policy is Policy.ALWAYS and "whether or not it beats its parent" in job.promotion.reason
    assert job.promotion.baseline is not None and job.promotion.eval_set


def test_never_keeps_the_served_version_serving(worker):
    job = _run(worker, "xor", **QUICK, promote=Policy.NEVER)
    assert job.status is JobStatus.SUCCEEDED and job.promoted is False
    assert worker.store.versions("xor") == [1, 2]
    assert worker.store.resolve("xor") == 1  # the default label was pinned before publishing
    assert "pinned" in job.promotion.pinned or "default label" in job.promotion.pinned


def test_examples_that_contradict_the_task_are_not_promoted(worker):
    store: ModelStore = worker.store
    red = TASKS["red"]
    pipeline.train_task(red, store, config=red.train.replace(epochs=15), data=None)  # a good red: version 2
    store.set_label("red", "default", 2)
    from core.jobs import Example

    lies = tuple(Example(row, "red") for row in [(0, 0, 255), (10, 20, 240), (0, 40, 200)] * 10)
    job = _run(worker, "red", epochs=3, samples=5000, examples=lies, promote=Policy.IF_BETTER)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.published_version == 3 and job.promoted is False, job.promotion
    assert store.resolve("red") == 2
    p = job.promotion
    assert p.new.value < p.parent.value and p.new.loss > p.parent.loss


@pytest.mark.parametrize("model", ["red", "house_prices"])
def test_always_never_promotes_a_model_no_better_than_the_trivial_one(worker, model, monkeypatch):
    # What a learning rate of 1.0 did to them: red answers not_red for everything (about
    # 0.936 of uniform colours), house_prices one constant price
    import trainer.worker as module

    real = module.pipeline.train_further

    def wrecked(*args, **kwargs):
        trained = real(*args, **kwargs)
        last = trained.network.layers[-1]
        last.W[...] = 0
        last.b[...] = [0, 1] if model == "red" else 0  # red: always the second label, not_red
        trained.network.weights_changed()
        return trained

    monkeypatch.setattr(module.pipeline, "train_further", wrecked)
    job = _run(worker, model, epochs=1, samples=500, promote=Policy.ALWAYS)
    assert job.status is JobStatus.SUCCEEDED, job.error
    p = job.promotion
    assert job.promoted is False, p
    assert "trivial" in p.reason and "whatever the policy" in p.reason
    assert worker.store.resolve(model) == 1


def test_cancel_stops_at_the_next_epoch_and_publishes_nothing(worker):
    job = _submit(worker, "xor", epochs=50, samples=500)
    claimed = worker.jobs.claim(worker.id)
    worker.jobs.cancel(job.id)
    worker.run_job(claimed)
    done = worker.jobs.get(job.id)
    assert done.status is JobStatus.CANCELLED and len(done.progress) == 1
    assert worker.store.versions("xor") == [1]


def test_a_cancel_after_the_last_epoch_still_publishes_nothing(worker, monkeypatch):
    # the cancel lands while the job scores its held-out set: after training, before publishing
    import trainer.worker as module

    job = _submit(worker, "xor", epochs=1, samples=500, promote=Policy.ALWAYS)
    claimed = worker.jobs.claim(worker.id)
    real = module.promote

    def cancelled_meanwhile(*args, **kwargs):
        worker.jobs.cancel(job.id)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "promote", cancelled_meanwhile)
    worker.run_job(claimed)
    done = worker.jobs.get(job.id)
    assert done.status is JobStatus.CANCELLED and done.published_version is None, done
    assert worker.store.versions("xor") == [1] and worker.store.labels("xor") == {}


def test_time_limit_fails_the_job_and_publishes_nothing(worker):
    worker.config = WorkerConfig(models_dir=worker.config.models_dir, state_dir=worker.config.state_dir,
                                 job_time_limit=1e-6)
    job = _run(worker, "xor", epochs=5, samples=500)
    assert job.status is JobStatus.FAILED and "time limit" in job.error
    assert worker.store.versions("xor") == [1]


def test_a_job_that_cannot_run_fails_with_its_reason(worker):
    job = worker.jobs.submit("xor", JobParams(**QUICK), parent_version=9)
    worker.run(once=True)
    done = worker.jobs.get(job.id)
    assert done.status is JobStatus.FAILED and "no version 9" in done.error


def test_stopping_the_worker_puts_the_job_back(worker):
    job = _submit(worker, "xor", epochs=50, samples=500)
    claimed = worker.jobs.claim(worker.id)
    worker.stop()
    worker.run_job(claimed)
    assert worker.jobs.get(job.id).status is JobStatus.QUEUED
    assert worker.store.versions("xor") == [1]


def test_a_cancelled_job_leaves_the_labels_as_they_were(worker):
    assert "default" not in worker.store.labels("xor")
    job = _submit(worker, "xor", epochs=50, samples=500, promote=Policy.NEVER)
    claimed = worker.jobs.claim(worker.id)
    worker.jobs.cancel(job.id)
    worker.run_job(claimed)
    assert worker.jobs.get(job.id).status is JobStatus.CANCELLED
    assert worker.store.labels("xor") == {}


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_publish_leaves_no_version_and_labels_as_they_were(worker, monkeypatch):
    monkeypatch.setattr(worker.store, "publish", _disk_full)
    job = _run(worker, "xor", **QUICK, promote=Policy.IF_BETTER)
    assert job.status is JobStatus.FAILED and "No space left" in job.error
    assert job.published_version is None
    assert worker.store.versions("xor") == [1]
    assert not (worker.store.root / "xor" / "labels.json").exists()  # the pin was undone


def test_a_label_write_that_fails_after_publishing_is_reported_with_the_version(worker, monkeypatch):
    real = worker.store.set_label

    def full_after_the_pin(name, label, version):
        if version != 1:  # the pin (to the served version 1) goes through; the promotion does not
            _disk_full()
        real(name, label, version)

    monkeypatch.setattr(worker.store, "set_label", full_after_the_pin)
    job = _run(worker, "xor", **QUICK, promote=Policy.ALWAYS)
    assert job.status is JobStatus.FAILED and job.published_version == 2, job
    assert "published version 2" in job.error and "No space left" in job.error
    assert job.promoted is False
    assert worker.store.versions("xor") == [1, 2]
    assert json.loads((worker.store.root / "xor" / "labels.json").read_text()) == {"default": 1}
    assert worker.store.resolve("xor") == 1  # the new version is not served by accident


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
        assert str(service.models_dir) == str(worker.models_dir), env
        assert str(service.state_dir) == str(worker.state_dir), env
        assert cli.models_dir is None and cli.state_dir is None  # the CLI falls back to the same settings
