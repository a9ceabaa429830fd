"""Model versions as ONNX files for download, built once per version file and kept in a small LRU.

A version's export depends only on its file, so it is keyed by the file's stamp (inode,
size, modification time): a version rewritten in place, or a store made anew, is exported
again, and nothing else is. Building one takes milliseconds; the LRU saves repeating it for
clients that fetch the same file again and again (a Triton fleet pulling its models).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from mlp.onnx_export import ExportError, to_onnx
from service.errors import NotImplementedHere
from service.registry import Model


class OnnxExports:
    """At most ``size`` exports and ``max_bytes`` of them in all (a float64 model near the file
    cap exports to some megabytes: counted, a client cycling through versions cannot grow a
    worker past the memory its pod is sized for)."""

    def __init__(self, size: int = 16, max_bytes: int = 32 * 1024 * 1024):
        self.size = size
        self.max_bytes = max_bytes
        self._lru: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, model: Model, stamp) -> bytes:
        """The version as ONNX bytes; NotImplementedHere (501) naming what cannot be exported."""
        key = (model.name, model.version, stamp)
        with self._lock:
            data = self._lru.get(key)
            if data is not None:
                self._lru.move_to_end(key)
                return data
        info = model.info
        try:
            data = to_onnx(model.network, metadata={"name": info.name, "version": info.version, "task": info.task})
        except ExportError as e:
            raise NotImplementedHere(f"{info.name} version {info.version} cannot be exported to ONNX: {e}.") from None
        if stamp is None or len(data) > self.max_bytes:  # removed meanwhile, or too large to keep: built again
            return data
        with self._lock:
            if key not in self._lru:
                self._lru[key] = data
                self._bytes += len(data)
            while len(self._lru) > self.size or self._bytes > self.max_bytes:
                self._bytes -= len(self._lru.popitem(last=False)[1])
        return data
