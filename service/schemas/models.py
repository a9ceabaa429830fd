"""GET /models, /models/<name>, /models/<name>/versions/<v>, /healthz and /readyz answers,
dumped from the registry's typed records (``ModelEntry``, ``VersionInfo``)."""

from __future__ import annotations

import dataclasses

from marshmallow import fields

from service.schemas.common import Answer
from service.schemas.feedback import LIVE_DOC

SPEC_DOC = {"type": "object", "description": "feature names, integer or real, and bounds (null: none)",
            "properties": {"features": {"type": "array", "items": {"type": "string"}},
                           "dtype": {"type": "string", "enum": ["int", "float"]},
                           "low": {"type": "array", "items": {"type": ["number", "null"]}},
                           "high": {"type": "array", "items": {"type": ["number", "null"]}}}}
OUTPUT_DOC = {"type": "object", "description": "classifier (with its labels) or regressor (with n_outputs)",
              "properties": {"kind": {"type": "string", "enum": ["classifier", "regressor"]},
                             "labels": {"type": "array", "items": {"type": "string"}},
                             "n_outputs": {"type": "integer"}}}


def output_dict(output) -> dict:
    if output.is_classifier:
        return {"kind": "classifier", "labels": list(output.labels)}
    return {"kind": "regressor", "n_outputs": output.n_outputs}


class ModelSummary(Answer):
    name = fields.String(required=True)
    task = fields.Method("_task", required=True, metadata={"type": ["string", "null"]})
    served_version = fields.Integer(attribute="served", allow_none=True, required=True)
    versions = fields.List(fields.Integer(), required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    failures = fields.Method("_failures", required=True, metadata={
        "type": "object", "additionalProperties": {"type": "string"},
        "description": "version -> why its file was refused"})
    label_error = fields.String(allow_none=True, metadata={
        "description": "labels.json is unreadable, or its default names a missing or broken version"})
    unservable = fields.String(allow_none=True, metadata={"description": "why nothing is served, if so"})
    input = fields.Method("_input", required=True, metadata={**SPEC_DOC, "type": ["object", "null"]})
    output = fields.Method("_output", required=True, metadata={**OUTPUT_DOC, "type": ["object", "null"]})
    live = fields.Dict(metadata={**LIVE_DOC, "description": "GET /models/<name> only: the served version's "
                                                            + LIVE_DOC["description"]})

    def _task(self, entry):
        served = entry.served_model
        return served.info.task if served else None

    def _failures(self, entry):
        return {str(v): why for v, why in entry.failures.items()}

    def _input(self, entry):
        served = entry.served_model
        return served.info.input.to_dict() if served else None

    def _output(self, entry):
        served = entry.served_model
        return output_dict(served.info.output) if served else None


class ModelList(Answer):
    models = fields.List(fields.Nested(ModelSummary), required=True)


class Headline(Answer):
    metric = fields.String(required=True)
    eval_set = fields.String(required=True)
    value = fields.Float(allow_none=True)
    bar = fields.Float(allow_none=True)
    met = fields.Boolean(allow_none=True)


class VersionDetail(Answer):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    task = fields.String(allow_none=True)
    parent = fields.Integer(allow_none=True)
    created_at = fields.String(allow_none=True)
    input = fields.Method("_input", required=True, metadata=SPEC_DOC)
    output = fields.Method("_output", required=True, metadata=OUTPUT_DOC)
    layers = fields.Method("_layers", required=True, metadata={
        "type": "array", "items": {"type": "object", "properties": {
            "n_in": {"type": "integer"}, "n_out": {"type": "integer"}, "activation": {"type": "string"}}}})
    metrics = fields.Method("_metrics", metadata={
        "type": "object", "description": "per evaluation set, and the headline the version is judged by"})
    training = fields.Method("_training", allow_none=True, metadata={
        "type": "object", "description": "how it was made: by whom, config, seed, data hash; drift_reference: "
                                         "whether it records its training data's quantiles (drift)"})
    curve = fields.Method("_curve", metadata={
        "type": "array", "items": {"type": "object"}, "description": "loss and metric per epoch"})
    live = fields.Dict(metadata=LIVE_DOC)

    def _input(self, info):
        return info.input.to_dict()

    def _output(self, info):
        return output_dict(info.output)

    def _layers(self, info):
        return [dataclasses.asdict(la) for la in info.layers]

    def _metrics(self, info):
        out = dict(info.metrics)
        if info.headline is not None:
            out["headline"] = dataclasses.asdict(info.headline)
        return out

    def _training(self, info):
        if info.training is None:
            return None
        # the drift reference is hundreds of numbers: GET /models/<name>/drift reads it
        return {**info.training.to_dict(with_curve=False, with_reference=False),
                "drift_reference": info.training.reference is not None}

    def _curve(self, info):
        return info.training.to_dict()["curve"] if info.training else []


class Health(Answer):
    status = fields.String(required=True)


class Ready(Answer):
    status = fields.String(required=True)
    models = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True), required=True,
                         metadata={"description": "the version each servable model serves"})
    failures = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": "models that cannot be served, and why (each is itself "
                                                    "not ready; the service stays in rotation)"})
    reload_interval = fields.Float(required=True, metadata={
        "description": "seconds between this service's store scans (TINYMLP_RELOAD_INTERVAL): a version promoted "
                       "on the store is served by every worker and replica within it, plus the time to load it"})


class NotReady(Answer):
    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "why, and what to do"})
    failures = fields.Dict(keys=fields.String(), values=fields.String())
    reload_interval = fields.Float(metadata={"description": "seconds between this service's store scans"})
