"""``Client``: tinymlp over HTTP, on one ``requests.Session`` (keep-alive).

Every call sends a ``User-Agent`` naming this client and an ``X-Request-ID`` (the same on its
retries), which an error reports. Retries, with backoff, happen only where they are safe: a
connection that could not be made, and 502/503/504 answers to calls that change nothing
(reads and predictions). Submitting a training job is retried only if the connection could
not be made at all: it is never sent twice.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Sequence
from urllib.parse import quote

import requests

from client import __version__
from client.errors import BY_STATUS, ClientError, RateLimited, TooLarge, Unavailable
from client.jobs import Job
from client.types import ModelInfo, Prediction, Predictions, Readiness

DEFAULT_URL = "http://localhost:8000"
RETRY_STATUSES = (502, 503, 504)
MAX_ROWS = 10_000  # rows per request: the service's default TINYMLP_MAX_ROWS (a smaller limit is found out)

Row = Sequence[float] | dict[str, float]


class Client:
    """A tinymlp service at ``url`` (default: $TINYMLP_URL, else http://localhost:8000).

        >>> client = Client("http://localhost:8000")
        >>> client.predict("red", [[255, 0, 0]]).labels
        ['red']

    ``token`` (default: $TINYMLP_TRAIN_TOKEN) is sent to the /train endpoints only.
    ``timeout`` is seconds per request; ``retries`` how many times a safe call is tried again.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 10,
                 retries: int = 3, batch_size: int = MAX_ROWS):
        self.url = (url or os.environ.get("TINYMLP_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the service's URL must start with http:// or https://, got {self.url!r}")
        self.token = token if token is not None else (os.environ.get("TINYMLP_TRAIN_TOKEN") or None)
        self.timeout = timeout
        self.retries = retries
        self.batch_size = batch_size
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"tinymlp-client/{__version__} python-requests/{requests.__version__}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the one place requests go out -------------------------------------------------

    def _call(self, method: str, path: str, *, json=None, params=None, auth: bool = False,
              idempotent: bool = True) -> dict:
        """One call; the decoded JSON answer, or a ClientError saying what went wrong."""
        url = self.url + path
        headers = {"X-Request-ID": uuid.uuid4().hex}
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                resp = self.session.request(method, url, json=json, params=params, headers=headers,
                                            timeout=self.timeout)
            except requests.exceptions.ConnectionError as e:
                # Nothing was sent if the connection could not be made: safe to try again even
                # for a job submission. Once sent, only calls that change nothing are repeated.
                not_sent = isinstance(e, requests.exceptions.ConnectTimeout) or _refused(e)
                if last or not (idempotent or not_sent):
                    raise Unavailable(f"could not reach {url}: {_reason(e)}", url=url,
                                      request_id=headers["X-Request-ID"]) from None
                self._sleep(attempt, None)
                continue
            except requests.exceptions.Timeout:
                if last or not idempotent:
                    raise Unavailable(f"{url} did not answer within {self.timeout:g} s", url=url,
                                      request_id=headers["X-Request-ID"]) from None
                self._sleep(attempt, None)
                continue
            if resp.status_code in RETRY_STATUSES and idempotent and not last:
                self._sleep(attempt, resp.headers.get("Retry-After"))
                continue
            return self._answer(resp, url, headers["X-Request-ID"])
        raise AssertionError("unreachable")

    @staticmethod
    def _sleep(attempt: int, retry_after: str | None) -> None:
        asked = _seconds(retry_after)
        time.sleep(max(0.2 * 2**attempt, min(asked, 10.0) if asked is not None else 0))

    @staticmethod
    def _answer(resp: requests.Response, url: str, request_id: str) -> dict:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.ok:
            if body is None:
                raise ClientError(f"{url} answered {resp.status_code} without JSON", status=resp.status_code, url=url,
                                  request_id=request_id)
            return body
        info = body if isinstance(body, dict) else {}
        message = info.get("message") or info.get("error") or f"{resp.status_code} {resp.reason}".strip()
        cls = BY_STATUS.get(resp.status_code, Unavailable if resp.status_code >= 500 else ClientError)
        kwargs = {"status": resp.status_code, "errors": info.get("errors"), "url": url,
                  "request_id": info.get("request_id") or resp.headers.get("X-Request-ID") or request_id}
        if cls is RateLimited:
            kwargs["retry_after"] = _seconds(resp.headers.get("Retry-After"))
        raise cls(message, **kwargs)

    # -- predictions ---------------------------------------------------------------------

    def predict(self, model: str, rows: Iterable[Row], version: int | None = None,
                label: str | None = None) -> Predictions:
        """Predictions for ``rows`` (lists in the model's feature order, or objects keyed by
        feature name), by the served version, a pinned ``version`` or a ``label``'s. Large
        inputs go in batches within the service's row limit, answers joined in order.

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
        out: list[Prediction] = []
        answers: list[dict] = []
        start, size = 0, self.batch_size
        while start < len(rows):
            batch = rows[start:start + size]
            try:
                answer = self._call("POST", path, json={"inputs": batch})
            except TooLarge:
                if size == 1:
                    raise
                size = max(1, size // 2)  # the service takes fewer rows (or bytes) a request: find out how many
                continue
            out.extend(Prediction.from_json(p, answer["version"]) for p in answer["predictions"])
            answers.append(answer)
            start += len(batch)
        return Predictions(model, out, answers)

    # -- models --------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Every model, its versions, labels and served version.

            >>> [m.name for m in client.models()]
            ['checkerboard', 'house_prices', 'iris', 'quadrant', 'red', 'sine', 'xor']
        """
        return [ModelInfo.from_json(m) for m in self._call("GET", "/models")["models"]]

    def model(self, name: str) -> ModelInfo:
        """One model.   >>> client.model("red").served_version"""
        return ModelInfo.from_json(self._call("GET", f"/models/{_segment(name)}"))

    def ready(self) -> Readiness:
        """Whether the service can serve (truthy), and what each model serves or why it cannot.

            >>> bool(client.ready())
            True
        """
        try:
            body = self._call("GET", "/readyz")
        except Unavailable as e:
            if e.status is None:
                raise
            return Readiness(False, {}, {}, e.message)
        return Readiness(True, body.get("models", {}), body.get("failures", {}))

    # -- training jobs -------------------------------------------------------------------

    def train(self, model: str, *, epochs: int | None = None, samples: int | None = None,
              examples: Iterable | None = None, promote: str | None = None, learning_rate: float | None = None,
              batch_size: int | None = None, seed: int | None = None, from_version: int | None = None) -> Job:
        """Queue a job that trains ``model`` further; the job, as queued. ``examples`` are
        labelled rows: ``(row, label_or_value)`` pairs or ``{"input": row, "label": ...}``.

            >>> job = client.train("red", epochs=5, examples=[([250, 10, 10], "red")])
            >>> job.wait().status
            'succeeded'
        """
        body = {k: v for k, v in (("epochs", epochs), ("samples", samples), ("promote", promote),
                                  ("learning_rate", learning_rate), ("batch_size", batch_size), ("seed", seed),
                                  ("from_version", from_version)) if v is not None}
        if examples is not None:
            body["examples"] = [_example(e) for e in examples]
        answer = self._call("POST", f"/train/{_segment(model)}", json=body, auth=True, idempotent=False)
        return Job.from_json(answer, self)

    def job(self, job_id: str) -> Job:
        """A job's state now.   >>> client.job("3f2a9c0d41b7e8a2").status"""
        return Job.from_json(self._call("GET", f"/train/jobs/{_segment(job_id)}", auth=True), self)

    def jobs(self, *, model: str | None = None, status: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first.   >>> [j.status for j in client.jobs(model="red")]"""
        params = {k: v for k, v in (("model", model), ("status", status), ("limit", limit)) if v is not None}
        return [Job.from_json(j, self) for j in self._call("GET", "/train/jobs", params=params, auth=True)["jobs"]]

    def cancel(self, job_id: str) -> Job:
        """Cancel a job.   >>> client.cancel("3f2a9c0d41b7e8a2").cancel_requested"""
        return Job.from_json(self._call("DELETE", f"/train/jobs/{_segment(job_id)}", auth=True), self)


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
        raise ValueError(f"{text!r} cannot be a model name, label or job id: it holds a '/'")
    return quote(text, safe="")


def _example(e) -> dict:
    if isinstance(e, dict):
        return e
    row, target = e
    row = row if isinstance(row, dict) else list(row)
    return {"input": row, "label": target} if isinstance(target, str) else {"input": row, "value": target}


def _refused(e: Exception) -> bool:
    """Whether a ConnectionError happened before anything was sent (refused, no route, DNS)."""
    text = repr(e)
    return any(s in text for s in ("NewConnectionError", "Connection refused", "Name or service not known",
                                   "No route to host", "nodename nor servname"))


def _reason(e: Exception) -> str:
    text = str(e)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out",
                   "Connection reset", "Connection aborted", "Remote end closed connection"):
        if marker in text:
            return marker.lower()
    return type(e).__name__
