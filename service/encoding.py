"""Writing a ``Prediction`` as each protocol's answer: the native JSON body, or V2 tensors.

The native body is written as JSON bytes straight from numpy: orjson serialises each
output column (shortest float32/float64 text), the column texts are split into per-row
values, and one ``bytes.join`` interleaves them with the fixed text around them. No
Python dict is built per row, which would be the largest part of a 10,000-row request.
A few rows are cheaper the plain way, a dict a row with numpy scalars in it, which orjson
writes in the same shortest text: both give the same bytes (a test holds them to it), the
plain way up to ``FEW_ROWS`` (``benchmarks.predict_breakdown`` measures the pieces).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np
import orjson

if TYPE_CHECKING:
    from service.dataplane import Prediction

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
_LABEL_ARRAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # network -> its labels as an array


FEW_ROWS = 8  # up to here a dict a row is faster than the columns' texts interleaved


def native_json(prediction: Prediction, request_id: str) -> bytes:
    """``{"model": .., "version": .., "id": .., "predictions": [..]}`` as JSON bytes, one entry
    per row: label and probabilities (classifier) or value (regressor); ``id`` is the request's
    (the X-Request-ID header's): the key to send feedback on it by."""
    if len(prediction) <= FEW_ROWS:
        return _few_rows_json(prediction, request_id)
    return _columns_json(prediction, request_id)


def _few_rows_json(prediction: Prediction, request_id: str) -> bytes:
    model = prediction.model
    net = model.network
    if prediction.proba is not None:
        labels = net.labels
        rows = [{"label": labels[j], "probabilities": dict(zip(labels, row))}
                for j, row in zip(prediction.label_index.tolist(), prediction.proba)]
    elif net.n_outputs == 1:
        rows = [{"value": row[0]} for row in prediction.values]
    else:
        rows = [{"value": row} for row in prediction.values]
    return orjson.dumps({"model": model.name, "version": model.version, "id": request_id, "predictions": rows},
                        option=_NUMPY)


def _columns_json(prediction: Prediction, request_id: str) -> bytes:
    model = prediction.model
    net = model.network
    pieces, quoted = _PIECES.get(net) or _PIECES.setdefault(net, _row_pieces(net))
    if quoted is not None:
        columns = [quoted[prediction.label_index].tolist(), *map(_column_texts, prediction.proba.T)]
    else:
        columns = list(map(_column_texts, prediction.values.T))
    # piece, value, piece, value, ..., last piece + ",": one list filled by slice assignment
    # (C speed: a generator over zipped columns costs twice as much), one bytes.join over it
    n = len(prediction)
    tail = [*pieces[1:-1], pieces[-1] + b","]
    width = 2 * len(columns) + 1
    out = [pieces[0]] * (width * n)
    for i, (column, piece) in enumerate(zip(columns, tail)):
        out[2 * i + 1::width] = column
        out[2 * i + 2::width] = [piece] * n
    entries = b"".join(out)[:-1]
    return b'{"model":%s,"version":%d,"id":%s,"predictions":[%s]}' % (
        orjson.dumps(model.name), model.version, orjson.dumps(request_id), entries)


def output_specs(model) -> list[dict]:
    """The V2 output tensors a model answers with (``v2_outputs`` writes them): name,
    datatype and shape, -1 standing for the batch."""
    output = model.info.output
    if output.is_classifier:
        return [{"name": "probabilities", "datatype": "FP32", "shape": [-1, output.n_outputs]},
                {"name": "label", "datatype": "BYTES", "shape": [-1]}]
    return [{"name": "value", "datatype": "FP32", "shape": [-1, output.n_outputs]}]


def output_names(model) -> list[str]:
    return [o["name"] for o in output_specs(model)]


def v2_outputs(prediction: Prediction, wanted: list[str] | None = None) -> list[dict]:
    """The V2 output tensors: ``probabilities`` (FP32 [N, n_classes]) and ``label`` (BYTES [N])
    of a classifier, ``value`` (FP32 [N, n_outputs]) of a regressor; only ``wanted`` ones if given."""
    n = len(prediction)
    if prediction.proba is not None:
        proba = prediction.proba.astype(np.float32, copy=False)  # a float32 model's already are
        net = prediction.model.network
        names = _LABEL_ARRAYS.get(net)
        if names is None:
            names = _LABEL_ARRAYS.setdefault(net, np.asarray(net.labels, dtype=object))
        out = [{"name": "probabilities", "datatype": "FP32", "shape": [n, proba.shape[1]], "data": proba.ravel()},
               {"name": "label", "datatype": "BYTES", "shape": [n], "data": names[prediction.label_index].tolist()}]
    else:
        values = prediction.values.astype(np.float32, copy=False)
        out = [{"name": "value", "datatype": "FP32", "shape": list(values.shape), "data": values.ravel()}]
    return out if wanted is None else [o for o in out if o["name"] in wanted]
