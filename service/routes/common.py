"""Helpers the views share: the registry in use, and finding a model or answering 404."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import Blueprint as _Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from service.errors import APIError
from service.jsonio import MalformedJSON, loads
from service.registry import Model, ModelEntry, Registry


class StrictJSONParser(FlaskParser):
    """Bodies parsed by ``service.jsonio``: no NaN or Infinity, bounded nesting, and an
    empty or broken body is a 400, not a missing field."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        try:
            return loads(req.get_data(cache=True))
        except MalformedJSON as e:
            raise APIError(400, f"{e}") from None


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()


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
