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
    def __init__(self, size: int = 16):
        self.size = size
        self._lru: OrderedDict[tuple, bytes] = OrderedDict()
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
        if stamp is None:  # removed meanwhile: nothing to key it by
            return data
        with self._lock:
            self._lru[key] = data
            while len(self._lru) > self.size:
                self._lru.popitem(last=False)
        return data
