"""The KServe / Triton V2 Open Inference Protocol (REST, JSON tensors only).

One input tensor ``input`` of shape [N, n_features]; outputs ``probabilities`` (FP32
[N, n_classes]) and ``label`` (BYTES [N]) for classifiers, ``value`` (FP32) for regressors.
Errors are ``{"error": "..."}``. The views parse the protocol's bodies and encode its
answers; checking the rows and running the model are the data plane's, as for /predict.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

import service
from service.apidoc import operation, tag
from service.dataplane import V2
from service.encoding import output_specs
from service.errors import MalformedRequest, NotServable
from service.routes.common import lookup, registry, respond
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
from service.tensors import accepted_datatypes

blp = tag(Blueprint("v2", __name__, url_prefix="/v2"), "KServe / Triton V2 inference protocol")


@blp.route("", methods=["GET"])
@operation(responses={200: ServerMetadata})
def server_metadata():
    """Server metadata."""
    return jsonify(name="tinymlp", version=service.__version__, extensions=[])


@blp.route("/health/live", methods=["GET"])
@operation(responses={200: ServerLive})
def live():
    """Live while the process lives."""
    return jsonify(live=True)


@blp.route("/health/ready", methods=["GET"])
@operation(responses={200: ServerReady, 503: V2Error})
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
@operation(responses={200: ModelMetadata, 404: V2Error, 503: V2Error})
def model_metadata(name, version=None):
    """Model metadata: inputs and outputs."""
    return jsonify(_metadata(lookup(name, version=version)))


@blp.route("/models/<name>/ready", methods=["GET"])
@blp.route("/models/<name>/versions/<version:version>/ready", methods=["GET"])
@operation(responses={200: ModelReady, 404: V2Error, 503: V2Error})
def model_ready(name, version=None):
    """200 when the model (version) can serve; 503 saying why when it cannot."""
    m = lookup(name, version=version)
    return jsonify(name=m.name, version=str(m.version), ready=True)


@blp.route("/models/<name>/infer", methods=["POST"])
@blp.route("/models/<name>/versions/<version:version>/infer", methods=["POST"])
@operation(body=InferRequest, responses={200: InferResponse, **{c: V2Error for c in (400, 404, 413, 415, 503)}})
def infer(name, version=None):
    """Inference with JSON tensors."""
    if request.headers.get("Inference-Header-Content-Length"):
        raise MalformedRequest("binary tensor data is not supported; send JSON tensors (binary_data=False)")
    return respond(V2, name, version=version)
