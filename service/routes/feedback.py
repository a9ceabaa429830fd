"""POST /feedback/<name>: the true answers for earlier predictions, by request id; GET
/models/<name>/drift; GET, PUT and DELETE /models/<name>/retraining: when feedback queues a
training job.

Feedback takes the bearer token of TINYMLP_FEEDBACK_TOKEN: while it is unset, any request is
403 saying how to turn feedback on (a client has no token it could send); else no
``Authorization`` header or a wrong token is 401. It applies to the version that answered the
request, whatever is served now. A body is checked whole before anything is written, and
written in one transaction: an unknown or expired request id is 404 (naming the model it
belongs to, if another's), a label the model does not have 422 naming it, and nothing is
recorded. The same truth twice counts once; a different truth for a row replaces
the one before, and the answer lists what it replaced.

A request id the log has not got yet may still be in a worker's writer (under load it writes
a batch every tenth of a second; this worker's own is hurried): such an id is looked for again
for up to ``FEEDBACK_WAIT`` seconds before the answer is 404.

The retraining policy is kept in the shared database, so every replica and job worker sees
it; setting or removing it takes the training token, since it queues training jobs (the job
worker does: ``trainer.retraining``).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from functools import wraps

from flask import Blueprint, current_app, jsonify

from core.predlog import Judged, PolicyError, PolicyState, PredictionLog, RetrainingPolicy
from core.predlog import Unavailable as LogUnavailable
from core.records import OutputSpec
from service import dataplane, extensions, predlog
from service.apidoc import operation, tag
from service.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ServiceError,
    TooLarge,
    TrainingOff,
    Unavailable,
    shown,
)
from service.routes import train
from service.routes.common import bearer_refusal, body_bytes, config, error_answers, load_body, lookup, registry
from service.schemas.feedback import (
    FEEDBACK_DOC,
    MAX_ITEMS,
    RETRAINING_DOC,
    DriftAnswer,
    FeedbackAnswer,
    FeedbackItem,
    RetrainingAnswer,
    RetrainingRequest,
    policy_of,
)

blp = tag(Blueprint("feedback", __name__), "Feedback on predictions, live quality, drift and retraining")

FEEDBACK_WAIT = 0.3  # seconds a request id is looked for again before it is unknown
ITEM, ITEMS = FeedbackItem(), FeedbackItem(many=True)
RETRAINING = RetrainingRequest()


def logs() -> predlog.PredictionLogs:
    return extensions.prediction_logs(current_app)


@contextmanager
def _reading():
    """The prediction log's database failing is a 503 saying so."""
    try:
        yield
    except LogUnavailable as e:
        raise Unavailable(f"The prediction log cannot be used: {e}.") from None


class FeedbackOff(TrainingOff):
    """403: no feedback token is configured."""


def feedback_authorized(view):
    """403 when feedback is off, whatever is sent (there is no token to send); else 401
    without a bearer token or with a wrong one."""

    @wraps(view)
    def check(*args, **kwargs):
        token = config().feedback_token
        if not token:
            raise FeedbackOff("Feedback is off. To turn it on, start the service with TINYMLP_FEEDBACK_TOKEN set to "
                              "a secret, and send it as the header 'Authorization: Bearer <secret>'.")
        refusal = bearer_refusal(token, "feedback", "TINYMLP_FEEDBACK_TOKEN")
        if refusal is not None:
            raise refusal
        with _reading():
            return view(*args, **kwargs)

    return check


@blp.route("/feedback/<model:name>", methods=["POST"])
@operation(body=FEEDBACK_DOC, secured="feedbackAuth", responses={
    200: FeedbackAnswer, **error_answers({
        400: "malformed JSON", 401: "missing or wrong bearer token", 403: "feedback is off (no token configured)",
        404: "unknown model, or a request id that is unknown, was not logged or has expired",
        413: "too many rows", 415: "not JSON", 422: "a label the model does not have, a row it did not predict, "
                                                   "or a malformed body",
        503: "the prediction log cannot be used"})})
