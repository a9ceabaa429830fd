"""Feedback that becomes retraining, in-process on each job backend: policies queue one job per
trigger (after N new rows, or live accuracy below a threshold), never while their last job
runs; the job's feedback is split the same way for the same seed; the guard promotes only a
version that beats the served one on the held-back slice beyond chance as well as on
held-out data; random labels never lead to a promoted version."""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from core.jobs import FeedbackSource, JobParams, JobStatus, Policy, Promotion, Score
from core.predlog import Entry, Judged, PredictionLog, RetrainingPolicy
from core.records import OutputSpec
from trainer import pipeline, retraining
from trainer.tasks import TASKS
from trainer.worker import Worker, WorkerConfig

RED = OutputSpec("classifier", ("red", "not_red"), 2)


@pytest.fixture
def worker(seeded_store_dir, tmp_path, job_table):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    config = WorkerConfig(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"),
                          job_stale_after=5, job_poll=0.05, feedback_window=1000)
    w = Worker(config, worker_id="test-worker", jobs=job_table())
    yield w
    w.close()


def _feedback(worker, model, rows, truths, version=None, rid="r"):
    """Log a request of ``rows`` as ``version`` answered them (its real outputs), then its feedback."""
    log = worker.predlog
    version = version or worker.store.resolve(model)
    net = worker.store.load(model, version)
    X = np.asarray(rows, dtype=float)
    log.write([Entry.of(model, version, rid, X, net.predict_proba(X))])
    logged = log.find(model, [rid])[rid]
    output = worker.store.open(model, version).info.output
    log.record(model, [Judged.of(logged, i, output, t) for i, t in enumerate(truths)])


def test_a_policy_queues_one_job_after_enough_new_feedback_and_none_while_it_runs(worker):
    log = worker.predlog
    log.put_policy("red", RetrainingPolicy(after_feedback=10, epochs=1, samples=500))
    _feedback(worker, "red", [[255, 0, 0]] * 9, ["red"] * 9, rid="a")
    assert retraining.check(worker.jobs, log, worker.store, 1000) == []
    _feedback(worker, "red", [[250, 5, 5]] * 3, ["red"] * 3, rid="b")
    (job,) = retraining.check(worker.jobs, log, worker.store, 1000)
    assert job.model == "red" and job.parent_version == 1 and job.status is JobStatus.QUEUED
    src = job.params.feedback
    assert (src.max_rows, src.holdout) == (5000, 0.2) and "12 new feedback rows" in src.reason
    state = log.policy("red")
    assert state.last_job == job.id and state.new_feedback == 0 and state.last_reason == src.reason
    _feedback(worker, "red", [[0, 0, 255]] * 20, ["not_red"] * 20, rid="c")
    assert retraining.check(worker.jobs, log, worker.store, 1000) == []  # its last job is still queued
    worker.jobs.cancel(job.id)
    (again,) = retraining.check(worker.jobs, log, worker.store, 1000)
    assert again.params.feedback.through > src.through


