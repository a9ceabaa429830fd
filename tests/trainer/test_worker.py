"""The job worker in-process: publish with parent and job, promotion policies, the trivial
baseline and a parent much better than the new version, cancel at any point before
publishing (between two batches), failures after it, time limit, requeue on shutdown,
a job table that fails for a while, sweeping expired jobs."""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sqlite3
import threading
import time

import pytest

import mlp
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


def test_cancel_stops_and_publishes_nothing(worker):
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


class Batches:
    """Counts the batches trained, in any network (wrapping Network.backward)."""

    def __init__(self, monkeypatch):
        self.n = 0
        real = mlp.Network.backward

        def counted(net, *args, **kwargs):
            self.n += 1
            return real(net, *args, **kwargs)

        monkeypatch.setattr(mlp.Network, "backward", counted)

    def wait_for(self, n: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.n < n:
            assert time.monotonic() < deadline, f"{self.n} batches trained in {timeout} s"
            time.sleep(0.01)
        return self.n


ONE_ROW = {"epochs": 2, "samples": 200_000, "batch_size": 1}  # an epoch is 200,000 batches: many seconds


def _start(worker, job):
    thread = threading.Thread(target=worker.run_job, args=(worker.jobs.claim(worker.id),))
    thread.start()
    return thread


def test_a_cancel_stops_a_job_of_one_row_batches_between_two_batches(worker, monkeypatch):
    # It took 57 s: cancels were looked at between epochs only
    batches = Batches(monkeypatch)
    job = _submit(worker, "xor", **ONE_ROW)
    thread = _start(worker, job)
    asked_at = batches.wait_for(200)
    worker.jobs.cancel(job.id)
    thread.join(timeout=120)
    done = worker.jobs.get(job.id)
    assert done.status is JobStatus.CANCELLED and "in epoch 1" in done.error, done
    assert done.progress == ()  # it stopped inside its first epoch...
    assert batches.n - asked_at < 200_000  # ...fewer batches after the request than an epoch holds
    assert worker.store.versions("xor") == [1]


def test_shutdown_puts_a_job_of_one_row_batches_back_between_two_batches(worker, monkeypatch, caplog):
    # The worker took 49 s to exit on SIGTERM, past compose's 30 s grace
    batches = Batches(monkeypatch)
    job = _submit(worker, "xor", **ONE_ROW)
    thread = _start(worker, job)
    asked_at = batches.wait_for(200)
    with caplog.at_level(logging.INFO, logger="tinymlp.worker"):
        worker.stop()  # what SIGTERM does
        thread.join(timeout=120)
    assert worker.jobs.get(job.id).status is JobStatus.QUEUED
    assert batches.n - asked_at < 200_000 and "stopped in epoch 1" in caplog.text


def test_the_time_limit_stops_a_job_between_two_batches(worker, monkeypatch):
    batches = Batches(monkeypatch)
    worker.config = worker.config.replace(job_time_limit=1.0)
    job = _run(worker, "xor", **ONE_ROW)
    assert job.status is JobStatus.FAILED and "time limit" in job.error and job.progress == ()
    assert batches.n < 200_000


@pytest.fixture(scope="module")
def good_red(tmp_path_factory):
    """red as `make train` trains it (held-out accuracy about 0.9994)."""
    from harness.stores import red_store

    return red_store(tmp_path_factory.mktemp("red") / "models").root


def test_always_refuses_a_version_much_worse_than_its_parent_unless_forced(good_red, tmp_path, job_table):
    # Issue 17: 1,000 examples relabelling pure reds as not_red took accuracy from 0.9994 to
    # 0.9956 and [255, 0, 0] answered not_red, and promote=always promoted it
    from core.jobs import Example

    shutil.copytree(good_red, tmp_path / "models")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"))
    worker = Worker(config, worker_id="w", jobs=job_table())
    relabelled = tuple(Example((255, 0, 0), "not_red") for _ in range(1000))
    always = _run(worker, "red", examples=relabelled, promote=Policy.ALWAYS)
    assert always.status is JobStatus.SUCCEEDED, always.error
    p = always.promotion
    assert always.promoted is False and p.rule == "much_worse", p
    assert (1 - p.new.value) > 2 * (1 - p.parent.value)  # more than twice the mistakes
    assert "promote=force" in p.reason and "standard errors" in p.reason
    assert worker.store.resolve("red") == 1
    assert mlp.load(worker.store.root / "red" / f"{always.published_version}.json").predict([[255, 0, 0]])[0] == \
        "not_red"  # what was refused: the damage is real
    forced = _run(worker, "red", examples=relabelled, promote=Policy.FORCE)
    assert forced.promoted is True and forced.promotion.rule == "force", forced.promotion
    assert worker.store.resolve("red") == forced.published_version


def test_a_drop_within_noise_or_a_quarter_of_the_error_is_not_much_worse():
    from core.jobs import Score
    from trainer.promotion import Difference, Rule, decide

    base = Score(0.5)
    # real (20 standard errors), but a fifth more mistakes than the parent's: always promotes
    assert decide(Policy.ALWAYS, Score(0.99, 0.1), Score(0.988, 0.1), base, "accuracy", True,
                  Difference(0.002, 0.0001, 10**6))[:2] == (True, Rule.ALWAYS)
    # three times the mistakes, but within noise (a small held-out set): always promotes
    assert decide(Policy.ALWAYS, Score(0.99, 0.1), Score(0.97, 0.1), base, "accuracy", True,
                  Difference(0.02, 0.015, 100))[:2] == (True, Rule.ALWAYS)
    # a perfect parent and one stray mistake in ten thousand rows
    assert decide(Policy.ALWAYS, Score(1.0, 0.1), Score(0.9999, 0.1), base, "accuracy", True,
                  Difference(0.0001, 0.00001, 10**6))[:2] == (True, Rule.ALWAYS)
    # past both: refused; force promotes; rmse is an error already
    assert decide(Policy.ALWAYS, Score(0.9994, 0.1), Score(0.9956, 0.1), base, "accuracy", True,
                  Difference(0.0038, 0.0002, 2 * 10**5))[:2] == (False, Rule.MUCH_WORSE)
    assert decide(Policy.FORCE, Score(0.9994, 0.1), Score(0.9956, 0.1), base, "accuracy", True,
                  Difference(0.0038, 0.0002, 2 * 10**5))[:2] == (True, Rule.FORCE)
    assert decide(Policy.ALWAYS, Score(20.0), Score(26.0), Score(80.0), "rmse", False,
                  Difference(6.0, 0.1, 10**4))[:2] == (False, Rule.MUCH_WORSE)
    assert decide(Policy.ALWAYS, Score(20.0), Score(22.0), Score(80.0), "rmse", False,
                  Difference(2.0, 0.1, 10**4))[:2] == (True, Rule.ALWAYS)


def test_the_worker_rides_out_a_locked_job_table(seeded_store_dir, tmp_path, caplog):
    # SQLite locked (or its disk full) for a while: the job trains on, its heartbeats are
    # retried, and it finishes once the table answers again; the worker goes on
    from core.jobs import SQLiteJobTable

    shutil.copytree(seeded_store_dir, tmp_path / "models")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"),
                          job_stale_after=30, job_poll=0.05)
    table = SQLiteJobTable(tmp_path / "state", timeout=0.05)
    worker = Worker(config, worker_id="w", jobs=table)
    job = _submit(worker, "xor", epochs=30, samples=20_000, promote=Policy.NEVER)
    runner = threading.Thread(target=worker.run)
    with caplog.at_level(logging.INFO, logger="tinymlp.worker"):
        runner.start()
        deadline = time.monotonic() + 60
        while not table.get(job.id).progress:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        holder = sqlite3.connect(tmp_path / "state" / "jobs.sqlite3", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # nobody else may read or write
        time.sleep(3)
        holder.execute("ROLLBACK")
        holder.close()
        while not table.get(job.id).status.finished:
            assert time.monotonic() < deadline + 60 and runner.is_alive()
            time.sleep(0.1)
        second = _submit(worker, "quadrant", epochs=1, samples=500)
        while not table.get(second.id).status.finished:
            assert time.monotonic() < deadline + 90 and runner.is_alive()
            time.sleep(0.1)
        worker.stop()
        runner.join(timeout=30)
    done = table.get(job.id)
    assert done.status is JobStatus.SUCCEEDED and done.published_version == 2, done
    assert len(done.progress) == 30  # every epoch's progress got written, the locked ones later
    assert table.get(second.id).status is JobStatus.SUCCEEDED
    assert "heartbeat failed" in caplog.text and "locked" in caplog.text  # it did meet the lock


def test_an_idle_worker_removes_jobs_past_their_retention(worker):
    kept = _submit(worker, "xor", **QUICK)
    worker.run(once=True)
    assert worker.jobs.get(kept.id).status is JobStatus.SUCCEEDED
    worker.sweep()
    assert worker.jobs.get(kept.id)  # 30 days by default
    worker.config = worker.config.replace(job_retention_days=0)
    worker._next_sweep = 0.0
    worker.sweep()
    assert worker.jobs.list().jobs == []


def test_a_worker_started_before_its_job_table_can_be_opened_waits_for_it(seeded_store_dir, tmp_path, caplog):
    # compose may start the worker before PostgreSQL answers; here the state folder cannot
    # be made at first (a file is in its way)
    from core.jobs import SQLiteJobTable

    shutil.copytree(seeded_store_dir, tmp_path / "models")
    (tmp_path / "state").write_text("in the way")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"), job_poll=0.05)
    worker = Worker(config, worker_id="w")
    runner = threading.Thread(target=worker.run)
    with caplog.at_level(logging.INFO, logger="tinymlp.worker"):
        runner.start()
        deadline = time.monotonic() + 30
        while "the job table failed" not in caplog.text:
            assert time.monotonic() < deadline and runner.is_alive()
            time.sleep(0.05)
        (tmp_path / "state").unlink()
        table = SQLiteJobTable(tmp_path / "state")
        job = table.submit("xor", JobParams(**QUICK), 1)
        while not table.get(job.id).status.finished:
            assert time.monotonic() < deadline + 60 and runner.is_alive()
            time.sleep(0.05)
        worker.stop()
        runner.join(timeout=30)
    worker.close()
    assert table.get(job.id).status is JobStatus.SUCCEEDED
    assert "trying again" in caplog.text and "answers again" in caplog.text


def test_canary_starts_a_rollout_of_the_new_version_instead_of_promoting_it(worker):
    from core.rollouts import RolloutTable, control
    from core.rollouts.records import Mode, Status

    job = _run(worker, "xor", **QUICK, promote=Policy.CANARY, percent=25.0)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.published_version == 2 and job.promoted is False and job.promotion.rule == "canary"
    assert worker.store.resolve("xor") == 1  # still the stable
    rollout = control.read(worker.store, "xor")
    assert (rollout.status, rollout.mode, rollout.stable, rollout.candidate, rollout.percent) == (
        Status.RUNNING, Mode.SPLIT, 1, 2, 25.0)
    assert rollout.started_by == f"job {job.id}" and rollout.id in job.promotion.reason
    table = RolloutTable(worker.jobs.db)  # its counters live beside the jobs
    assert table.totals(rollout.id).compared == 0
    again = _run(worker, "xor", **QUICK, promote=Policy.CANARY, seed=1)  # one rollout runs: a second cannot start
    assert again.status is JobStatus.SUCCEEDED and again.published_version == 3 and again.promoted is False
    assert "did not start" in again.promotion.reason and "running already" in again.promotion.reason
    assert control.read(worker.store, "xor").candidate == 2 and worker.store.resolve("xor") == 1


def test_canary_never_rolls_out_a_version_no_better_than_the_trivial_model(worker, monkeypatch):
    from core.rollouts import control
    from trainer import promotion

    monkeypatch.setattr(promotion, "beats_trivial", lambda *a: False)
    job = _run(worker, "xor", **QUICK, promote=Policy.CANARY)
    assert job.status is JobStatus.SUCCEEDED and job.promotion.rule == "trivial"
    assert control.read(worker.store, "xor") is None
