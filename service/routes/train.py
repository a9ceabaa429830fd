"""POST /train/<name>, GET /train/jobs, GET and DELETE /train/jobs/<id>: training jobs.

The service only queues and reports jobs (in the SQLite job table); a separate
``python -m trainer worker`` process trains. Every endpoint takes the bearer token of
TINYMLP_TRAIN_TOKEN; without one configured, training over HTTP is off (403).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from functools import wraps

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from service.errors import APIError, error_response, invalid
from service.lookup import entry, find
from service.routes.common import documented, load_body
from service.schemas import ErrorBody
from service.schemas_train import Job, JobList, JobQuery, TrainRequest
from service.validation import InputError, to_matrix
from trainer.jobs import FINISHED, JobNotFound, JobStore, QueueFull

blp = Blueprint("train", __name__, url_prefix="/train",
                description="Continue training a model as a background job (bearer token)")

REQUEST, QUERY = TrainRequest(), JobQuery()
TIMES = ("submitted_at", "started_at", "finished_at", "heartbeat_at")
ERRORS = {401: "missing or wrong bearer token", 403: "training over HTTP is off (no token configured)"}
SECURED = blp.doc(security=[{"bearerAuth": []}])


def jobs() -> JobStore:
    app = current_app
    store = app.extensions.get("tinymlp.jobs")
    if store is None:
        cfg = app.config["TINYMLP"]
        try:
            store = JobStore(cfg.state_dir, max_queued=cfg.max_queued_jobs)
        except OSError as e:
            raise APIError(503, f"The job table cannot be opened: {e}") from None
        app.extensions["tinymlp.jobs"] = store
    return store


def authorized(view):
    """401 without the right bearer token (compared in constant time); 403 when none is set."""

    @wraps(view)
    def check(*args, **kwargs):
        token = current_app.config["TINYMLP"].train_token
        if not token:
            raise APIError(403, "Training over HTTP is off. To turn it on, start the service and the worker "
                                "with TINYMLP_TRAIN_TOKEN set to a secret, and send it as the header "
                                "'Authorization: Bearer <secret>'.")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise APIError(401, "Send the training token as the header 'Authorization: Bearer <token>' "
                                "(the value of TINYMLP_TRAIN_TOKEN).")
        return view(*args, **kwargs)

    return check


def _iso(t):
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds") if t is not None else None


def public(job: dict) -> dict:
    return {**job, **{k: _iso(job[k]) for k in TIMES}}


def _reaped(store: JobStore) -> JobStore:
    # Jobs of a worker that died are failed on read too, so none stays "running" even
    # when no worker is left to notice.
    store.reap(current_app.config["TINYMLP"].job_stale_after)
    return store


def _check_examples(examples: list, model) -> None:
    if not examples:
        return
    net = model.network
    try:
        to_matrix([e["input"] for e in examples], model.spec, len(examples), field="examples")
    except InputError as e:
        raise APIError(422, str(e).replace("row", "example", 1), e.errors) from None
    key = "label" if net.is_classifier else "value"
    for i, e in enumerate(examples):
        other = "value" if key == "label" else "label"
        if key not in e or other in e:
            raise APIError(422, f"example {i}: {model.name} is a {'classifier' if key == 'label' else 'regressor'}; "
                                f"give each example '{key}'" + (f", one of {net.labels}" if net.labels else ""),
                           [{"field": "examples", "row": i, "message": f"needs '{key}'"}])
        if key == "label" and e["label"] not in net.labels:
            raise APIError(422, f"example {i}: {e['label']!r} is not a label of {model.name}; labels: {net.labels}",
                           [{"field": "examples", "row": i, "message": "unknown label"}])


@blp.route("/<name>", methods=["POST"])
@documented(SECURED, blp.arguments(REQUEST), blp.response(202, Job),
            *(blp.alt_response(s, schema=ErrorBody, description=d) for s, d in
              {**ERRORS, 404: "unknown model or version", 422: "invalid parameters or examples",
               429: "the job queue is full"}.items()))
@authorized
def submit(name):
    """Queue a job that trains a version of the model further and publishes the result as a new version."""
    entry(name)  # an unknown model is a 404 before the body is looked at
    params = load_body(REQUEST)
    model = find(name, version=params.get("from_version"))  # default: the served version
    _check_examples(params.get("examples") or [], model)
    try:
        job = jobs().submit(name, params, parent_version=model.version)
    except QueueFull as err:
        resp = error_response(429, f"{err}.")
        resp.headers["Retry-After"] = "10"
        return resp
    resp = jsonify(public(job))
    resp.status_code, resp.headers["Location"] = 202, f"/train/jobs/{job['id']}"
    return resp


@blp.route("/jobs", methods=["GET"])
@documented(SECURED, blp.arguments(QUERY, location="query"), blp.response(200, JobList),
            *(blp.alt_response(s, schema=ErrorBody, description=d) for s, d in ERRORS.items()))
@authorized
def list_jobs():
    """Jobs, newest first; filter by model and status."""
    try:
        query = QUERY.load(request.args.to_dict())
    except ValidationError as err:
        raise invalid(err.messages) from None
    return jsonify(jobs=[public(j) for j in _reaped(jobs()).list(**query)])


def _job(job_id: str) -> dict:
    try:
        return _reaped(jobs()).get(job_id)
    except JobNotFound:
        raise APIError(404, f"No job {job_id!r}; GET /train/jobs lists them.") from None


@blp.route("/jobs/<job_id>", methods=["GET"])
@documented(SECURED, blp.response(200, Job),
            *(blp.alt_response(s, schema=ErrorBody, description=d) for s, d in {**ERRORS, 404: "unknown job"}.items()))
@authorized
def get_job(job_id):
    """A job's status, progress per epoch, timings, parent and published version, promotion or error."""
    return jsonify(public(_job(job_id)))


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@documented(SECURED, blp.response(200, Job),
            *(blp.alt_response(s, schema=ErrorBody, description=d) for s, d in
              {**ERRORS, 404: "unknown job", 409: "the job has finished"}.items()))
@authorized
def cancel_job(job_id):
    """Cancel a job: a queued one at once, a running one at its next epoch (nothing is published)."""
    job = _job(job_id)
    if job["status"] in FINISHED:
        raise APIError(409, f"Job {job_id} has already {job['status']}; there is nothing to cancel.")
    return jsonify(public(jobs().cancel(job_id)))
