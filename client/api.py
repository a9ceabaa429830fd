"""``Client``: tinymlp over HTTP, its calls and what their answers mean.

Every call sends a ``User-Agent`` naming this client and an ``X-Request-ID`` (the same on its
retries), which an error reports. How a call travels (retries where they are safe, a total
deadline, a cap on the answer's size, redirects) is ``client.transport``; here an answer is
read as JSON and checked against what a tinymlp service sends, and an error status becomes
the exception of its kind.
"""

from __future__ import annotations

import json as jsonlib
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from urllib.parse import quote

import requests

from client import __version__
from client.answers import Malformed, list_of, nullable, obj, text
from client.answers import field as get
from client.errors import BY_STATUS, ClientError, RateLimited, TooLarge, Unavailable, UnexpectedAnswer
from client.feedback import Drift, FeedbackResult, Live, Retraining, feedback_body
from client.jobs import Job
from client.rollouts import Rollout
from client.text import printable, shortened
from client.transport import MAX_ANSWER_BYTES, Answer, Transport
from client.types import ModelInfo, Prediction, Predictions, Readiness, models_answer, predictions_answer

DEFAULT_URL = "http://localhost:8000"
MAX_ROWS = 10_000  # rows per request: the service's default TINYMLP_MAX_ROWS (a smaller limit is found out)
PAGE = 1000  # the most jobs GET /train/jobs gives in one page

Row = Sequence[float] | dict[str, float]
_UNSET = object()  # an argument not given (where None means something)


