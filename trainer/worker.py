"""The job worker: ``python -m trainer worker`` runs the training jobs the service queues.

It loops: fail jobs whose worker died (``JobStore.reap``), claim the oldest runnable
job, run it, repeat. A job trains the parent version further (``continue_training``,
fresh task samples plus the user's examples), publishes the result as a new version
naming its parent and the job, scores parent and child on one held-out set, and moves
the ``default`` label by the job's promotion policy. While it trains, a heartbeat
thread keeps the job alive in the table; each epoch reports its loss and metric and
checks for a cancel request and the time limit. Publishing is the store's atomic
link, the last step of training: a job stopped or killed before it publishes nothing.

SIGTERM or Ctrl-C: the running job stops at its next epoch and goes back to the queue
for another worker; the worker exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer import pipeline
from trainer.env import models_dir as env_models_dir
from trainer.env import number
from trainer.env import state_dir as env_state_dir
from trainer.jobs import JobStore
from trainer.promotion import decide, held_out_scores
from trainer.store import ModelStore
from trainer.tasks import get_task

log = logging.getLogger("tinymlp.worker")


@dataclass(frozen=True)
class WorkerConfig:
    models_dir: str = "models"
    state_dir: str = "state"
    time_limit: float = 600.0  # seconds a job may train
    stale_after: float = 30.0  # seconds without a heartbeat before a running job is failed
    poll: float = 1.0  # seconds between looks at an empty queue
    nice: int = 10  # training yields the CPU to the service on a shared machine
    alive_file: str | None = None  # touched while the worker lives: a container healthcheck reads it

    @property
    def heartbeat(self) -> float:
        return max(0.05, self.stale_after / 6)

    @classmethod
    def from_env(cls, env=None) -> WorkerConfig:
        env = os.environ if env is None else env
        return cls(
            models_dir=env_models_dir(env),
            state_dir=env_state_dir(env),
            time_limit=number(env, "TINYMLP_JOB_TIME_LIMIT", 600.0, 1, 86_400),
            stale_after=number(env, "TINYMLP_JOB_STALE_AFTER", 30.0, 0.5, 3600),
            poll=number(env, "TINYMLP_JOB_POLL", 1.0, 0.01, 60),
            nice=number(env, "TINYMLP_JOB_NICE", 10, 0, 19, int),
            alive_file=env.get("TINYMLP_WORKER_ALIVE_FILE") or None,
        )


class Stop(Exception):
    """Ends a job before it publishes: ``status`` is cancelled, failed or requeue."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def examples_of(params: dict, task) -> tuple | None:
    rows = params.get("examples") or []
    if not rows:
        return None
    X = np.array([r["input"] for r in rows], dtype=float)
    y = [r["label"] for r in rows] if task.is_classifier else [r["value"] for r in rows]
    return X, y


