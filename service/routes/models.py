"""GET /models, /models/<name>, /models/<name>/versions/<v> and its ONNX file."""

from __future__ import annotations

import dataclasses

from flask import Response, current_app, jsonify
from flask_smorest import Blueprint

from service.exports import OnnxExports
from service.routes.common import documented, lookup, registry
from service.schemas.common import ErrorBody
from service.schemas.models import ModelList, ModelSummary, VersionDetail

blp = Blueprint("models", __name__, url_prefix="/models", description="Models, versions and metrics")

SUMMARY, DETAIL = ModelSummary(), VersionDetail()


def _summary(name: str) -> dict:
    reg = registry()
    entry = dataclasses.replace(reg.entry(name), failures=reg.failures(name))
    return SUMMARY.dump(entry)


@blp.route("", methods=["GET"])
@documented(blp.response(200, ModelList))
def list_models():
    """Every model, its versions, labels, served version and any file that failed its checks."""
    return jsonify(models=[_summary(name) for name in sorted(registry().snapshot.models)])


@blp.route("/<name>", methods=["GET"])
@documented(blp.response(200, ModelSummary), blp.alt_response(404, schema=ErrorBody))
def model_detail(name):
    """One model: versions, labels, the served version and its input and output."""
    return jsonify(_summary(name))


@blp.route("/<name>/versions/<int:version>", methods=["GET"])
@documented(blp.response(200, VersionDetail), blp.alt_response(404, schema=ErrorBody))
def version_detail(name, version):
    """One version's metadata, metrics and training record (without its weights)."""
    return jsonify(DETAIL.dump(lookup(name, version=version).info))


ONNX_DOC = {"description": "the version as an ONNX model (opset 17): input FP32 [N, n_features] of raw rows; "
                          "a classifier's outputs probabilities FP32 [N, n_classes] and label INT64 [N], a "
                          "regressor's value FP32 [N, n_outputs]; labels, name, version and task in its "
                          "metadata_props",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "headers": {"Content-Disposition": {"schema": {"type": "string"},
                                                "description": 'attachment; filename="<name>-v<version>.onnx"'}}}


def _exports() -> OnnxExports:
    return current_app.extensions.setdefault("tinymlp.onnx", OnnxExports())


@blp.route("/<name>/versions/<int:version>/model.onnx", methods=["GET"])
@documented(blp.doc(responses={200: ONNX_DOC}), blp.alt_response(404, schema=ErrorBody),
            blp.alt_response(501, schema=ErrorBody, description="the version has a layer ONNX cannot express"))
def version_onnx(name, version):
    """The version as an ONNX file, to run in onnxruntime or Triton (plain tensor outputs, no ZipMap)."""
    model = lookup(name, version=version)
    data = _exports().get(model, registry().store.stamp(name, version))
    return Response(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}-v{version}.onnx"'})
