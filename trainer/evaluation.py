"""Judging a model on data drawn fresh: accuracy, confusion matrix, per-class
precision/recall/F1 and calibration error for classifiers; RMSE, MAE and R^2 for regressors."""

from __future__ import annotations

import numpy as np

from mlp import Network
from trainer.tasks import Task

ECE_BINS = 15


def expected_calibration_error(proba, correct, bins: int = ECE_BINS) -> float:
    """How far confidence is from accuracy: sum over equal-width bins of the top-class
    probability of (share of rows in the bin) * |accuracy - mean confidence| there.

    proba: (n, n_classes); correct: (n,) booleans, whether each row's top class is right.
    Bins are ((k-1)/bins, k/bins] as in Guo et al. 2017 (the first one takes 0 too).
    """
    conf = np.asarray(proba, dtype=np.float64).max(axis=1)
    correct = np.asarray(correct, dtype=np.float64)
    if len(conf) == 0:
        return 0.0
    idx = np.clip(np.ceil(conf * bins).astype(np.intp) - 1, 0, bins - 1)
    # In a bin of m rows, m * |accuracy - mean confidence| == |sum(correct) - sum(confidence)|.
    gap = np.abs(np.bincount(idx, correct, bins) - np.bincount(idx, conf, bins))
    return float(gap.sum() / len(conf))


def classification_report(labels, y_true, y_pred, proba=None) -> dict:
    """Confusion matrix rows are true labels, columns predicted, in ``labels`` order.

    With ``proba`` (n, n_classes), the probabilities whose top class ``y_pred`` is, the
    report also gives the expected calibration error, ``ece``.
    """
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    t = np.fromiter((index[v] for v in y_true), dtype=np.intp, count=len(y_true))
    p = np.fromiter((index[v] for v in y_pred), dtype=np.intp, count=len(y_pred))
    k = len(labels)
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    report = {
        "n": len(t),
        "accuracy": float(tp.sum() / max(len(t), 1)),
        "confusion_matrix": cm.tolist(),
        "per_class": {
            lab: {"precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(actual[i])}
            for i, lab in enumerate(labels)
        },
    }
    if proba is not None:
        report["ece"] = expected_calibration_error(proba, t == p)
    return report


def regression_report(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "n": len(y_true),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - np.sum(err**2) / ss_tot) if ss_tot > 0 else 0.0,
    }


def evaluate(network: Network, task: Task, seed: int) -> dict:
    """A report per evaluation set of ``task``, drawn fresh from ``seed``."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (X, y) in task.evaluation_sets(rng).items():
        if task.is_classifier:
            proba = network.predict_proba(X)
            pred = np.asarray(network.labels, dtype=object)[proba.argmax(axis=1)]
            out[name] = classification_report(task.labels, y, pred, proba)
        else:
            out[name] = regression_report(y, network.predict(X))
    return out

