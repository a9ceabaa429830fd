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
        where = f" (HTTP {self.status}" if self.status else " ("
        where += f", request {self.request_id})" if self.request_id else ")" if self.status else ""
        return self.message + ("" if where == " (" else where)


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
    """502, 503 or 504, or the service could not be reached at all (``status`` None)."""


BY_STATUS = {400: InvalidInput, 401: Unauthorized, 403: Unauthorized, 404: NotFound, 409: Conflict,
             413: TooLarge, 422: InvalidInput, 429: RateLimited, 502: Unavailable, 503: Unavailable,
             504: Unavailable}
