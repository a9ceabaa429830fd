"""POST /train/<name>, GET /train/jobs, GET and DELETE /train/jobs/<id>, POST
/train/jobs/<id>/cancel: training jobs.

The service only queues and reports jobs (in the job table: SQLite, or PostgreSQL); a
separate ``python -m trainer worker`` process trains. Every endpoint takes the bearer token
of TINYMLP_TRAIN_TOKEN. Without an ``Authorization`` header the answer is 401 (with
``WWW-Authenticate: Bearer``) whether or not training is on; a bearer token when training
is off is 403, saying how to turn it on.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, current_app, jsonify, request

from core import jobs as joblib
from core.jobs import Example, JobParams, Policy
from core.jobs.reaping import reap
from service import dataplane, extensions
from service.apidoc import operation, tag
from service.errors import Busy, Conflict, InvalidInput, JobNotFound, TrainingOff, Unavailable, shown
from service.routes.common import bearer_refusal, config, error_answers, load_body, lookup, registry
from service.schemas.train import Job, JobList, JobQuery, TrainRequest, brief

blp = tag(Blueprint("train", __name__, url_prefix="/train"),
          "Continue training a model as a background job (bearer token)")

REQUEST, QUERY, JOB = TrainRequest(), JobQuery(), Job()
ERRORS = {401: "missing or wrong bearer token", 403: "training over HTTP is off (no token configured)",
          503: "the job table cannot be reached"}


def _errors(more: dict[int, str]) -> dict:
    """The error answers of a /train operation: those they all share, and ``more``."""
    return error_answers({**ERRORS, **more})


def jobs() -> joblib.JobTable:
    return extensions.jobs(current_app)


def _reaped() -> joblib.JobTable:
    # Jobs of a worker that died are failed on read too (now and then: a look is a write
    # transaction), so none stays "running" even when no worker is left to notice.
    table = jobs()
    stale_after = config().job_stale_after
    if extensions.due_for_reaping(current_app, min(1.0, stale_after / 4)):
        reap(table, registry().store, stale_after)
    return table


def authorized(view):
    """401 without a bearer token (or with a wrong one); 403 when training is off."""

    @wraps(view)
    def check(*args, **kwargs):
        token = config().train_token
        refusal = bearer_refusal(token, "training", "TINYMLP_TRAIN_TOKEN")  # no token sent: 401, on or off
        if refusal is not None:
            raise refusal
        if not token:
            raise TrainingOff("Training over HTTP is off. To turn it on, start the service and the worker "
                              "with TINYMLP_TRAIN_TOKEN set to a secret, and send it as the header "
                              "'Authorization: Bearer <secret>'.")
        try:
            return view(*args, **kwargs)
        except joblib.Unavailable as e:
            raise Unavailable(f"The job table cannot be used: {e}.") from None

    return check


def _examples(given: list[dict], model) -> tuple[Example, ...]:
    """The examples' rows checked like predict input (lists or objects), and their labels
    or values against the model."""
    if not given:
        return ()
    try:
        X = dataplane.check_rows(model, [e["input"] for e in given], max_rows=len(given), field="examples")
    except InvalidInput as e:
        raise InvalidInput(e.message.replace("row", "example", 1), errors=e.errors) from None
    output = model.info.output
    key, other = ("label", "value") if output.is_classifier else ("value", "label")
    out = []
    for i, (e, row) in enumerate(zip(given, X.tolist())):
        if key not in e or other in e:
            raise InvalidInput(f"example {i}: {model.name} is a {output.kind}; give each example '{key}'"
                               + (f", one of {list(output.labels)}" if output.labels else ""),
                               errors=[{"field": "examples", "row": i, "message": f"needs '{key}'"}])
        if key == "label" and e["label"] not in output.labels:
            raise InvalidInput(f"example {i}: {shown(e['label'])} is not a label of {model.name}; "
                               f"labels: {list(output.labels)}",
                               errors=[{"field": "examples", "row": i, "message": "unknown label"}])
        out.append(Example(tuple(row), e.get("label"), e.get("value")))
    return tuple(out)


@blp.route("/<model:name>", methods=["POST"])
@operation(body=TrainRequest, secured=True, responses={
    202: Job, **_errors({400: "malformed JSON", 404: "unknown model or version",
                         409: "the version has no task to train on (an imported model)", 413: "body too large",
                         415: "not JSON", 422: "invalid parameters or examples", 429: "the job queue is full"})})
@authorized
def submit(name):
    """Queue a job that trains a version of the model further and publishes the result as a new version."""
    registry().entry(name)  # an unknown model is a 404 before the body is looked at
    body = load_body(REQUEST)
    model = lookup(name, version=body.get("from_version"))  # default: the served version
    if model.info.task is None:
        raise Conflict(f"{name} version {model.version} has no task (it was imported), so there is no data to "
                       "train it further with; import a new version instead.")
    if body.get("percent") is not None and body["promote"] is not Policy.CANARY:
        raise InvalidInput("percent is the share of a canary rollout: send it with promote: canary (or leave it out)",
                           errors=[{"field": "percent", "message": "only with promote: canary"}])
    params = JobParams(epochs=body.get("epochs"), learning_rate=body.get("learning_rate"),
                       batch_size=body.get("batch_size"), samples=body.get("samples"), seed=body.get("seed"),
                       from_version=body.get("from_version"), promote=body["promote"],
                       examples=_examples(body.get("examples") or [], model), percent=body.get("percent"))
    try:
        job = jobs().submit(name, params, parent_version=model.version)
    except joblib.QueueFull as e:
        raise Busy(f"{e}.", retry_after=10) from None
    resp = jsonify(JOB.dump(job))
    resp.status_code, resp.headers["Location"] = 202, f"/train/jobs/{job.id}"
    return resp


@blp.route("/jobs", methods=["GET"])
@operation(query=JobQuery, secured=True, responses={200: JobList, **_errors({422: "invalid query"})})
@authorized
def list_jobs():
    """Jobs, newest first, a page at a time (``limit``); the answer's ``next`` is the cursor of
    the next page. Filter by model and status."""
    query = dataplane.load(QUERY, request.args.to_dict())
    try:
        page = _reaped().list(**query)
    except joblib.BadCursor as e:
        raise InvalidInput(f"{str(e)[0].upper()}{str(e)[1:]}.",
                           errors=[{"field": "cursor", "message": str(e)}]) from None
    return jsonify({"jobs": [brief(job) for job in page.jobs], "next": page.next})  # JobList, fast


def _job(job_id: str) -> joblib.Job:
    try:
        return _reaped().get(job_id)
    except joblib.JobNotFound:
        raise JobNotFound(f"No job {shown(job_id)}; GET /train/jobs lists them.") from None


@blp.route("/jobs/<job_id>", methods=["GET"])
@operation(secured=True, responses={200: Job, **_errors({404: "unknown job"})})
@authorized
def get_job(job_id):
    """A job's status, progress per epoch, timings, parent and published version, promotion or error."""
    return jsonify(JOB.dump(_job(job_id)))


