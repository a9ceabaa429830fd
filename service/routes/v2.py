"""The KServe / Triton V2 Open Inference Protocol (REST, JSON tensors only).

One input tensor ``input`` of shape [N, n_features]; outputs ``probabilities``
(FP32 [N, n_classes]) and ``label`` (BYTES [N]) for classifiers, ``value`` (FP32)
for regressors. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import numpy as np
from flask import current_app, g, jsonify, request
from flask_smorest import Blueprint

import service
from service import metrics
from service.errors import APIError
from service.jsonio import MalformedJSON, dumps, loads
from service.lookup import find, registry
from service.routes.common import documented
from service.schemas_v2 import (
    DATATYPES,
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    V2Error,
)
from service.validation import InputError, to_matrix

blp = Blueprint("v2", __name__, url_prefix="/v2", description="KServe / Triton V2 inference protocol")



@blp.route("", methods=["GET"])
@documented(blp.response(200, ServerMetadata))
def server_metadata():
    """Server metadata."""
    return jsonify(name="tinymlp", version=service.__version__, extensions=[])


@blp.route("/health/live", methods=["GET"])
@documented(blp.response(200, ServerLive))
def live():
    """Live while the process lives."""
    return jsonify(live=True)


@blp.route("/health/ready", methods=["GET"])
@documented(blp.response(200, ServerReady), blp.alt_response(503, schema=V2Error))
def ready():
    """Ready once every model has a servable version."""
    if not registry().snapshot.ready:
        raise APIError(503, "not ready: models are not loaded")
    return jsonify(ready=True)


def _metadata(model) -> dict:
    net = model.network
    k = net.input_spec.n_features
    if net.is_classifier:
        outputs = [{"name": "probabilities", "datatype": "FP32", "shape": [-1, len(net.labels)]},
                   {"name": "label", "datatype": "BYTES", "shape": [-1]}]
    else:
        outputs = [{"name": "value", "datatype": "FP32", "shape": [-1, net.n_outputs]}]
    entry = registry().snapshot.models[model.name]
    return {"name": model.name, "versions": [str(v) for v in sorted(entry.versions)],
            "platform": "tinymlp_numpy",
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, k]}], "outputs": outputs}


@blp.route("/models/<name>", methods=["GET"])
@blp.route("/models/<name>/versions/<int:version>", methods=["GET"])
@documented(blp.response(200, ModelMetadata), blp.alt_response(404, schema=V2Error))
def model_metadata(name, version=None):
    """Model metadata: inputs and outputs."""
    return jsonify(_metadata(find(name, version=version)))


@blp.route("/models/<name>/ready", methods=["GET"])
@blp.route("/models/<name>/versions/<int:version>/ready", methods=["GET"])
@documented(blp.response(200, ModelReady), blp.alt_response(404, schema=V2Error))
def model_ready(name, version=None):
    """200 when the model (version) can serve."""
    m = find(name, version=version)
    return jsonify(name=m.name, version=str(m.version), ready=True)


def _tensor(body, model) -> tuple[np.ndarray, str]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or len(body["inputs"]) != 1:
        raise APIError(400, "the request must hold 'inputs': a list of exactly one tensor named 'input'")
    t = body["inputs"][0]
    if not isinstance(t, dict) or t.get("name") != "input":
        raise APIError(400, "the input tensor must be named 'input'")
    dtype = t.get("datatype")
    if dtype not in DATATYPES:
        raise APIError(400, f"datatype {dtype!r} is not supported; use one of {sorted(DATATYPES)}")
    shape, data = t.get("shape"), t.get("data")
    k = model.spec.n_features
    if (not isinstance(shape, list) or len(shape) != 2 or not all(type(s) is int for s in shape)
            or shape[1] != k or shape[0] < 1):
        raise APIError(400, f"input shape must be [N, {k}] with N >= 1, got {shape!r}")
    if not isinstance(data, list):
        raise APIError(400, "input 'data' must be a list (JSON tensors only)")
    flat = data if not data or not isinstance(data[0], list) else [v for row in data for v in row]
    if len(flat) != shape[0] * k:
        raise APIError(400, f"input has {len(flat)} values but shape {shape} needs {shape[0] * k}")
    if model.spec.dtype == "int" and dtype.startswith("FP"):
        # Integer models accept float tensors whose values are whole numbers.
        if any(type(v) is float and not v.is_integer() for v in flat):
            raise APIError(400, f"model {model.name} takes whole numbers; the input holds fractions")
        flat = [int(v) if type(v) is float else v for v in flat]
    rows = [flat[i : i + k] for i in range(0, len(flat), k)]
    try:
        X = to_matrix(rows, model.spec, current_app.config["TINYMLP"].max_rows, field="input")
    except InputError as e:
        raise APIError(400 if e.status == 422 else e.status, str(e)) from None
    return X, dtype


@blp.route("/models/<name>/infer", methods=["POST"])
@blp.route("/models/<name>/versions/<int:version>/infer", methods=["POST"])
@documented(blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": InferRequest}}}),
            blp.response(200, InferResponse), *(blp.alt_response(c, schema=V2Error) for c in (400, 404, 413)))
def infer(name, version=None):
    """Inference with JSON tensors."""
    if request.headers.get("Inference-Header-Content-Length"):
        raise APIError(400, "binary tensor data is not supported; send JSON tensors (binary_data=False)")
    model = find(name, version=version)
    try:
        body = loads(request.get_data(cache=False))
    except MalformedJSON as e:
        raise APIError(400, str(e)) from None
    X, _ = _tensor(body, model)
    net = model.network
    n = len(X)
    if net.is_classifier:
        proba = net.predict_proba(X).astype(np.float32)
        labels = np.asarray(net.labels, dtype=object)[proba.argmax(axis=1)].tolist()
        outputs = [{"name": "probabilities", "datatype": "FP32", "shape": [n, len(net.labels)],
                    "data": proba.ravel().tolist()},
                   {"name": "label", "datatype": "BYTES", "shape": [n], "data": labels}]
    else:
        out = net.forward(X).astype(np.float32)
        outputs = [{"name": "value", "datatype": "FP32", "shape": list(out.shape), "data": out.ravel().tolist()}]
    wanted = body.get("outputs")
    if isinstance(wanted, list) and wanted:
        names = {o.get("name") for o in wanted if isinstance(o, dict)}
        unknown = names - {o["name"] for o in outputs}
        if unknown:
            raise APIError(400, f"unknown output(s) {sorted(unknown)}; outputs: {[o['name'] for o in outputs]}")
        outputs = [o for o in outputs if o["name"] in names]
    metrics.count_rows(model.name, model.version, n)
    g.model, g.version = model.name, model.version
    resp = {"model_name": model.name, "model_version": str(model.version), "outputs": outputs}
    if isinstance(body.get("id"), str):
        resp["id"] = body["id"]
    return current_app.response_class(dumps(resp), mimetype="application/json")