@feedback_authorized
def post_feedback(name):
    """The true answers for rows of earlier predictions, by their request id.

    One item, or a list: ``{"request_id", "labels": [...]}`` (every row's, in order; ``values``
    for a regressor), or ``{"request_id", "row", "label"}`` (``value``). It counts for the version
    that answered the request. Idempotent: the same truth again counts once; a different truth
    replaces the one before (listed under ``replacements``)."""
    registry().entry(name)  # an unknown model is a 404 before the body is looked at
    items = _items(dataplane.parse(body_bytes()))
    plog = logs().log()
    found = _find(plog, name, list(dict.fromkeys(item["request_id"] for item in items)))
    rows = _judged(name, items, found)
    outcomes = plog.record(name, rows)
    counts = {k: 0 for k in ("new", "unchanged", "replaced")}
    for o in outcomes:
        counts[o.outcome] += 1
    for outcome, n in counts.items():
        if n:
            predlog.FEEDBACK.labels(name, outcome).inc(n)
    classifier = {r.version: r.correct is not None for r in rows}
    value = (lambda v, text: text if classifier[v] else _parsed(text))  # noqa: E731
    return jsonify(model=name, rows=len(outcomes), **counts, replacements=[
        {"request_id": o.request_id, "row": o.row_index, "version": o.version,
         "previous": value(o.version, o.previous), "now": value(o.version, o.truth)}
        for o in outcomes if o.outcome == "replaced"],
        versions={rid: logged.version for rid, logged in found.items()})


def _parsed(text: str):
    import orjson

    values = orjson.loads(text)
    return values[0] if len(values) == 1 else values


def _items(body) -> list[dict]:
    if isinstance(body, list):
        if not body:
            raise InvalidInput("The list of feedback is empty; send at least one item")
        if len(body) > MAX_ITEMS:
            raise TooLarge(f"{len(body)} feedback items in one body; send at most {MAX_ITEMS}")
        for i, item in enumerate(body):
            if not isinstance(item, dict):
                raise InvalidInput(f'item {i} of the list is not an object: each item is an object such as '
                                   '{"request_id": "...", "labels": [...]}',
                                   errors=[{"field": str(i), "item": i, "message": "not an object"}])
        return dataplane.load(ITEMS, body)
    if not isinstance(body, dict):
        raise InvalidInput('The body must be a JSON object such as {"request_id": "...", "labels": [...]}, or a '
                           "list of them")
    return [dataplane.load(ITEM, body)]


def _find(plog: PredictionLog, name: str, ids: list[str]) -> dict:
    """The logged requests by id; 404 naming one that is not there, after looking again for a
    while (it may be in a worker's writer still)."""
    found = plog.find(name, ids)
    deadline = time.monotonic() + FEEDBACK_WAIT
    while len(found) < len(ids) and time.monotonic() < deadline and config().prediction_log_rate > 0:
        logs().hurry()  # it may be waiting in this worker's own writer
        time.sleep(0.003)
        found.update(plog.find(name, [i for i in ids if i not in found]))
    missing = [i for i in ids if i not in found]
    if missing:
        elsewhere = _elsewhere(plog, name, missing[:10])
        if elsewhere:
            rid, other = next(iter(elsewhere.items()))
            raise NotFound(f"Request id {shown(rid)} is a prediction of {other}, not of {name}: post its feedback to "
                           f"/feedback/{other}",
                           errors=[{"field": "request_id", "message": f"a prediction of {other}", "request_id": i,
                                    "model": m} for i, m in elsewhere.items()])
        cfg = config()
        more = f" (and {len(missing) - 1} more of the {len(ids)} ids)" if len(missing) > 1 else ""
        why = ("the prediction log is off here (TINYMLP_PREDICTION_LOG_RATE=0), so no feedback can be matched"
               if cfg.prediction_log_rate == 0 else
               f"it is unknown, was not logged (TINYMLP_PREDICTION_LOG_RATE is {cfg.prediction_log_rate:g}) or has "
               f"expired (predictions are kept {cfg.prediction_log_days:g} days)")
        raise NotFound(f"No logged prediction of {name} has request id {shown(missing[0])}{more}: {why}. The id is "
                       "the X-Request-ID header (or id in the body) of the predict answer.",
                       errors=[{"field": "request_id", "message": "no such logged prediction", "request_id": i}
                               for i in missing[:10]])
    return found


