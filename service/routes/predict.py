"""POST /predict/<name>[/versions/<v> | /labels/<label>]."""

from __future__ import annotations

from flask import current_app

from service import metrics
from service.errors import APIError
from service.inference import predictions
from service.jsonio import dumps
from service.routes.common import Blueprint, find
from service.schemas import ErrorBody, PredictRequest, PredictResponse
from service.validation import InputError, to_matrix

blp = Blueprint("predict", __name__, url_prefix="/predict",
                description="Predict with the served, a pinned or a labelled version")

ERRORS = {400: "malformed JSON", 404: "unknown model, version or label", 413: "body or batch too large",
          415: "not JSON", 422: "invalid values"}


def _respond(model, body):
    try:
        X = to_matrix(body["inputs"], model.spec, current_app.config["TINYMLP"].max_rows)
    except InputError as e:
        raise APIError(e.status, str(e), e.errors) from None
    preds = predictions(model, X)
    metrics.ROWS.labels(model.name, str(model.version)).inc(len(preds))
    return current_app.response_class(
        dumps({"model": model.name, "version": model.version, "predictions": preds}),
        mimetype="application/json")


def _doc(fn):
    for status, what in ERRORS.items():
        fn = blp.alt_response(status, schema=ErrorBody, description=what)(fn)
    return blp.response(200, PredictResponse)(blp.arguments(PredictRequest)(fn))


@blp.route("/<name>", methods=["POST"])
@_doc
def predict(body, name):
    """Predict with the served version (the default label, else the newest)."""
    return _respond(find(name), body)


@blp.route("/<name>/versions/<int:version>", methods=["POST"])
@_doc
def predict_version(body, name, version):
    """Predict with a pinned version."""
    return _respond(find(name, version=version), body)


@blp.route("/<name>/labels/<label>", methods=["POST"])
@_doc
def predict_label(body, name, label):
    """Predict with the version a label points at."""
    return _respond(find(name, label=label), body)
