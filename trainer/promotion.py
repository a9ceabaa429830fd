"""Whether a newly trained version takes the ``default`` label from its parent.

Both versions are scored on the same held-out set, drawn fresh from the job's seed
(never the data it trained on), beside the trivial model: the majority class of the
training data for a classifier, the training mean for a regressor.

- No policy promotes a version that does no better than that trivial model: a red model
  that calls everything ``not_red`` scores 0.936 and is useless. "Better" means by a margin
  (``MARGIN``): a constant that happens to sit a hair closer to the held-out mean than the
  training mean does is no model either.
- ``if_better``: the task's judging metric must improve on the parent's; on a tie the
  held-out loss decides, so a version taught something false (a blue colour labelled red)
  does not win by matching its parent on accuracy.
- ``always``: promoted whether or not it beats its parent. ``never``: not promoted.
"""

from __future__ import annotations

import numpy as np

import mlp
from core.jobs.records import Policy, Promotion, Score
from mlp.training import evaluate_batch
from trainer.evaluation import classification_report, regression_report
from trainer.pipeline import EVAL_SEED_OFFSET
from trainer.tasks import Task

TIE = 1e-12
MARGIN = {"accuracy": 1e-3, "rmse": 0.01}  # accuracy: points above the trivial; rmse: relative, below it


def beats_trivial(new: float, baseline: float, metric: str, higher_is_better: bool) -> bool:
    if higher_is_better:
        return new > baseline + MARGIN.get(metric, 1e-3)
    return new < baseline * (1 - MARGIN.get(metric, 0.01))


def _score(task: Task, y_true, y_pred) -> float:
    if task.is_classifier:
        return classification_report(task.labels, y_true, y_pred)[task.target.metric]
    return regression_report(y_true, y_pred)[task.target.metric]


def promote(policy: Policy, parent: mlp.Network, new: mlp.Network, task: Task, seed: int,
            train_targets: np.ndarray) -> Promotion:
    """Score parent, new and the trivial baseline on one held-out set; decide by ``policy``."""
    sets = task.evaluation_sets(np.random.default_rng(seed + EVAL_SEED_OFFSET))
    eval_set = task.target.eval_set if task.target.eval_set in sets else "test"
    X, y = sets[eval_set]
    scores = {}
    for key, net in (("parent", parent), ("new", new)):
        loss, _ = evaluate_batch(net, net.normalize(X), net.encode_targets(y))
        scores[key] = Score(float(_score(task, y, net.predict(X))), float(loss))
    if task.is_classifier:
        values, counts = np.unique(np.asarray(train_targets, dtype=object).astype(str), return_counts=True)
        trivial = np.full(len(X), values[counts.argmax()], dtype=object)
    else:
        trivial = np.full(len(X), float(np.mean(np.asarray(train_targets, dtype=float))))
    baseline = Score(float(_score(task, y, trivial)))
    promoted, reason = decide(policy, scores["parent"], scores["new"], baseline, task.target.metric,
                              task.target.higher_is_better)
    return Promotion(policy, promoted, reason, eval_set, task.target.metric, scores["parent"], scores["new"],
                     baseline)


def decide(policy: Policy, parent: Score, new: Score, baseline: Score, metric: str,
           higher_is_better: bool) -> tuple[bool, str]:
    """(promote?, why) for a policy and the held-out scores."""
    sign = 1 if higher_is_better else -1
    if not beats_trivial(new.value, baseline.value, metric, higher_is_better):
        return False, (f"not promoted whatever the policy: held-out {metric} {new.value:.6g} is no better than "
                       f"the trivial model's {baseline.value:.6g} (always answering the majority class, or the "
                       "training mean)")
    if policy is Policy.ALWAYS:
        return True, (f"promote=always: promoted whether or not it beats its parent (held-out {metric} "
                      f"{parent.value:.6g} -> {new.value:.6g}; trivial model {baseline.value:.6g})")
    if policy is Policy.NEVER:
        return False, "promote=never"
    if sign * (new.value - parent.value) > TIE:
        return True, f"held-out {metric} improved: {parent.value:.6g} -> {new.value:.6g}"
    if abs(new.value - parent.value) <= TIE and new.loss < parent.loss:
        return True, (f"held-out {metric} tied at {new.value:.6g}; loss improved "
                      f"{parent.loss:.6g} -> {new.loss:.6g}")
    return False, (f"not better on held-out data: {metric} {parent.value:.6g} -> {new.value:.6g}, "
                   f"loss {parent.loss:.6g} -> {new.loss:.6g}")
