"""The work between HTTP and the models, shared by the native and the V2 endpoints: the
request's fast path, whole.

MLServer's shape (``mlserver/handlers/dataplane.py`` serves REST and gRPC alike): a view
hands over the body's bytes and the model its URL names, and gets the answer's bytes back.
In between, for both protocols alike:

1. ``decode``: one JSON parse (orjson); the body's structure checked against its marshmallow
   schema (``PredictRequest``, ``InferRequest``): by a direct look when the body has the
   schema's usual shape, by the schema itself for anything else, so a usual body costs
   microseconds and an unusual one gets the schema's exact message (tests hold the two to
   the same verdicts); then the rows typed into a float matrix and checked against the
   model's input spec by one function (``validation.check_matrix``). The boolean fast path:
   a body with no ``true``/``false`` in its text may be typed by numpy at once.
2. ``predict``: the model on the checked matrix.
3. the protocol's encoder: the native JSON answer, or V2 tensors, each carrying the request's
   id (native: ``id``; V2: the client's ``id`` if it gave one, else the request's).

What was served (``Served``: the request id, the model, the checked matrix, the prediction)
is handed, after the answer has gone, to the app's observers (``service.extensions``): the
work that must not delay or change an answer, such as comparing a rollout's two versions or
logging the prediction.

All of it runs with the cyclic garbage collector paused (``gc_paused``): a 10,000-row body
is ~40,000 Python objects, none of them in cycles, which would otherwise trigger a dozen
collections mid-request; the parsed body is freed before collection resumes.

Errors are the domain errors of ``service.errors``; each protocol maps them to its own
error body (``routes.errors``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from marshmallow import Schema, ValidationError

from service import jsonio, metrics
from service.encoding import native_json, output_names, v2_outputs
from service.errors import ECHO_LIMIT, InvalidInput, MalformedRequest, ModelFault, ServiceError, TooLarge, shown
from service.gcpause import gc_paused
from service.jsonio import MalformedJSON, dumps, loads
from service.registry import Model
from service.requestlog import SAFE_ID
from service.schemas.predict import PredictRequest
from service.schemas.v2 import DATATYPES, InferRequest
from service.tensors import INT_RANGES, matrix_of
from service.validation import InputError, check_matrix, to_matrix


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model answered for n rows: probabilities and the chosen class index (a
    classifier), or values (a regressor)."""

    model: Model
    proba: np.ndarray | None = None  # (n, n_classes), columns in the order of the labels
    label_index: np.ndarray | None = None  # (n,)
    values: np.ndarray | None = None  # (n, n_outputs)

    @property
    def outputs(self) -> np.ndarray:
        """The probabilities (a classifier) or the values (a regressor): (n, outputs)."""
        return self.proba if self.proba is not None else self.values

    def __len__(self) -> int:
        return len(self.outputs)


@dataclass(frozen=True, slots=True)
class Served:
    """One predict request as the data plane served it, for the observers."""

    request_id: str
    X: np.ndarray  # the checked rows (n, n_features)
    prediction: Prediction

    @property
    def model(self) -> Model:
        """The version that answered."""
        return self.prediction.model


class Routed(NamedTuple):
    """A router's pick when more than one version may answer (a rollout): ``model`` checks the
    rows (the contract clients know: the served version's input), ``run`` answers them, with
    whichever version it chooses (``Prediction.model`` says which)."""

    model: Model
    run: Callable[[np.ndarray], Prediction]


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


def check_rows(model: Model, rows, *, max_rows: int, field: str = "inputs",
               may_hold_booleans: bool = True) -> np.ndarray:
    """JSON rows (lists in feature order, or objects keyed by feature) as a checked float
    matrix (n, n_features); InvalidInput (422) names the offending cells, TooLarge (413) a
    batch over ``max_rows``. ``may_hold_booleans=False`` (no ``true``/``false`` in the JSON
    text) allows a faster typing of the whole matrix at once."""
    try:
        return to_matrix(rows, model.spec, max_rows, field, may_hold_booleans=may_hold_booleans)
    except InputError as e:
        raise _domain(e) from None


def _domain(e: InputError) -> ServiceError:
    return (TooLarge if e.status == 413 else InvalidInput)(str(e), errors=e.errors)