MAX_ELSEWHERE = 50  # models looked in for a request id the named one has not logged


def _elsewhere(plog: PredictionLog, name: str, ids: list[str]) -> dict[str, str]:
    """Which other model logged each of ``ids`` (a feedback post to the wrong model's address),
    looked up by the log's index on (model, request id), a model at a time."""
    others = [m for m in sorted(registry().snapshot.models) if m != name][:MAX_ELSEWHERE]
    where: dict[str, str] = {}
    for other in others:
        for rid in plog.find(other, [i for i in ids if i not in where]):
            where[rid] = other
        if len(where) == len(ids):
            break
    return {i: where[i] for i in ids if i in where}


def _output(name: str, version: int, cache: dict) -> OutputSpec:
    if version not in cache:
        try:
            cache[version] = registry().get(name, version).info.output
        except ServiceError:
            raise NotFound(f"Version {version} of {name}, which answered that request, is no longer in the store; "
                           "its feedback cannot be checked") from None
    return cache[version]


def _judged(name: str, items: list[dict], found: dict) -> list[Judged]:
    """Every feedback row checked against what was logged and the answering version's outputs."""
    rows, seen, outputs = [], set(), {}
    limit = config().max_rows
    for i, item in enumerate(items):
        rid = item["request_id"]
        logged = found[rid]
        output = _output(name, logged.version, outputs)
        where = f"request {shown(rid)}" + (f" (item {i})" if len(items) > 1 else "")
        if "labels" in item or "values" in item:
            key = "labels" if "labels" in item else "values"
            truths = item[key]
            if len(truths) != len(logged):
                raise InvalidInput(f"{where}: that request predicted {len(logged)} row{'s' * (len(logged) != 1)}; "
                                   f"{key} holds {len(truths)}: give one per row, in order",
                                   errors=[{"field": key, "item": i, "message": "one per row predicted"}])
            pairs = list(enumerate(truths))
        else:
            key = "label" if "label" in item else "value"
            if item["row"] >= len(logged):
                raise InvalidInput(f"{where}: row {item['row']} was not predicted; that request had "
                                   f"{len(logged)} row{'s' * (len(logged) != 1)} (0 to {len(logged) - 1})",
                                   errors=[{"field": "row", "item": i, "message": "no such row"}])
            pairs = [(item["row"], item[key])]
        for row, truth in pairs:
            judged = Judged.of(logged, row, output, _truth(name, logged.version, output, key, truth, where, row, i))
            if judged.sq_err is not None and not math.isfinite(judged.sq_err):  # a prediction itself huge
                raise InvalidInput(f"{where} row {row}: the error of {name}'s answer against {truth!r} is too large "
                                   "to measure; check the value",
                                   errors=[{"field": key, "item": i, "row": row, "message": "error too large"}])
            rows.append(judged)
            if (rid, row) in seen:
                raise InvalidInput(f"{where}: row {row} is given twice in this body; give each row's truth once",
                                   errors=[{"field": key, "item": i, "row": row, "message": "given twice"}])
            seen.add((rid, row))
            if len(rows) > limit:
                raise TooLarge(f"more than {limit} feedback rows in one body (TINYMLP_MAX_ROWS); send fewer")
    return rows


def _truth(name: str, version: int, output: OutputSpec, key: str, truth, where: str, row: int, item: int):
    if output.is_classifier:
        if key in ("values", "value"):
            raise InvalidInput(f"{where}: {name} is a classifier: give labels (or label), one of "
                               f"{', '.join(output.labels)}", errors=[{"field": key, "item": item,
                                                                        "message": "a classifier takes labels"}])
        if truth not in output.labels:
            raise InvalidInput(f"{where} row {row}: {shown(truth)} is not a label of {name} (version {version}); its "
                               f"labels: {', '.join(output.labels)}",
                               errors=[{"field": key, "item": item, "row": row, "message": "unknown label",
                                        "label": str(truth)[:64]}])
        return truth
    if key in ("labels", "label"):
        raise InvalidInput(f"{where}: {name} is a regressor: give values (or value), numbers",
                           errors=[{"field": key, "item": item, "message": "a regressor takes values"}])
    values = truth if isinstance(truth, list) else [truth]
    if len(values) != output.n_outputs:
        raise InvalidInput(f"{where} row {row}: {name} answers {output.n_outputs} value"
                           f"{'s' * (output.n_outputs != 1)} a row; got {len(values)}",
                           errors=[{"field": key, "item": item, "row": row, "message": "wrong number of values"}])
    return values


