"""Pictures of a model version (training curve, decision regions) drawn once and kept.

A version's file never changes, so a picture of (model, version, kind, plane) is drawn by
``trainer.plots`` on first request and served from memory after; the cache holds the most
recently used ``size`` pictures of this worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class PictureCache:
    def __init__(self, size: int = 128):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.draws = 0

    def get(self, key, draw) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        png = draw()  # outside the lock: a slow drawing does not hold up other pictures
        with self._lock:
            self.draws += 1
            self._items[key] = png
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return png
