"""scikit-learn's multilayer perceptrons as tinymlp models: ``import_sklearn`` and its checks.

A fitted ``MLPClassifier`` or ``MLPRegressor`` (hidden activations identity, logistic, tanh
or relu; a binary classifier's one logistic unit, a multiclass softmax, one or several
regression outputs), alone or in a ``Pipeline`` after one ``StandardScaler`` or
``MinMaxScaler``, becomes a float64 ``mlp.Network`` with the same weights, the scaler
folded into its input normalisation, and is published as a new version of a named model.
Before anything is published the network is run beside the estimator on probe rows and
must agree with ``predict_proba`` / ``predict`` within ``PARITY`` (what the import promises).

Files are read only in skops' format (``skops.io.load``), with the one trusted-type list
below: skops trusts scikit-learn's estimators and numpy's arrays itself, and the MLP's
optimizer state is all an MLP file adds. A pickle is refused unread: loading one runs
whatever code it holds.

Imported models have no task: there is no data to draw for training or judging them, so
their version carries no metrics and cannot be continued.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import mlp
from core.records import ModelVersion, TrainingRecord
from core.store import ModelStore
from mlp.losses import get_loss
from trainer.pipeline import now

# The types an MLP's skops file holds beyond those skops trusts by default (scikit-learn's
# estimators, numpy, builtins): the optimizer the estimator keeps after fitting.
TRUSTED_TYPES = [
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
]
ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
PARITY = 1e-6  # probabilities (absolute), values (relative to the output's largest magnitude)
PROBE_ROWS = 2_000
HOW_TO_SAVE = 'save the estimator with skops: skops.io.dump(estimator, "model.skops")'
WHAT_IMPORTS = ("tinymlp imports a fitted MLPClassifier or MLPRegressor, alone or after one StandardScaler "
                "or MinMaxScaler in a Pipeline")


class SklearnImportError(ValueError):
    """A file or estimator that cannot be imported; the message says why and what to do."""


def _sklearn() -> SimpleNamespace:
    """scikit-learn's version and the classes this imports, or a clear error when it is missing."""
    try:
        import sklearn
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import MinMaxScaler, StandardScaler
    except ImportError:
        raise SklearnImportError("importing scikit-learn models needs scikit-learn and skops: "
                                 "pip install 'tinymlp[sklearn]'") from None
    return SimpleNamespace(version=sklearn.__version__, MLPClassifier=MLPClassifier, MLPRegressor=MLPRegressor,
                           Pipeline=Pipeline, StandardScaler=StandardScaler, MinMaxScaler=MinMaxScaler)


# -- reading a file --------------------------------------------------------------------------


