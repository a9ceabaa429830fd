"""POST /predict/<name>[/versions/<v> | /labels/<label>]: the body to the data plane, its
answer back."""

from __future__ import annotations

from flask import Blueprint

from service.apidoc import operation, tag
from service.dataplane import Native
from service.routes.common import respond
from service.schemas.common import ErrorBody
from service.schemas.predict import PredictRequest, PredictResponse

blp = tag(Blueprint("predict", __name__, url_prefix="/predict"),
          "Predict with the served, a pinned or a labelled version")

_doc = operation(body=PredictRequest, responses={
    200: PredictResponse, 400: (ErrorBody, "malformed JSON"), 404: (ErrorBody, "unknown model, version or label"),
    413: (ErrorBody, "body or batch too large"), 415: (ErrorBody, "not JSON"), 422: (ErrorBody, "invalid values"),
    503: (ErrorBody, "the model has no version that can be served")})


@blp.route("/<name>", methods=["POST"])
@_doc
def predict(name):
    """Predict with the served version (the default label, else the newest)."""
    return respond(Native, name)


@blp.route("/<name>/versions/<version:version>", methods=["POST"])
@_doc
def predict_version(name, version):
    """Predict with a pinned version."""
    return respond(Native, name, version=version)


@blp.route("/<name>/labels/<label>", methods=["POST"])
@_doc
def predict_label(name, label):
    """Predict with the version a label points at."""
    return respond(Native, name, label=label)