class Worker:
    def __init__(self, config: WorkerConfig, worker_id: str | None = None):
        self.config = config
        self.store = ModelStore(config.models_dir)
        self.jobs = JobStore(config.state_dir)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()

    def run(self, once: bool = False) -> None:
        """Work until ``stop()`` (or, with ``once``, until the queue is empty)."""
        log.info("worker %s: jobs in %s, models in %s", self.id, self.jobs.path, self.store.root)
        while not self.stopping.is_set():
            self.touch()
            for job_id in self.jobs.reap(self.config.stale_after):
                log.warning("job %s failed: its worker stopped sending heartbeats", job_id)
            job = self.jobs.claim(self.id)
            if job is not None:
                self.run_job(job)
            elif once:
                return
            else:
                self.stopping.wait(self.config.poll)

    def stop(self, *_signal) -> None:
        self.stopping.set()

    def touch(self) -> None:
        if self.config.alive_file:
            Path(self.config.alive_file).touch()

    def run_job(self, job: dict) -> None:
        job_id, name = job["id"], job["model"]
        log.info("job %s: training %s from version %s", job_id, name, job["parent_version"])
        progress: list[dict] = []
        started = time.monotonic()
        cancelled = threading.Event()
        done = threading.Event()

        def heartbeat():
            while not done.wait(self.config.heartbeat):
                self.touch()
                try:
                    if self.jobs.beat(job_id, self.id):
                        cancelled.set()
                except Exception:  # a busy database is retried at the next beat
                    log.exception("job %s: heartbeat failed", job_id)

        def on_epoch(record: dict) -> None:
            progress.append({"epoch": record["epoch"], "loss": round(record["loss"], 6),
                             "metric": round(record["metric"], 6),
                             "seconds": round(time.monotonic() - started, 3)})
            if self.jobs.beat(job_id, self.id, progress) or cancelled.is_set():
                raise Stop("cancelled", f"cancelled at epoch {record['epoch']} on request; nothing was published")
            if time.monotonic() - started > self.config.time_limit:
                raise Stop("failed", f"stopped at epoch {record['epoch']}: the job ran past its time limit of "
                                     f"{self.config.time_limit:g} s (TINYMLP_JOB_TIME_LIMIT); nothing was published")
            if self.stopping.is_set():
                raise Stop("requeue", "the worker is shutting down")

        beater = threading.Thread(target=heartbeat, name=f"heartbeat-{job_id}", daemon=True)
        beater.start()
        try:
            outcome = self._train(job, on_epoch)
            self.jobs.finish(job_id, self.id, "succeeded", progress=progress, **outcome)
            log.info("job %s: published %s version %s (promoted: %s)", job_id, name,
                     outcome["published_version"], outcome["promoted"])
        except Stop as e:
            if e.status == "requeue":
                self.jobs.requeue(job_id, self.id)
                log.info("job %s: back in the queue (%s)", job_id, e)
            else:
                self.jobs.finish(job_id, self.id, e.status, progress=progress, error=str(e))
                log.info("job %s: %s: %s", job_id, e.status, e)
        except Exception as e:  # any failure ends the job, with its reason
            log.exception("job %s failed", job_id)
            self.jobs.finish(job_id, self.id, "failed", progress=progress, error=f"{type(e).__name__}: {e}")
        finally:
            done.set()
            beater.join()

    def _train(self, job: dict, on_epoch) -> dict:
        name, params, parent_version = job["model"], job["params"], job["parent_version"]
        parent = self.store.load(name, parent_version)
        task = get_task(parent.metadata.get("task", ""))
        changes = {k: params[k] for k in ("epochs", "learning_rate", "batch_size") if params.get(k) is not None}
        seed = params["seed"] if params.get("seed") is not None else int(job["id"][:8], 16)
        config = pipeline.continue_config(parent, task).replace(seed=seed, **changes)
        policy = params.get("promote") or "if_better"
        pinned = []

        def pin_served():
            # With no default label the newest version is served; pin the served one just
            # before publishing, so that the new version is served only if it is promoted.
            if policy != "always" and "default" not in self.store.labels(name):
                pinned.append(self.store.resolve(name))
                self.store.set_label(name, "default", pinned[0])

        result = pipeline.continue_training(
            self.store, name, from_version=parent_version, config=config, samples=params.get("samples"),
            examples=examples_of(params, task), callback=on_epoch, trained_by="api job",
            extra_record={"job": job["id"], "examples": len(params.get("examples") or [])},
            before_publish=pin_served)
        version = result.published.version
        scores = held_out_scores({"parent": parent, "new": result.network}, task, seed)
        promoted, reason = decide(policy, scores, task.target.higher_is_better)
        if promoted:
            self.store.set_label(name, "default", version)
        promotion = {"policy": policy, "reason": reason, **scores}
        if pinned:
            promotion["pinned"] = f"the default label was set to the then-served version {pinned[0]}"
        return {"published_version": version, "promoted": promoted, "promotion": promotion}


def main(config: WorkerConfig | None = None, once: bool = False) -> None:
    worker = Worker(config or WorkerConfig.from_env())
    if worker.config.nice:
        os.nice(worker.config.nice)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run(once=once)
    log.info("worker %s stopped", worker.id)

