"""Running a loaded model on checked rows and writing the answer.

The predict response is written as JSON bytes straight from numpy: orjson
serialises each output column (shortest float32/float64 text), the column
texts are split into per-row values, and one ``bytes.join`` interleaves them
with the fixed text around them. This avoids building a Python dict per row,
which cost ~0.7 µs a row and was the largest part of a 10,000-row request.
"""

from __future__ import annotations

import weakref
from itertools import chain, repeat

import numpy as np
import orjson

from service.registry import Model

_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _column_texts(values: np.ndarray) -> list[bytes]:
    """A 1-D float array -> one JSON number (bytes) per element; NaN/inf become null."""
    return orjson.dumps(np.ascontiguousarray(values), option=_NUMPY)[1:-1].split(b",")


def _row_pieces(net) -> tuple[list[bytes], np.ndarray | None]:
    """The fixed JSON text around a row's values (one more piece than values), and the
    quoted label names of a classifier."""
    if net.is_classifier:
        quoted = [orjson.dumps(label) for label in net.labels]
        pieces = [b'{"label":', b',"probabilities":{' + quoted[0] + b":"]
        pieces += [b"," + q + b":" for q in quoted[1:]] + [b"}}"]
        return pieces, np.asarray(quoted, dtype=object)
    if net.n_outputs == 1:
        return [b'{"value":', b"}"], None
    return [b'{"value":[', *[b","] * (net.n_outputs - 1), b"]}"], None


_PIECES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predictions_json(model: Model, X: np.ndarray) -> bytes:
    """``{"model": .., "version": .., "predictions": [..]}`` as JSON bytes, one entry per row:
    label and probabilities (classifier) or value (regressor)."""
    net = model.network
    pieces, quoted = _PIECES.get(net) or _PIECES.setdefault(net, _row_pieces(net))
    if quoted is not None:
        proba = net.predict_proba(X)
        columns = [quoted[proba.argmax(axis=1)].tolist(), *map(_column_texts, proba.T)]
    else:
        columns = list(map(_column_texts, net.forward(X).T))
    # piece, value, piece, value, ..., last piece + ",": one bytes.join over all of it
    n = len(X)
    parts = [repeat(pieces[0], n)]
    for column, piece in zip(columns, [*pieces[1:-1], pieces[-1] + b","]):
        parts += [column, repeat(piece, n)]
    entries = b"".join(chain.from_iterable(zip(*parts)))[:-1]
    return b'{"model":%s,"version":%d,"predictions":[%s]}' % (orjson.dumps(model.name), model.version, entries)


def describe(model: Model) -> dict:
    """A version's metadata and metrics, without its weights."""
    net = model.network
    meta = net.metadata
    training = dict(meta.get("training") or {})
    training.pop("curve", None)
    return {
        "name": model.name,
        "version": model.version,
        "task": meta.get("task"),
        "parent": meta.get("parent"),
        "created_at": meta.get("created_at"),
        "input": net.input_spec.to_dict(),
        "output": ({"kind": "classifier", "labels": net.labels} if net.is_classifier
                   else {"kind": "regressor", "n_outputs": net.n_outputs}),
        "layers": [{"n_in": la.n_in, "n_out": la.n_out, "activation": la.activation.name}
                   for la in net.layers],
        "metrics": meta.get("metrics"),
        "training": training,
        "curve": (meta.get("training") or {}).get("curve"),
    }
