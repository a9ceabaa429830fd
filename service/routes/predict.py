"""POST /predict/<name>[/versions/<v> | /labels/<label>]: parse the body, encode the answer;
the data plane does the rest."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from service import dataplane
from service.encoding import native_json
from service.gcpause import gc_paused
from service.routes.common import body_bytes, config, documented, load_body, lookup
from service.schemas.common import ErrorBody
from service.schemas.predict import PredictRequest, PredictResponse

blp = Blueprint("predict", __name__, url_prefix="/predict",
                description="Predict with the served, a pinned or a labelled version")

ERRORS = {400: "malformed JSON", 404: "unknown model, version or label", 413: "body or batch too large",
          415: "not JSON", 422: "invalid values", 503: "the model has no version that can be served"}

# One schema instance for all requests (building one costs more than checking a row).
REQUEST = PredictRequest()


def _respond(model):
    # A 10,000-row body becomes ~40,000 Python objects, which would trigger a dozen cyclic
    # garbage collections mid-request; none of them are cycles, so collection waits until
    # the answer is written.
    # The parsed rows are a temporary: they are freed inside the block, before collection
    # resumes (alive, they would make that first collection walk all of them).
    with gc_paused():
        raw = body_bytes()
        X = dataplane.check_rows(model, load_body(REQUEST)["inputs"], max_rows=config().max_rows,
                                 may_hold_booleans=b"true" in raw or b"false" in raw)
        body = native_json(dataplane.predict(model, X))
    return current_app.response_class(body, mimetype="application/json")


_doc = documented(blp.arguments(REQUEST), blp.response(200, PredictResponse),
                  *(blp.alt_response(status, schema=ErrorBody, description=what) for status, what in ERRORS.items()))


@blp.route("/<name>", methods=["POST"])
@_doc
def predict(name):
    """Predict with the served version (the default label, else the newest)."""
    return _respond(lookup(name))


@blp.route("/<name>/versions/<version:version>", methods=["POST"])
@_doc
def predict_version(name, version):
    """Predict with a pinned version."""
    return _respond(lookup(name, version=version))


@blp.route("/<name>/labels/<label>", methods=["POST"])
@_doc
def predict_label(name, label):
    """Predict with the version a label points at."""
    return _respond(lookup(name, label=label))