@blp.route("/jobs/<job_id>/cancel", methods=["POST"])
@operation(secured=True, responses={
    200: Job, **_errors({404: "unknown job", 409: "the job has finished, or has begun to publish"})})
@authorized
def cancel_job(job_id):
    """Cancel a job: a queued one at once, a running one between its next two batches (nothing
    is published). A job that has finished or begun publishing cannot be cancelled: 409,
    saying what it published."""
    _reaped()
    try:
        return jsonify(JOB.dump(jobs().cancel(job_id)))
    except joblib.JobNotFound:  # never was, or removed meanwhile
        raise JobNotFound(f"No job {shown(job_id)}; GET /train/jobs lists them.") from None
    except joblib.TooLateToCancel as e:
        raise Conflict(f"{str(e)[0].upper()}{str(e)[1:]}.") from None


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@operation(secured=True, responses={
    200: (Job, "the job's record as it was removed"),
    **_errors({404: "unknown job", 409: "the job is queued or running: cancel it first"})})
@authorized
def delete_job(job_id):
    """Remove a finished job's record (finished jobs are also removed after
    TINYMLP_JOB_RETENTION_DAYS). A queued or running job is not removed: 409, saying to cancel
    it first (POST /train/jobs/<id>/cancel)."""
    _job(job_id)
    try:
        return jsonify(JOB.dump(jobs().delete(job_id)))
    except joblib.JobNotFound:
        raise JobNotFound(f"No job {shown(job_id)}; GET /train/jobs lists them.") from None
    except joblib.StillActive as e:
        raise Conflict(f"{str(e)[0].upper()}{str(e)[1:]}.") from None
