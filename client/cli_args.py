"""What every ``tinymlp`` command module shares: ``Usage`` (input a command cannot use) and
the argument types its options are parsed with. One place, so the commands in ``client.cli``,
``client.cli_rollouts`` and ``client.cli_feedback`` read a number the same way."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class Usage(Exception):
    """Input this command cannot use: one line, exit status 1."""


def number(text: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise Usage(f"{text!r} is not a number") from None


def _typed(kind, what: str, check=lambda v: True):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


whole = _typed(int, "a whole number")
positive_whole = _typed(int, "a whole number above 0", lambda v: v > 0)
real = _typed(float, "a number")
positive_real = _typed(float, "a number of seconds above 0", lambda v: 0 < v < float("inf"))
share = _typed(float, "a percent above 0 and at most 100", lambda v: 0 < v <= 100)
fraction = _typed(float, "a number from 0 to 1", lambda v: 0 <= v <= 1)
ratio = _typed(float, "a number from 1", lambda v: 1 <= v < float("inf"))
non_negative = _typed(float, "a number from 0", lambda v: 0 <= v < float("inf"))


def read_text(path: str) -> str:
    """A file's UTF-8 text (``-``: standard input), or Usage saying why it cannot be read."""
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise Usage(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise Usage(f"{path} is not UTF-8 text") from None
