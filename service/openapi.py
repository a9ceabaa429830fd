"""The OpenAPI document, with every served model under its own paths and exact schemas.

``service.apidoc`` writes the document of the routes from their declarations once; this module then
replaces each route that takes a model name (``/predict/{name}``, ``/v2/models/{name}/infer``,
``/train/{name}``...) by one path per served model (``/predict/red``...) whose bodies say
exactly what that model takes and answers: the feature names, how many, integer or real,
their bounds, the object form with its required keys; the class labels as an enum, or the
value. A client generated from it knows that red takes three integers 0..255, and a
schema-valid request is one the service accepts.

The document follows hot reload: it is rebuilt when the registry's snapshot changes.
"""

from __future__ import annotations

import copy
import math

from mlp import InputSpec
from service.encoding import output_names
from service.registry import Model, Snapshot
from service.schemas.rollouts import DOCUMENT_RULES
from service.tensors import accepted_datatypes

V2_TENSOR_ROWS = 4  # a JSON schema cannot tie a tensor's shape to its data's length: N = 1..4 are listed


def _num(v: float, integer: bool):
    return int(v) if integer else v


def feature_schema(spec: InputSpec, i: int) -> dict:
    integer = spec.dtype == "int"
    out = {"type": "integer" if integer else "number", "title": spec.features[i]}
    if math.isfinite(spec.low[i]):
        out["minimum"] = _num(spec.low[i], integer)
    if math.isfinite(spec.high[i]):
        out["maximum"] = _num(spec.high[i], integer)
    return out


def _loosest(spec: InputSpec) -> dict:
    """One schema every feature's values fit: ``items`` beside ``prefixItems``, for readers
    that know only ``items`` (the same as each feature's when they share their bounds)."""
    integer = spec.dtype == "int"
    out = {"type": "integer" if integer else "number"}
    if all(math.isfinite(v) for v in spec.low):
        out["minimum"] = _num(min(spec.low), integer)
    if all(math.isfinite(v) for v in spec.high):
        out["maximum"] = _num(max(spec.high), integer)
    return out


def row_schema(spec: InputSpec) -> dict:
    k = spec.n_features
    per = [feature_schema(spec, i) for i in range(k)]
    return {"oneOf": [
        {"type": "array", "minItems": k, "maxItems": k, "prefixItems": per, "items": _loosest(spec),
         "description": f"the values in the order {', '.join(spec.features)}"},
        {"type": "object", "properties": dict(zip(spec.features, per)), "required": list(spec.features),
         "additionalProperties": False, "description": "the values keyed by feature name"},
    ]}


def prediction_schema(model: Model) -> dict:
    output = model.info.output
    if output.is_classifier:
        labels = list(output.labels)
        return {"type": "object", "required": ["label", "probabilities"], "properties": {
            "label": {"type": "string", "enum": labels, "description": "the most probable class"},
            "probabilities": {"type": "object", "required": labels, "additionalProperties": False,
                              "properties": {label: {"type": "number"} for label in labels}}}}
    value = {"type": "number"} if output.n_outputs == 1 else {
        "type": "array", "items": {"type": "number"}, "minItems": output.n_outputs, "maxItems": output.n_outputs}
    return {"type": "object", "required": ["value"], "properties": {"value": value}}


def _parameters(forbidden: tuple[str, ...] = ()) -> dict:
    out = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
    if forbidden:
        out["propertyNames"] = {"not": {"enum": list(forbidden)}}
    return out


def infer_request_schema(model: Model, max_rows: int) -> dict:
    spec = model.info.input
    k = spec.n_features
    per = [feature_schema(spec, i) for i in range(k)]
    tensors = []
    for n in range(1, min(V2_TENSOR_ROWS, max_rows) + 1):
        tensors.append({"type": "object", "required": ["name", "datatype", "shape", "data"],
                        "additionalProperties": False, "properties": {
                            "name": {"const": "input"},
                            "datatype": {"enum": list(accepted_datatypes(spec))},
                            "shape": {"type": "array", "prefixItems": [{"const": n}, {"const": k}],
                                      "minItems": 2, "maxItems": 2},
                            "data": {"type": "array", "prefixItems": per * n, "items": _loosest(spec),
                                     "minItems": n * k, "maxItems": n * k,
                                     "description": "row-major values (any N up to TINYMLP_MAX_ROWS is taken; "
                                                    f"N = 1..{V2_TENSOR_ROWS} are listed)"},
                            "parameters": _parameters(("binary_data_size",))}})
    return {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {
        "id": {"type": "string"},
        "parameters": _parameters(),
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"oneOf": tensors}},
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"enum": output_names(model)}, "parameters": _parameters()}}}}}


