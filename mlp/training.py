"""Mini-batch training: shuffling, per-epoch subsets, validation, early stopping.

``fit(network, X, y, config)`` trains in place and returns a ``History``.
Everything random comes from ``config.seed``, so the same seed, data and
machine give bit-identical weights. A ``callback(record)`` runs after every
epoch; it may raise ``StopTraining`` to end training early. ``should_stop()``
is asked between batches, at most every ``stop_every`` seconds: an epoch of
tiny batches can take minutes, and a cancel, a time limit or a shutdown
should not wait for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mlp.config import TrainConfig
from mlp.errors import ConfigError
from mlp.layers import Normalizer
from mlp.network import Network
from mlp.optimizers import clip_gradients, make_optimizer, schedule_factor

STOP_EVERY = 0.2  # seconds between should_stop() calls: a clock read per batch, a call a few times a second


class StopTraining(Exception):
    """Raised by a callback to stop after the current epoch."""


@dataclass
class History:
    """One record per epoch: epoch, lr, loss, metric and, with validation data, their val_ twins."""

    records: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    stopped_mid_epoch: bool = False  # should_stop() said so between two batches
    seconds: float = 0.0


def _metric(network: Network, out: np.ndarray, target: np.ndarray) -> float:
    """Accuracy for classifiers, RMSE for regressors."""
    if network.is_classifier:
        if out.shape[1] == 1:
            return float(np.mean((out[:, 0] > 0.5) == (target[:, 0] > 0.5)))
        return float(np.mean(out.argmax(axis=1) == target.argmax(axis=1)))
    diff = network.denormalize_targets(out) - network.denormalize_targets(target)
    return float(np.sqrt(np.mean(diff**2)))


def evaluate_batch(network: Network, Xn: np.ndarray, T: np.ndarray, batch: int = 8192):
    """(loss, metric) over normalised inputs and encoded targets, in chunks."""
    loss_sum, outs = 0.0, []
    for i in range(0, len(Xn), batch):
        zs, acts = network.forward_train(Xn[i : i + batch])
        loss_sum += network.loss.forward(zs[-1], acts[-1], T[i : i + batch]) * len(zs[-1])
        outs.append(acts[-1])
    out = np.concatenate(outs)
    return loss_sum / len(Xn), _metric(network, out, T)


def fit(
    network: Network,
    X,
    y,
    config: TrainConfig,
    *,
    validation: tuple | None = None,
    callback=None,
    should_stop=None,
    stop_every: float = STOP_EVERY,
    resume: bool = True,
) -> History:
    """Train ``network`` in place on raw inputs ``X: (n, n_inputs)`` and targets ``y``.

    ``y`` is labels (n,) for a classifier or values (n,) / (n, n_outputs).
    ``validation=(X_val, y_val)`` takes precedence over ``config.validation_split``.
    A network without a normaliser gets one fitted on ``X``; one that has it keeps it
    (continued training must see inputs the way the model always has).
    ``resume`` restores the optimizer state saved with the model, if any.
    ``should_stop()`` is called between batches once ``stop_every`` seconds have passed
    since the last call (0: every batch); True ends training there, the epoch unfinished
    and unrecorded, and an exception it raises propagates (abandoning the run).
    """
    if network.loss is None:
        raise ConfigError(
            "this model has no loss (an imported model); it can predict but not be trained"
        )
    if any(not la.activation.differentiable for la in network.layers):
        raise ConfigError("this model has a forward-only activation (sign or step); it cannot be trained")
    X = np.asarray(X)
    if not network.is_classifier and network.target_normalizer is None:
        values = np.asarray(y, dtype=np.float64)
        network.target_normalizer = Normalizer.standard(values[:, None] if values.ndim == 1 else values)
    if X.ndim != 2 or X.shape[1] != network.n_inputs or len(X) == 0:
        raise ConfigError(f"X must have shape (n >= 1, {network.n_inputs}), got {X.shape}")
    T = network.encode_targets(y)
    if len(T) != len(X):
        raise ConfigError(f"X has {len(X)} rows but y has {len(T)}")
    if T.shape[1] != network.n_outputs:
        raise ConfigError(f"targets need {network.n_outputs} columns, got {T.shape[1]}")
    if not np.all(np.isfinite(X.astype(np.float64))) or not np.all(np.isfinite(T)):
        raise ConfigError("X and y must be finite numbers (no NaN or infinity)")

    seq = np.random.SeedSequence(config.seed)
    rng = np.random.default_rng(seq.spawn(1)[0])

    if validation is None and config.validation_split > 0:
        n_val = int(round(len(X) * config.validation_split))
        if n_val < 1 or n_val >= len(X):
            raise ConfigError(
                f"validation_split {config.validation_split} leaves no rows for training "
                f"or validation out of {len(X)}"
            )
        perm = rng.permutation(len(X))
        X, T, Xv, Tv = X[perm[n_val:]], T[perm[n_val:]], X[perm[:n_val]], T[perm[:n_val]]
    elif validation is not None:
        Xv, Tv = np.asarray(validation[0]), network.encode_targets(validation[1])
    else:
        Xv = Tv = None

    if network.normalizer is None:
        network.normalizer = Normalizer.standard(X)
    Xn = network.normalize(X)
    Xvn = network.normalize(Xv) if Xv is not None else None

    optimizer = make_optimizer(config)
    params = network.parameters()
    if resume and network.optimizer_state and network.optimizer_state.get("name") == config.optimizer:
        optimizer.load_state(network.optimizer_state.get("state", {}), params)

    history = History()
    best_loss, best_params, waited = np.inf, None, 0
    n = len(Xn)
    per_epoch = min(config.samples_per_epoch or n, n)
    bs = config.batch_size
    start = time.perf_counter()
    next_check = time.monotonic() + stop_every
    try:
        for epoch in range(config.epochs):
            lr = config.learning_rate * schedule_factor(
                config.schedule, epoch, config.epochs, config.decay, config.step_size
            )
            if per_epoch < n:
                order = rng.choice(n, size=per_epoch, replace=False)
            elif config.shuffle:
                order = rng.permutation(n)
            else:
                order = None
            Xe = Xn if order is None else Xn[order]
            Te = T if order is None else T[order]
            loss_sum = correct = 0.0
            for i in range(0, per_epoch, bs):
                if should_stop is not None and time.monotonic() >= next_check:
                    if should_stop():
                        history.stopped_early = history.stopped_mid_epoch = True
                        raise StopTraining
                    next_check = time.monotonic() + stop_every
                xb, tb = Xe[i : i + bs], Te[i : i + bs]
                zs, acts = network.forward_train(xb)
                loss, grads = network.backward(zs, acts, tb)
                if not np.isfinite(loss):
                    raise ConfigError(
                        f"training diverged at epoch {epoch + 1} (loss is {loss}); "
                        "lower the learning rate or set clip_norm"
                    )
                clip_gradients(grads, config.clip_norm, config.clip_value)
                optimizer.step(params, grads, lr)
                loss_sum += loss * len(xb)
                correct += _metric(network, acts[-1], tb) * len(xb) if network.is_classifier else 0
            network.weights_changed()
            record = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / per_epoch}
            if network.is_classifier:
                record["metric"] = correct / per_epoch
            else:
                record["metric"] = evaluate_batch(network, Xe, Te)[1]
            if Xvn is not None:
                record["val_loss"], record["val_metric"] = evaluate_batch(network, Xvn, Tv)
            history.records.append(record)

            watched = record.get("val_loss", record["loss"])
            if watched < best_loss:
                best_loss, waited, history.best_epoch = watched, 0, epoch + 1
                if config.restore_best and config.patience is not None:
                    best_params = [p.copy() for p in params]
            else:
                waited += 1
            if callback is not None:
                callback(record)
            if config.patience is not None and waited >= config.patience:
                history.stopped_early = True
                break
    except StopTraining:
        history.stopped_early = True
        network.weights_changed()  # batches since the last epoch's end moved them
    if best_params is not None and history.best_epoch != len(history.records):
        for p, best in zip(params, best_params):
            p[...] = best
        network.weights_changed()
    history.seconds = time.perf_counter() - start
    network.optimizer_state = {"name": config.optimizer, "state": optimizer.state()}
    return history