def read_skops(path, limit: int) -> tuple[object, bytes, str | None]:
    """(the estimator, the file's bytes, the scikit-learn version that saved it) from a skops
    file of at most ``limit`` bytes (the store's, TINYMLP_MAX_MODEL_BYTES); anything else, a
    pickle above all, is refused with SklearnImportError."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise SklearnImportError(f"{path.name} is {size:,} bytes, more than the {limit:,} allowed "
                                     "(TINYMLP_MAX_MODEL_BYTES); refused unread")
        raw = path.read_bytes()
    except OSError as e:
        raise SklearnImportError(f"cannot read {path}: {e.strerror}") from None
    if _is_pickle(raw, path):
        raise SklearnImportError(f"{path.name} is a pickle: tinymlp never loads pickles, since loading one runs "
                                 f"whatever code it holds; {HOW_TO_SAVE}")
    schema = _schema(raw)
    if schema is None:
        raise SklearnImportError(f"{path.name} is not a skops file (a zip archive holding schema.json); tinymlp "
                                 "reads scikit-learn models only from skops files, never pickles or joblib files, "
                                 f"since loading those runs code; {HOW_TO_SAVE}")
    _sklearn()
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        with warnings.catch_warnings():
            # A file saved by another scikit-learn version warns; the version goes in the
            # record instead, and the parity check decides whether the weights still work.
            warnings.simplefilter("ignore")
            estimator = sio.load(io.BytesIO(raw), trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException:
        found = sio.get_untrusted_types(data=raw)
        unknown = [t for t in found if t not in TRUSTED_TYPES]
        raise SklearnImportError(f"{path.name} holds types tinymlp does not load: {', '.join(unknown[:5])}; "
                                 f"{WHAT_IMPORTS}") from None
    except Exception as e:  # skops raises whatever its parsers meet in a damaged archive
        raise SklearnImportError(f"{path.name} is a damaged or unreadable skops file "
                                 f"({type(e).__name__}: {_short(e)}); {HOW_TO_SAVE}") from None
    return estimator, raw, _saved_by(schema)


def _is_pickle(raw: bytes, path: Path) -> bool:
    # Protocol 2 and later open with PROTO (0x80); older ones are recognised by their name.
    return raw[:1] == b"\x80" or path.suffix.lower() in (".pkl", ".pickle", ".joblib", ".sav")


def _schema(raw: bytes) -> dict | None:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            schema = json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError):
        return None
    return schema if isinstance(schema, dict) else None


def _saved_by(schema: dict) -> str | None:
    """The scikit-learn version an estimator recorded when it was saved (its __getstate__
    adds _sklearn_version, which skops keeps in the schema)."""
    try:
        node = schema["content"]["content"]["_sklearn_version"]
        value = json.loads(node["content"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if isinstance(value, str) else None


def _short(e: Exception, limit: int = 120) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."


# -- an estimator as a network --------------------------------------------------------------


def describe(estimator) -> str:
    if hasattr(estimator, "steps"):
        return f"Pipeline({', '.join(type(s).__name__ for s in _steps(estimator))})"
    return type(estimator).__name__


def _steps(pipeline) -> list:
    return [s for _, s in pipeline.steps if s is not None and not (isinstance(s, str) and s == "passthrough")]


def _parts(estimator):
    """(scaler or None, the MLP), or SklearnImportError saying what the estimator is instead."""
    sk = _sklearn()
    # Exact classes: a subclass may compute otherwise than the weights say.
    mlps, scalers = (sk.MLPClassifier, sk.MLPRegressor), (sk.StandardScaler, sk.MinMaxScaler)
    if type(estimator) is sk.Pipeline:
        steps = _steps(estimator)
        if len(steps) == 1 and type(steps[0]) in mlps:
            return None, steps[0]
        if len(steps) == 2 and type(steps[0]) in scalers and type(steps[1]) in mlps:
            return steps[0], steps[1]
    elif type(estimator) in mlps:
        return None, estimator
    raise SklearnImportError(f"{WHAT_IMPORTS}; this is {describe(estimator)}")


def _normalizer(scaler, n: int) -> mlp.Normalizer | None:
    """The scaler as (x - shift) / scale per feature, the network's input normalisation."""
    if scaler is None:
        return None
    if isinstance(scaler, _sklearn().StandardScaler):
        shift = scaler.mean_ if scaler.with_mean else np.zeros(n)
        scale = scaler.scale_ if scaler.with_std else np.ones(n)
    else:  # MinMaxScaler: x * scale_ + min_
        shift, scale = -scaler.min_ / scaler.scale_, 1.0 / scaler.scale_
    return mlp.Normalizer(np.asarray(shift, dtype=np.float64), np.asarray(scale, dtype=np.float64))


def _layers(model) -> list[mlp.Dense]:
    hidden = ACTIVATIONS.get(model.activation)
    if hidden is None:
        raise SklearnImportError(f"hidden activation {model.activation!r} is not one tinymlp imports "
                                 f"({', '.join(ACTIVATIONS)})")
    output = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax"}.get(model.out_activation_)
    if output is None:
        raise SklearnImportError(f"output activation {model.out_activation_!r} is not one tinymlp imports")
    layers = []
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        act = output if i == len(model.coefs_) - 1 else hidden
        layers.append(mlp.Dense(np.array(W, dtype=np.float64), np.array(b, dtype=np.float64),
                                mlp.get_activation(act)))
    return layers


def _bounds(given, scaler, fallback, n: int, which: str) -> tuple[float, ...]:
    if given is not None:
        values = list(given) if isinstance(given, Sequence) and not isinstance(given, str) else [given]
        if len(values) == 1:
            values = values * n
        if len(values) != n or any(isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v)
                                   for v in values):
            raise SklearnImportError(f"{which} bounds must be one number, or {n} (one per feature), "
                                     f"got {list(values)!r}")
        return tuple(float(v) for v in values)
    if isinstance(scaler, _sklearn().MinMaxScaler):
        return tuple(float(v) for v in (scaler.data_min_ if which == "low" else scaler.data_max_))
    return (fallback,) * n


