"""The client's exceptions: one hierarchy, raised from the service's JSON error bodies (or from
a network failure), each with what the service said and the request id to find it in the logs.

    try:
        client.predict("red", [[255, 0, 0]])
    except InvalidInput as e:
        print(e.status, e.message, e.errors)
"""

from __future__ import annotations


class ClientError(Exception):
    """Any failure of a call: ``status`` (None when no answer came), ``message``, ``errors``
    (validation: the offending field, row and column), ``request_id``, ``url``."""

    def __init__(self, message: str, *, status: int | None = None, errors: list | None = None,
                 request_id: str | None = None, url: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []
        self.request_id = request_id
        self.url = url

    def __str__(self) -> str:
        notes = ([f"HTTP {self.status}"] if self.status else []) + (
            [f"request {self.request_id}"] if self.request_id else [])
        return f"{self.message} ({', '.join(notes)})" if notes else self.message


class UnexpectedAnswer(ClientError):
    """The service answered something tinymlp does not send: not JSON, a list where an object
    belongs, a key missing, a null where a number belongs, fewer predictions than rows..."""


class TooLargeAnswer(UnexpectedAnswer):
    """The answer is larger than the client takes (``Client(max_answer_bytes=...)``)."""


class InvalidInput(ClientError):
    """400 or 422: the request or its values are not what the service takes."""


class Unauthorized(ClientError):
    """401 (a missing or wrong token) or 403 (training over HTTP is off)."""


class NotFound(ClientError):
    """404: no such model, version, label or job."""


class TooLarge(ClientError):
    """413: the body or the batch is too large."""


class Conflict(ClientError):
    """409: for instance, a job that has finished (or begun to publish) cannot be cancelled."""


class RateLimited(ClientError):
    """429: the job queue is full, or a picture is being drawn; ``retry_after`` says when to try again."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(ClientError):
    """502, 503 or 504, or no answer at all (``status`` None): the service could not be
    reached, or did not answer in full within the client's timeout."""


BY_STATUS = {400: InvalidInput, 401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict,
             413: TooLarge, 422: InvalidInput, 429: RateLimited, 502: Unavailable, 503: Unavailable,
             504: Unavailable}
