"""GET /models, /models/<name>, /models/<name>/versions/<v>."""

from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint

from service.inference import describe
from service.lookup import entry, find, registry
from service.routes.common import documented
from service.schemas import ErrorBody, ModelList, ModelSummary, VersionDetail

blp = Blueprint("models", __name__, url_prefix="/models", description="Models, versions and metrics")


def summary(e) -> dict:
    served = e.versions.get(e.served)
    return {
        "name": e.name,
        "task": served.network.metadata.get("task") if served else None,
        "served_version": e.served,
        "versions": sorted(e.versions),
        "labels": e.labels,
        "failures": {str(v): msg for v, msg in sorted(e.failures.items())},
        "label_error": e.label_error,
        "input": served.spec.to_dict() if served else None,
        "output": ({"kind": "classifier", "labels": served.labels} if served and served.labels
                   else {"kind": "regressor"} if served else None),
    }


@blp.route("", methods=["GET"])
@documented(blp.response(200, ModelList))
def list_models():
    """Every model, its versions, labels, served version and any file that failed its checks."""
    snap = registry().snapshot
    return jsonify(models=[summary(e) for _, e in sorted(snap.models.items())])


@blp.route("/<name>", methods=["GET"])
@documented(blp.response(200, ModelSummary), blp.alt_response(404, schema=ErrorBody))
def model_detail(name):
    """One model: versions, labels, the served version and its input and output."""
    return jsonify(summary(entry(name)))


@blp.route("/<name>/versions/<int:version>", methods=["GET"])
@documented(blp.response(200, VersionDetail), blp.alt_response(404, schema=ErrorBody))
def version_detail(name, version):
    """One version's metadata, metrics and training record (without its weights)."""
    return jsonify(describe(find(name, version=version)))