@blp.route("/models/<name>/drift", methods=["GET"])
@operation(responses={200: DriftAnswer, **error_answers({404: "unknown model", 503: "nothing can be served, or the "
                                                                             "prediction log cannot be read"})})
def get_drift(name):
    """Drift of the served version: per feature, the PSI and KS statistic of its latest
    TINYMLP_DRIFT_WINDOW logged rows (of every worker and replica) against its training data,
    and the PSI of its predictions.

    A version without reference quantiles (imported, or trained before they were recorded)
    answers ``available: false`` and why."""
    return jsonify(predlog.drift(logs(), lookup(name), config().drift_window))


def _state(name: str, state: PolicyState | None) -> dict:
    if state is None:
        return {"model": name, "enabled": False, "policy": None}
    p = state.policy
    return {"model": name, "enabled": True, "policy": p.to_dict(), "new_feedback": state.new_feedback,
            "last_job": state.last_job, "last_reason": state.last_reason,
            "last_at": None if state.last_at is None else state.last_at.isoformat(timespec="milliseconds"),
            "updated_at": None if state.updated_at is None else state.updated_at.isoformat(timespec="milliseconds")}


@blp.route("/models/<name>/retraining", methods=["GET"])
@operation(responses={200: RetrainingAnswer, **error_answers({404: "unknown model",
                                                        503: "the prediction log cannot be used"})})
def get_retraining(name):
    """The model's retraining policy (``enabled: false`` without one) and where it stands."""
    registry().entry(name)
    with _reading():
        return jsonify(_state(name, logs().log().policy(name)))


@blp.route("/models/<name>/retraining", methods=["PUT"])
@operation(body=RETRAINING_DOC, secured=True, responses={
    200: RetrainingAnswer, **error_answers({
        400: "malformed JSON", 401: "missing or wrong bearer token", 403: "training over HTTP is off",
        404: "unknown model", 409: "the model cannot be trained further (an imported model), or accuracy_below "
                                   "for a regressor",
        415: "not JSON", 422: "a policy that cannot work", 503: "the prediction log cannot be used"})})
@train.authorized
def put_retraining(name):
    """Set the model's retraining policy (training token): queue a job that trains the served
    version further on the feedback when ``after_feedback`` new rows have arrived, or the live
    accuracy is below ``accuracy_below``. The job holds ``holdout`` of the feedback back and
    promotes the new version only if it beats the served one on held-out data and on that slice."""
    model = lookup(name)
    body = load_body(RETRAINING)
    if model.info.task is None:
        raise Conflict(f"{name} version {model.version} has no task (it was imported), so there is no data to train "
                       "it further with; retraining needs a model trained here.")
    if body.get("accuracy_below") is not None and not model.info.output.is_classifier:
        raise Conflict(f"{name} is a regressor: it has no accuracy to fall below; use after_feedback")
    try:
        policy: RetrainingPolicy = policy_of(body)
    except PolicyError as e:
        raise InvalidInput(f"{str(e)[0].upper()}{str(e)[1:]}.", errors=[{"field": None, "message": str(e)}]) from None
    with _reading():
        return jsonify(_state(name, logs().log().put_policy(name, policy)))


@blp.route("/models/<name>/retraining", methods=["DELETE"])
@operation(secured=True, responses={200: RetrainingAnswer, **error_answers({
    401: "missing or wrong bearer token", 403: "training over HTTP is off", 404: "unknown model",
    503: "the prediction log cannot be used"})})
@train.authorized
def delete_retraining(name):
    """Turn the model's retraining off (training token); the feedback stays."""
    registry().entry(name)
    with _reading():
        logs().log().delete_policy(name)
    return jsonify(_state(name, None))
