"""The KServe / Triton V2 Open Inference Protocol (REST, JSON tensors only).

One input tensor ``input`` of shape [N, n_features]; outputs ``probabilities`` (FP32
[N, n_classes]) and ``label`` (BYTES [N]) for classifiers, ``value`` (FP32) for regressors.
Errors are ``{"error": "..."}``. The views parse the protocol's bodies and encode its
answers; checking the rows and running the model are the data plane's, as for /predict.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

import service
from service import dataplane
from service.encoding import output_names, output_specs, v2_outputs
from service.errors import MalformedRequest, NotServable
from service.gcpause import gc_paused
from service.jsonio import dumps
from service.routes.common import config, documented, invalid, json_body, lookup, registry
from service.schemas.v2 import (
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    V2Error,
)
from service.tensors import accepted_datatypes, rows_of

blp = Blueprint("v2", __name__, url_prefix="/v2", description="KServe / Triton V2 inference protocol")

REQUEST = InferRequest()


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
    """Ready once the store is scanned and a model can be served (a broken model is itself not ready)."""
    if not registry().snapshot.ready:
        raise NotServable("not ready: no model can be served yet; see /readyz")
    return jsonify(ready=True)


def _metadata(model) -> dict:
    spec = model.info.input
    versions = registry().entry(model.name).versions
    return {"name": model.name, "versions": [str(v) for v in versions], "platform": "tinymlp_numpy",
            "inputs": [{"name": "input", "datatype": accepted_datatypes(spec)[0], "shape": [-1, spec.n_features]}],
            "outputs": output_specs(model)}


@blp.route("/models/<name>", methods=["GET"])
@blp.route("/models/<name>/versions/<version:version>", methods=["GET"])
@documented(blp.response(200, ModelMetadata), blp.alt_response(404, schema=V2Error),
            blp.alt_response(503, schema=V2Error))
def model_metadata(name, version=None):
    """Model metadata: inputs and outputs."""
    return jsonify(_metadata(lookup(name, version=version)))


@blp.route("/models/<name>/ready", methods=["GET"])
@blp.route("/models/<name>/versions/<version:version>/ready", methods=["GET"])
@documented(blp.response(200, ModelReady), blp.alt_response(404, schema=V2Error),
            blp.alt_response(503, schema=V2Error))
def model_ready(name, version=None):
    """200 when the model (version) can serve; 503 saying why when it cannot."""
    m = lookup(name, version=version)
    return jsonify(name=m.name, version=str(m.version), ready=True)


def _decode(model) -> tuple:
    """The request's tensor as a checked matrix, the outputs asked for (None: all), its id."""
    try:
        body = REQUEST.load(json_body())
    except ValidationError as e:  # the protocol's 400
        raise invalid(e.messages, MalformedRequest) from None
    tensor = body["inputs"][0]
    if "binary_data_size" in (tensor.get("parameters") or {}):
        raise MalformedRequest("binary tensor data is not supported; send JSON tensors (binary_data=False)")
    wanted = [o["name"] for o in body.get("outputs") or ()] or None  # none named: all of them
    if wanted:
        unknown = sorted(set(wanted) - set(output_names(model)))
        if unknown:
            raise MalformedRequest(f"unknown output(s) {unknown[:5]}; {model.name} has {output_names(model)}")
    X = dataplane.check_rows(model, rows_of(tensor, model.spec, model.name), max_rows=config().max_rows,
                             field="input")
    return X, wanted, body.get("id")


@blp.route("/models/<name>/infer", methods=["POST"])
@blp.route("/models/<name>/versions/<version:version>/infer", methods=["POST"])
@documented(blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": InferRequest}}}),
            blp.response(200, InferResponse),
            *(blp.alt_response(c, schema=V2Error) for c in (400, 404, 413, 415, 503)))
def infer(name, version=None):
    """Inference with JSON tensors."""
    if request.headers.get("Inference-Header-Content-Length"):
        raise MalformedRequest("binary tensor data is not supported; send JSON tensors (binary_data=False)")
    model = lookup(name, version=version)
    with gc_paused():  # the parsed body dies inside: see routes.predict
        X, wanted, request_id = _decode(model)
        answer = {"model_name": model.name, "model_version": str(model.version),
                  "outputs": v2_outputs(dataplane.predict(model, X), wanted)}
        if request_id is not None:
            answer["id"] = request_id
        payload = dumps(answer)
    return current_app.response_class(payload, mimetype="application/json")
