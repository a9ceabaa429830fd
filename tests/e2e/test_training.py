"""Training jobs end to end: a real gunicorn (2 workers) and real job worker processes
sharing one model store and one SQLite job table; and a real job worker on a PostgreSQL
that is killed and started again under it."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from core.jobs import JobStatus
from core.store import ModelStore
from harness.processes import Gunicorn, TrainerWorker
from tests.conftest import require_postgres
from tests.e2e.conftest import call
from trainer import pipeline
from trainer.tasks import TASKS

TOKEN = "e2e-secret-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STALE_AFTER = 2.0  # seconds without a heartbeat before a running job is failed
QUICK = {"epochs": 1, "samples": 500}


class Stack:
    def __init__(self, root):
        self.root = root
        self.models, self.state = root / "models", root / "state"
        self.env = {"TINYMLP_STATE_DIR": str(self.state), "TINYMLP_TRAIN_TOKEN": TOKEN,
                    "TINYMLP_RELOAD_INTERVAL": "0.2", "TINYMLP_JOB_STALE_AFTER": str(STALE_AFTER)}
        self.server = Gunicorn(self.models, workers=2, log_path=root / "gunicorn.log", env=self.env)
        self.workers: list[TrainerWorker] = []

    def add_worker(self) -> TrainerWorker:
        w = TrainerWorker(self.models, self.state, log_path=self.root / f"worker{len(self.workers)}.log",
                          env=self.env).start()
        self.workers.append(w)
        return w

    def api(self, method, path, body=None, headers=AUTH):
        return call(self.server.base, method, path, body, headers)

    def submit(self, model, params):
        status, job = self.api("POST", f"/train/{model}", params)
        assert status == 202, job
        return job

    def wait(self, job_id, until=("succeeded", "failed", "cancelled"), timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = self.api("GET", f"/train/jobs/{job_id}")
            assert status == 200, job
            if job["status"] in until:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


@pytest.fixture
def stack(seeded_store_dir, tmp_path):
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    s = Stack(tmp_path)
    s.server.start()
    try:
        yield s
    finally:
        for w in s.workers:
            w.stop()
        s.server.stop()


def _versions_answering(stack, model, n=40):
    return {call(stack.server.base, "POST", f"/predict/{model}", {"inputs": [[0.5, 0.5]]})[1]["version"]
            for _ in range(n)}


def test_submit_poll_and_the_new_version_answers_on_every_worker(stack):
    stack.add_worker()
    job = stack.wait(stack.submit("xor", {**QUICK, "promote": "always"})["id"])
    assert job["status"] == "succeeded", job
    assert job["published_version"] == 2 and job["promoted"] is True and job["parent_version"] == 1
    assert len(job["progress"]) == 1 and job["started_at"] and job["finished_at"]
    time.sleep(1.0)  # the reload interval is 0.2 s
    assert _versions_answering(stack, "xor") == {2}
    status, detail = stack.api("GET", "/models/xor/versions/2")
    assert status == 200 and detail["parent"] == 1 and detail["training"]["job"] == job["id"]


def test_auth_and_bad_bodies_never_create_a_job(stack):
    assert stack.api("POST", "/train/xor", QUICK, headers={})[0] == 401
    assert stack.api("POST", "/train/xor", QUICK, headers={"Authorization": "Bearer nope"})[0] == 401
    assert stack.api("POST", "/train/xor", {"epochs": -1})[0] == 422
    assert stack.api("POST", "/train/xor", {"examples": [{"input": [5, 5], "label": "1"}]})[0] == 422
    assert stack.api("GET", "/train/jobs")[1]["jobs"] == []


def test_eight_jobs_at_once_run_one_at_a_time_and_none_is_lost(stack):
    stack.add_worker()
    stack.add_worker()  # two workers compete; jobs of one model still run one at a time
    ids, errors = [], []

    def submit():
        try:
            ids.append(stack.submit("quadrant", {**QUICK, "promote": "never"})["id"])
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 8
    jobs = [stack.wait(i, timeout=120) for i in ids]
    assert all(j["status"] == "succeeded" for j in jobs), [j["error"] for j in jobs]
    assert sorted(j["published_version"] for j in jobs) == list(range(2, 10))
    spans = sorted((j["started_at"], j["finished_at"]) for j in jobs)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans
    assert ModelStore(stack.models).versions("quadrant") == list(range(1, 10))


def test_a_worker_killed_mid_job_fails_the_job_and_publishes_nothing(stack):
    worker = stack.add_worker()
    job = stack.submit("red", {"epochs": 500, "samples": 20_000})
    deadline = time.monotonic() + 30
    while not stack.api("GET", f"/train/jobs/{job['id']}")[1]["progress"]:
        assert time.monotonic() < deadline, "the job never reported an epoch"
        time.sleep(0.05)
    worker.kill()
    killed_at = time.monotonic()
    failed = stack.wait(job["id"], until=("failed",), timeout=STALE_AFTER + 10)
    assert time.monotonic() - killed_at <= STALE_AFTER + 3
    assert "heartbeat" in failed["error"] and failed["published_version"] is None
    folder = stack.models / "red"
    assert ModelStore(stack.models).versions("red") == [1]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left
    stack.add_worker()
    nxt = stack.wait(stack.submit("red", {**QUICK, "promote": "never"})["id"])
    assert nxt["status"] == "succeeded" and nxt["published_version"] == 2


def test_cancel_a_running_job_then_remove_it(stack):
    stack.add_worker()
    job = stack.submit("red", {"epochs": 500, "samples": 20_000})
    stack.wait(job["id"], until=("running",))
    status, body = stack.api("DELETE", f"/train/jobs/{job['id']}")
    assert status == 409 and "cancel it first" in body["message"]
    status, body = stack.api("POST", f"/train/jobs/{job['id']}/cancel")
    assert status == 200 and body["cancel_requested"] is True
    done = stack.wait(job["id"], timeout=20)
    assert done["status"] == "cancelled" and done["published_version"] is None
    assert ModelStore(stack.models).versions("red") == [1]
    assert stack.api("DELETE", f"/train/jobs/{job['id']}")[0] == 200
    assert stack.api("GET", f"/train/jobs/{job['id']}")[0] == 404


def test_sigterm_puts_a_job_of_one_row_batches_back_and_the_worker_exits(stack):
    worker = stack.add_worker()
    job = stack.submit("xor", {"epochs": 2, "samples": 200_000, "batch_size": 1})  # 200,000 batches an epoch
    stack.wait(job["id"], until=("running",))
    time.sleep(0.5)  # a few thousand batches into its first epoch
    assert worker.stop(timeout=60) == 0  # SIGTERM; the worker's exit status
    assert stack.api("GET", f"/train/jobs/{job['id']}")[1]["status"] == "queued"
    log = worker.log_path.read_text()
    assert "back in the queue" in log and "stopped in epoch 1" in log, log  # between two batches of epoch 1


def test_promotion_policies_and_examples_that_contradict_the_task(stack):
    store = ModelStore(stack.models)
    red = TASKS["red"]
    pipeline.train_task(red, store, config=red.train.replace(epochs=15))  # a good red model: version 2
    store.set_label("red", "default", 2)
    stack.add_worker()
    never = stack.wait(stack.submit("red", {**QUICK, "promote": "never"})["id"])
    assert never["status"] == "succeeded" and never["promoted"] is False and store.resolve("red") == 2
    lies = [{"input": [0, 0, 255], "label": "red"}, {"input": [10, 20, 240], "label": "red"},
            {"input": [0, 40, 200], "label": "red"}] * 10
    fooled = stack.wait(stack.submit("red", {"epochs": 3, "samples": 5000, "examples": lies})["id"])
    assert fooled["status"] == "succeeded" and fooled["promoted"] is False, fooled["promotion"]
    assert fooled["promotion"]["policy"] == "if_better" and store.resolve("red") == 2
    # one epoch of 500 samples from a good red is a worse red: always may refuse it as much
    # worse than its parent (tests/trainer/test_worker.py pins that rule); force promotes it
    forced = stack.wait(stack.submit("red", {**QUICK, "promote": "force"})["id"])
    assert forced["promoted"] is True and store.resolve("red") == forced["published_version"]
    assert forced["promotion"]["rule"] == "force"


def test_the_worker_survives_postgres_killed_and_started_again(seeded_store_dir, tmp_path):
    # Issue 17: the worker exited on the first error, and its job was failed after the stale
    # timeout although the database came back in 8 s
    from core.jobs import JobParams, Policy, Unavailable
    from core.jobs.postgres import PostgresJobTable
    from harness.processes import Postgres

    require_postgres()  # a server of its own: this test kills it
    shutil.copytree(seeded_store_dir, tmp_path / "models")
    with Postgres() as pg:
        url = pg.create_database("jobs")
        table = PostgresJobTable(url)
        worker = TrainerWorker(tmp_path / "models", tmp_path / "unused", log_path=tmp_path / "worker.log",
                               env={"TINYMLP_DATABASE_URL": url, "TINYMLP_JOB_STALE_AFTER": "30"}).start()

        def status_of(job_id, until, timeout=120):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    job = table.get(job_id)
                    if until(job):
                        return job
                except Unavailable:  # this test's own client meets the restart too
                    pass
                time.sleep(0.1)
            raise AssertionError(f"job {job_id}: {table.get(job_id)}")

        try:
            job = table.submit("xor", JobParams(epochs=4, samples=20_000, batch_size=1, promote=Policy.NEVER), 1)
            status_of(job.id, lambda j: j.progress)  # running, an epoch done
            # every connection dropped, nothing answers for 12 s: longer than two waits for a
            # connection (5 s each), so that whichever of the worker's threads meets the outage
            # first, one of its calls fails and says so
            pg.restart(down_for=12, crash=True)
            done = status_of(job.id, lambda j: j.status.finished)
            assert done.status is JobStatus.SUCCEEDED and done.published_version == 2, done
            assert worker.proc.poll() is None  # alive, and still working:
            nxt = table.submit("quadrant", JobParams(epochs=1, samples=500), 1)
            assert status_of(nxt.id, lambda j: j.status.finished).status is JobStatus.SUCCEEDED
            log = (tmp_path / "worker.log").read_text()
            failed = ("heartbeat failed" in log and "heartbeat written again" in log) or (
                "could not start publishing" in log and "the job table answers again" in log)
            assert failed, log  # it met the outage, and rode it out
        finally:
            worker.stop()
            table.close()
