"""Whether a newly trained version takes the ``default`` label from its parent.

Both versions are scored on the same held-out set, drawn fresh from the job's seed
(never the data it trained on), beside the trivial model: the majority class of the
training data for a classifier, the training mean for a regressor. The rules, in the
order they are tried (``Promotion.rule`` names the one that decided):

- ``trivial``: no policy promotes a version that does no better than that trivial model: a
  red model that calls everything ``not_red`` scores 0.936 and is useless. "Better" means
  by a margin (``MARGIN``): a constant that happens to sit a hair closer to the held-out
  mean than the training mean does is no model either.
- ``never``: not promoted.
- ``much_worse``: ``always`` does not promote a version much worse than its parent (1,000
  examples that relabel pure reds as ``not_red`` took red from 0.9994 to 0.9956 on 200,000
  uniform colours, and ``[255, 0, 0]`` answered ``not_red``). Accuracy near 1 hides how much
  worse a model got: that drop of 0.4 point is seven times the mistakes. So the measure is
  the error (1 - accuracy, or the RMSE), and "much worse" is more error than the parent's
  by a quarter of it (``MUCH``, plus ``FLOOR``: a perfect parent is not betrayed by a
  stray mistake) *and* by more than ``NOISE_SE`` standard errors of the difference, measured
  row by row on that held-out set. The first alone would let chance on a small set block a
  job, the second alone a real but negligible change on a large one: ``always`` means "even
  if it is not better", not "even if it broke the model". ``force`` skips this rule, and
  only this one.
- ``always`` / ``force``: promoted whether or not it beats its parent.
- ``canary``: the label does not move: a version that beats the trivial model is rolled out
  instead (the worker starts a rollout of it against the served version, ``core.rollouts``),
  and live traffic decides.
- ``if_better``: the task's judging metric must improve on the parent's; on a tie the
  held-out loss decides (``tie``), so a version taught something false (a blue colour
  labelled red) does not win by matching its parent on accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

import mlp
from core.jobs.records import Policy, Promotion, Score
from mlp.training import evaluate_batch
from trainer.evaluation import classification_report, regression_report
from trainer.pipeline import EVAL_SEED_OFFSET
from trainer.tasks import Task

TIE = 1e-12
MARGIN = {"accuracy": 1e-3, "rmse": 0.01}  # better than trivial by: accuracy, absolute; rmse, relative
MUCH = 0.25  # much worse: a quarter more error than the parent's...
FLOOR = {"accuracy": 1e-4}  # ...and at least this much more (a perfect parent has no error to take a quarter of)
NOISE_SE = 2.0  # ...and more than this many standard errors of the row-by-row difference (chance)


class Rule(StrEnum):
    TRIVIAL = "trivial"
    NEVER = "never"
    MUCH_WORSE = "much_worse"
    ALWAYS = "always"
    FORCE = "force"
    CANARY = "canary"
    IMPROVED = "improved"
    TIE = "tie"
    NOT_BETTER = "not_better"
    FEEDBACK_TOO_FEW = "feedback_too_few"  # a retraining job: too few feedback rows held back
    FEEDBACK_NOT_BETTER = "feedback_not_better"  # a retraining job: won on held-out data, not on the feedback


@dataclass(frozen=True)
class Difference:
    """The new version against its parent, row by row on the held-out set: how much worse
    (in the metric's units; negative: better) and the standard error of that."""

    worse_by: float
    se: float
    rows: int


def beats_trivial(new: float, baseline: float, metric: str, higher_is_better: bool) -> bool:
    if higher_is_better:
        return new > baseline + MARGIN.get(metric, 1e-3)
    return new < baseline * (1 - MARGIN.get(metric, 0.01))


def _score(task: Task, y_true, y_pred) -> float:
    if task.is_classifier:
        return classification_report(task.labels, y_true, y_pred)[task.target.metric]
    return regression_report(y_true, y_pred)[task.target.metric]


def difference(task: Task, y, parent_pred, new_pred, parent_value: float, new_value: float) -> Difference:
    """Paired: both versions answered the same rows, so the spread of the per-row differences
    (not of each score alone) says how sure the drop is."""
    n = len(y)
    if task.is_classifier:  # accuracy: per-row hit or miss
        d = (np.asarray(parent_pred) == np.asarray(y)).astype(float) - (np.asarray(new_pred) == np.asarray(y))
        return Difference(float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf"), n)
    # rmse: per-row squared errors; their mean difference is MSE_new - MSE_parent, and
    # RMSE_new - RMSE_parent = that / (RMSE_new + RMSE_parent)
    y = np.asarray(y, float)
    d = (np.asarray(new_pred, float) - y) ** 2 - (np.asarray(parent_pred, float) - y) ** 2
    scale = new_value + parent_value
    se = float(d.std(ddof=1) / np.sqrt(n)) / scale if n > 1 and scale > 0 else float("inf")
    return Difference(new_value - parent_value, se, n)


def promote(policy: Policy, parent: mlp.Network, new: mlp.Network, task: Task, seed: int,
            train_targets: np.ndarray) -> Promotion:
    """Score parent, new and the trivial baseline on one held-out set; decide by ``policy``."""
    sets = task.evaluation_sets(np.random.default_rng(seed + EVAL_SEED_OFFSET))
    eval_set = task.target.eval_set if task.target.eval_set in sets else "test"
    X, y = sets[eval_set]
    scores, predictions = {}, {}
    for key, net in (("parent", parent), ("new", new)):
        loss, _ = evaluate_batch(net, net.normalize(X), net.encode_targets(y))
        predictions[key] = net.predict(X)
        scores[key] = Score(float(_score(task, y, predictions[key])), float(loss))
    if task.is_classifier:
        values, counts = np.unique(np.asarray(train_targets, dtype=object).astype(str), return_counts=True)
        trivial = np.full(len(X), values[counts.argmax()], dtype=object)
    else:
        trivial = np.full(len(X), float(np.mean(np.asarray(train_targets, dtype=float))))
    baseline = Score(float(_score(task, y, trivial)))
    diff = difference(task, y, predictions["parent"], predictions["new"], scores["parent"].value,
                      scores["new"].value)
    promoted, rule, reason = decide(policy, scores["parent"], scores["new"], baseline, task.target.metric,
                                    task.target.higher_is_better, diff)
    return Promotion(policy, promoted, reason, eval_set, task.target.metric, scores["parent"], scores["new"],
                     baseline, rule=rule.value)


def much_worse(parent: Score, new: Score, metric: str, higher_is_better: bool, diff: Difference) -> str | None:
    """Why the new version is much worse than its parent (see the module's docstring), or None."""
    error = (lambda v: 1 - v) if higher_is_better else (lambda v: v)
    worse_by = error(new.value) - error(parent.value)
    allowed = MUCH * error(parent.value) + FLOOR.get(metric, 0.0)
    noise = NOISE_SE * diff.se
    if worse_by > allowed and worse_by > noise:
        what = "error rate" if higher_is_better else metric
        return (f"held-out {metric} {parent.value:.6g} -> {new.value:.6g}, its {what} {error(parent.value):.3g} -> "
                f"{error(new.value):.3g}: more than a quarter above its parent's ({allowed:.3g} allowed) and beyond "
                f"chance ({NOISE_SE:g} standard errors of the difference on these {diff.rows} rows: {noise:.2g})")
    return None


def decide(policy: Policy, parent: Score, new: Score, baseline: Score, metric: str, higher_is_better: bool,
           diff: Difference) -> tuple[bool, Rule, str]:
    """(promote?, the rule that decided, why) for a policy and the held-out scores."""
    sign = 1 if higher_is_better else -1
    if not beats_trivial(new.value, baseline.value, metric, higher_is_better):
        return False, Rule.TRIVIAL, (
            f"not promoted whatever the policy: held-out {metric} {new.value:.6g} is no better than the trivial "
            f"model's {baseline.value:.6g} (always answering the majority class, or the training mean)")
    if policy is Policy.NEVER:
        return False, Rule.NEVER, "promote=never"
    if policy is Policy.CANARY:
        return False, Rule.CANARY, (f"promote=canary: it beats the trivial model (held-out {metric} {new.value:.6g} "
                                    f"against {baseline.value:.6g}; its parent {parent.value:.6g}), so it is rolled "
                                    "out as a canary rather than promoted")
    if policy is Policy.ALWAYS and (why := much_worse(parent, new, metric, higher_is_better, diff)):
        return False, Rule.MUCH_WORSE, (f"not promoted: promote=always refuses a version much worse than its "
                                        f"parent: {why}; promote=force would promote it")
    if policy in (Policy.ALWAYS, Policy.FORCE):
        rule = Rule.ALWAYS if policy is Policy.ALWAYS else Rule.FORCE
        return True, rule, (f"promote={policy.value}: promoted whether or not it beats its parent (held-out "
                            f"{metric} {parent.value:.6g} -> {new.value:.6g}; trivial model {baseline.value:.6g})")
    if sign * (new.value - parent.value) > TIE:
        return True, Rule.IMPROVED, f"held-out {metric} improved: {parent.value:.6g} -> {new.value:.6g}"
    if abs(new.value - parent.value) <= TIE and new.loss < parent.loss:
        return True, Rule.TIE, (f"held-out {metric} tied at {new.value:.6g}; loss improved "
                                f"{parent.loss:.6g} -> {new.loss:.6g}")
    return False, Rule.NOT_BETTER, (f"not better on held-out data: {metric} {parent.value:.6g} -> {new.value:.6g}, "
                                    f"loss {parent.loss:.6g} -> {new.loss:.6g}")
