"""Running a loaded model on checked rows and shaping the answer."""

from __future__ import annotations

import numpy as np

from service.registry import Model


def predictions(model: Model, X: np.ndarray) -> list[dict]:
    """One entry per row: label and probabilities (classifier) or value (regressor)."""
    net = model.network
    if net.is_classifier:
        proba = net.predict_proba(X)
        labels = net.labels
        names = np.asarray(labels, dtype=object)[proba.argmax(axis=1)].tolist()
        cols = [c.tolist() for c in proba.astype(np.float64).T]
        return [{"label": name, "probabilities": dict(zip(labels, ps))}
                for name, *ps in zip(names, *cols)]
    out = net.forward(X).astype(np.float64)
    if out.shape[1] == 1:
        return [{"value": v} for v in out[:, 0].tolist()]
    return [{"value": row} for row in out.tolist()]


def describe(model: Model) -> dict:
    """A version's metadata and metrics, without its weights."""
    net = model.network
    meta = net.metadata
    training = dict(meta.get("training") or {})
    training.pop("curve", None)
    return {
        "name": model.name,
        "version": model.version,
        "task": meta.get("task"),
        "parent": meta.get("parent"),
        "created_at": meta.get("created_at"),
        "input": net.input_spec.to_dict(),
        "output": ({"kind": "classifier", "labels": net.labels} if net.is_classifier
                   else {"kind": "regressor", "n_outputs": net.n_outputs}),
        "layers": [{"n_in": la.n_in, "n_out": la.n_out, "activation": la.activation.name}
                   for la in net.layers],
        "metrics": meta.get("metrics"),
        "training": training,
        "curve": (meta.get("training") or {}).get("curve"),
    }