def example_schema(model: Model) -> dict:
    output = model.info.output
    key, target = (("label", {"type": "string", "enum": list(output.labels)}) if output.is_classifier
                   else ("value", {"type": "number"}))
    return {"type": "object", "required": ["input", key], "additionalProperties": False,
            "properties": {"input": row_schema(model.info.input), key: target}}


class Document:
    """Builds the document for a snapshot, from the generic one ``service.apidoc`` wrote."""

    def __init__(self, base: dict, max_rows: int):
        self.base = base
        self.max_rows = max_rows
        # The snapshot itself, not its id(): a snapshot freed after a reload could leave its
        # id to the next one, which would then be answered with the old document.
        self._for: tuple[Snapshot, dict] | None = None

    def for_snapshot(self, snapshot: Snapshot) -> dict:
        cached = self._for
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        doc = self._build(snapshot)
        self._for = (snapshot, doc)
        return doc

    def _build(self, snapshot: Snapshot) -> dict:
        doc = copy.deepcopy(self.base)
        paths, schemas = doc["paths"], doc.setdefault("components", {}).setdefault("schemas", {})
        for name, rule in DOCUMENT_RULES.items():  # rules of two fields a marshmallow declaration cannot say
            if name in schemas:
                schemas[name].update(rule)
        templates = {p: paths.pop(p) for p in list(paths) if "{name}" in p}
        for name, entry in sorted(snapshot.models.items()):
            model = entry.served_model
            if model is None:
                continue  # it answers 503 until a version can be served
            names = self._components(schemas, model, entry.labels)
            for template, item in templates.items():
                paths[template.replace("{name}", name)] = self._concrete(item, names, entry.labels)
        return doc

    def _components(self, schemas: dict, model: Model, labels) -> dict[str, str]:
        """Add the model's own schemas; their names by the generic schema each replaces."""
        name = model.name
        base_predict = copy.deepcopy(schemas.get("PredictResponse", {}))
        predict_response = {**base_predict, "properties": {
            **base_predict.get("properties", {}),
            "model": {"type": "string", "const": name},
            "predictions": {"type": "array", "items": {"$ref": f"#/components/schemas/Prediction-{name}"}}}}
        train = copy.deepcopy(schemas.get("TrainRequest", {}))
        train.setdefault("properties", {})["examples"] = {
            "type": "array", "maxItems": train["properties"].get("examples", {}).get("maxItems", 1000),
            "items": example_schema(model), "description": "labelled rows mixed into the training data"}
        # a canary's share comes with promote=canary alone (a rule of two fields marshmallow's declaration cannot say)
        train["dependentSchemas"] = {"percent": {"required": ["promote"],
                                                 "properties": {"promote": {"const": "canary"}}}}
        own = {
            f"Row-{name}": row_schema(model.info.input),
            f"Prediction-{name}": prediction_schema(model),
            f"PredictRequest-{name}": {
                "type": "object", "required": ["inputs"], "additionalProperties": False,
                "properties": {"inputs": {"type": "array", "minItems": 1,
                                          "items": {"$ref": f"#/components/schemas/Row-{name}"},
                                          "description": f"rows of {name}'s inputs ("
                                                         f"{', '.join(model.info.input.features)}), at most "
                                                         f"{self.max_rows} (TINYMLP_MAX_ROWS) in a request: "
                                                         "more are refused with 413"}}},
            f"PredictResponse-{name}": predict_response,
            f"InferRequest-{name}": infer_request_schema(model, self.max_rows),
            f"TrainRequest-{name}": train,
        }
        schemas.update(own)
        return {generic: f"{generic}-{name}" for generic in ("PredictRequest", "PredictResponse", "InferRequest",
                                                             "TrainRequest")}

    def _concrete(self, item: dict, names: dict[str, str], labels) -> dict:
        item = copy.deepcopy(item)
        item["parameters"] = [p for p in item.get("parameters", []) if p.get("name") != "name"]
        for p in item["parameters"]:
            if p.get("name") == "label" and labels:
                p["schema"] = {"type": "string", "enum": sorted(labels)}
        if not item["parameters"]:
            del item["parameters"]
        _replace_refs(item, {f"#/components/schemas/{g}": f"#/components/schemas/{c}" for g, c in names.items()})
        return item


def _replace_refs(node, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref in refs:
            node["$ref"] = refs[ref]
        for v in node.values():
            _replace_refs(v, refs)
    elif isinstance(node, list):
        for v in node:
            _replace_refs(v, refs)
