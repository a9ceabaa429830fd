"""Reading TINYMLP_* environment variables, checked: a value that cannot work is refused
with a message naming the variable and what it takes. Shared by the service and the worker."""

from __future__ import annotations


class EnvError(ValueError):
    pass


def number(env, name: str, default, low, high, cast=float):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        kind = "a whole number" if cast is int else "a number"
        raise EnvError(f"{name} must be {kind}, got {raw!r}") from None
    if not low <= value <= high:
        raise EnvError(f"{name} must be from {low} to {high}, got {value}")
    return value


def choice(env, name: str, default: str, choices) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise EnvError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def models_dir(env) -> str:
    """The model store: $TINYMLP_MODELS_DIR, or ./models when unset or empty."""
    return env.get("TINYMLP_MODELS_DIR") or "models"


def state_dir(env) -> str:
    """The job table's folder: $TINYMLP_STATE_DIR, or ./state when unset or empty."""
    return env.get("TINYMLP_STATE_DIR") or "state"