def to_network(estimator, *, features=None, low=None, high=None) -> mlp.Network:
    """The estimator as a float64 network: weights, scaler and labels carried over exactly.
    ``features``, ``low`` and ``high`` default to the estimator's ``feature_names_in_`` (else
    x0, x1...) and to a MinMaxScaler's data range (else unbounded)."""
    scaler, model = _parts(estimator)
    if not hasattr(model, "coefs_"):
        raise SklearnImportError(f"the {type(model).__name__} is not fitted; fit it, then save it with skops")
    n = model.coefs_[0].shape[0]
    if features is None:
        known = getattr(estimator, "feature_names_in_", None)
        features = [str(f) for f in known] if known is not None else [f"x{i}" for i in range(n)]
    features = list(features)
    if len(features) != n:
        raise SklearnImportError(f"{len(features)} feature names given, but the estimator takes {n} features")
    spec_low = _bounds(low, scaler, -math.inf, n, "low")
    spec_high = _bounds(high, scaler, math.inf, n, "high")
    if scaler is not None and getattr(scaler, "clip", False) and (
            any(lo < d for lo, d in zip(spec_low, scaler.data_min_))
            or any(hi > d for hi, d in zip(spec_high, scaler.data_max_))):
        raise SklearnImportError("MinMaxScaler(clip=True) clips inputs outside the data range it was fitted on, "
                                 "which an input normalisation cannot do; give bounds within that range "
                                 "(without --low and --high they are that range)")
    try:
        spec = mlp.InputSpec(tuple(features), "float", spec_low, spec_high)
    except mlp.ConfigError as e:
        raise SklearnImportError(str(e)) from None
    layers = _layers(model)
    labels, loss = None, "mse"
    if isinstance(model, _sklearn().MLPClassifier):
        if model.out_activation_ == "logistic" and model.n_outputs_ > 1:
            raise SklearnImportError("a multi-label MLPClassifier (several logistic outputs) is not imported: "
                                     "tinymlp's classifiers answer one label per row")
        labels = [str(c) for c in model.classes_]
        loss = "binary_crossentropy" if model.out_activation_ == "logistic" else "categorical_crossentropy"
    try:
        return mlp.Network(layers, loss=get_loss(loss), labels=labels, normalizer=_normalizer(scaler, n),
                           input_spec=spec, dtype="float64")
    except mlp.ConfigError as e:
        raise SklearnImportError(f"the estimator does not make a tinymlp network: {e}") from None


def check_parity(estimator, network: mlp.Network, seed: int = 0) -> float:
    """The largest difference between the estimator and the network on probe rows drawn around
    the input normalisation (within the bounds); SklearnImportError past ``PARITY``."""
    rng = np.random.default_rng(seed)
    spec, norm = network.input_spec, network.normalizer
    shift = norm.shift if norm is not None else np.zeros(spec.n_features)
    scale = norm.scale if norm is not None else np.ones(spec.n_features)
    X = np.clip(shift + scale * rng.uniform(-3, 3, size=(PROBE_ROWS, spec.n_features)),
                spec.low_array, spec.high_array)
    with warnings.catch_warnings():
        # "X does not have valid feature names": an estimator fitted on a DataFrame, probed with an array
        warnings.filterwarnings("ignore", message=".*feature names.*", category=UserWarning)
        if network.is_classifier:
            theirs, ours = estimator.predict_proba(X), network.predict_proba(X)
            gap = float(np.max(np.abs(theirs - ours)))
        else:
            theirs = np.asarray(estimator.predict(X), dtype=np.float64).reshape(len(X), -1)
            ours = network.forward(X)
            gap = float(np.max(np.abs(theirs - ours) / np.maximum(np.abs(theirs).max(axis=0), 1e-300)))
    if not gap <= PARITY:
        raise SklearnImportError(f"the converted network does not reproduce the estimator (largest difference "
                                 f"{gap:.3g} on {PROBE_ROWS} probe rows, more than {PARITY}); nothing was published")
    return gap


def import_sklearn(store: ModelStore, path_or_estimator, *, name: str, features=None, low=None, high=None,
                   created_at: str | None = None) -> ModelVersion:
    """Publish a fitted estimator, or the skops file at a path, as the next version of ``name``.
    Raises SklearnImportError (nothing published) for anything that cannot be imported."""
    sk = _sklearn()
    if isinstance(path_or_estimator, (str, Path)):
        path = Path(path_or_estimator)
        estimator, raw, saved_by = read_skops(path, store.max_model_bytes)
        source = {"source": path.name, "source_sha256": hashlib.sha256(raw).hexdigest()}
    else:
        estimator, saved_by, source = path_or_estimator, None, {}
    store.folder(name)  # a bad name is refused before any work
    network = to_network(estimator, features=features, low=low, high=high)
    check_parity(estimator, network)
    record = TrainingRecord(trained_by="imported", **source, estimator=describe(estimator),
                            sklearn_version=saved_by or sk.version)
    return store.publish(name, network, parent=None, created_at=created_at or now(), task=None,
                         training=record.to_dict(with_curve=False), metrics={})
