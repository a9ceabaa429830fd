"""The job worker: ``python -m trainer worker`` runs the training jobs the service queues.

It loops: fail jobs whose worker died (``reap``), claim the oldest runnable job, run it,
repeat. A job trains the parent version further (fresh task samples plus the user's
examples) while a heartbeat thread keeps it alive in the table; each epoch reports its loss
and metric and checks for a cancel request and the time limit. Then, in this order:

1. parent, new version and the trivial baseline are scored on one held-out set and the
   promotion policy decides (``trainer.promotion``);
2. ``start_publishing``: the job table's point of no return. A cancel that got there first
   wins and nothing is published; after it, a cancel is refused (409);
3. the version is published (the store's atomic link) with ``default`` pinned to the
   served version when the model had no ``default``, so it is not served by accident; if
   the publish fails the pin is undone;
4. the job records the version it published, its pictures are drawn (``trainer.pictures``:
   a picture that fails is logged, never fails the job), then the label moves if promoted.
   If that fails the job says exactly so, naming the version, and ``default`` stays where it was.

SIGTERM or Ctrl-C: the running job stops at its next epoch and goes back to the queue
for another worker (unless it has begun publishing: then it finishes); the worker exits 0.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from core import settings
from core.jobs import Job, JobStatus, JobTable, Progress, Promotion, open_jobs
from core.jobs.reaping import reap
from core.store import ModelStore, StoreError
from trainer import pictures, pipeline
from trainer.promotion import promote
from trainer.tasks import task_of

log = logging.getLogger("tinymlp.worker")


# The settings the worker reads, one field each (``TINYMLP_JOB_POLL`` -> ``job_poll``), built
# from their declaration in core.settings.
WorkerConfig = settings.config_class("worker", namespace={
    "heartbeat": property(lambda self: max(0.05, self.job_stale_after / 6),
                          doc="seconds between heartbeats: a few per stale period"),
})


class JobStopped(Exception):
    """Ends a job before it publishes, as ``status`` (cancelled or failed)."""

    def __init__(self, status: JobStatus, message: str):
        super().__init__(message)
        self.status = status


class Requeue(Exception):
    """The worker is shutting down: the job goes back to the queue."""


def examples_of(job: Job, is_classifier: bool) -> tuple | None:
    rows = job.params.examples
    if not rows:
        return None
    X = np.array([e.input for e in rows], dtype=float)
    y = [e.label for e in rows] if is_classifier else [e.value for e in rows]
    return X, y


class Worker:
    def __init__(self, config: WorkerConfig, worker_id: str | None = None, jobs: JobTable | None = None):
        self.config = config
        self.store = ModelStore(config.models_dir, max_model_bytes=config.max_model_bytes)
        self.jobs = jobs or open_jobs(config.state_dir, config.database_url)
        # host:pid, and a random part: containers on a host's network share its name and each
        # may run its worker as pid 1
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = threading.Event()

    def run(self, once: bool = False) -> None:
        """Work until ``stop()`` (or, with ``once``, until the queue is empty)."""
        log.info("worker %s: jobs in %s, models in %s", self.id, self.jobs.describe(), self.store.root)
        while not self.stopping.is_set():
            self.touch()
            reap(self.jobs, self.store, self.config.job_stale_after)
            job = self.jobs.claim(self.id)
            if job is not None:
                self.run_job(job)
            elif once:
                return
            else:
                self.stopping.wait(self.config.job_poll)

    def stop(self, *_signal) -> None:
        self.stopping.set()

    def touch(self) -> None:
        if self.config.worker_alive_file:
            Path(self.config.worker_alive_file).touch()

    def run_job(self, job: Job) -> None:
        log.info("job %s: claimed; training %s from version %s", job.id, job.model, job.parent_version)
        progress: list[Progress] = []
        started = time.monotonic()
        cancelled, done = threading.Event(), threading.Event()

        def heartbeat():
            while not done.wait(self.config.heartbeat):
                self.touch()
                try:
                    if self.jobs.beat(job.id, self.id):
                        cancelled.set()
                except Exception:  # a busy database is retried at the next beat
                    log.exception("job %s: heartbeat failed", job.id)

        def on_epoch(record: dict) -> None:
            progress.append(Progress(record["epoch"], round(record["loss"], 6), round(record["metric"], 6),
                                     round(time.monotonic() - started, 3)))
            if self.jobs.beat(job.id, self.id, progress) or cancelled.is_set():
                raise JobStopped(JobStatus.CANCELLED,
                                 f"cancelled at epoch {record['epoch']} on request; nothing was published")
            if time.monotonic() - started > self.config.job_time_limit:
                raise JobStopped(JobStatus.FAILED,
                                 f"stopped at epoch {record['epoch']}: the job ran past its time limit of "
                                 f"{self.config.job_time_limit:g} s (TINYMLP_JOB_TIME_LIMIT); nothing was published")
            if self.stopping.is_set():
                raise Requeue("the worker is shutting down")

        beater = threading.Thread(target=heartbeat, name=f"heartbeat-{job.id}", daemon=True)
        beater.start()
        try:
            status, promotion, error = self._run(job, on_epoch)
            self.jobs.finish(job.id, self.id, status, progress=progress, promotion=promotion, error=error)
            log.info("job %s: %s (%s)", job.id, status.value, error or (promotion.reason if promotion else ""))
        except Requeue:
            self.jobs.requeue(job.id, self.id)
            log.info("job %s: back in the queue (the worker is shutting down)", job.id)
        except JobStopped as e:
            self.jobs.finish(job.id, self.id, e.status, progress=progress, error=str(e))
            log.info("job %s: %s: %s", job.id, e.status.value, e)
        except Exception as e:  # any failure ends the job, with its reason
            log.exception("job %s: failed", job.id)
            self.jobs.finish(job.id, self.id, JobStatus.FAILED, progress=progress, error=f"{type(e).__name__}: {e}")
        finally:
            done.set()
            beater.join()

    def _run(self, job: Job, on_epoch) -> tuple[JobStatus, Promotion, str | None]:
        """Train, decide, publish, promote; (final status, promotion, error after publishing)."""
        name, params = job.model, job.params
        parent = self.store.open(name, job.parent_version)
        changes = {k: getattr(params, k) for k in ("epochs", "learning_rate", "batch_size")
                   if getattr(params, k) is not None}
        seed = params.seed if params.seed is not None else int(job.id[:8], 16)
        task = task_of(parent.info)
        config = pipeline.continue_config(parent, task).replace(seed=seed, **changes)
        trained = pipeline.train_further(
            self.store, name, from_version=job.parent_version, config=config, samples=params.samples,
            examples=examples_of(job, task.is_classifier), callback=on_epoch, trained_by="api job",
            extra_record={"job": job.id, "examples": len(params.examples)})
        promotion = promote(params.promote, parent.network, trained.network, task, seed, trained.targets)
        if not self.jobs.start_publishing(job.id, self.id):
            raise JobStopped(JobStatus.CANCELLED, "cancelled after training, before publishing; nothing was published")
        log.info("job %s: publishing (nothing can cancel it now)", job.id)
        with self.store.default_pinned(name) as pinned:
            published = self.store.publish(name, trained.network, **trained.metadata())
        self.jobs.record_published(job.id, published.version)
        log.info("job %s: published %s version %s", job.id, name, published.version)
        # Before the label moves: a version is served with its pictures. Never fails the job.
        pictures.after_publish(self.store, published, "job worker")
        if pinned is not None:
            promotion = replace(promotion, pinned=f"the default label was set to the then-served version {pinned}, "
                                                "so that the new version is served only if promoted")
        if promotion.promoted:
            try:
                self.store.set_label(name, "default", published.version)
            except (OSError, StoreError) as e:
                return JobStatus.FAILED, replace(promotion, promoted=False), (
                    f"published version {published.version}, but moving the default label to it failed "
                    f"({getattr(e, 'strerror', None) or e}), so the default label still points where it did; "
                    f"move it with `python -m trainer label {name} default {published.version}`")
        return JobStatus.SUCCEEDED, promotion, None


def main(config: WorkerConfig | None = None, once: bool = False) -> None:
    worker = Worker(config or WorkerConfig.from_env())
    if worker.config.job_nice:
        os.nice(worker.config.job_nice)
    # One BLAS thread: the networks are small, and several workers on one host (or beside the
    # API's gunicorn workers) with a threaded BLAS each oversubscribe the cores, their threads
    # spinning (benchmarks.jobs_throughput: 2 workers ran at under half the rate of 1). A
    # thread count given in the environment wins.
    if not any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run(once=once)
    log.info("worker %s stopped", worker.id)