class Client:
    """A tinymlp service at ``url`` (default: $TINYMLP_URL, else http://localhost:8000).

        >>> client = Client("http://localhost:8000")
        >>> client.predict("red", [[255, 0, 0]]).labels
        ['red']

    ``token`` (default: $TINYMLP_TRAIN_TOKEN) is sent to the /train endpoints (and a retraining
    policy's) only; ``feedback_token`` (default: $TINYMLP_FEEDBACK_TOKEN) to /feedback only.
    ``timeout`` is the seconds a call may take in all: connecting, retries and the whole
    answer. ``retries``: how many times a call is tried again where that is safe.
    ``max_answer_bytes``: the largest answer taken (64 MiB); a larger one is an error.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 10,
                 retries: int = 3, batch_size: int = MAX_ROWS, max_answer_bytes: int = MAX_ANSWER_BYTES,
                 feedback_token: str | None = None):
        self.url = (url or os.environ.get("TINYMLP_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the service's URL must start with http:// or https://, got {printable(self.url)!r}")
        self.token = token if token is not None else (os.environ.get("TINYMLP_TRAIN_TOKEN") or None)
        if self.token and not self.token.isprintable():
            raise ValueError("the training token holds a control character (a newline?); give the token alone")
        self.feedback_token = feedback_token if feedback_token is not None else (
            os.environ.get("TINYMLP_FEEDBACK_TOKEN") or None)
        if self.feedback_token and not self.feedback_token.isprintable():
            raise ValueError("the feedback token holds a control character (a newline?); give the token alone")
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
        if not (isinstance(retries, int) and retries >= 0):
            raise ValueError(f"retries must be a whole number, 0 or more, got {retries!r}")
        self.timeout = timeout
        self.retries = retries
        self.batch_size = batch_size
        self.transport = Transport(self.url, retries=retries, timeout=timeout, max_answer_bytes=max_answer_bytes,
                                   user_agent=f"tinymlp-client/{__version__} python-requests/{requests.__version__}")

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the one place calls go out --------------------------------------------------------

    def _call(self, method: str, path: str, parse: Callable = obj, *, json=None, params=None,
              auth: bool | str = False, idempotent: bool = True, headers: dict | None = None):
        """One call; its answer read by ``parse``, or a ClientError saying what went wrong.
        ``auth``: True sends the training token, "feedback" the feedback token.
        ``idempotent``: the call changes nothing, so it may be sent again."""
        url = self.url + path
        request_id = uuid.uuid4().hex
        headers = {**(headers or {}), "X-Request-ID": request_id}
        token = self.feedback_token if auth == "feedback" else self.token if auth else None
        if token:
            headers["Authorization"] = b"Bearer " + token.encode()  # UTF-8, as curl sends it
        answer = self.transport.send(method, url, idempotent=idempotent, headers=headers, json=json, params=params)
        body = _json(answer)
        if not 200 <= answer.status < 300:
            raise _error(answer, body, url, request_id)
        if body is _NOT_JSON:
            raise UnexpectedAnswer(f"{url} answered {answer.status} with something that is not JSON"
                                   f"{_preview(answer)}", status=answer.status, url=url, request_id=request_id)
        try:
            return parse(body)
        except Malformed as e:
            raise UnexpectedAnswer(f"{url} answered what a tinymlp service does not send: {e}", status=answer.status,
                                   url=url, request_id=request_id) from None

    # -- predictions ---------------------------------------------------------------------

    def predict(self, model: str, rows: Iterable[Row], version: int | None = None,
                label: str | None = None, routing_key: str | None = None) -> Predictions:
        """Predictions for ``rows`` (lists in the model's feature order, or objects keyed by
        feature name), by the served version, a pinned ``version`` or a ``label``'s. Large
        inputs go in batches within the service's row limit, answers joined in order; an
        answer with fewer (or more) predictions than rows sent is an error. ``routing_key`` (a
        user or session id, sent as ``X-Routing-Key``): while a rollout runs, the same key is
        answered by the same version every time.

            >>> client.predict("red", [[255, 0, 0], {"r": 0, "g": 0, "b": 255}]).labels
            ['red', 'not_red']
        """
        if version is not None and label is not None:
            raise ValueError("give a version or a label, not both")
        path = f"/predict/{_segment(model)}" + (f"/versions/{_segment(version)}" if version is not None else "") + (
            f"/labels/{_segment(label)}" if label is not None else "")
        rows = list(rows)
        if not rows:
            raise ValueError("no rows to predict")
        if routing_key is not None and not (isinstance(routing_key, str) and routing_key.isprintable()
                                            and routing_key.isascii() and routing_key.strip()):
            raise ValueError(f"a routing key is a line of printable ASCII (a user or session id), got {routing_key!r}")
        extra = {"X-Routing-Key": routing_key} if routing_key is not None else None
        out: list[Prediction] = []
        answers: list[dict] = []
        start, size = 0, self.batch_size
        while start < len(rows):
            batch = rows[start:start + size]
            try:
                body, (_, predictions) = self._call("POST", path, partial(_with_predictions, len(batch)),
                                                    json={"inputs": batch}, headers=extra)
            except TooLarge:
                if size == 1:
                    raise
                size = max(1, size // 2)  # the service takes fewer rows (or bytes) a request: find out how many
                continue
            out.extend(predictions)
            answers.append(body)
            start += len(batch)
        return Predictions(model, out, answers)

    # -- models --------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Every model, its versions, labels and served version.

            >>> [m.name for m in client.models()]
            ['checkerboard', 'house_prices', 'iris', 'quadrant', 'red', 'sine', 'xor']
        """
        return self._call("GET", "/models", models_answer)

    def model(self, name: str) -> ModelInfo:
        """One model.   >>> client.model("red").served_version"""
        return self._call("GET", f"/models/{_segment(name)}", ModelInfo.from_json)

    def ready(self) -> Readiness:
        """Whether the service can serve (truthy), and what each model serves or why it cannot.

            >>> bool(client.ready())
            True
        """
        try:
            return self._call("GET", "/readyz", Readiness.from_json)
        except Unavailable as e:
            if e.status is None:
                raise
            return Readiness(False, {}, {}, e.message)

    def download(self, model: str, version: int | None = None, path=None, *, format: str = "onnx"):
        """A version (default: the served one) as a file to run elsewhere: ONNX, with plain tensor
        outputs (``probabilities`` and ``label``, or ``value``). The bytes, or with ``path`` the
        file written there (whole or not at all) and its path.

            >>> client.download("red", path="red.onnx")
            PosixPath('red.onnx')
        """
        if format != "onnx":
            raise ValueError(f"the service exports ONNX only (format='onnx'), not {format!r}")
        if version is None:
            version = self.model(model).served_version
            if version is None:
                raise ClientError(f"{model} serves no version to download; name one (version=...)")
        url = f"{self.url}/models/{_segment(model)}/versions/{_segment(version)}/model.onnx"
        request_id = uuid.uuid4().hex
        answer = self.transport.send("GET", url, idempotent=True, headers={"X-Request-ID": request_id})
        if not 200 <= answer.status < 300:
            raise _error(answer, _json(answer), url, request_id)
        if not answer.content or answer.headers.get("Content-Type", "").split(";")[0] != "application/octet-stream":
            raise UnexpectedAnswer(f"{url} answered {answer.status} with something that is not a model file"
                                   f"{_preview(answer)}", status=answer.status, url=url, request_id=request_id)
        if path is None:
            return answer.content
        target = Path(path)
        partial_file = target.with_name(f".{target.name}.part")
        partial_file.write_bytes(answer.content)
        os.replace(partial_file, target)
        return target

    # -- training jobs -------------------------------------------------------------------

    def train(self, model: str, *, epochs: int | None = None, samples: int | None = None,
              examples: Iterable | None = None, promote: str | None = None, learning_rate: float | None = None,
              batch_size: int | None = None, seed: int | None = None, from_version: int | None = None,
              percent: float | None = None) -> Job:
        """Queue a job that trains ``model`` further; the job, as queued. ``examples`` are
        labelled rows: ``(row, label_or_value)`` pairs or ``{"input": row, "label": ...}``.
        ``promote="canary"`` (with ``percent``, default 10) rolls the new version out instead of
        promoting it, if it beats the trivial model.
        Sent once: never retried unless the connection could not be made at all.

            >>> job = client.train("red", epochs=5, examples=[([250, 10, 10], "red")])
            >>> job.wait().status
            'succeeded'
        """
        body = {k: v for k, v in (("epochs", epochs), ("samples", samples), ("promote", promote),
                                  ("learning_rate", learning_rate), ("batch_size", batch_size), ("seed", seed),
                                  ("from_version", from_version), ("percent", percent)) if v is not None}
        if examples is not None:
            body["examples"] = [_example(e) for e in examples]
        return self._call("POST", f"/train/{_segment(model)}", self._job, json=body, auth=True, idempotent=False)

    def job(self, job_id: str) -> Job:
        """A job's state now.   >>> client.job("3f2a9c0d41b7e8a2").status"""
        return self._call("GET", f"/train/jobs/{_segment(job_id)}", self._job, auth=True)

    def jobs(self, *, model: str | None = None, status: str | None = None, limit: int | None = 100) -> list[Job]:
        """Jobs, newest first: at most ``limit`` (None: every one, page after page).

            >>> [j.status for j in client.jobs(model="red")]
        """
        out: list[Job] = []
        for job in self.iter_jobs(model=model, status=status, page_size=min(limit or PAGE, PAGE)):
            if limit is not None and len(out) >= limit:
                break
            out.append(job)
        return out

    def iter_jobs(self, *, model: str | None = None, status: str | None = None, page_size: int = 100):
        """Every job, newest first, a page at a time (the service's ``next`` cursor followed)."""
        cursor = None
        while True:
            params = {k: v for k, v in (("model", model), ("status", status), ("limit", page_size),
                                        ("cursor", cursor)) if v is not None}
            jobs, cursor = self._call("GET", "/train/jobs", self._page, params=params, auth=True)
            yield from jobs
            if cursor is None:
                return

    def _page(self, body) -> tuple[list[Job], str | None]:
        answer = obj(body, "the answer")
        listed = get(answer, "jobs", list_of(lambda j, where: j), "the answer")
        following = get(answer, "next", nullable(text), "the answer", default=None)
        return [Job.from_json(j, self, f"jobs[{i}]") for i, j in enumerate(listed)], following

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one between two batches; Conflict (409)
        once it has finished or begun to publish.   >>> client.cancel("3f2a9c0d41b7e8a2").cancel_requested"""
        return self._call("POST", f"/train/jobs/{_segment(job_id)}/cancel", self._job, auth=True, idempotent=False)

    def delete_job(self, job_id: str) -> Job:
        """Remove a finished job's record; the record as it was removed. Conflict (409) while the
        job is queued or running: cancel it first."""
        return self._call("DELETE", f"/train/jobs/{_segment(job_id)}", self._job, auth=True, idempotent=False)

    def _job(self, body) -> Job:
        return Job.from_json(body, self)

    # -- rollouts ------------------------------------------------------------------------

    def rollout(self, model: str, candidate: int | None = None, *, percent: float | None = None,
                shadow: bool = False, min_rows: int | None = None, min_agreement: float | None = None,
                max_p99_ratio: float | None = _UNSET, auto_promote_after: int | None = None,
                tolerance: float | None = None) -> Rollout:
        """With ``candidate``: start a rollout of that version against the one served now (needs
        the token; sent once): ``percent`` of unpinned requests go to it (default 10), or with
        ``shadow`` it runs beside the stable on every request, unseen. The guards: ``min_rows``,
        ``min_agreement``, ``max_p99_ratio`` (None: no latency guard), ``auto_promote_after``;
        ``tolerance`` for a regressor. Without: the model's rollout now (running, or its last)
        and its figures.

            >>> client.rollout("red", candidate=3, percent=10).status
            'running'
            >>> client.rollout("red").agreement
            0.9975
        """
        path = f"/models/{_segment(model)}/rollout"
        if candidate is None:
            given = [k for k, v in (("percent", percent), ("shadow", shadow), ("min_rows", min_rows),
                                    ("min_agreement", min_agreement), ("auto_promote_after", auto_promote_after),
                                    ("tolerance", tolerance)) if v not in (None, False)]
            if given or max_p99_ratio is not _UNSET:
                raise ValueError(f"{', '.join(given) or 'max_p99_ratio'} go with a candidate (starting a rollout)")
            return self._call("GET", path, self._rollout)
        body = {"candidate": candidate, "mode": "shadow" if shadow else "split"}
        body.update({k: v for k, v in (("percent", percent), ("min_rows", min_rows), ("min_agreement", min_agreement),
                                       ("auto_promote_after", auto_promote_after), ("tolerance", tolerance))
                     if v is not None})
        if max_p99_ratio is not _UNSET:
            body["max_p99_ratio"] = max_p99_ratio
        return self._call("PUT", path, self._rollout, json=body, auth=True, idempotent=False)

    def promote_rollout(self, model: str) -> Rollout:
        """Move the default label to the running rollout's candidate; Conflict (409) if none runs."""
        return self._call("POST", f"/models/{_segment(model)}/rollout/promote", self._rollout, auth=True,
                          idempotent=False)

    def end_rollout(self, model: str) -> Rollout:
        """End the running rollout (the stable stays served); Conflict (409) if none runs."""
        return self._call("DELETE", f"/models/{_segment(model)}/rollout", self._rollout, auth=True, idempotent=False)

    def _rollout(self, body) -> Rollout:
        return Rollout.from_json(body, self)

    # -- feedback, live quality, drift and retraining (client.feedback) ------------------

    def feedback(self, model: str, request, labels: Iterable[str] | None = None, *, values: Iterable | None = None,
                 row: int | None = None, label: str | None = None, value=None) -> FeedbackResult:
        """Send the true answers for an earlier prediction: ``request`` is its answer (a
        ``Predictions``, however many requests its rows took) or its request id; ``labels`` (or
        ``values``, for a regressor) give every row's truth in order, or ``row`` with ``label``
        (``value``) one row's. Needs the feedback token. The same truth again counts once, and a
        different one replaces it (the answer's ``replacements``), so it is safe to send again.

            >>> answer = client.predict("red", [[250, 10, 10]])
            >>> client.feedback("red", answer, ["red"]).new
            1
        """
        return self.feedback_items(model, feedback_body(request, labels, values, row, label, value))

    def feedback_items(self, model: str, items: list[dict]) -> FeedbackResult:
        """Send feedback items as the service takes them: ``{"request_id", "labels" | "values"}``
        or ``{"request_id", "row", "label" | "value"}``."""
        return self._call("POST", f"/feedback/{_segment(model)}", FeedbackResult.from_json,
                          json=items[0] if len(items) == 1 else list(items), auth="feedback")

    def live(self, model: str, version: int | None = None) -> Live:
        """A version's live quality from feedback (default: the served version's).

            >>> client.live("red").recent.accuracy
        """
        path = f"/models/{_segment(model)}" + (f"/versions/{_segment(version)}" if version is not None else "")
        return self._call("GET", path, lambda body: Live.from_json(get(obj(body, "the answer"), "live", obj,
                                                                       "the answer")))

    def drift(self, model: str) -> Drift:
        """Drift of the served version: per feature PSI and KS of its latest logged rows against
        its training data, and the predictions' PSI.   >>> client.drift("red").features["r"].psi"""
        return self._call("GET", f"/models/{_segment(model)}/drift", Drift.from_json)

    def retraining(self, model: str) -> Retraining:
        """The model's retraining policy and where it stands."""
        return self._call("GET", f"/models/{_segment(model)}/retraining", Retraining.from_json)

    def set_retraining(self, model: str, **policy) -> Retraining:
        """Set the model's retraining policy (training token): ``after_feedback`` (new feedback
        rows), ``accuracy_below``, ``min_feedback``, ``holdout``, ``max_rows``, ``epochs``,
        ``samples``, ``promote``.

            >>> client.set_retraining("red", after_feedback=500).enabled
            True
        """
        body = {k: v for k, v in policy.items() if v is not None}
        return self._call("PUT", f"/models/{_segment(model)}/retraining", Retraining.from_json, json=body, auth=True)

    def stop_retraining(self, model: str) -> Retraining:
        """Turn the model's retraining policy off (training token)."""
        return self._call("DELETE", f"/models/{_segment(model)}/retraining", Retraining.from_json, auth=True)


