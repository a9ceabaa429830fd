"""Finding the model a request names in the registry, or answering 404/503."""

from __future__ import annotations

from flask import current_app, g

from service.errors import APIError
from service.registry import Model, ModelEntry, Registry


def registry() -> Registry:
    return current_app.extensions["tinymlp.registry"]


def entry(name: str) -> ModelEntry:
    snap = registry().snapshot
    found = snap.models.get(name)
    if found is None:
        known = ", ".join(sorted(snap.models)) or "none loaded"
        raise APIError(404, f"No model named {name!r}; models: {known}.")
    return found


def find(name: str, version: int | None = None, label: str | None = None) -> Model:
    e = entry(name)
    model = e.resolve(version, label)
    if model is None:
        if label is not None and label not in e.labels:
            raise APIError(404, f"Model {name!r} has no label {label!r}; labels: {sorted(e.labels) or 'none'}.")
        if version is not None or label is not None:
            v = version if version is not None else e.labels[label]
            why = f" (it failed its checks: {e.failures[v]})" if v in e.failures else ""
            raise APIError(404, f"Model {name!r} has no servable version {v}{why}; "
                                f"versions: {sorted(e.versions)}.")
        raise APIError(503, f"Model {name!r} has no servable version yet.")
    g.model, g.version = model.name, model.version
    return model
