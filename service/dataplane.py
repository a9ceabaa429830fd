"""The work between HTTP and the models, shared by the native and the V2 endpoints.

MLServer's shape (``mlserver/handlers/dataplane.py`` serves REST and gRPC alike): the views
parse a body and encode an answer, nothing else; here one function checks raw rows against
a model's input spec and one runs the model. Both raise the domain errors of
``service.errors``, which each protocol maps to its own error body.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service import metrics
from service.errors import InvalidInput, ModelFault, TooLarge
from service.registry import Model
from service.validation import InputError, to_matrix


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model answered for n rows: probabilities and the chosen class index (a
    classifier), or values (a regressor)."""

    model: Model
    proba: np.ndarray | None = None  # (n, n_classes), columns in the order of the labels
    label_index: np.ndarray | None = None  # (n,)
    values: np.ndarray | None = None  # (n, n_outputs)

    def __len__(self) -> int:
        return len(self.proba if self.proba is not None else self.values)


def check_rows(model: Model, rows, *, max_rows: int, field: str = "inputs",
               may_hold_booleans: bool = True) -> np.ndarray:
    """JSON rows (lists in feature order, or objects keyed by feature) as a checked float
    matrix (n, n_features); InvalidInput (422) names the offending cells, TooLarge (413) a
    batch over ``max_rows``. ``may_hold_booleans=False`` (no ``true``/``false`` in the JSON
    text) allows a faster typing of the whole matrix at once."""
    try:
        return to_matrix(rows, model.spec, max_rows, field, may_hold_booleans=may_hold_booleans)
    except InputError as e:
        cls = TooLarge if e.status == 413 else InvalidInput
        raise cls(str(e), errors=e.errors) from None


def predict(model: Model, X: np.ndarray) -> Prediction:
    """Run the model on checked rows X: (n, n_features)."""
    net = model.network
    if net.is_classifier:
        proba = net.predict_proba(X)
        _check_finite(model, proba)
        result = Prediction(model, proba=proba, label_index=proba.argmax(axis=1))
    else:
        result = Prediction(model, values=_check_finite(model, net.forward(X)))
    metrics.count_rows(model.name, model.version, len(X))
    return result


def _check_finite(model: Model, out: np.ndarray) -> np.ndarray:
    """``out`` if every output is finite; else ModelFault (500) naming the first row that is not.
    A model file is refused at load if its outputs are not finite on its input box, but a
    feature with no bound can still take a value that overflows: the answer says so, never
    nulls."""
    flat = out.ravel()
    # A sum of squares is not finite if any output is not (nor, rarely, when large outputs
    # overflow it: then the exact check decides); in one BLAS call, half numpy.isfinite's cost.
    if math.isfinite(np.dot(flat, flat)):
        return out
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if not len(bad):
        return out
    metrics.NONFINITE.labels(model.name).inc()
    raise ModelFault(f"Model {model.name!r} version {model.version} produced a non-finite output for row {bad[0]}"
                     + (f" (and {len(bad) - 1} more rows)" if len(bad) > 1 else "")
                     + "; its input there is outside what the model can answer. Send values nearer those it "
                       "was trained on.")
