"""PUT, GET and DELETE /models/<name>/rollout, POST /models/<name>/rollout/promote: rolling out
a version (``core.rollouts``; routing and comparing are ``service.rollouts``).

Changes take the bearer token of /train; reading is open, like the rest of /models.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from core import rollouts as rl
from core.rollouts import control
from core.rollouts.figures import Totals, figures
from core.rollouts.records import Guards
from core.store import NoServableVersion, StoreError
from core.store import NotFound as StoreNotFound
from service import extensions
from service.apidoc import operation, tag
from service.errors import (
    Conflict,
    InvalidInput,
    ModelNotFound,
    NotFound,
    NotServable,
    ServiceError,
    Unavailable,
    VersionNotFound,
)
from service.routes.common import error_answers, load_body, registry
from service.routes.train import authorized
from service.schemas.rollouts import RolloutAnswer, RolloutRequest

blp = tag(Blueprint("rollouts", __name__, url_prefix="/models"),
          "Roll out a version: a canary share or a shadow, compared live with the served version")

REQUEST = RolloutRequest()
TOKEN = {401: "missing or wrong bearer token", 403: "changes are off (no token configured)"}
UNAVAILABLE = {503: "the rollout's counters (the shared database) or the model store cannot be used"}


def _service():
    return extensions.rollouts(current_app)


def _domain(e: Exception) -> ServiceError:
    """A rollout or store error as the answer it is."""
    message = str(e) if str(e).endswith(".") else f"{e}."
    if isinstance(e, control.VersionMissing):
        return VersionNotFound(message)
    if isinstance(e, control.NoRollout):
        return NotFound(message)
    if isinstance(e, control.AlreadyRunning | control.NotRunning | control.SameVersion):
        return Conflict(message)
    if isinstance(e, control.Unsuitable):
        return InvalidInput(message, errors=[{"field": "candidate", "message": str(e)}])
    if isinstance(e, rl.Unavailable):
        return Unavailable(f"The rollout's counters cannot be reached: {e}.")
    if isinstance(e, StoreNotFound):
        return ModelNotFound(message)
    if isinstance(e, NoServableVersion):
        return NotServable(message)
    if isinstance(e, OSError):
        return Unavailable(f"The model store cannot be written here ({e.strerror or e}); rollout.json and the "
                           "default label live there: give this service write access to TINYMLP_MODELS_DIR.")
    return Unavailable(message)


_FAILURES = (rl.RolloutError, rl.Unavailable, StoreError, OSError)


@blp.route("/<name>/rollout", methods=["GET"])
@operation(responses={200: RolloutAnswer, **error_answers({404: "unknown model, or it has had no rollout",
                                                     **UNAVAILABLE})})
def get_rollout(name):
    """The model's rollout (running, or the last one) and its figures, the same whichever worker
    or replica answers: requests per arm, rows compared and agreed, differences, errors, latency."""
    registry().entry(name)
    try:
        return jsonify(_service().figures(name))
    except _FAILURES as e:
        raise _domain(e) from None


@blp.route("/<name>/rollout", methods=["PUT"])
@operation(body=RolloutRequest, secured=True, responses={
    201: RolloutAnswer, **error_answers({
        **TOKEN, 400: "malformed JSON", 404: "unknown model or candidate version",
        409: "a rollout runs already, or the candidate is the version served now", 415: "not JSON",
        422: "invalid parameters, or a candidate that cannot be compared with the served version", **UNAVAILABLE})})
@authorized
def start_rollout(name):
    """Start a rollout of a candidate version against the version served now: ``split`` (the
    candidate answers ``percent`` of unpinned requests; a request's ``X-Routing-Key`` keeps it
    on one arm) or ``shadow`` (the stable answers every request, the candidate runs beside it,
    unseen). Every compared row counts toward the figures; the guards roll it back by themselves.
    Pinned and labelled URLs are never routed."""
    registry().entry(name)  # an unknown model is a 404 before the body is looked at
    body = load_body(REQUEST)
    guards = {k: body[k] for k in ("min_rows", "min_agreement", "max_p99_ratio", "auto_promote_after") if k in body}
    service = _service()
    try:
        rollout = control.start(service.store, service.table(), name, body["candidate"], mode=body["mode"],
                                percent=body.get("percent"), guards=Guards(**guards),
                                tolerance=body.get("tolerance"), by="api")
    except _FAILURES as e:
        raise _domain(e) from None
    service.records[name] = rollout  # this worker routes at once; the others from their next scan
    resp = jsonify(figures(rollout, Totals()))
    resp.status_code, resp.headers["Location"] = 201, f"/models/{name}/rollout"
    return resp


def _change(name: str, step) -> dict:
    registry().entry(name)
    service = _service()
    service.flush()  # this worker's counts go in before the rollout ends (and takes no more)
    try:
        rollout = step(service.store, service.table(), name, by="api")
    except _FAILURES as e:
        raise _domain(e) from None
    service.records[name] = rollout
    return service.figures(name)


@blp.route("/<name>/rollout/promote", methods=["POST"])
@operation(secured=True, responses={200: RolloutAnswer, **error_answers({
    **TOKEN, 404: "unknown model, or it has had no rollout", 409: "the rollout is not running", **UNAVAILABLE})})
@authorized
def promote_rollout(name):
    """Promote the running rollout's candidate: the default label moves to it (every worker and
    replica serves it within the reload interval) and the rollout ends as ``promoted``."""
    return jsonify(_change(name, control.promote))


@blp.route("/<name>/rollout", methods=["DELETE"])
@operation(secured=True, responses={200: RolloutAnswer, **error_answers({
    **TOKEN, 404: "unknown model, or it has had no rollout", 409: "the rollout is not running", **UNAVAILABLE})})
@authorized
def end_rollout(name):
    """End the running rollout: the stable stays served; the record and its figures stay readable."""
    return jsonify(_change(name, control.end))
