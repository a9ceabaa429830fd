"""Checks on the JSON a service answered, as the typed records read it: a value of the wrong
kind raises ``Malformed`` naming where it is (``predictions[0].probabilities is null, expected an
object``), which the client turns into one ``UnexpectedAnswer`` line, never a traceback.

    version = field(body, "version", integer, "answer")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from client.text import printable

Check = Callable[[Any, str], Any]


class Malformed(ValueError):
    """An answer that is not what a tinymlp service sends; the message says where and what."""


def kind(value) -> str:
    """The JSON name of a value's kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _wrong(value, where: str, expected: str) -> Malformed:
    return Malformed(f"{printable(where)} is {kind(value)}, expected {expected}")


def obj(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _wrong(value, where, "an object")
    return value


def integer(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(value, where, "a whole number")
    return value


def number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(value, where, "a number")
    return value


def text(value, where: str) -> str:
    if not isinstance(value, str):
        raise _wrong(value, where, "a string")
    return value


def boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(value, where, "true or false")
    return value


def nullable(check: Check) -> Check:
    """``check``, or None for a null."""
    return lambda value, where: None if value is None else check(value, where)


def list_of(check: Check) -> Check:
    def checked(value, where: str) -> list:
        if not isinstance(value, list):
            raise _wrong(value, where, "a list")
        return [check(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return checked


def dict_of(check: Check) -> Check:
    """An object whose every value passes ``check`` (its keys are strings in JSON)."""

    def checked(value, where: str) -> dict:
        return {k: check(v, f"{where}.{k}") for k, v in obj(value, where).items()}

    return checked


def field(data: dict, key: str, check: Check, where: str, *, default=...):
    """``data[key]`` passed through ``check``; ``default`` when the key is absent (if given)."""
    if key not in data:
        if default is ...:
            raise Malformed(f"{printable(where)} has no {key!r}")
        return default
    return check(data[key], f"{where}.{key}")
