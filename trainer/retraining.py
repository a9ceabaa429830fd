"""Feedback that becomes retraining, guarded.

A model's retraining policy (``core.predlog.RetrainingPolicy``, set over HTTP or with
``tinymlp retraining``, kept in the shared database) says when its feedback is worth a job.
The job worker looks, between jobs (``check``), at every policy:

- ``after_feedback``: that many feedback rows have arrived since the policy's last job (or
  since it was set), or
- ``accuracy_below``: at least ``min_feedback`` rows have arrived since, and the served
  version's live accuracy over its latest TINYMLP_FEEDBACK_WINDOW feedback rows is below it;

and then queues a continue-training job of the served version, unless the policy's last job
is still queued or running. The trigger is claimed in the database first (a compare-and-set
on the feedback rows it uses), so several workers seeing it queue one job.

The job (``trainer.worker``) reads the newest ``max_rows`` feedback rows up to the trigger,
holds a ``holdout`` share of them back (drawn by the job's seed), and mixes the rest in as
examples, as a /train job's examples are (replayed to about a tenth of the training rows
beside fresh task samples). The new version is then judged twice: on the held-out set of the
task, by the job's promotion policy as any job is (``trainer.promotion``), and on the
held-back feedback (``guard``), where it must beat the served version beyond chance: by more
than ``SLICE_SE`` standard errors of the row-by-row difference, and by at least ``MIN_GAIN``.
On a stream of random labels neither version is better on the slice: by chance a version
clears that bar on about 4 slices in 1,000 where every held-back row is one the two versions
answer differently (60 rows each; ``benchmarks.feedback`` measures it; where, as usual, most
rows get the same answer from both, the gain is diluted below ``MIN_GAIN``), and it must
also have won on held-out data, which learning noise does not bring. Only a version that
wins on both is promoted, and ``promotion.reason`` says how it did on each. ``promote:
"canary"`` (a rollout) follows the same gate: a retraining job judges held-out data by
``if_better``'s rule and then the slice, and only a version that wins on both is rolled out
as a canary (rule ``canary``) rather than promoted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import orjson

import mlp
from core import predlog
from core.jobs import FeedbackSource, Job, JobError, JobNotFound, JobParams, JobTable, Policy, Promotion, SliceScore
from core.store import ModelStore, StoreError
from trainer.evaluation import regression_report
from trainer.promotion import Rule, difference, promote
from trainer.tasks import Task

log = logging.getLogger("tinymlp.retraining")

MIN_SLICE = 20  # held-back rows below this cannot show a version is better
SLICE_SE = 3.0  # better on the slice: by more than this many standard errors of the difference...
MIN_GAIN = {"accuracy": 0.02, "rmse": 0.02}  # ...and by this much (accuracy: absolute; rmse: relative)
HOLDOUT_SEED_OFFSET = 7_919  # the held-back slice is drawn apart from the training data's seed


class NoFeedback(Exception):
    """A retraining job whose feedback rows are gone (swept, or never written)."""


def check(jobs: JobTable, log_: predlog.PredictionLog, store: ModelStore, feedback_window: int) -> list[Job]:
    """Queue the jobs the retraining policies call for now; the jobs queued."""
    queued = []
    for state in log_.policies():
        try:
            job = _check(jobs, log_, store, state, feedback_window)
        except (JobError, predlog.Unavailable, StoreError, mlp.ModelFileError, OSError) as e:
            log.warning("retraining %s: not queued (%s); trying again later", state.model, e)
            continue
        if job is not None:
            queued.append(job)
    return queued


def _check(jobs: JobTable, log_: predlog.PredictionLog, store: ModelStore, state: predlog.PolicyState,
           window: int) -> Job | None:
    name, policy = state.model, state.policy
    if state.last_job is not None:
        try:
            if not jobs.get(state.last_job).status.finished:
                return None  # one retraining job of a model at a time
        except JobNotFound:
            pass
    fresh, through = log_.feedback_since(name, state.consumed)
    if not fresh or name not in store.names():
        return None
    reason = None
    if policy.after_feedback is not None and fresh >= policy.after_feedback:
        reason = f"{fresh} new feedback rows (the policy asks for {policy.after_feedback})"
    elif policy.accuracy_below is not None and fresh >= policy.min_feedback:
        served = store.resolve(name)
        rows, accuracy = log_.window_accuracy(name, served, window)
        if accuracy is not None and accuracy < policy.accuracy_below:
            reason = (f"live accuracy {accuracy:.4g} of version {served} over its latest {rows} feedback rows is "
                      f"below {policy.accuracy_below:g}")
    if reason is None:
        return None
    if not log_.claim(name, state.consumed, through, reason):
        return None  # another process took this trigger
    try:
        params = JobParams(epochs=policy.epochs, samples=policy.samples, promote=Policy(policy.promote),
                           feedback=FeedbackSource(through, policy.max_rows, policy.holdout, reason))
        job = jobs.submit(name, params, parent_version=store.resolve(name))
    except Exception as e:
        log_.unclaim(name, state.consumed, through, f"could not queue a job ({e}); will try again")
        raise
    log_.set_job(name, job.id)
    log.info("retraining %s: queued job %s: %s", name, job.id, reason)
    return job


@dataclass(frozen=True)
class FeedbackData:
    """A retraining job's feedback: the rows it trains on and those it holds back, each
    (X: (n, n_features), truths: labels or values)."""

    train: tuple[np.ndarray, list]
    held: tuple[np.ndarray, list]


def _truth(text: str, classifier: bool):
    if classifier:
        return text
    values = orjson.loads(text)
    return values[0] if len(values) == 1 else values


def feedback_data(log_: predlog.PredictionLog, job: Job, task: Task, n_features: int, seed: int) -> FeedbackData:
    """The job's feedback rows, split: ``holdout`` of them (at least one) held back, drawn by ``seed``."""
    source = job.params.feedback
    rows = [r for r in log_.feedback_rows(job.model, source.through, source.max_rows) if len(r.input) == n_features]
    if not rows:
        raise NoFeedback(f"no feedback rows of {job.model} are left to train on (kept TINYMLP_PREDICTION_LOG_DAYS); "
                         "nothing was published")
    X = np.stack([r.input for r in rows])
    y = [_truth(r.truth, task.is_classifier) for r in rows]
    order = np.random.default_rng(seed + HOLDOUT_SEED_OFFSET).permutation(len(rows))
    k = max(1, round(source.holdout * len(rows)))
    held, train = np.sort(order[:k]), np.sort(order[k:])
    return FeedbackData((X[train], [y[i] for i in train]), (X[held], [y[i] for i in held]))


