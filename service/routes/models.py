"""GET /models, /models/<name>, /models/<name>/versions/<v>."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, jsonify

from service.apidoc import operation, tag
from service.routes.common import lookup, registry
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
    """One model: versions, labels, the served version and its input and output."""
    return jsonify(_summary(name))


@blp.route("/<name>/versions/<version:version>", methods=["GET"])
@operation(responses={200: VersionDetail, 404: ErrorBody})
def version_detail(name, version):
    """One version's metadata, metrics and training record (without its weights)."""
    return jsonify(DETAIL.dump(lookup(name, version=version).info))
