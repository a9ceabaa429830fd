"""Judging a model on data drawn fresh: accuracy, confusion matrix, per-class
precision/recall/F1 for classifiers; RMSE, MAE and R^2 for regressors."""

from __future__ import annotations

import numpy as np

from mlp import Network
from trainer.tasks import Task


def classification_report(labels, y_true, y_pred) -> dict:
    """Confusion matrix rows are true labels, columns predicted, in ``labels`` order."""
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
    return {
        "n": len(t),
        "accuracy": float(tp.sum() / max(len(t), 1)),
        "confusion_matrix": cm.tolist(),
        "per_class": {
            lab: {"precision": float(precision[i]), "recall": float(recall[i]),
                  "f1": float(f1[i]), "support": int(actual[i])}
            for i, lab in enumerate(labels)
        },
    }


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
        pred = network.predict(X)
        if task.is_classifier:
            out[name] = classification_report(task.labels, y, pred)
        else:
            out[name] = regression_report(y, pred)
    return out

