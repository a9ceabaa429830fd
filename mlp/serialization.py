"""The model file: one JSON document holding everything to serve and continue training.

``to_dict``/``from_dict`` convert a network; ``save``/``load`` read and write files.
Reading checks the whole document and turns anything malformed into a ``ModelFileError``
saying what is wrong: the format, the type of every value at every level of the parts that
make the network (unknown keys in them included), shapes, finite numbers, activation
parameters within their ranges, labels against outputs, metadata nested at most
``MAX_DEPTH`` levels; it verifies the checksum, which covers every part that decides a
prediction (input spec, normalisation, output spec, dtype, layers and loss); and it runs
the network once on rows spanning its declared input box, refusing a network whose outputs
there are not finite. Anything else in the document (name, version, training record,
metrics...) is the caller's metadata, kept in ``network.metadata``.

Weights are stored as ``n_in`` rows of ``n_out`` numbers (``z = x @ W + b``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

import numpy as np
import orjson

from mlp.activations import get_activation
from mlp.config import DTYPES, NetworkConfig
from mlp.errors import ConfigError, MLPError, ModelFileError
from mlp.layers import Dense, Normalizer
from mlp.losses import get_loss
from mlp.network import Network
from mlp.optimizers import OPTIMIZERS
from mlp.spec import InputSpec

FORMAT = "tinymlp-model"
FORMAT_VERSION = 1
CHECKED_KEYS = ("input", "normalization", "target_normalization", "output", "dtype", "layers", "loss")
NETWORK_KEYS = {"format", "format_version", "architecture", "optimizer", "checksum", *CHECKED_KEYS}
LAYER_KEYS = {"n_in", "n_out", "activation", "weights", "biases"}
OPTIMIZER_ARRAYS = ("m", "v", "velocity")
MAX_DEPTH = 32  # metadata nests a few levels; far deeper only serves to exhaust a parser's stack
GENERIC = "it is not a valid model file"


# -- the checksum ---------------------------------------------------------------------

def checksum(doc: dict) -> str:
    """sha256 over the canonical JSON (sorted keys, no spaces) of the parts that decide a prediction."""
    h = hashlib.sha256()
    for piece in _canonical({k: doc.get(k) for k in CHECKED_KEYS}, 4):
        h.update(piece.encode())
    return "sha256:" + h.hexdigest()


def _canonical(value, split: int):
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))`` in pieces, so that the
    weights are hashed a row at a time instead of as one string as large as the file: objects
    and (``split`` levels deep) lists are opened here, anything below is dumped whole."""
    if isinstance(value, dict):
        yield "{"
        for i, key in enumerate(sorted(value)):
            yield ("," if i else "") + json.dumps(key) + ":"
            yield from _canonical(value[key], split - 1)
        yield "}"
    elif isinstance(value, list) and split > 0:
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from _canonical(item, split - 1)
        yield "]"
    else:
        yield json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


# -- writing ------------------------------------------------------------------------------

def to_dict(network: Network, **metadata) -> dict:
    """The model document; ``metadata`` (and ``network.metadata``) become top-level keys."""
    meta = {**network.metadata, **metadata}
    clash = NETWORK_KEYS & set(meta)
    if clash:
        raise ConfigError(f"metadata keys {sorted(clash)} are reserved for the network itself")
    if network.is_classifier:
        output = {"kind": "classifier", "labels": list(network.labels)}
    else:
        output = {"kind": "regressor", "n_outputs": network.n_outputs}
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **meta,
        "input": network.input_spec.to_dict(),
        "normalization": network.normalizer.to_dict() if network.normalizer else None,
        "target_normalization": (
            network.target_normalizer.to_dict() if network.target_normalizer else None
        ),
        "output": output,
        "dtype": network.dtype.name,
        "architecture": network.config.to_dict() if network.config else None,
        "layers": [
            {
                "n_in": la.n_in,
                "n_out": la.n_out,
                "activation": {"name": la.activation.name, "params": la.activation.params()},
                "weights": la.W.tolist(),
                "biases": la.b.tolist(),
            }
            for la in network.layers
        ],
        "loss": network.loss.name if network.loss else None,
        "optimizer": _optimizer_doc(network.optimizer_state),
    }
    doc["checksum"] = checksum(doc)
    return doc


def _optimizer_doc(state: dict | None) -> dict | None:
    """The optimizer state as JSON: a loaded file holds its buffers as arrays."""
    if not state or not isinstance(state.get("state"), dict):
        return state
    inner = {k: ([np.asarray(a).tolist() for a in v] if k in OPTIMIZER_ARRAYS and isinstance(v, list) else v)
             for k, v in state["state"].items()}
    return {**state, "state": inner}


def dumps(network: Network, **metadata) -> str:
    return json.dumps(to_dict(network, **metadata), allow_nan=False, separators=(",", ":"))