def invalid(messages, cls: type[ServiceError] = InvalidInput, fields=()) -> ServiceError:
    """A marshmallow ``ValidationError.messages`` as a domain error naming the first fault;
    ``fields``: the body's own fields, named when one it does not have was sent."""
    errors = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path if k == "_schema" else [*path, k])
        elif isinstance(node, list) and all(isinstance(x, str) for x in node):
            errors.extend({"field": _field(path), "message": m} for m in node)
        else:
            errors.append({"field": _field(path), "message": str(node)[:ECHO_LIMIT]})

    walk(messages, [])
    # A misspelt field is reported twice by marshmallow (unknown, and the right one missing):
    # say it once, the unknown one first, with the name it most likely meant.
    unknown = [e for e in errors if e["message"] == "Unknown field."]
    missing = [e["field"] for e in errors if e["message"] == "Missing data for required field."]
    if unknown:
        field = unknown[0]["field"] or ""  # a field named "" is one too
        meant = difflib.get_close_matches(field.rpartition(".")[2], [(m or "").rpartition(".")[2] for m in missing],
                                          n=1)
        message = f"{shown(field)} is not a field here" + (f"; did you mean {meant[0]!r}?" if meant else "")
        if fields and "." not in field and not meant:
            message += f"; the body's fields are {', '.join(fields)}"
        if missing:
            message += f" ({', '.join(shown(m or '') for m in missing[:3])} missing)"
        return cls(message, errors=[*unknown, *(e for e in errors if e not in unknown)][:10])
    first = errors[0]
    where = f"{first['field']}: " if first.get("field") else ""
    return cls(f"{where}{first['message']}", errors=errors[:10])


def _field(path: list) -> str | None:
    """A field's dotted path as an error names it: the client's own keys in it capped."""
    text = ".".join(map(str, path))
    return (text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "...") or None


def _not_an_object(body, wrapped: str) -> str:
    """The message for a body that is not a JSON object: what it got, and the object to send
    (``wrapped`` holds ``%s`` where the rows or the tensor go)."""
    if isinstance(body, list):
        return f"The body must be a JSON object, not a list: send it as {wrapped % '<that list>'}"
    return f"The body must be a JSON object such as {wrapped % '[...]'}, not {jsonio.kind(body)}"


def parse(raw: bytes):
    """The body's JSON, strictly: MalformedRequest (400) if it is not JSON."""
    try:
        return loads(raw)
    except MalformedJSON as e:
        raise MalformedRequest(f"{e}") from None


def load(schema: Schema, body, error: type[ServiceError] = InvalidInput):
    """``body`` loaded by ``schema``: ``error`` naming the first fault if it does not fit."""
    try:
        return schema.load(body)
    except ValidationError as e:
        raise invalid(e.messages, error, tuple(schema.fields)) from None


# -- the two protocols: decode a body, encode an answer -----------------------------------


class Native:
    """``{"inputs": [row, ...]}`` -> ``{"model", "version", "predictions"}``."""

    schema = PredictRequest()
    json_only = True  # a body sent as anything but JSON is refused (415)

    @classmethod
    def decode(cls, raw: bytes, body, model: Model, max_rows: int) -> tuple[np.ndarray, None]:
        rows = _usual_rows(body)
        if rows is not None:
            pass  # what the schema would accept, and give back as it is
        elif type(body) is not dict:
            raise InvalidInput(_not_an_object(body, '{"inputs": %s} (a list of rows)'))
        else:
            rows = load(cls.schema, body)["inputs"]
        return check_rows(model, rows, max_rows=max_rows, may_hold_booleans=_may_hold_booleans(raw)), None

    @staticmethod
    def request_id(_extra, given: str) -> str:
        """The request's id: the X-Request-ID (the client's, or a new one)."""
        return given

    @staticmethod
    def encode(prediction: Prediction, _extra, request_id: str) -> bytes:
        return native_json(prediction, request_id)


_TENSOR_KEYS = {"name", "datatype", "shape", "data"}


