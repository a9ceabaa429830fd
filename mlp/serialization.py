"""The model file: one JSON document holding everything to serve and continue training.

``to_dict``/``from_dict`` convert a network; ``save``/``load`` read and write
files. ``from_dict`` checks the document (format, shapes, finite numbers,
known activations, labels against outputs) and verifies the checksum, which
covers every part that decides a prediction: input spec, normalisation,
output spec, dtype, layers and loss. Anything else in the document (name,
version, training record, metrics...) is the caller's metadata and is kept
in ``network.metadata`` untouched.

Weights are stored as ``n_in`` rows of ``n_out`` numbers (``z = x @ W + b``).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from mlp.activations import get_activation
from mlp.config import DTYPES, NetworkConfig
from mlp.errors import ConfigError, MLPError, ModelFileError
from mlp.layers import Dense, Normalizer
from mlp.losses import get_loss
from mlp.network import Network
from mlp.spec import InputSpec

FORMAT = "tinymlp-model"
FORMAT_VERSION = 1
CHECKED_KEYS = ("input", "normalization", "target_normalization", "output", "dtype", "layers", "loss")
NETWORK_KEYS = {"format", "format_version", "architecture", "optimizer", "checksum", *CHECKED_KEYS}


def checksum(doc: dict) -> str:
    """sha256 over the canonical JSON of the parts that decide a prediction."""
    part = {k: doc.get(k) for k in CHECKED_KEYS}
    text = json.dumps(part, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


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
        "optimizer": network.optimizer_state,
    }
    doc["checksum"] = checksum(doc)
    return doc


def dumps(network: Network, **metadata) -> str:
    return json.dumps(to_dict(network, **metadata), allow_nan=False, separators=(",", ":"))


def save(network: Network, path, **metadata) -> None:
    """Write the model file (plain write; the trainer's store publishes atomically)."""
    text = dumps(network, **metadata)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def load(path) -> Network:
    """Read and check a model file; raises ModelFileError saying what is wrong."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ModelFileError(f"cannot read model file {os.fspath(path)!r}: {e.strerror}",
                             f"it cannot be read ({e.strerror})") from None
    return loads(raw, source=os.fspath(path))


def loads(raw: bytes | str, source: str = "model") -> Network:
    try:
        doc = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{source}: not valid JSON ({e})", "it is not valid JSON") from None
    return from_dict(doc, source=source)


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def from_dict(doc, source: str = "model") -> Network:
    try:
        return _from_dict(doc)
    except ModelFileError as e:
        raise ModelFileError(f"{source}: {e}", e.summary) from None
    except (MLPError, TypeError, ValueError, KeyError) as e:
        raise ModelFileError(f"{source}: {e}") from None


def _from_dict(doc) -> Network:
    if not isinstance(doc, dict):
        raise ModelFileError("a model file must hold a JSON object")
    if doc.get("format") != FORMAT:
        raise ModelFileError(
            f"format is {doc.get('format')!r}, expected {FORMAT!r} "
            "(files of the original project are imported with `python -m trainer import-legacy`)",
            f"it is not a {FORMAT} file",
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"format_version {doc.get('format_version')!r} is not supported (this reads {FORMAT_VERSION})"
        )
    missing = [k for k in (*CHECKED_KEYS, "checksum") if k not in doc]
    if missing:
        raise ModelFileError(f"missing keys {missing}")
    expected = checksum(doc)
    if doc["checksum"] != expected:
        message = "checksum mismatch: the file was changed or damaged after it was written"
        raise ModelFileError(message, message)
    dtype = doc["dtype"]
    if dtype not in DTYPES:
        raise ModelFileError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    layers = []
    if not isinstance(doc["layers"], list) or not doc["layers"]:
        raise ModelFileError("layers must be a non-empty list")
    for i, spec in enumerate(doc["layers"]):
        W = _array(spec.get("weights"), dtype, f"layer {i} weights", 2)
        b = _array(spec.get("biases"), dtype, f"layer {i} biases", 1)
        if W.shape != (spec.get("n_in"), spec.get("n_out")) or b.shape != (W.shape[1],):
            raise ModelFileError(
                f"layer {i}: weights {W.shape} and biases {b.shape} do not match "
                f"n_in={spec.get('n_in')} n_out={spec.get('n_out')}"
            )
        act = spec.get("activation") or {}
        layers.append(Dense(W, b, get_activation(act.get("name"), act.get("params"))))
    output = doc["output"] or {}
    if output.get("kind") not in ("classifier", "regressor"):
        raise ModelFileError(f"output kind must be classifier or regressor, got {output.get('kind')!r}")
    labels = output.get("labels") if output["kind"] == "classifier" else None
    if labels is not None and not all(isinstance(x, str) for x in labels):
        raise ModelFileError("output labels must be strings")
    norm = doc["normalization"]
    normalizer = Normalizer(norm["shift"], norm["scale"]) if norm else None
    tnorm = doc["target_normalization"]
    arch = doc.get("architecture")
    net = Network(
        layers,
        loss=get_loss(doc["loss"]) if doc["loss"] else None,
        labels=labels,
        normalizer=normalizer,
        target_normalizer=Normalizer(tnorm["shift"], tnorm["scale"]) if tnorm else None,
        input_spec=InputSpec.from_dict(doc["input"]),
        dtype=dtype,
        config=NetworkConfig.from_dict(arch) if arch else None,
        metadata={k: v for k, v in doc.items() if k not in NETWORK_KEYS},
    )
    opt = doc.get("optimizer")
    net.optimizer_state = opt if isinstance(opt, dict) else None
    return net


def _array(value, dtype, what, ndim) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelFileError(f"{what} must be numbers in a rectangular list") from None
    if arr.ndim != ndim or 0 in arr.shape:
        raise ModelFileError(f"{what} must be a non-empty {ndim}-D list, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ModelFileError(f"{what} contain a non-finite number")
    if dtype == "float32" and np.any(np.abs(arr) > np.finfo(np.float32).max):
        raise ModelFileError(f"{what} overflow float32")
    return arr.astype(dtype)


__all__ = ["FORMAT", "FORMAT_VERSION", "checksum", "dumps", "from_dict", "load", "loads", "save", "to_dict"]