def save(network: Network, path, **metadata) -> None:
    """Write the model file (plain write; the trainer's store publishes atomically)."""
    text = dumps(network, **metadata)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# -- reading ------------------------------------------------------------------------------

def load(path, *, with_optimizer: bool = True) -> Network:
    """Read and check a model file; raises ModelFileError saying what is wrong.

    Only a regular file is read: it is opened without blocking (a FIFO with no writer, or a
    device, cannot hang the reader) and checked before a byte is read. A file larger than
    ``mlp.isolated.ISOLATE_ABOVE`` is parsed in a child process (see there).
    ``with_optimizer=False`` drops the optimizer state (two more copies of the weights), for
    callers that only predict."""
    source = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as e:
        raise ModelFileError(f"cannot read model file {source!r}: {e.strerror}",
                             f"it cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before a file object: a folder cannot become one
        os.close(fd)
        raise ModelFileError(f"{source} is not a regular file", "it is not a regular file")
    with os.fdopen(fd, "rb") as f:
        return load_file(f, source, with_optimizer=with_optimizer)


def load_file(f, source: str, *, with_optimizer: bool = True, isolate_above: int | None = None) -> Network:
    """Read a model from an open binary file (``load`` opens one; the model store opens its
    own, checked). A regular file larger than ``isolate_above`` bytes (default
    ``mlp.isolated.ISOLATE_ABOVE``; 0 keeps every file in this process) is parsed in a child
    process."""
    from mlp import isolated

    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{source} is not a regular file", "it is not a regular file")
    limit = isolated.ISOLATE_ABOVE if isolate_above is None else isolate_above
    if limit and st.st_size > limit:
        return isolated.load_in_child(f.fileno(), source, with_optimizer=with_optimizer)
    try:
        doc = _parse(f.read(), source)  # the bytes are freed once parsed
    except OSError as e:
        raise ModelFileError(f"cannot read model file {source!r}: {e.strerror}",
                             f"it cannot be read ({e.strerror})") from None
    return _from_document(doc, source, with_optimizer, consume=True)


def loads(raw: bytes | str, source: str = "model", *, with_optimizer: bool = True) -> Network:
    return _from_document(_parse(raw, source), source, with_optimizer, consume=True)


def _parse(raw, source: str):
    # orjson, not json: strict RFC 8259 (no NaN or Infinity, no lone surrogates, no invalid
    # UTF-8), a nesting limit instead of a RecursionError, and a fraction of json's time.
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise ModelFileError(f"{source}: not valid JSON ({e})", "it is not valid JSON") from None


def from_dict(doc, source: str = "model", *, with_optimizer: bool = True) -> Network:
    """A network from a model document (left as it is); ModelFileError if it is not one."""
    return _from_document(doc, source, with_optimizer, consume=False)


def _from_document(doc, source: str, with_optimizer: bool, consume: bool) -> Network:
    try:
        return _build(doc, with_optimizer, consume)
    except ModelFileError as e:
        raise ModelFileError(f"{source}: {e}", e.summary) from None
    except (MLPError, TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError,
            RecursionError, MemoryError) as e:
        # The checks above name every fault they know of; this is the net under them, so that
        # no document, however odd, escapes as anything but a refusal.
        kind = "" if isinstance(e, MLPError) else f"{type(e).__name__}: "
        raise ModelFileError(f"{source}: {kind}{e}", GENERIC) from None


class _Fault(ModelFileError):
    """A check that failed; its message names only keys and types, never the file's content,
    so it is its own summary."""

    def __init__(self, message: str):
        super().__init__(message, f"{GENERIC}: {message}")


def _build(doc, with_optimizer: bool, consume: bool) -> Network:
    if not isinstance(doc, dict):
        raise _Fault("a model file must hold a JSON object")
    fmt = doc.get("format")
    if fmt != FORMAT:
        shown = repr(fmt[:60]) if isinstance(fmt, str) else "missing" if fmt is None else f"a {type(fmt).__name__}"
        raise ModelFileError(
            f"format is {shown}, expected {FORMAT!r} "
            "(files of the original project are imported with `python -m trainer import-legacy`)",
            f"it is not a {FORMAT} file",
        )
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        shown = version if type(version) is int else f"a {type(version).__name__}"
        raise _Fault(f"format_version {shown} is not supported (this reads {FORMAT_VERSION})")
    missing = [k for k in (*CHECKED_KEYS, "checksum") if k not in doc]
    if missing:
        raise _Fault(f"missing keys {missing}")
    if not isinstance(doc["checksum"], str):
        raise _Fault("checksum must be a string")
    dtype = doc["dtype"]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise _Fault(f"dtype must be one of {DTYPES}")
    spec = _input_spec(doc["input"])
    labels, n_outputs = _output(doc["output"])
    normalizer = _normalizer(doc["normalization"], "normalization")
    target_normalizer = _normalizer(doc["target_normalization"], "target_normalization")
    if doc["loss"] is not None and not isinstance(doc["loss"], str):
        raise _Fault("loss must be a name or null")
    loss = get_loss(doc["loss"]) if doc["loss"] is not None else None
    if not isinstance(doc["layers"], list) or not doc["layers"]:
        raise _Fault("layers must be a non-empty list")

    # The checksum is taken over the checked parts in sorted key order, as they are read: each
    # layer's lists are checked, hashed, turned into arrays and (``consume``) let go at once,
    # so the file's weights never exist twice as Python objects.
    h = hashlib.sha256()

    def feed(*pieces, numbers=None):
        for piece in pieces:
            # numpy reads true as 1.0 in a list of numbers; the text being hashed shows it, for free.
            if numbers and ("true" in piece or "false" in piece):
                raise _Fault(f"{numbers} must be numbers, not true or false")
            h.update(piece.encode())

    feed('{"dtype":', *_canonical(dtype, 0), ',"input":', *_canonical(doc["input"], 2), ',"layers":[')
    layers = []
    for i, layer_doc in enumerate(doc["layers"]):
        layers.append(_layer(layer_doc, i, dtype))  # checked first: what is hashed has a known shape
        feed("," if i else "", *_canonical(layer_doc, 2), numbers=f"layer {i} weights and biases")
        if consume:
            layer_doc["weights"] = layer_doc["biases"] = None
    feed('],"loss":', *_canonical(doc["loss"], 0))
    feed(',"normalization":', *_canonical(doc["normalization"], 2), numbers="normalization")
    feed(',"output":', *_canonical(doc["output"], 2))
    feed(',"target_normalization":', *_canonical(doc["target_normalization"], 2), "}", numbers="target_normalization")
    if doc["checksum"] != "sha256:" + h.hexdigest():
        message = "checksum mismatch: the file was changed or damaged after it was written"
        raise ModelFileError(message, message)

    arch = doc.get("architecture")
    if arch is not None and (not isinstance(arch, dict) or not _shallow(arch)):
        raise _Fault(f"architecture must be an object nested at most {MAX_DEPTH} levels, or null")
    metadata = {k: v for k, v in doc.items() if k not in NETWORK_KEYS}
    if not _shallow(metadata):
        raise _Fault(f"its metadata is nested more than {MAX_DEPTH} levels deep")
    if n_outputs is not None and n_outputs != layers[-1].n_out:
        raise _Fault(f"output n_outputs does not match the last layer's {layers[-1].n_out} units")
    net = Network(
        layers,
        loss=loss,
        labels=labels,
        normalizer=normalizer,
        target_normalizer=target_normalizer,
        input_spec=spec,
        dtype=dtype,
        config=NetworkConfig.from_dict(arch) if arch else None,
        metadata=metadata,
    )
    opt = doc.get("optimizer")
    if consume:
        doc["optimizer"] = None
    # Checked even when it is not kept: whether a version loads must not depend on who reads it
    # (the trainer keeps the state, the service does not, and both pick the served version).
    state = _optimizer(opt, net.dtype)
    net.optimizer_state = state if with_optimizer else None
    _check_outputs_finite(net)
    return net


def _input_spec(value) -> InputSpec:
    try:
        return InputSpec.from_dict(value)
    except MLPError as e:
        raise ModelFileError(str(e), f"{GENERIC}: its input spec is malformed") from None


def _output(value) -> tuple[list[str] | None, int | None]:
    """(labels, None) of a classifier, (None, n_outputs) of a regressor."""
    if not isinstance(value, dict) or value.get("kind") not in ("classifier", "regressor"):
        raise _Fault("output must be an object whose kind is classifier or regressor")
    if value["kind"] == "classifier":
        if set(value) != {"kind", "labels"}:
            raise _Fault("a classifier's output holds kind and labels, nothing else")
        labels = value["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise _Fault("output labels must be a list of strings")
        return labels, None
    if set(value) - {"kind", "n_outputs"}:
        raise _Fault("a regressor's output holds kind and n_outputs, nothing else")
    n = value.get("n_outputs")
    if n is not None and (type(n) is not int or n < 1):
        raise _Fault("output n_outputs must be a whole number > 0")
    return None, n


def _normalizer(value, what: str) -> Normalizer | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"shift", "scale"}:
        raise _Fault(f"{what} must be an object of shift and scale, or null")
    shift = _array(value["shift"], "float64", f"{what} shift", 1)
    scale = _array(value["scale"], "float64", f"{what} scale", 1)
    try:
        return Normalizer(shift, scale)
    except MLPError as e:
        raise ModelFileError(f"{what}: {e}", f"{GENERIC}: its {what} is malformed") from None


def _layer(spec, i: int, dtype: str) -> Dense:
    if not isinstance(spec, dict) or set(spec) != LAYER_KEYS:
        raise _Fault(f"layer {i} must be an object of {', '.join(sorted(LAYER_KEYS))}")
    n_in, n_out = spec["n_in"], spec["n_out"]
    if type(n_in) is not int or type(n_out) is not int:
        raise _Fault(f"layer {i}: n_in and n_out must be whole numbers")
    act = spec["activation"]
    if not isinstance(act, dict) or not set(act) <= {"name", "params"} or not isinstance(act.get("name"), str) \
            or not isinstance(act.get("params") or {}, dict):
        raise _Fault(f"layer {i}: activation must be an object of a name and its params")
    try:
        activation = get_activation(act["name"], act.get("params"))
    except MLPError as e:
        raise ModelFileError(f"layer {i}: {e}", f"{GENERIC}: layer {i} has an unknown activation or "
                                                 "parameters outside their range") from None
    W = _array(spec["weights"], dtype, f"layer {i} weights", 2)
    b = _array(spec["biases"], dtype, f"layer {i} biases", 1)
    if W.shape != (n_in, n_out) or b.shape != (n_out,):
        raise _Fault(f"layer {i}: weights {W.shape} and biases {b.shape} do not match n_in={n_in} n_out={n_out}")
    return Dense(W, b, activation)


def _array(value, dtype: str, what: str, ndim: int) -> np.ndarray:
    """A list (of lists) of numbers as an array of ``dtype``: rectangular, finite, in range."""
    if not isinstance(value, list):
        raise _Fault(f"{what} must be a list")
    try:
        # Typed by numpy first, so that strings ("1.5") and nulls are refused, not converted.
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        arr = None
    if arr is None or arr.dtype.kind not in "iuf":
        raise _Fault(f"{what} must be numbers in a rectangular list")
    if arr.ndim != ndim or 0 in arr.shape:
        raise _Fault(f"{what} must be a non-empty {ndim}-D list, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise _Fault(f"{what} contain a non-finite number")
    if dtype == "float32" and np.any(np.abs(arr) > np.finfo(np.float32).max):
        raise _Fault(f"{what} overflow float32")
    return arr.astype(dtype, copy=False)


def _optimizer(value, dtype) -> dict | None:
    """The optimizer state, its buffers as arrays (lists of Python floats cost eight times
    the memory); anything but what ``mlp.training`` writes is refused."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"name", "state"} or value["name"] not in OPTIMIZERS \
            or not isinstance(value["state"], dict):
        raise _Fault(f"optimizer must be null or an object of name (one of {sorted(OPTIMIZERS)}) and state")
    state = {}
    for key, item in value["state"].items():
        if key == "t":
            if type(item) is not int or item < 0:
                raise _Fault("optimizer state t must be a whole number >= 0")
            state[key] = item
        elif key in OPTIMIZER_ARRAYS:
            if item is not None and not isinstance(item, list):
                raise _Fault(f"optimizer state {key} must be a list of arrays or null")
            state[key] = None if item is None else [_array(a, dtype.name, f"optimizer state {key}", 1)
                                                    for a in item]
        else:
            raise _Fault(f"optimizer state holds t, {', '.join(OPTIMIZER_ARRAYS)}; nothing else")
    return {"name": value["name"], "state": state}


def _shallow(value, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests at most ``limit`` levels of lists and objects (no recursion:
    a deep document must not exhaust the stack that checks it)."""
    stack = [(value, 0)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth >= limit:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


def _check_outputs_finite(net: Network) -> None:
    """Run the network once on rows spanning its input box (``InputSpec.probe_rows``); refuse it
    if any output is not finite there, as a leaky_relu alpha of 1e308 makes them. A feature with
    no bound is probed ten normalisation scales either side of its centre."""
    k = net.n_inputs
    center = net.normalizer.shift if net.normalizer is not None else np.zeros(k)
    spread = 10 * (net.normalizer.scale if net.normalizer is not None else np.ones(k))
    rows = net.input_spec.probe_rows((center - spread, center + spread))
    with np.errstate(all="ignore"):
        out = net.forward(rows)
        if net.is_classifier:
            from mlp.network import scores_to_proba

            out = scores_to_proba(out, net.layers[-1].activation)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        net.weights_changed()
        raise _Fault(f"its outputs are not finite for {int(bad.sum())} of {len(rows)} rows within its "
                     "declared input bounds (activation parameters or weights too large)")


__all__ = ["FORMAT", "FORMAT_VERSION", "checksum", "dumps", "from_dict", "load", "load_file", "loads", "save",
           "to_dict"]
