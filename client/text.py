"""Text from a server made safe to print: control characters and ANSI escapes shown, not obeyed.

A message, label or name that a service sends could hold an escape sequence (colours, a cursor
move, a terminal title, a hyperlink), a carriage return that hides what came before it, a
newline that forges a second line of output, or a Unicode direction override that reorders
what a reader sees. ``printable`` shows each such character as its Python escape (``\\x1b``),
so what is printed is exactly what was sent, and inert; ``shortened`` also caps its length.
"""

from __future__ import annotations

import re

# C0 controls (tab included: it would break a tab-separated line), DEL, C1 controls, and the
# Unicode bidirectional overrides and isolates ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MAX_SHOWN = 1000  # characters of a server's message shown; errors can echo what was sent


def printable(text: object) -> str:
    """``text`` with every control character written as its escape: '\\x1b[31mred' -> '\\\\x1b[31mred'."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def shortened(text: object, limit: int = MAX_SHOWN) -> str:
    """``printable(text)``, cut to ``limit`` characters with a note of how many were left out."""
    text = printable(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