def _with_predictions(rows: int, body) -> tuple[dict, tuple[int, list[Prediction]]]:
    """The answer as it came, and its version and predictions, one per row sent."""
    return body, predictions_answer(body, rows)


_NOT_JSON = object()


def _json(answer: Answer):
    """The answer's body decoded, or _NOT_JSON."""
    try:
        return jsonlib.loads(answer.content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's JSON reader goes
        return _NOT_JSON


def _preview(answer: Answer) -> str:
    kind = answer.headers.get("Content-Type", "")
    text = answer.content[:200].decode("utf-8", "replace").strip()
    return (f" ({printable(kind)})" if kind else "") + (f": {shortened(text, 80)}" if text else ": an empty body")


def _error(answer: Answer, body, url: str, request_id: str) -> ClientError:
    """The exception for an error status, with the service's own message when it sent one."""
    info = body if isinstance(body, dict) else {}
    said = next((info[k] for k in ("message", "error") if isinstance(info.get(k), str) and info[k].strip()), None)
    if said is None:
        said = f"{url} answered {answer.status} {answer.reason}".strip()
        if body is _NOT_JSON and answer.content.strip():
            said += " with something that is not a tinymlp error" + _preview(answer)
    cls = BY_STATUS.get(answer.status, Unavailable if answer.status >= 500 else ClientError)
    errors = info.get("errors") if isinstance(info.get("errors"), list) else None
    given_id = info.get("request_id") if isinstance(info.get("request_id"), str) else None
    kwargs = {"status": answer.status, "errors": errors, "url": url,
              "request_id": shortened(given_id or answer.headers.get("X-Request-ID") or request_id, 100)}
    if cls is RateLimited:
        kwargs["retry_after"] = _seconds(answer.headers.get("Retry-After"))
    return cls(shortened(said), **kwargs)


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After header given in seconds (the service's form); None for anything else."""
    if retry_after and retry_after.replace(".", "", 1).isdigit():
        return float(retry_after)
    return None


def _segment(text) -> str:
    """A name or id as one URL path segment: '?' or '#' in it cannot change the URL. A '/'
    cannot be sent at all (servers decode %2F back into a path separator), so it is refused."""
    text = str(text)
    if "/" in text:
        raise ValueError(f"{printable(text)!r} cannot be a model name, label or job id: it holds a '/'")
    return quote(text, safe="")


def _example(e) -> dict:
    if isinstance(e, dict):
        return e
    row, target = e
    row = row if isinstance(row, dict) else list(row)
    return {"input": row, "label": target} if isinstance(target, str) else {"input": row, "value": target}
