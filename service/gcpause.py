"""Pausing Python's cyclic garbage collector around allocation-heavy, cycle-free work."""

from __future__ import annotations

import gc


class gc_paused:  # lower case: used like a function, ``with gc_paused(): ...``
    """Collection is deferred inside the block (nested uses are fine); reference counting
    still frees everything as usual. A class rather than a ``@contextmanager`` generator:
    this wraps every predict request, and a generator's enter and exit cost more
    (``benchmarks.predict_breakdown`` times the request's parts)."""

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.was_enabled:
            gc.enable()
