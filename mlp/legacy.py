"""Importer for the original project's model format (``Layer_0``, ``Layer_1``, ...).

Each legacy layer holds ``weights`` as ``layer_size`` rows of ``previousLayer_size``
numbers (z = W·a + b); the ``input`` layer passes input through and is dropped.
The result is a ``Network`` with no loss (it predicts but is not trained further
with its tanh outputs), the caller's labels and input spec, and optionally a
normaliser for models that expected pre-scaled input.
"""

from __future__ import annotations

import os
import re

import numpy as np
import orjson

from mlp.activations import get_activation
from mlp.errors import MLPError, ModelFileError
from mlp.layers import Dense, Normalizer
from mlp.network import Network
from mlp.spec import InputSpec

_KEY = re.compile(r"^Layer_(\d+)$")


def load_legacy(
    path,
    *,
    labels: list[str] | None = None,
    input_spec: InputSpec | None = None,
    normalizer: Normalizer | None = None,
    dtype: str = "float64",
) -> Network:
    """Read a legacy model file; raises ModelFileError naming the file and the fault."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as f:
            doc = orjson.loads(f.read())  # strict, and a nesting limit instead of a RecursionError
    except OSError as e:
        raise ModelFileError(f"cannot read {source!r}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{source}: not valid JSON ({e})") from None
    try:
        return from_legacy_dict(
            doc, labels=labels, input_spec=input_spec, normalizer=normalizer, dtype=dtype
        )
    except MLPError as e:
        raise ModelFileError(f"{source}: {e}") from None


def from_legacy_dict(doc, *, labels=None, input_spec=None, normalizer=None, dtype="float64") -> Network:
    if not isinstance(doc, dict) or not doc:
        raise ModelFileError("a legacy model is a JSON object with keys Layer_0, Layer_1, ...")
    bad = [k for k in doc if not _KEY.match(str(k))]
    if bad:
        raise ModelFileError(f"unexpected keys {bad[:5]}; a legacy model has only Layer_<n> keys")
    order = sorted(doc, key=lambda k: int(_KEY.match(k).group(1)))
    if [int(_KEY.match(k).group(1)) for k in order] != list(range(len(order))):
        raise ModelFileError(f"layer keys must run Layer_0..Layer_{len(order) - 1} without gaps")
    layers = []
    for key in order:
        spec = doc[key]
        if not isinstance(spec, dict):
            raise ModelFileError(f"{key} must be an object")
        kind = spec.get("layer_type")
        if kind not in ("input", "hidden", "output"):
            raise ModelFileError(f"{key}: layer_type must be input, hidden or output, got {kind!r}")
        if kind == "input":
            if layers:
                raise ModelFileError(f"{key}: an input layer may only come first")
            continue
        try:
            W = np.asarray(spec["weights"], dtype=np.float64)
            b = np.asarray(spec["biases"], dtype=np.float64)
        except KeyError as e:
            raise ModelFileError(f"{key}: missing {e.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ModelFileError(f"{key}: weights and biases must be numbers in rectangular lists") from None
        n_in, n_out = spec.get("previousLayer_size"), spec.get("layer_size")
        if W.shape != (n_out, n_in) or b.shape != (n_out,):
            raise ModelFileError(
                f"{key}: weights {W.shape} / biases {b.shape} do not match "
                f"previousLayer_size={n_in}, layer_size={n_out}"
            )
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise ModelFileError(f"{key}: weights and biases must be finite")
        act = get_activation(spec.get("activation_func"), spec.get("activation_params"))
        layers.append(Dense(W.T.astype(dtype), b.astype(dtype), act))
    if not layers:
        raise ModelFileError("the model has no layer after its input layer")
    if order and doc[order[-1]].get("layer_type") != "output":
        raise ModelFileError(f"the last layer ({order[-1]}) must be an output layer")
    return Network(layers, loss=None, labels=labels, normalizer=normalizer,
                   input_spec=input_spec, dtype=dtype)
