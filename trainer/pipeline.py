"""Training runs end to end: draw data, train, judge, publish a new version.

Shared by the CLI and the job worker, so a model trained either way carries the
same record: config, seed, loss curve, held-out metrics, data hash, who made it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

import mlp
from core import drift
from core.records import EpochRecord, ModelVersion, TrainingRecord
from core.store import ModelStore
from trainer import pictures
from trainer.evaluation import evaluate
from trainer.tasks import Task, task_of

EVAL_SEED_OFFSET = 1_000_003  # evaluation data never shares a seed with training data


@dataclass
class RunResult:
    published: ModelVersion
    network: mlp.Network
    metrics: dict
    history: mlp.History
    record: TrainingRecord | None = None


def data_hash(X, y) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(np.asarray(X, dtype=np.float64)).tobytes())
    h.update("\x1f".join(map(str, np.asarray(y).tolist())).encode())
    return "sha256:" + h.hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def training_reference(net: mlp.Network, X) -> drift.Reference:
    """The training inputs' quantiles and the model's answers on them, kept in the training
    record: what the service measures drift against (core.drift)."""
    X = np.asarray(X, dtype=np.float64)
    features = net.input_spec.features
    if net.is_classifier:
        return drift.reference(X, features, proba=net.predict_proba(X), labels=net.labels)
    return drift.reference(X, features, values=net.forward(X))


def _training_record(task, cfg, network: dict | None, X, y, history, trained_by, *, net: mlp.Network,
                     **extra) -> TrainingRecord:
    return TrainingRecord(
        trained_by=trained_by,
        task=task.name,
        config=cfg.to_dict(),
        network=network,
        seed=cfg.seed,
        samples=len(X),
        epochs_run=len(history.records),
        best_epoch=history.best_epoch,
        stopped_early=history.stopped_early,
        curve=tuple(EpochRecord(**{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})
                    for r in history.records),
        duration_s=round(history.seconds, 3),
        data_hash=data_hash(X, y),
        reference=training_reference(net, X),
        **extra,
    )


def judge(network: mlp.Network, task: Task, seed: int) -> dict:
    """Metrics on fresh evaluation sets, plus cross-validation for fixed tables."""
    metrics = evaluate(network, task, seed + EVAL_SEED_OFFSET)
    metrics["headline"] = {"metric": task.target.metric, "eval_set": task.target.eval_set,
                           "value": None, "bar": task.target.bar}
    # A model judged without its deciding set (an import, where cross-validation
    # cannot retrain it) is reported on its fresh test set instead.
    eval_set = task.target.eval_set if task.target.eval_set in metrics else "test"
    value = metrics[eval_set][task.target.metric]
    metrics["headline"].update(eval_set=eval_set, value=value, met=task.target.met(value))
    return metrics


def train_task(
    task: Task,
    store: ModelStore,
    *,
    name: str | None = None,
    config: mlp.TrainConfig | None = None,
    network_config: mlp.NetworkConfig | None = None,
    data: tuple | None = None,
    callback=None,
    trained_by: str = "batch trainer",
) -> RunResult:
    """Train a fresh model of ``task`` and publish it as the next version of ``name``."""
    cfg = config or task.train
    ncfg = network_config or task.network
    rng = np.random.default_rng(cfg.seed)
    X, y = data if data is not None else task.sample(rng, task.train_samples)
    net = mlp.Network.build(
        ncfg, len(task.features), task.n_outputs, seed=cfg.seed,
        labels=list(task.labels) if task.labels else None, input_spec=task.input_spec,
    )
    history = mlp.fit(net, X, y, cfg, callback=callback)
    metrics = judge(net, task, cfg.seed)
    extra = cross_validation(task, cfg, ncfg) if hasattr(task, "split") else {}
    if extra:
        metrics.update(extra)
        if task.target.eval_set in extra:
            value = extra[task.target.eval_set]["accuracy"]
            metrics["headline"].update(eval_set=task.target.eval_set, value=value,
                                       met=task.target.met(value))
    record = _training_record(task, cfg, ncfg.to_dict(), X, y, history, trained_by, net=net)
    published = store.publish(
        name or task.name, net, parent=None, created_at=now(), task=task.name,
        training=record.to_dict(), metrics=metrics,
    )
    pictures.after_publish(store, published, trained_by)  # never fails the publish
    return RunResult(published, net, metrics, history, record)


@dataclass
class Trained:
    """A parent version trained further, not yet published."""

    name: str
    parent: ModelVersion
    task: Task
    network: mlp.Network
    metrics: dict
    history: mlp.History
    record: TrainingRecord
    targets: np.ndarray  # the training targets (labels or values): the trivial baseline comes from them

    def metadata(self) -> dict:
        # Whatever else the parent's file carried travels on; identity and lineage are new.
        meta = {k: v for k, v in self.network.metadata.items() if k not in ("name", "version")}
        meta.update(parent=self.parent.version, created_at=now(), training=self.record.to_dict(),
                    metrics=self.metrics)
        return meta


def train_further(
    store: ModelStore,
    name: str,
    *,
    from_version: int | None = None,
    config: mlp.TrainConfig | None = None,
    samples: int | None = None,
    examples: tuple | None = None,
    example_share: float = 0.1,
    callback=None,
    should_stop=None,
    trained_by: str = "batch trainer",
    extra_record: dict | None = None,
) -> Trained:
    """Train version ``from_version`` (default: the served one) further, in memory.

    ``examples=(X, y)`` are a user's labelled rows: repeated to make up about
    ``example_share`` of the training rows, and mixed with fresh task samples (replay).
    ``callback`` and ``should_stop`` go to ``mlp.fit``.
    """
    base = store.open(name, from_version)  # None: the served version, read once
    net, parent = base.network, base.version
    task = task_of(base.info)
    if net.loss is None:
        raise mlp.ConfigError(
            f"{name} version {parent} has no loss (an imported legacy model); "
            f"train a fresh one with `python -m trainer train {task.name}`"
        )
    cfg = config or continue_config(base, task)
    rng = np.random.default_rng(cfg.seed)
    X, y = task.sample(rng, samples or task.train_samples)
    if examples is not None and len(examples[0]):
        # Replay: the user's rows join fresh task samples, so a few rows do not make the
        # model forget everything else; repeated, so that they are not lost among them.
        reps = max(1, round(example_share * len(X) / len(examples[0])))
        ex = np.asarray(examples[0], float)
        ey = np.asarray(examples[1], dtype=object if task.is_classifier else float)
        X = np.concatenate([np.asarray(X, float), *[ex] * reps])
        y = np.concatenate([np.asarray(y, dtype=ey.dtype), *[ey] * reps])
    history = mlp.fit(net, X, y, cfg, callback=callback, should_stop=should_stop)
    metrics = judge(net, task, cfg.seed)
    record = _training_record(task, cfg, base.info.training.network if base.info.training else None,
                              X, y, history, trained_by, net=net, **(extra_record or {}))
    return Trained(name, base, task, net, metrics, history, record, np.asarray(y))


def continue_training(store: ModelStore, name: str, **options) -> RunResult:
    """``train_further`` and publish the result as the next version, whose parent it names."""
    trained = train_further(store, name, **options)
    published = store.publish(name, trained.network, **trained.metadata())
    pictures.after_publish(store, published, trained.record.trained_by)  # never fails the publish
    return RunResult(published, trained.network, trained.metrics, trained.history, trained.record)


CONTINUE_EPOCHS = 10
# A continued run fine-tunes a trained model: started again at the full rate of a fresh
# run, red's recipe (0.08, falling to 1/1000 of it) threw away much of what it had learned
# at the sphere's surface in 10 epochs; at a tenth it gains a little.
CONTINUE_RATE = 0.1


def continue_config(parent: ModelVersion, task: Task) -> mlp.TrainConfig:
    """By default a continued run follows the parent's own recipe for 10 epochs, at a
    tenth of its learning rate."""
    prev = parent.info.training.train_config() if parent.info.training else None
    if prev is None:
        return task.train
    return prev.replace(epochs=CONTINUE_EPOCHS, learning_rate=prev.learning_rate * CONTINUE_RATE)


def cross_validation(task: Task, cfg: mlp.TrainConfig, ncfg: mlp.NetworkConfig, folds: int = 5) -> dict:
    """Stratified k-fold accuracy over every row of a fixed table (iris): each row is
    held out once, so the estimate does not hang on which rows one split holds out."""
    X, y = task.rows
    rng = np.random.default_rng(cfg.seed)
    fold_of = np.empty(len(y), dtype=int)
    for lab in task.labels:
        idx = rng.permutation(np.flatnonzero(y == lab))
        fold_of[idx] = np.arange(len(idx)) % folds
    correct, per_fold = 0, []
    for k in range(folds):
        train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        net = mlp.Network.build(ncfg, X.shape[1], task.n_outputs, seed=cfg.seed, labels=list(task.labels))
        idx = rng.choice(train, size=task.train_samples, replace=True)
        mlp.fit(net, X[idx], y[idx], cfg)
        hits = int(np.sum(net.predict(X[test]) == y[test]))
        correct += hits
        per_fold.append(hits / len(test))
    return {"cross_validation": {"folds": folds, "accuracy": correct / len(y),
                                 "per_fold": per_fold, "n": len(y)}}