def test_two_workers_seeing_one_trigger_queue_one_job(worker, job_table):
    log = worker.predlog
    log.put_policy("red", RetrainingPolicy(after_feedback=5))
    _feedback(worker, "red", [[255, 0, 0]] * 5, ["red"] * 5)
    other_jobs = job_table()
    other_log = PredictionLog.on(other_jobs.db)
    queued: list = []
    threads = [threading.Thread(target=lambda j=j, lg=lg: queued.extend(retraining.check(j, lg, worker.store, 1000)))
               for j, lg in ((worker.jobs, log), (other_jobs, other_log))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(queued) == 1 and len(worker.jobs.list(model="red").jobs) == 1


def test_live_accuracy_below_the_threshold_queues_a_job_once_enough_rows_arrived(worker):
    log = worker.predlog
    log.put_policy("red", RetrainingPolicy(accuracy_below=0.9, min_feedback=20))
    net = worker.store.load("red")
    rows = np.random.default_rng(0).integers(0, 256, size=(30, 3))
    answered = net.predict(rows)
    wrong = ["red" if a == "not_red" else "not_red" for a in answered]
    _feedback(worker, "red", rows[:15], wrong[:15], rid="a")  # all wrong, but too few rows to judge
    assert retraining.check(worker.jobs, log, worker.store, 1000) == []
    _feedback(worker, "red", rows[15:], list(answered[15:]), rid="b")  # half right: accuracy 0.5
    (job,) = retraining.check(worker.jobs, log, worker.store, 1000)
    assert "live accuracy 0.5 of version 1 over its latest 30 feedback rows is below 0.9" in job.params.feedback.reason


def test_the_held_back_slice_is_drawn_by_the_seed(worker):
    rows = np.random.default_rng(1).integers(0, 256, size=(50, 3))
    _feedback(worker, "red", rows, ["red"] * 50)
    through = worker.predlog.feedback_since("red", 0)[1]
    job = worker.jobs.submit("red", JobParams(feedback=FeedbackSource(through, 40, 0.25, "test")), parent_version=1)
    task = TASKS["red"]
    one = retraining.feedback_data(worker.predlog, job, task, 3, seed=5)
    two = retraining.feedback_data(worker.predlog, job, task, 3, seed=5)
    other = retraining.feedback_data(worker.predlog, job, task, 3, seed=6)
    assert len(one.held[0]) == 10 and len(one.train[0]) == 30  # the newest 40 rows, a quarter held back
    assert np.array_equal(one.held[0], two.held[0]) and not np.array_equal(one.held[0], other.held[0])
    kept = {tuple(r) for r in np.concatenate([one.held[0], one.train[0]])}
    assert kept == {tuple(r) for r in rows[10:].astype(float)}


def _two_xors(store):
    """Two quickly trained xor networks that answer some rows differently, and those rows."""
    task = TASKS["xor"]
    nets = []
    for seed in (0, 1):
        cfg = task.train.replace(epochs=1, seed=seed)
        nets.append(pipeline.train_task(task, store, name=f"xor{seed}", config=cfg,
                                        data=task.sample(np.random.default_rng(seed), 300)).network)
    X = task.sample(np.random.default_rng(9), 20_000)[0]
    differ = X[nets[0].predict(X) != nets[1].predict(X)][:60]
    assert len(differ) == 60
    return nets, differ


def _held_out(promoted: bool) -> Promotion:
    return Promotion(Policy.IF_BETTER, promoted, "held-out accuracy improved: 0.9 -> 0.95" if promoted else
                     "not better on held-out data: accuracy 0.95 -> 0.9", "test", "accuracy", Score(0.9, 0.3),
                     Score(0.95, 0.2), Score(0.5), rule="improved" if promoted else "not_better")


def test_the_guard_promotes_only_a_version_that_wins_on_both(store):
    (parent, new), X = _two_xors(store)
    task = TASKS["xor"]
    right_for_new = list(new.predict(X))
    both = retraining.guard(_held_out(True), parent, new, task, (X, right_for_new))
    assert both.promoted and both.rule == "improved" and both.feedback.better
    assert (both.feedback.parent, both.feedback.new, both.feedback.rows) == (0.0, 1.0, 60)
    assert "held-out data (test): held-out accuracy improved" in both.reason
    assert "the 60 held-back feedback rows: accuracy 0 -> 1, better beyond chance" in both.reason
    lost_held_out = retraining.guard(_held_out(False), parent, new, task, (X, right_for_new))
    assert not lost_held_out.promoted and lost_held_out.feedback.better and lost_held_out.rule == "not_better"
    assert lost_held_out.reason.startswith("not promoted: held-out data (test): not better")
    right_for_parent = list(parent.predict(X))
    lost_slice = retraining.guard(_held_out(True), parent, new, task, (X, right_for_parent))
    assert not lost_slice.promoted and lost_slice.rule == "feedback_not_better" and not lost_slice.feedback.better
    assert "it won on held-out data" in lost_slice.reason and "not better beyond chance" in lost_slice.reason
    few = retraining.guard(_held_out(True), parent, new, task, (X[:5], right_for_new[:5]))
    assert not few.promoted and few.rule == "feedback_too_few" and "only 5 feedback rows" in few.reason


def test_random_labels_never_make_the_slice_a_win(store):
    (parent, new), X = _two_xors(store)
    labels = np.asarray(TASKS["xor"].labels, dtype=object)
    for seed in range(20):
        noise = list(np.random.default_rng(seed).choice(labels, size=len(X)))
        judged = retraining.guard(_held_out(True), parent, new, TASKS["xor"], (X, noise))
        assert not judged.promoted, (seed, judged.reason)


def test_a_stream_of_random_labels_never_leads_to_a_promoted_version(worker):
    store = worker.store
    red = TASKS["red"]
    pipeline.train_task(red, store, config=red.train.replace(epochs=15), data=None)  # a good red: version 2
    store.set_label("red", "default", 2)
    worker.predlog.put_policy("red", RetrainingPolicy(after_feedback=150, epochs=2, samples=5000))
    rng = np.random.default_rng(11)
    for round_ in range(1, 3):
        rows = rng.integers(0, 256, size=(150, 3))
        _feedback(worker, "red", rows, list(rng.choice(["red", "not_red"], size=150)), rid=f"noise{round_}")
        worker._next_retrain_check = 0.0  # look at the policy now, however soon after the last look
        worker.run(once=True)
        jobs = worker.jobs.list(model="red").jobs
        assert len(jobs) == round_
        job = jobs[0]
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.promoted is False and store.resolve("red") == 2, job.promotion.reason
        # every feedback row so far, a fifth of them held back
        assert job.promotion.feedback.rows == 30 * round_ and "held-back feedback" in job.promotion.reason


def test_a_job_whose_feedback_is_gone_fails_saying_so(worker):
    job = worker.jobs.submit("red", JobParams(feedback=FeedbackSource(999, 100, 0.2, "test")), parent_version=1)
    worker.run(once=True)
    done = worker.jobs.get(job.id)
    assert done.status is JobStatus.FAILED and "no feedback rows of red are left" in done.error
    assert worker.store.versions("red") == [1]