class V2:
    """The Open Inference Protocol: ``{"id"?, "inputs": [tensor], "outputs"?}`` -> output tensors."""

    schema = InferRequest()
    json_only = False  # tritonclient and friends may send no JSON content type

    @classmethod
    def decode(cls, raw: bytes, body, model: Model, max_rows: int) -> tuple[np.ndarray, tuple]:
        tensor = _usual_tensor(body)
        if type(body) is not dict:
            raise MalformedRequest(_not_an_object(body, '{"inputs": [{"name": "input", "datatype": "FP32", '
                                                        '"shape": [N, k], "data": %s}]}'))
        if tensor is None:  # anything but the usual shape: the schema checks it whole
            body = load(cls.schema, body, MalformedRequest)
            tensor = body["inputs"][0]
            if "binary_data_size" in (tensor.get("parameters") or {}):
                raise MalformedRequest("binary tensor data is not supported; send JSON tensors (binary_data=False)")
        wanted = [o["name"] for o in body.get("outputs") or ()] or None  # none named: all of them
        if wanted:
            known = output_names(model)
            unknown = sorted(set(wanted) - set(known))
            if unknown:
                raise MalformedRequest(f"unknown output(s) {', '.join(map(shown, unknown[:5]))}; {model.name} has "
                                       f"{known}")
        try:
            X = matrix_of(tensor, model.spec, model.name, max_rows, _may_hold_booleans(raw))
            # an integer datatype's values are whole numbers already (matrix_of checked them)
            X = check_matrix(X, model.spec, "input", whole_checked=tensor["datatype"] in INT_RANGES)
        except InputError as e:
            raise _domain(e) from None
        return X, (wanted, body.get("id"))

    @staticmethod
    def request_id(extra, given: str) -> str:
        """The request's id: the body's ``id`` when it is a safe one (tritonclient sends its
        request_id there, and the answer's ``id`` echoes it, so feedback names it), else the
        X-Request-ID (the client's, or a new one)."""
        body_id = extra[1]
        return body_id if type(body_id) is str and SAFE_ID.match(body_id) else given

    @staticmethod
    def encode(prediction: Prediction, extra, request_id: str) -> bytes:
        wanted, given_id = extra
        model = prediction.model
        return dumps({"model_name": model.name, "model_version": str(model.version),
                      "id": request_id if given_id is None else given_id, "outputs": v2_outputs(prediction, wanted)})


def _usual_rows(body) -> list | None:
    """The rows of a body of the usual shape (what PredictRequest accepts and gives back as it
    is: an object holding only ``inputs``, a list), else None."""
    if type(body) is dict and len(body) == 1 and type(rows := body.get("inputs")) is list:
        return rows
    return None


def _usual_tensor(body) -> dict | None:
    """The tensor of a body of the usual shape (what InferRequest accepts and gives back as
    it is: one tensor named "input" of a known datatype, a shape of two whole numbers, a data
    list, no parameters; an optional string id), else None."""
    if type(body) is not dict or type(inputs := body.get("inputs")) is not list or len(inputs) != 1:
        return None
    if len(body) != 1 and not (len(body) == 2 and type(body.get("id")) is str):
        return None
    tensor = inputs[0]
    if type(tensor) is not dict or tensor.keys() != _TENSOR_KEYS or tensor["name"] != "input" \
            or tensor["datatype"] not in DATATYPES or type(tensor["data"]) is not list:
        return None
    shape = tensor["shape"]
    if type(shape) is not list or len(shape) != 2 or not all(type(v) is int and v >= 0 for v in shape):
        return None
    return tensor


def _may_hold_booleans(raw: bytes) -> bool:
    return b"true" in raw or b"false" in raw


def answer(protocol, raw: bytes, model: Model, *, max_rows: int, request_id: str,
           run: Callable[[np.ndarray], Prediction] | None = None) -> tuple[bytes, Served]:
    """The answer's bytes to a predict body ``raw`` for ``model``, and what was served: decode,
    predict (``run``, if given, answers the rows ``model`` checked: see ``Routed``), encode, with
    the garbage collector paused (see the module's docstring)."""
    with gc_paused():
        X, extra = protocol.decode(raw, parse(raw), model, max_rows)
        request_id = protocol.request_id(extra, request_id)
        prediction = predict(model, X) if run is None else run(X)
        payload = protocol.encode(prediction, extra, request_id)
    return payload, Served(request_id, X, prediction)
