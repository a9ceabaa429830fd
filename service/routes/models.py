"""GET /models, /models/<name>, /models/<name>/versions/<v> and its ONNX file."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, current_app, jsonify

from service import extensions, predlog
from service.apidoc import operation, tag
from service.routes.common import config, lookup, registry
from service.schemas.common import ErrorBody
from service.schemas.models import ModelList, ModelSummary, VersionDetail

blp = tag(Blueprint("models", __name__, url_prefix="/models"), "Models, versions and metrics")

SUMMARY, DETAIL = ModelSummary(), VersionDetail()


def _summary(name: str) -> dict:
    reg = registry()
    entry = dataclasses.replace(reg.entry(name), failures=reg.failures(name))
    return SUMMARY.dump(entry)


@blp.route("", methods=["GET"])
@operation(responses={200: ModelList})
def list_models():
    """Every model, its versions, labels, served version and any file that failed its checks."""
    return jsonify(models=[_summary(name) for name in sorted(registry().snapshot.models)])


@blp.route("/<name>", methods=["GET"])
@operation(responses={200: ModelSummary, 404: ErrorBody})
def model_detail(name):
    """One model: versions, labels, the served version and its input and output, and the
    served version's live quality from feedback (``live``)."""
    summary = _summary(name)
    served = registry().entry(name).served_model
    if served is not None:
        summary["live"] = _live(served)
    return jsonify(summary)


def _live(model) -> dict:
    return predlog.live(extensions.prediction_logs(current_app), model, config().feedback_window)


@blp.route("/<name>/versions/<version:version>", methods=["GET"])
@operation(responses={200: VersionDetail, 404: ErrorBody})
def version_detail(name, version):
    """One version's metadata, metrics and training record (without its weights), and its
    live quality from feedback (``live``)."""
    model = lookup(name, version=version)
    return jsonify({**DETAIL.dump(model.info), "live": _live(model)})


ONNX_FILE = ({"type": "string", "format": "binary"},
             "the version as an ONNX model (opset 17): input FP32 [N, n_features] of raw rows; a classifier's "
             "outputs probabilities FP32 [N, n_classes] and label INT64 [N], a regressor's value FP32 "
             "[N, n_outputs]; labels, name, version and task in its metadata_props; sent as an attachment "
             "named <name>-v<version>.onnx", "application/octet-stream")


@blp.route("/<name>/versions/<version:version>/model.onnx", methods=["GET"])
@operation(responses={200: ONNX_FILE, 404: ErrorBody,
                      501: (ErrorBody, "the version has a layer ONNX cannot express")})
def version_onnx(name, version):
    """The version as an ONNX file, to run in onnxruntime or Triton (plain tensor outputs, no ZipMap)."""
    model = lookup(name, version=version)
    data = extensions.onnx_exports(current_app).get(model, registry().store.stamp(name, version))
    return Response(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}-v{version}.onnx"'})
