"""A ``.env`` file of ``NAME=value`` lines, read as docker compose reads the project's.

    values = read(Path(".env"))     # {"TINYMLP_URL": "http://host:8000", ...}

Blank lines and ``#`` comments are skipped; ``export NAME=value`` is taken; a value may be
'single-quoted' (as written), "double-quoted" (with \\n, \\t, \\" and \\\\ escapes) or bare (up
to a `` #`` comment, trimmed). A line that is none of these is an ``EnvFileError`` naming its
file and line: a setting silently skipped would send the wrong token to the wrong service.
(python-dotenv skips such a line with a logged warning, which is why this is not it.)
"""

from __future__ import annotations

import re
from pathlib import Path

from client.text import shortened

_LINE = re.compile(r"\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class EnvFileError(ValueError):
    """A line of the file that is not NAME=value; the message names the file and the line."""


def read(path: Path) -> dict[str, str]:
    """The file's settings; {} if there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        raise EnvFileError(f"{path} is not UTF-8 text") from None
    except OSError as e:
        raise EnvFileError(f"cannot read {path}: {e.strerror}") from None
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise EnvFileError(f"{path}, line {number}: {shortened(line.strip(), 60)!r} is not NAME=value")
        try:
            values[m["name"]] = _value(m["value"])
        except ValueError as e:
            raise EnvFileError(f"{path}, line {number}: {e}") from None
    return values


def _value(raw: str) -> str:
    if raw[:1] == "'":
        end = raw.find("'", 1)
        if end < 0:
            raise ValueError("the value's single quote is never closed")
        _only_comment_after(raw[end + 1:])
        return raw[1:end]
    if raw[:1] == '"':
        out, i = [], 1
        while i < len(raw):
            c = raw[i]
            if c == "\\" and i + 1 < len(raw):
                out.append(_ESCAPES.get(raw[i + 1], "\\" + raw[i + 1]))
                i += 2
                continue
            if c == '"':
                _only_comment_after(raw[i + 1:])
                return "".join(out)
            out.append(c)
            i += 1
        raise ValueError("the value's double quote is never closed")
    return re.split(r"\s#", raw, maxsplit=1)[0].rstrip()


def _only_comment_after(rest: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"{shortened(rest, 40)!r} follows the quoted value")
