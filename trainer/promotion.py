"""Whether a newly trained version takes the ``default`` label from its parent.

Both versions are scored on the same held-out set, drawn fresh from the job's seed
(never the data it trained on): the task's judging metric decides, and on a tie the
held-out loss does, so a version taught something false (a blue colour labelled red)
does not win by matching its parent on accuracy.
"""

from __future__ import annotations

import numpy as np

import mlp
from mlp.training import evaluate_batch
from trainer.evaluation import classification_report, regression_report
from trainer.pipeline import EVAL_SEED_OFFSET
from trainer.tasks import Task

POLICIES = ("if_better", "always", "never")


def held_out_scores(networks: dict[str, mlp.Network], task: Task, seed: int) -> dict:
    """``{"eval_set", "metric", "<key>": {"value", "loss"}}`` for each network, on one set."""
    sets = task.evaluation_sets(np.random.default_rng(seed + EVAL_SEED_OFFSET))
    name = task.target.eval_set if task.target.eval_set in sets else "test"
    X, y = sets[name]
    out = {"eval_set": name, "metric": task.target.metric}
    for key, net in networks.items():
        pred = net.predict(X)
        report = classification_report(task.labels, y, pred) if task.is_classifier else regression_report(y, pred)
        loss, _ = evaluate_batch(net, net.normalize(X), net.encode_targets(y))
        out[key] = {"value": float(report[task.target.metric]), "loss": float(loss)}
    return out


def decide(policy: str, scores: dict, higher_is_better: bool) -> tuple[bool, str]:
    """(promote?, why) for a policy and the scores of ``parent`` and ``new``."""
    if policy == "always":
        return True, "promote=always"
    if policy == "never":
        return False, "promote=never"
    p, n, metric = scores["parent"], scores["new"], scores["metric"]
    sign = 1 if higher_is_better else -1
    if sign * (n["value"] - p["value"]) > 1e-12:
        return True, f"held-out {metric} improved: {p['value']:.6g} -> {n['value']:.6g}"
    if abs(n["value"] - p["value"]) <= 1e-12 and n["loss"] < p["loss"]:
        return True, f"held-out {metric} tied at {n['value']:.6g}; loss improved {p['loss']:.6g} -> {n['loss']:.6g}"
    return False, (f"not better on held-out {scores['eval_set']}: {metric} {p['value']:.6g} -> {n['value']:.6g}, "
                   f"loss {p['loss']:.6g} -> {n['loss']:.6g}")