def judge(policy: Policy, parent: mlp.Network, new: mlp.Network, task: Task, seed: int,
          train_targets: np.ndarray, held: tuple[np.ndarray, list]) -> Promotion:
    """A retraining job's promotion: by ``policy`` on the held-out set, then ``guard`` on the
    held-back feedback. ``canary`` is judged as ``if_better`` and, won on both, rolled out as a
    canary (rule ``canary``) rather than promoted."""
    canary = policy is Policy.CANARY
    judged = guard(promote(Policy.IF_BETTER if canary else policy, parent, new, task, seed, train_targets),
                   parent, new, task, held)
    if not canary:
        return judged
    if not judged.promoted:
        return replace(judged, policy=Policy.CANARY)
    return replace(judged, policy=Policy.CANARY, promoted=False, rule=Rule.CANARY.value,
                   reason=f"{judged.reason}; promote=canary: so it is rolled out as a canary rather than promoted")


def guard(promotion: Promotion, parent: mlp.Network, new: mlp.Network, task: Task,
          held: tuple[np.ndarray, list]) -> Promotion:
    """The job's promotion, promoted only if the new version also beats the parent (the version
    served when the job was queued) on the held-back feedback, beyond chance; ``reason`` says
    how it did on both."""
    X, y = held
    metric = "accuracy" if task.is_classifier else "rmse"
    n = len(X)
    verdict = f"held-out data ({promotion.eval_set}): {promotion.reason}"
    if n < MIN_SLICE:
        return replace(promotion, promoted=False, rule=Rule.FEEDBACK_TOO_FEW.value,
                       feedback=SliceScore(n, metric, None, None, False),
                       reason=f"not promoted: only {n} feedback rows were held back, fewer than the {MIN_SLICE} "
                              f"needed to show the new version is better on them; {verdict}")
    y = np.asarray(y, dtype=object if task.is_classifier else float)
    parent_pred, new_pred = parent.predict(X), new.predict(X)
    if task.is_classifier:
        parent_value = float(np.mean(parent_pred == y))
        new_value = float(np.mean(new_pred == y))
    else:
        parent_value = float(regression_report(y, parent_pred)["rmse"])
        new_value = float(regression_report(y, new_pred)["rmse"])
    diff = difference(task, y, parent_pred, new_pred, parent_value, new_value)
    gain = -diff.worse_by
    least = MIN_GAIN[metric] * (1 if task.is_classifier else parent_value)
    better = gain > SLICE_SE * diff.se and gain >= least
    bar = f"{SLICE_SE:g} standard errors: {SLICE_SE * diff.se:.2g}; at least {least:.3g}"
    on_slice = (f"the {n} held-back feedback rows: {metric} {parent_value:.4g} -> {new_value:.4g}, "
                + (f"better beyond chance (by {gain:.3g}; {bar})" if better else
                   f"not better beyond chance (by {gain:.3g}; {bar})"))
    score = SliceScore(n, metric, parent_value, new_value, better)
    if promotion.promoted and better:
        return replace(promotion, feedback=score, reason=f"{verdict}; and on {on_slice}")
    if promotion.promoted:
        return replace(promotion, promoted=False, rule=Rule.FEEDBACK_NOT_BETTER.value, feedback=score,
                       reason=f"not promoted: it won on {verdict}; but not on {on_slice}")
    return replace(promotion, feedback=score, reason=f"not promoted: {verdict}; on {on_slice}")
