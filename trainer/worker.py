"""The job worker: ``python -m trainer worker`` runs the training jobs the service queues.

It loops: fail jobs whose worker died (``reap``), claim the oldest runnable job, run it.
With nothing to do it removes finished jobs older than TINYMLP_JOB_RETENTION_DAYS (a
small batch at a time, at most once a minute) and waits: on PostgreSQL until a submit or a
job's end wakes it (NOTIFY), on SQLite until its next look (TINYMLP_JOB_POLL). Before each
claim (at most once per ``RETRAIN_CHECK_EVERY``) it queues the jobs the models' retraining
policies call for (``trainer.retraining``): a job that trains on the feedback users sent, and
is promoted only if it also wins on the feedback it held back.

A job trains the parent version further (fresh task samples plus the user's examples)
while a heartbeat thread keeps it alive in the table (once a second at least) and learns of
a cancel request. Training asks between batches, a few times a second (``mlp.fit``'s
``should_stop``), whether it was cancelled, ran past its time limit or the worker is
shutting down, so a job of one-row batches stops as promptly as any. Each epoch reports its
loss and metric. Then, in this order:

1. parent, new version and the trivial baseline are scored on one held-out set and the
   promotion policy decides (``trainer.promotion``);
2. ``start_publishing``: the job table's point of no return. A cancel that got there first
   wins and nothing is published; after it, a cancel is refused (409);
3. the version is published (the store's atomic link) with ``default`` pinned to the
   served version when the model had no ``default``, so it is not served by accident; if
   the publish fails the pin is undone;
4. the job records the version it published, its pictures are drawn (``trainer.pictures``:
   a picture that fails is logged, never fails the job), then the label moves if promoted;
   with ``promote=canary`` a version that beats the trivial model starts a rollout against the
   served version instead (``core.rollouts``), and the promotion's reason says how that went.
   If that fails the job says exactly so, naming the version, and ``default`` stays where it was.

The job table may go away (PostgreSQL killed or restarted, SQLite locked or its disk
full). That is never a reason to exit: each call is retried with capped exponential
backoff and logged. A running job trains on meanwhile, its heartbeats retried; its step
into publishing, the version it published and its end are written once the table is back.
(If the table stays away longer than TINYMLP_JOB_STALE_AFTER, whoever reads it next fails
the job as if its worker had died, since nothing can tell the two apart; the worker then
learns the job is no longer its own and drops it, having published nothing.)

SIGTERM or Ctrl-C: the running job stops between two batches and goes back to the queue
for another worker (unless it has begun publishing: then it finishes); the worker exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from core import settings
from core.jobs import Beat, Job, JobError, JobStatus, JobTable, Progress, Promotion, Unavailable, open_jobs
from core.jobs.reaping import reap
from core.predlog import PredictionLog
from core.rollouts import Mode, RolloutError, RolloutTable
from core.rollouts import Unavailable as RolloutsUnavailable
from core.rollouts import control as rollout_control
from core.store import ModelStore, StoreError
from trainer import pictures, pipeline, retraining, threads
from trainer.promotion import Rule, promote
from trainer.tasks import task_of

log = logging.getLogger("tinymlp.worker")

SWEEP_EVERY = 60.0  # seconds between an idle worker's sweeps of expired jobs
SWEEP_BATCH, SWEEP_BATCHES = 500, 10  # rows per transaction, transactions per sweep
SHUTDOWN_GRACE = 20.0  # seconds a stopping worker keeps trying to write a job's end (compose waits 30)
RETRAIN_CHECK_EVERY = 1.0  # seconds between looks at the retraining policies


# The settings the worker reads, one field each (``TINYMLP_JOB_POLL`` -> ``job_poll``), built
# from their declaration in core.settings.
WorkerConfig = settings.config_class("worker", namespace={
    "heartbeat": property(lambda self: min(1.0, max(0.05, self.job_stale_after / 6)),
                          doc="seconds between heartbeats: a few per stale period, and at least one a second, "
                              "so a cancel request is seen within about a second"),
})


class JobStopped(Exception):
    """Ends a job before it publishes, as ``status`` (cancelled or failed)."""

    def __init__(self, status: JobStatus, message: str):
        super().__init__(message)
        self.status = status


class Requeue(Exception):
    """The worker is shutting down: the job goes back to the queue."""


class JobLost(Exception):
    """The job is not this worker's any more: the table failed it while the worker could not
    reach the table. There is nothing to write."""


class GiveUp(Exception):
    """The worker is shutting down and the job table stayed away past the grace period."""


class Backoff:
    """Capped exponential backoff, with a little jitter so that workers do not retry in step."""

    def __init__(self, first: float = 0.5, cap: float = 10.0):
        self.first, self.cap, self.failures = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return delay * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.failures > 0


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
        self._jobs = jobs
        # host:pid, and a random part: containers on a host's network share its name and each
        # may run its worker as pid 1
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = threading.Event()
        self._next_sweep = 0.0
        self._rollouts: RolloutTable | None = None  # promote=canary's, in the job table's database
        self._predlog: PredictionLog | None = None
        self._next_retrain_check = 0.0

    @property
    def jobs(self) -> JobTable:
        """The job table, opened when first needed (and again, if opening it failed)."""
        if self._jobs is None:
            self._jobs = open_jobs(self.config.state_dir, self.config.database_url)
            log.info("worker %s: jobs in %s, models in %s", self.id, self._jobs.describe(), self.store.root)
        return self._jobs

    @property
    def predlog(self) -> PredictionLog:
        """The prediction log (feedback and retraining policies), in the job table's database."""
        if self._predlog is None:
            self._predlog = PredictionLog.on(self.jobs.db)
        return self._predlog

    def close(self) -> None:
        if self._predlog is not None:
            self._predlog.close()
        if self._jobs is not None:
            self._jobs.close()

    def run(self, once: bool = False) -> None:
        """Work until ``stop()`` (or, with ``once``, until the queue is empty: a batch run, which
        stops at a job-table error rather than waiting it out)."""
        backoff = Backoff()
        while not self.stopping.is_set():
            self.touch()
            try:
                reap(self.jobs, self.store, self.config.job_stale_after)
                self.retrain_check()
                job = self.jobs.claim(self.id)
            except Exception as e:  # the table is down, locked or full: never a reason to exit
                if once:
                    raise
                delay = backoff.next()
                if isinstance(e, JobError):
                    log.warning("worker %s: the job table failed (%s); trying again in %.1f s", self.id, e, delay)
                else:
                    log.exception("worker %s: looking for a job failed; trying again in %.1f s", self.id, delay)
                self.stopping.wait(delay)
                continue
            if backoff.failing:
                log.info("worker %s: the job table answers again", self.id)
                backoff.reset()
            if job is not None:
                try:
                    self.run_job(job)
                except GiveUp:
                    raise
                except Exception:  # one job's trouble never ends the worker: the next job is another
                    log.exception("worker %s: job %s ended in an unexpected error", self.id, job.id)
            elif once:
                return
            else:
                self.sweep()
                self.jobs.wait_for_work(self.config.job_poll, self.stopping)

    def stop(self, *_signal) -> None:
        self.stopping.set()

    def retrain_check(self) -> None:
        """Queue what the retraining policies call for (at most once per RETRAIN_CHECK_EVERY);
        a failure is logged and looked at again next time, never a reason to stop."""
        if time.monotonic() < self._next_retrain_check:
            return
        self._next_retrain_check = time.monotonic() + RETRAIN_CHECK_EVERY
        try:
            retraining.check(self.jobs, self.predlog, self.store, self.config.feedback_window)
        except Exception as e:
            log.warning("worker %s: looking at the retraining policies failed (%s); trying again later", self.id, e)

    def touch(self) -> None:
        if self.config.worker_alive_file:
            Path(self.config.worker_alive_file).touch()

    def sweep(self) -> None:
        """Remove finished jobs past their retention, a few small batches, at most once per
        SWEEP_EVERY: off the path of any job or request, and never holding the table long."""
        if time.monotonic() < self._next_sweep:
            return
        keep = self.config.job_retention_days * 86_400
        removed, full = 0, False
        try:
            for _ in range(SWEEP_BATCHES):
                n = self.jobs.sweep(keep, batch=SWEEP_BATCH)
                removed, full = removed + n, n == SWEEP_BATCH
                if not full or self.stopping.is_set():
                    break
        except JobError as e:
            log.warning("worker %s: removing expired jobs failed (%s); trying again later", self.id, e)
        if removed:
            log.info("worker %s: removed %d jobs finished more than %g days ago", self.id, removed,
                     self.config.job_retention_days)
        self._next_sweep = time.monotonic() + (0 if full else SWEEP_EVERY)

    def persist(self, write: Callable[[], object], what: str):
        """``write()`` retried with backoff until the job table takes it; while shutting down,
        for SHUTDOWN_GRACE at most (then GiveUp)."""
        backoff, since = Backoff(), time.monotonic()
        while True:
            try:
                result = write()
            except Unavailable as e:
                delay = backoff.next()
                if self.stopping.is_set() and time.monotonic() - since + delay > SHUTDOWN_GRACE:
                    raise GiveUp(f"could not {what} before shutting down ({e})") from None
                log.warning("worker %s: could not %s (%s); trying again in %.1f s", self.id, what, e, delay)
                time.sleep(delay)
                continue
            if backoff.failing:
                log.info("worker %s: %s: done, the job table answers again", self.id, what)
            return result

    def run_job(self, job: Job) -> None:
        log.info("job %s: claimed; training %s from version %s", job.id, job.model, job.parent_version)
        progress: list[Progress] = []
        written = [0]  # epochs of progress the table has
        trained = threading.Event()
        started = time.monotonic()
        cancelled, lost, done = threading.Event(), threading.Event(), threading.Event()

        beating = threading.Lock()  # one beat at a time: a late one must not write older progress

        def beat(wait: bool = True) -> None:
            """A heartbeat, with the progress the table has not got yet."""
            if not beating.acquire(blocking=wait):
                return  # the heartbeat thread is at it (perhaps waiting for the table): it writes this too
            try:
                now = list(progress)
                said = self.jobs.beat(job.id, self.id, now if len(now) != written[0] else None)
                written[0] = len(now)
            finally:
                beating.release()
            if said is Beat.CANCEL:
                cancelled.set()
            elif said is Beat.LOST:
                lost.set()

        def heartbeat():
            backoff = Backoff(first=0.25, cap=self.config.heartbeat)
            delay = self.config.heartbeat
            while not done.wait(delay):
                self.touch()
                try:
                    beat()
                except Exception as e:  # the table is away: beat again soon, training goes on
                    delay = backoff.next()
                    if backoff.failures == 1:
                        log.warning("job %s: heartbeat failed (%s); trying again", job.id, e)
                    continue
                if backoff.failing:
                    log.info("job %s: heartbeat written again", job.id)
                    backoff.reset()
                delay = self.config.heartbeat

        def should_stop() -> bool:
            where = "after training" if trained.is_set() else f"in epoch {len(progress) + 1}"
            if lost.is_set():
                raise JobLost(f"job {job.id} was failed by the job table while this worker could not reach it "
                              f"(no heartbeat for TINYMLP_JOB_STALE_AFTER); dropped {where}, nothing published")
            if cancelled.is_set():
                raise JobStopped(JobStatus.CANCELLED, f"cancelled {where} on request; nothing was published")
            if time.monotonic() - started > self.config.job_time_limit:
                raise JobStopped(JobStatus.FAILED,
                                 f"stopped {where}: the job ran past its time limit of "
                                 f"{self.config.job_time_limit:g} s (TINYMLP_JOB_TIME_LIMIT); nothing was published")
            if self.stopping.is_set():
                raise Requeue(f"the worker is shutting down; stopped {where}")
            return False

        def on_epoch(record: dict) -> None:
            progress.append(Progress(record["epoch"], round(record["loss"], 6), round(record["metric"], 6),
                                     round(time.monotonic() - started, 3)))
            with contextlib.suppress(JobError):  # the heartbeat thread writes it once the table is back
                beat(wait=False)
            should_stop()

        beater = threading.Thread(target=heartbeat, name=f"heartbeat-{job.id}", daemon=True)
        beater.start()
        try:
            self._run_and_record(job, progress, on_epoch, should_stop, trained)
        except GiveUp as e:
            log.error("job %s: %s; it will be failed as its worker's after TINYMLP_JOB_STALE_AFTER", job.id, e)
        finally:
            done.set()
            beater.join(timeout=10)

    def _run_and_record(self, job: Job, progress: list[Progress], on_epoch, should_stop, trained) -> None:
        end = f"record the end of job {job.id}"
        try:
            status, promotion, error = self._run(job, on_epoch, should_stop, trained)
            self.persist(lambda: self.jobs.finish(job.id, self.id, status, progress=progress, promotion=promotion,
                                                  error=error), end)
            log.info("job %s: %s (%s)", job.id, status.value, error or (promotion.reason if promotion else ""))
        except Requeue as e:
            if self.persist(lambda: self.jobs.requeue(job.id, self.id), f"put job {job.id} back in the queue"):
                log.info("job %s: back in the queue (%s)", job.id, e)
        except JobLost as e:
            log.warning("job %s: %s", job.id, e)
        except JobStopped as e:
            status, error = e.status, str(e)
            self.persist(lambda: self.jobs.finish(job.id, self.id, status, progress=progress, error=error), end)
            log.info("job %s: %s: %s", job.id, status.value, error)
        except GiveUp:
            raise
        except Exception as e:  # any failure ends the job, with its reason
            log.exception("job %s: failed", job.id)
            error = f"{type(e).__name__}: {e}"
            self.persist(lambda: self.jobs.finish(job.id, self.id, JobStatus.FAILED, progress=progress,
                                                  error=error), end)

    def _run(self, job: Job, on_epoch, should_stop, training_done: threading.Event) -> tuple[
            JobStatus, Promotion, str | None]:
        """Train, decide, publish, promote; (final status, promotion, error after publishing)."""
        name, params = job.model, job.params
        parent = self.store.open(name, job.parent_version)
        changes = {k: getattr(params, k) for k in ("epochs", "learning_rate", "batch_size")
                   if getattr(params, k) is not None}
        seed = params.seed if params.seed is not None else int(job.id[:8], 16)
        task = task_of(parent.info)
        config = pipeline.continue_config(parent, task).replace(seed=seed, **changes)
        examples, feedback = examples_of(job, task.is_classifier), None
        if params.feedback is not None:  # a retraining policy's job: the feedback, a slice held back
            try:
                feedback = retraining.feedback_data(self.predlog, job, task, parent.spec.n_features, seed)
            except retraining.NoFeedback as e:
                raise JobStopped(JobStatus.FAILED, str(e)) from None
            examples = feedback.train if len(feedback.train[0]) else None
        trained = pipeline.train_further(
            self.store, name, from_version=job.parent_version, config=config, samples=params.samples,
            examples=examples, callback=on_epoch, should_stop=should_stop, trained_by="api job",
            extra_record={"job": job.id, "examples": len(examples[0]) if examples else 0})
        training_done.set()
        if feedback is None:
            promotion = promote(params.promote, parent.network, trained.network, task, seed, trained.targets)
        else:  # held-out data and the feedback held back, before the label moves or a canary starts
            promotion = retraining.judge(params.promote, parent.network, trained.network, task, seed,
                                         trained.targets, feedback.held)
        should_stop()  # scoring took a while: a cancel or a shutdown meanwhile still publishes nothing
        if not self.persist(lambda: self.jobs.start_publishing(job.id, self.id), f"start publishing job {job.id}"):
            raise JobStopped(JobStatus.CANCELLED, "cancelled after training, before publishing; nothing was published")
        log.info("job %s: publishing (nothing can cancel it now)", job.id)
        with self.store.default_pinned(name) as pinned:
            published = self.store.publish(name, trained.network, **trained.metadata())
        self.persist(lambda: self.jobs.record_published(job.id, published.version),
                     f"record that job {job.id} published version {published.version}")
        log.info("job %s: published %s version %s", job.id, name, published.version)
        # Before the label moves: a version is served with its pictures. Never fails the job.
        pictures.after_publish(self.store, published, "job worker")
        if pinned is not None:
            promotion = replace(promotion, pinned=f"the default label was set to the then-served version {pinned}, "
                                                "so that the new version is served only if promoted")
        if promotion.rule == Rule.CANARY:
            promotion = replace(promotion, reason=f"{promotion.reason}; {self._canary(job, published.version)}")
        if promotion.promoted:
            try:
                self.store.set_label(name, "default", published.version)
            except (OSError, StoreError) as e:
                return JobStatus.FAILED, replace(promotion, promoted=False), (
                    f"published version {published.version}, but moving the default label to it failed "
                    f"({getattr(e, 'strerror', None) or e}), so the default label still points where it did; "
                    f"move it with `python -m trainer label {name} default {published.version}`")
        return JobStatus.SUCCEEDED, promotion, None


    # -- promote=canary: a rollout instead of a label ----------------------------------------

    def _canary(self, job: Job, version: int) -> str:
        """Start a split rollout of the published version against the served one; what came of
        it, in words (a rollout that cannot start leaves the version published, not served)."""
        percent = job.params.percent if job.params.percent is not None else DEFAULT_CANARY_PERCENT
        try:
            if self._rollouts is None:
                self._rollouts = RolloutTable(self.jobs.db)
            rollout = rollout_control.start(self.store, self._rollouts, job.model, version, mode=Mode.SPLIT,
                                            percent=percent, by=f"job {job.id}")
        except (RolloutError, RolloutsUnavailable, StoreError, OSError) as e:
            log.warning("job %s: the canary rollout of version %s did not start: %s", job.id, version, e)
            return (f"the canary rollout did not start ({e}), so version {version} is published but not served; "
                    f"start one with PUT /models/{job.model}/rollout")
        return (f"rollout {rollout.id} started: v{version} answers {percent:g}% of unpinned requests against "
                f"v{rollout.stable} (GET /models/{job.model}/rollout)")


DEFAULT_CANARY_PERCENT = 10.0


def main(config: WorkerConfig | None = None, once: bool = False) -> None:
    worker = Worker(config or WorkerConfig.from_env())
    if worker.config.job_nice:
        os.nice(worker.config.job_nice)
    threads.one_blas_thread()
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    try:
        worker.run(once=once)
    finally:
        worker.close()
    log.info("worker %s stopped", worker.id)
