"""The service's domain errors: each carries its HTTP status, a message a person can act on,
and any headers the answer needs (``Retry-After``, ``Allow``, ``WWW-Authenticate``).

The registry, the data plane and the views raise these; ``service.routes.errors`` maps them
to HTTP once: the native JSON error, or the V2 protocol's ``{"error": ...}``.
"""

from __future__ import annotations

ECHO_LIMIT = 64  # characters of a client's own text an error message repeats back


def shown(text) -> str:
    """A client-supplied name as an error message quotes it: repr'd and capped."""
    text = str(text)
    return repr(text) if len(text) <= ECHO_LIMIT else repr(text[:ECHO_LIMIT]) + f"... ({len(text)} characters)"


class ServiceError(Exception):
    status = 500

    def __init__(self, message: str, *, errors: list[dict] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class MalformedRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="tinymlp"'})


class TrainingOff(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class ModelNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class LabelNotFound(NotFound):
    pass


class JobNotFound(NotFound):
    pass


class MethodNotAllowed(ServiceError):
    status = 405

    def __init__(self, message: str, allowed: list[str]):
        super().__init__(message, headers={"Allow": ", ".join(allowed)})


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class InvalidInput(ServiceError):
    status = 422


class Busy(ServiceError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class NotImplementedHere(ServiceError):
    status = 501


class ModelFault(ServiceError):
    """A model that could not answer a valid request (its output was not finite)."""

    status = 500


class Unavailable(ServiceError):
    status = 503


class NotServable(Unavailable):
    """A model that exists but has no version this process can serve (see the message)."""
