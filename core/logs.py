"""Log lines of every tinymlp process: text, or one JSON object a line (TINYMLP_LOG_FORMAT).

A line is always one line: in the text format, control characters that came from outside
(a request path with %0a, %1b or %00 in it, a job's error text) are written escaped, as
the JSON format does, so no one can forge a log line.
"""

from __future__ import annotations

import json
import logging
import sys

# \n, \r, \t as such; any other C0 or C1 control character, and DEL, as \xNN
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


class TextFormatter(logging.Formatter):
    def format(self, record):
        return super().format(record).translate(_ESCAPES)


class JSONFormatter(logging.Formatter):
    def format(self, record):
        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "message": record.getMessage()}
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


FIELDS = False  # whether the records' "fields" are written (JSON lines): callers may skip building them


def setup(fmt: str, level: str) -> None:
    """The ``tinymlp`` loggers write to stdout in ``fmt`` (text or json) from ``level`` up."""
    global FIELDS
    FIELDS = fmt == "json"
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter() if fmt == "json" else
                         TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("tinymlp")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
